"""Clips: a skeleton plus per-frame root positions and local joint rotations.

Rotations are stored as quaternion arrays in scipy's scalar-last order ``(x, y, z, w)``,
shape ``(T, J, 4)``, so whole clips can be sliced, copied and handed to numpy code without
object overhead; :meth:`Clip.local_rotation` wraps one joint's track as a scipy
``Rotation`` for the maths. Frames are evenly spaced at ``fps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import UserError
from studio.motion.core.skeleton import Skeleton


@dataclass(eq=False)
class Clip:
    """One motion.

    ``root_pos`` (T, 3) is the root joint's translation (replaces its rest offset).
    ``rotations`` (T, J, 4) are local joint rotations relative to the parent, scalar-last.
    ``translations`` (T, J, 3), optional, holds animated local translations of non-root
    joints that carry BVH position channels (replacing their rest offsets); joints without
    position channels always use the skeleton's offsets.
    """

    skeleton: Skeleton
    fps: float
    root_pos: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray | None = None
    loop: bool = False
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root_pos = np.asarray(self.root_pos, dtype=np.float64)
        self.rotations = np.asarray(self.rotations, dtype=np.float64)
        if self.translations is not None:
            self.translations = np.asarray(self.translations, dtype=np.float64)
        t, j = self.rotations.shape[:2] if self.rotations.ndim == 3 else (-1, -1)
        if self.rotations.ndim != 3 or self.rotations.shape[2] != 4 or j != len(self.skeleton):
            raise ValueError(f"rotations must be (T, {len(self.skeleton)}, 4), "
                             f"got {self.rotations.shape}")
        if self.root_pos.shape != (t, 3):
            raise ValueError(f"root_pos must be ({t}, 3), got {self.root_pos.shape}")
        if self.translations is not None and self.translations.shape != (t, j, 3):
            raise ValueError(f"translations must be ({t}, {j}, 3), got {self.translations.shape}")

    # -- basic facts ---------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return int(self.rotations.shape[0])

    @property
    def n_joints(self) -> int:
        return int(self.rotations.shape[1])

    @property
    def dt(self) -> float:
        return 1.0 / self.fps

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame, ``(T - 1) / fps``."""
        return max(self.n_frames - 1, 0) / self.fps

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.n_frames) / self.fps

    def local_rotation(self, joint: int | str) -> Rotation:
        """One joint's local rotation track as a scipy ``Rotation`` of length T."""
        from scipy.spatial.transform import Rotation

        j = self.skeleton.index(joint) if isinstance(joint, str) else joint
        return Rotation.from_quat(self.rotations[:, j])

    def local_translations(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(T, J, 3) local translation of every joint: offsets, animated where present.
        ``start``/``stop`` give frames ``start:stop`` only (a window of a long clip)."""
        sk = self.skeleton
        sl = slice(start, stop)
        root = self.root_pos[sl]
        out = np.broadcast_to(sk.offsets, (len(root), len(sk), 3)).copy()
        if self.translations is not None:
            for j in range(1, len(sk)):
                if sk.has_position(j):
                    out[:, j] = self.translations[sl, j]
        out[:, 0] = root
        return out

    def copy(self, **changes) -> "Clip":
        """Deep copy of the arrays (with optional field changes)."""
        base = dict(root_pos=self.root_pos.copy(), rotations=self.rotations.copy(),
                    translations=None if self.translations is None else self.translations.copy(),
                    meta=dict(self.meta))
        base.update(changes)
        return replace(self, **base)

    def frames(self, start: int, stop: int | None = None) -> "Clip":
        """Frames ``start:stop`` as a new clip (copies)."""
        sl = slice(start, stop)
        return self.copy(root_pos=self.root_pos[sl].copy(), rotations=self.rotations[sl].copy(),
                         translations=None if self.translations is None
                         else self.translations[sl].copy())

    def check(self, source: str) -> "Clip":
        """Raise :class:`UserError` naming ``source`` for clips that cannot be used."""
        if self.n_frames == 0:
            raise UserError(f"{source}: the clip has no frames")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise UserError(f"{source}: frame rate must be positive, got {self.fps}")
        for label, arr in (("root position", self.root_pos), ("rotation", self.rotations),
                           ("joint translation", self.translations)):
            if arr is not None and not np.all(np.isfinite(arr)):
                frame = int(np.argwhere(~np.isfinite(arr))[0][0])
                raise UserError(f"{source}: {label} values are NaN or infinite "
                                f"(first at frame {frame})")
        norms = np.linalg.norm(self.rotations, axis=-1)
        if np.any(norms < 1e-8):
            frame, joint = np.argwhere(norms < 1e-8)[0]
            raise UserError(f"{source}: zero-length quaternion for joint "
                            f"{self.skeleton.names[joint]!r} at frame {frame}")
        return self


def normalised(quats: np.ndarray) -> np.ndarray:
    """Unit quaternions with a non-negative w, so equal rotations store equal numbers."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(quats, dtype=np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_quat(canonical=True).reshape(q.shape)


def resample_times(clip: Clip, times: np.ndarray) -> Clip:
    """Sample ``clip`` at arbitrary ``times`` (seconds, inside the clip): linear for
    translations, SLERP for every joint rotation. The result keeps ``clip.fps``; callers
    that change the rate set it."""
    from scipy.spatial.transform import Slerp

    times = np.clip(np.asarray(times, dtype=np.float64), 0.0, clip.duration)
    src = clip.times
    if clip.n_frames == 1:
        idx = np.zeros(len(times), dtype=int)
        return clip.copy(root_pos=clip.root_pos[idx], rotations=clip.rotations[idx],
                         translations=None if clip.translations is None
                         else clip.translations[idx])
    rots = np.empty((len(times), clip.n_joints, 4))
    for j in range(clip.n_joints):
        rots[:, j] = Slerp(src, clip.local_rotation(j))(times).as_quat()
    root = np.stack([np.interp(times, src, clip.root_pos[:, k]) for k in range(3)], axis=1)
    trans = None
    if clip.translations is not None:
        flat = clip.translations.reshape(clip.n_frames, -1)
        trans = np.stack([np.interp(times, src, flat[:, k]) for k in range(flat.shape[1])],
                         axis=1).reshape(len(times), clip.n_joints, 3)
    return clip.copy(root_pos=root, rotations=normalised(rots), translations=trans)


def resample(clip: Clip, fps: float) -> Clip:
    """The same motion at ``fps`` frames per second (SLERP for rotations).

    The new frames start at t = 0 and step by 1/fps up to the clip's last frame; when the
    duration is not a whole number of new frames the tail shorter than one frame is dropped,
    so the timing of every kept frame is exact. A tail within 2% of a whole frame counts as
    whole (that frame samples the clip's last frame), so rates stored with rounding, such as
    DeepMimic's 0.033332 s (30.0018 fps), keep their last frame.
    """
    if not (np.isfinite(fps) and fps > 0):
        raise UserError(f"{clip.name or 'clip'}: target frame rate must be positive, got {fps}")
    n = int(np.floor(clip.duration * fps + 0.02)) + 1
    out = resample_times(clip, np.arange(n) / fps)
    out.fps = float(fps)
    return out
