"""Forward kinematics and the root trajectory, vectorised over frames.

FK walks the joints once in parent-before-child order; each step is one scipy ``Rotation``
composition over all T frames, so a 1000-frame, 70-joint clip costs about 70 numpy calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.motion.core.clip import Clip
from studio.motion.core.skeleton import Skeleton, find_roles


@dataclass(eq=False)
class Pose:
    """World-space result of FK: ``positions`` (T, J, 3) and ``rotations`` (T, J, 4),
    scalar-last quaternions of each joint's global orientation."""

    positions: np.ndarray
    rotations: np.ndarray | None

    def rotation(self, j: int) -> Rotation:
        from scipy.spatial.transform import Rotation

        return Rotation.from_quat(self.rotations[:, j])


def forward_kinematics_arrays(skeleton: Skeleton, local_translations: np.ndarray,
                              local_rotations: np.ndarray, rotations: bool = True) -> Pose:
    """FK from raw arrays: translations (T, J, 3) and rotations (T, J, 4), both local.
    ``rotations=False`` leaves ``Pose.rotations`` None (positions only: less memory)."""
    from scipy.spatial.transform import Rotation

    t, n = local_rotations.shape[:2]
    pos = np.empty((t, n, 3))
    rot = np.empty((t, n, 4)) if rotations else None
    glob: list[Rotation] = []
    for j in range(n):
        local = Rotation.from_quat(local_rotations[:, j])
        p = skeleton.parents[j]
        if p < 0:
            g = local
            pos[:, j] = local_translations[:, j]
        else:
            g = glob[p] * local
            pos[:, j] = pos[:, p] + glob[p].apply(local_translations[:, j])
        glob.append(g)
        if rot is not None:
            rot[:, j] = g.as_quat()
    return Pose(pos, rot)


def forward_kinematics(clip: Clip) -> Pose:
    """World positions and orientations of every joint in every frame."""
    return forward_kinematics_arrays(clip.skeleton, clip.local_translations(), clip.rotations)


FK_WINDOW = 2048  # frames per FK step of a long clip


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of scalar-last quaternion arrays (..., 4)."""
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz], axis=-1)


def _qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors (..., 3) by unit scalar-last quaternions (..., 4)."""
    u, w = q[..., :3], q[..., 3:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def fast_positions(skeleton: Skeleton, local_translations: np.ndarray,
                   local_rotations: np.ndarray) -> np.ndarray:
    """(T, J, 3) world positions with plain numpy quaternion maths: the same as
    ``forward_kinematics_arrays(...).positions`` to rounding (~1e-12 relative), about 20
    times faster than composing scipy ``Rotation`` objects; used for long clips."""
    t, n = local_rotations.shape[:2]
    q = np.asarray(local_rotations, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    pos = np.empty((t, n, 3))
    glob = np.empty((t, n, 4))
    for j in range(n):
        p = skeleton.parents[j]
        if p < 0:
            glob[:, j] = q[:, j]
            pos[:, j] = local_translations[:, j]
        else:
            glob[:, j] = _qmul(glob[:, p], q[:, j])
            pos[:, j] = pos[:, p] + _qrot(glob[:, p], local_translations[:, j])
    return pos


def window_positions(clip: Clip, start: int, stop: int) -> np.ndarray:
    """(stop - start, J, 3) world joint positions of frames ``start:stop`` only: what a
    viewer or a renderer needs from a long clip, without FK over all of it
    (:func:`fast_positions`)."""
    start, stop = max(0, int(start)), min(clip.n_frames, int(stop))
    if stop <= start:
        return np.zeros((0, clip.n_joints, 3))
    return fast_positions(clip.skeleton, clip.local_translations(start, stop),
                          clip.rotations[start:stop])


def joint_positions(clip: Clip, window: int = FK_WINDOW) -> np.ndarray:
    """(T, J, 3) world joint positions, computed ``window`` frames at a time: the numbers of
    ``forward_kinematics(clip).positions`` (to rounding; see :func:`fast_positions`) but the
    working memory is one window, not the whole clip's rotations (a memory-mapped clip is
    read a window at a time)."""
    pos = np.empty((clip.n_frames, clip.n_joints, 3))
    for s in range(0, clip.n_frames, window):
        pos[s:s + window] = window_positions(clip, s, s + window)
    return pos


def positions_pose(clip: Clip, window: int = FK_WINDOW) -> Pose:
    """A :class:`Pose` with positions only (``rotations`` None), from :func:`joint_positions`:
    enough for units, contacts, trajectories and the viewer."""
    return Pose(joint_positions(clip, window), None)


LONG_CLIP_FRAMES = 4096  # longer clips take the windowed, positions-only FK for statistics


def stats_pose(clip: Clip) -> Pose:
    """The pose whole-clip statistics (units, contacts, path) are taken from: the full
    :func:`forward_kinematics` for a normal clip (as always), :func:`positions_pose` for
    a clip longer than :data:`LONG_CLIP_FRAMES` frames (positions only, window by window)."""
    if clip.n_frames > LONG_CLIP_FRAMES:
        return positions_pose(clip)
    return forward_kinematics(clip)


def rest_positions(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) joint positions with every rotation at identity (the skeleton's zero pose)."""
    pos = np.zeros((len(skeleton), 3))
    pos[0] = skeleton.offsets[0]
    for j in range(1, len(skeleton)):
        pos[j] = pos[skeleton.parents[j]] + skeleton.offsets[j]
    return pos


@dataclass(eq=False)
class Trajectory:
    """The root projected on the ground, with the facing direction.

    ``positions`` (T, 3): root position with the up coordinate set to 0. ``forward`` (T, 3):
    unit facing direction on the ground plane. ``heading`` (T,): angle of ``forward`` around
    the up axis in radians, unwrapped so turning is continuous. ``velocity`` (T, 3): ground
    velocity in units per second (central differences).
    """

    positions: np.ndarray
    forward: np.ndarray
    heading: np.ndarray
    velocity: np.ndarray

    @property
    def distance(self) -> float:
        """Path length travelled on the ground."""
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())


def facing_directions(clip: Clip, pose: Pose | None = None) -> np.ndarray:
    """(T, 3) unit facing direction of the character on the ground plane.

    When the thighs are found by name (see ``skeleton.find_roles``) forward is
    ``up x (left thigh -> right thigh)``, which holds for any rig; otherwise the root's
    orientation applied to ``skeleton.forward``.
    """
    from scipy.spatial.transform import Rotation

    sk = clip.skeleton
    up = np.zeros(3)
    up[sk.up] = 1.0
    roles = find_roles(sk)
    if "left_upleg" in roles and "right_upleg" in roles:
        pose = pose or forward_kinematics(clip)
        right = pose.positions[:, roles["right_upleg"]] - pose.positions[:, roles["left_upleg"]]
        fwd = np.cross(up, right)
    else:
        fwd = Rotation.from_quat(clip.rotations[:, 0]).apply(np.asarray(sk.forward, float))
    fwd = np.atleast_2d(fwd).copy()
    fwd[:, sk.up] = 0.0
    return fwd / np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-12)


def root_trajectory(clip: Clip, pose: Pose | None = None) -> Trajectory:
    """Ground-projected root path, facing direction and velocity (see :class:`Trajectory`).

    The path follows the hips joint when it is found by name (some rigs, e.g. Bandai-Namco,
    keep joint 0 fixed on the floor and move the hips), else joint 0. Heading is the
    right-handed angle around the up axis from axis ``(up + 1) % 3`` (Z for a Y-up skeleton),
    so a DeepMimic clip facing +X has heading pi/2.
    """
    sk = clip.skeleton
    hips = find_roles(sk).get("hips", 0)
    if hips == 0:
        root = clip.root_pos.copy()
    else:
        pose = pose or forward_kinematics(clip)
        root = pose.positions[:, hips].copy()
    root[:, sk.up] = 0.0
    fwd = facing_directions(clip, pose)
    a, b = (sk.up + 1) % 3, (sk.up + 2) % 3
    heading = np.unwrap(np.arctan2(fwd[:, b], fwd[:, a]))
    vel = np.gradient(root, clip.dt, axis=0) if clip.n_frames > 1 else np.zeros_like(root)
    return Trajectory(root, fwd, heading, vel)


def infer_axes(clip: Clip) -> tuple[int, tuple[float, float, float]]:
    """Guess the world up axis and the root-local forward vector from the first frame.

    Up is the axis hips -> head (or neck) points along most; forward is ``up x (left thigh ->
    right thigh)`` taken into the root's frame. Without those joints: Y up and the axis
    after it as forward, the BVH habit.
    """
    from scipy.spatial.transform import Rotation

    first = clip.frames(0, 1)
    roles = find_roles(clip.skeleton)
    pose = forward_kinematics(first)
    up = clip.skeleton.up
    top = roles.get("head", roles.get("neck"))
    if "hips" in roles and top is not None:
        v = pose.positions[0, top] - pose.positions[0, roles["hips"]]
        if np.linalg.norm(v) > 0:
            up = int(np.argmax(np.abs(v)))
    forward = np.zeros(3)
    forward[(up + 1) % 3] = 1.0
    if "left_upleg" in roles and "right_upleg" in roles:
        up_v = np.zeros(3)
        up_v[up] = 1.0
        right = pose.positions[0, roles["right_upleg"]] - pose.positions[0, roles["left_upleg"]]
        fwd = np.cross(up_v, right)
        fwd[up] = 0.0
        if np.linalg.norm(fwd) > 1e-9:
            local = Rotation.from_quat(first.rotations[0, 0]).inv().apply(fwd)
            forward = local / np.linalg.norm(local)
    return up, (float(forward[0]), float(forward[1]), float(forward[2]))
