"""What a viewer needs to draw a clip: Z-up world positions, bones, contacts, facts.

Computed once per clip on a worker (FK and contacts are the expensive part), so the
viewport only indexes arrays while it plays. A long clip (more than :data:`DENSE_FRAMES`
frames) keeps only what is small per frame (contacts, the hips' path); its joint positions
are :class:`WindowedPositions`, computed a window of frames at a time when a frame is
asked for, so a 50,000-frame file is not held as (T, J, 3) positions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from studio.jobs import UserError
from studio.motion.core.clip import Clip
from studio.motion.core.contacts import foot_contacts
from studio.motion.core.fk import LONG_CLIP_FRAMES, root_trajectory, stats_pose, window_positions
from studio.motion.core.skeleton import find_roles
from studio.motion.core.units import UnitScale, estimate_units

DENSE_FRAMES = LONG_CLIP_FRAMES  # up to this many frames the positions are one array
VIEW_WINDOW = 512    # frames per FK window of a long clip's display positions
VIEW_WINDOWS = 4     # windows kept


class WindowedPositions:
    """(T, J, 3) display positions (metres, Z up, on the ground) of a long clip, computed
    :data:`VIEW_WINDOW` frames at a time on demand (the last :data:`VIEW_WINDOWS` windows
    kept). Indexing a frame (``pos[i]``) costs one window's FK the first time; any other
    index works too (``pos[a:b]``, ``pos[:, j]``) but computes the frames it covers."""

    def __init__(self, clip: Clip, scale: float, lift: float,
                 window: int = VIEW_WINDOW, keep: int = VIEW_WINDOWS) -> None:
        self.clip, self.scale, self.lift = clip, float(scale), float(lift)
        self.window, self.keep = int(window), int(keep)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.windows_computed = 0  # for tests and benchmarks

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.clip.n_frames, self.clip.n_joints, 3)

    @property
    def ndim(self) -> int:
        return 3

    dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.clip.n_frames

    def frames(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, J, 3) display positions of frames ``start:stop`` (computed now, not
        kept)."""
        return display_positions(window_positions(self.clip, start, stop), self.clip.skeleton.up,
                                 self.scale, self.lift)

    def _window(self, w: int) -> np.ndarray:
        block = self._cache.get(w)
        if block is None:
            block = self.frames(w * self.window, (w + 1) * self.window)
            self.windows_computed += 1
            self._cache[w] = block
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(w)
        return block

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        n = self.clip.n_frames
        if isinstance(first, (int, np.integer)):
            i = int(first) + n if first < 0 else int(first)
            if not 0 <= i < n:
                raise IndexError(f"frame {first} out of range for {n} frames")
            row = self._window(i // self.window)[i % self.window]
            return row[rest] if rest else row
        if isinstance(first, slice) and first.step in (None, 1):
            a, b, _ = first.indices(n)
            out = self.frames(a, b)
        else:
            out = self.frames(0, n)[first]
        return out[(slice(None),) + rest] if rest else out

    def __array__(self, dtype=None, copy=None):
        out = self.frames(0, self.clip.n_frames)
        return out if dtype is None else out.astype(dtype)


def display_positions(p: np.ndarray, up: int, scale: float, lift: float) -> np.ndarray:
    """Clip-unit world positions -> the viewer's: Z up, metres, lowered by ``lift``."""
    pos = to_z_up(p, up) * scale
    pos[..., 2] -= lift
    return pos


@dataclass(eq=False)
class ClipDisplay:
    name: str
    fps: float
    positions: np.ndarray  # (T, J, 3) metres, Z up (a WindowedPositions for a long clip)
    bones: np.ndarray  # (B, 2) joint index pairs (parent, child)
    contact_joints: np.ndarray  # (F,) joint index of each foot's ankle
    contacts: np.ndarray  # (T, F) bool
    facts: dict[str, str] = field(default_factory=dict)
    units: UnitScale | None = None  # the clip's length unit, as guessed from the rig
    focus: int = 0  # the joint a following camera tracks: the hips (pelvis role), else joint 0
    path: np.ndarray | None = None  # (T, 3) the focus joint's positions (None: from positions)

    @property
    def n_frames(self) -> int:
        return len(self.positions)

    @property
    def focus_path(self) -> np.ndarray:
        """(T, 3) positions of the joint the camera follows (the viewer's trail)."""
        if self.path is not None:
            return self.path
        return np.asarray(self.positions[:, self.focus])


def to_z_up(p: np.ndarray, up: int) -> np.ndarray:
    """Rotate so the clip's up axis becomes +Z (Y-up: (x, y, z) -> (x, -z, y))."""
    if up == 2:
        return p.copy()
    if up == 1:
        return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)
    return np.stack([p[..., 1], p[..., 2], p[..., 0]], axis=-1)


def clip_display(clip: Clip) -> ClipDisplay:
    """Everything a viewer draws, in metres with Z up (see :class:`ClipDisplay`)."""
    if clip.n_frames == 0:
        raise UserError(f"{clip.name or 'clip'}: the clip has no frames")
    pose = stats_pose(clip)  # a long clip: window by window, positions only
    if not np.isfinite(pose.positions).all():
        raise UserError(f"{clip.name or 'clip'}: forward kinematics produced NaN positions")
    units = estimate_units(clip, pose)
    scale = units.to_metres
    sk = clip.skeleton
    focus = find_roles(sk).get("hips", 0)
    long_clip = clip.n_frames > DENSE_FRAMES
    if long_clip:
        # per-frame lowest joint in the viewer's frame (Z up, metres), without a second array
        low = np.empty(clip.n_frames)
        for s in range(0, clip.n_frames, DENSE_FRAMES):
            low[s:s + DENSE_FRAMES] = display_positions(
                pose.positions[s:s + DENSE_FRAMES], sk.up, scale, 0.0)[..., 2].min(axis=1)
        lift = float(np.percentile(low, 5))  # stand on the ground plane
        pos = WindowedPositions(clip, scale, lift)
        path = display_positions(pose.positions[:, focus], sk.up, scale, lift)
    else:
        pos = to_z_up(pose.positions, sk.up) * scale
        pos[..., 2] -= np.percentile(pos[..., 2].min(axis=1), 5)  # stand on the ground plane
        path = None
    # No bone up to the hips from a node above them (Bandai's joint_Root stays on the floor
    # at the origin while the body walks away: that "bone" would stretch across the scene).
    bones = np.array([(p, j) for j, p in enumerate(sk.parents) if p >= 0 and j != focus],
                     dtype=np.int64).reshape(-1, 2)
    facts = {"frames": str(clip.n_frames), "fps": f"{clip.fps:.4g}",
             "duration": f"{clip.duration:.2f} s", "joints": str(len(sk)),
             "units": units.label}
    for k, note in enumerate(clip.meta.get("notes", ())):
        facts[f"note {k + 1}" if k else "note"] = str(note)
    try:
        fc = foot_contacts(clip, pose)
        contact_joints = np.array([js[0] for js in fc.joints], dtype=np.int64)
        contacts = fc.mask
        facts["contacts"] = ", ".join(f"{k} {100 * v:.0f}%" for k, v in fc.fraction().items())
    except UserError:
        contact_joints, contacts = np.zeros(0, np.int64), np.zeros((clip.n_frames, 0), bool)
        facts["contacts"] = "no feet found"
    facts["path length"] = f"{root_trajectory(clip, pose).distance * scale:.2f} m"
    return ClipDisplay(clip.name, clip.fps, pos, bones, contact_joints, contacts, facts, units,
                       focus, path)
