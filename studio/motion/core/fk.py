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
    rotations: np.ndarray

    def rotation(self, j: int) -> Rotation:
        from scipy.spatial.transform import Rotation

        return Rotation.from_quat(self.rotations[:, j])


def forward_kinematics_arrays(skeleton: Skeleton, local_translations: np.ndarray,
                              local_rotations: np.ndarray) -> Pose:
    """FK from raw arrays: translations (T, J, 3) and rotations (T, J, 4), both local."""
    from scipy.spatial.transform import Rotation

    t, n = local_rotations.shape[:2]
    pos = np.empty((t, n, 3))
    rot = np.empty((t, n, 4))
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
        rot[:, j] = g.as_quat()
    return Pose(pos, rot)


def forward_kinematics(clip: Clip) -> Pose:
    """World positions and orientations of every joint in every frame."""
    return forward_kinematics_arrays(clip.skeleton, clip.local_translations(), clip.rotations)


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
