"""Test helpers: re-rig a humanoid clip onto a CMU-style skeleton with another rest pose,
other bone axes, another up axis and other units, keeping the world motion identical."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from studio.motion.core.clip import Clip
from studio.motion.core.skeleton import Skeleton
from studio.motion.io.deepmimic import HUMANOID

CMU_NAMES = {
    "root": "Hips", "chest": "Spine1", "neck": "Neck", "head": "Head",
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_toe": "RightToeBase", "right_shoulder": "RightArm", "right_elbow": "RightForeArm",
    "right_wrist": "RightHand",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_toe": "LeftToeBase", "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm",
    "left_wrist": "LeftHand",
}
ORDERS = ("ZXY", "XYZ", "ZYX", "YXZ", "YZX", "XZY")


def rerig(clip: Clip, *, names: dict[str, str] | None = None, tpose: bool = True,
          random_axes: bool = True, z_up: bool = True, units: float = 100.0,
          seed: int = 0) -> Clip:
    """The same motion on a rig with CMU names (tips become real joints with End Sites),
    arms out in the rest pose, random bone axes, Z up and centimetres."""
    names = names or CMU_NAMES
    rng = np.random.default_rng(seed)
    sk = HUMANOID
    n = len(sk)
    q = [Rotation.identity() for _ in range(n)]
    if random_axes:
        q = list(Rotation.random(n, random_state=seed))
    if tpose:  # arm bones point sideways in the zero pose (a T-pose when axes are plain)
        for side, sign in (("right", 1.0), ("left", -1.0)):
            for j in ("shoulder", "elbow", "wrist"):
                q[sk.index(f"{side}_{j}")] = Rotation.from_rotvec([sign * np.pi / 2, 0, 0])
    v = Rotation.from_rotvec([np.pi / 2, 0, 0]) if z_up else Rotation.identity()
    # Tips become joints with channels, each ending in a zero-length End Site.
    new_names, parents, offsets, channels = [], [], [], []
    for j in range(n):
        p = sk.parents[j]
        new_names.append(names[sk.names[j]])
        parents.append(p)
        off = sk.offsets[j] if p < 0 else q[p].inv().apply(sk.offsets[j])
        offsets.append(off * units)
        order = ORDERS[rng.integers(len(ORDERS))]
        rot = tuple(f"{a}rotation" for a in order)
        channels.append(("Xposition", "Yposition", "Zposition") + rot if p < 0 else rot)
    tips = [j for j in range(n) if sk.end_sites[j]]
    for j in tips:
        new_names.append(new_names[j] + "_End")
        parents.append(j)
        offsets.append(np.zeros(3))
        channels.append(())
    skel = Skeleton(new_names, parents, np.array(offsets), channels, up=2 if z_up else 1)
    from studio.motion.core.fk import forward_kinematics

    pose = forward_kinematics(clip)
    t = clip.n_frames
    rots = np.zeros((t, len(skel), 4))
    rots[..., 3] = 1.0
    glob = [v * pose.rotation(j) * q[j] for j in range(n)]
    for j in range(n):
        p = sk.parents[j]
        rots[:, j] = (glob[j] if p < 0 else glob[p].inv() * glob[j]).as_quat()
    root = v.apply(clip.root_pos) * units
    return Clip(skel, clip.fps, root, rots, name=clip.name + "_rerig")
