"""Sample a clip at any times: SLERP between frames, and looping clips that keep cycling.

A looping clip (DeepMimic's "wrap") carries its root on by one :func:`loop_transform` per
pass, so a 1.3 s walk loop becomes a walk of any length. Used by blending, DeepPhase features
and the benchmarks; one place for the "where is this clip at time t" question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.motion.core.clip import Clip, normalised, resample_times


def _yaw(rot: Rotation, up: int) -> np.ndarray:
    """Twist angle (radians) of each rotation about the ``up`` axis (swing-twist split), so
    that turning the whole scene about ``up`` does not change it."""
    q = np.atleast_2d(rot.as_quat())
    return 2.0 * np.arctan2(q[:, up], q[:, 3])


def about_up(angle: np.ndarray | float, up: int) -> Rotation:
    from scipy.spatial.transform import Rotation

    axis = np.zeros(3)
    axis[up] = 1.0
    return Rotation.from_rotvec(np.atleast_1d(angle)[:, None] * axis)


def loop_transform(clip: Clip) -> tuple[float, np.ndarray]:
    """How one pass of a looping clip moves its root: (yaw in radians about the up axis,
    ground translation (3,)), such that the last frame's root = the transform applied to the
    first frame's (as DeepMimic plays its loops)."""
    from scipy.spatial.transform import Rotation

    up = clip.skeleton.up
    r0, r1 = Rotation.from_quat(clip.rotations[[0, -1], 0])
    yaw = float(_yaw(r1 * r0.inv(), up)[0])
    p0, p1 = clip.root_pos[0].copy(), clip.root_pos[-1].copy()
    p0[up] = p1[up] = 0.0
    d = p1 - about_up(yaw, up).apply(p0)[0]
    d[up] = 0.0
    return yaw, d


def sample_clip(clip: Clip, times: np.ndarray, fps: float | None = None) -> Clip:
    """``clip`` sampled at arbitrary ``times`` (seconds; SLERP between frames).

    A looping clip (``clip.loop``) keeps cycling before 0 and after its end: its period is its
    duration (the last frame is the next loop's first, as in DeepMimic), and each pass carries
    the root on by :func:`loop_transform`, so a 1.3 s walk loop becomes a walk of any length.
    Other clips hold their first/last frame outside their range. The result's ``fps`` is
    ``fps`` (default: the clip's) and ``loop`` is False.
    """
    from scipy.spatial.transform import Rotation

    times = np.asarray(times, dtype=np.float64)
    period = clip.duration
    if not clip.loop or clip.n_frames < 2 or period <= 0:
        out = resample_times(clip, times)
    else:
        # Loop k covers (k P, (k + 1) P]; t = 0 is loop 0's first frame, so sampling a loop
        # at its own frame times gives back its frames, the last one included.
        q = times / period
        k = np.where(q > 0, np.ceil(q - 1e-9) - 1, np.floor(q + 1e-9)).astype(int)
        r = np.clip(times - k * period, 0.0, period)
        out = resample_times(clip, r)
        yaw, d = loop_transform(clip)
        up = clip.skeleton.up
        root_rot = Rotation.from_quat(out.rotations[:, 0])
        for kk in np.unique(k):
            if kk == 0:
                continue
            sel = k == kk
            # The transform applied kk times (kk < 0: its inverse |kk| times).
            rot, trans = Rotation.identity(), np.zeros(3)
            step_rot = about_up(yaw if kk > 0 else -yaw, up)[0]
            step_d = d if kk > 0 else -(step_rot.apply(d))
            for _ in range(abs(int(kk))):
                trans = step_rot.apply(trans) + step_d
                rot = step_rot * rot
            p = out.root_pos[sel]
            heights = p[:, up].copy()
            moved = rot.apply(p) + trans
            moved[:, up] = heights
            out.root_pos[sel] = moved
            out.rotations[sel, 0] = (rot * root_rot[np.flatnonzero(sel)]).as_quat()
        out.rotations = normalised(out.rotations)
    out.fps = float(fps if fps is not None else clip.fps)
    out.loop = False
    return out


def frame_count(clip: Clip, fps: float) -> int:
    """Frames of ``clip`` at ``fps``, as ``clip.resample`` counts them."""
    return int(np.floor(clip.duration * fps + 0.02)) + 1
