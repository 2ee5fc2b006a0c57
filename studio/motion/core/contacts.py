"""Foot contacts and foot sliding.

A foot touches the ground in a frame when one of its joints (ankle, and toe when the rig has
one) is both low and slow:

* low: its height above its own ground level is below ``height`` x leg length. A joint's
  ground level is the 5th percentile of its height over the clip, capped at 0.15 leg lengths
  above the floor (the 5th percentile of the lowest foot joint per frame), so an ankle that
  never comes down in a clip is not taken as standing;
* slow: its speed (3D, central differences) is below ``speed`` x leg length per second.

Thresholds scale with leg length (hip -> knee -> ankle) so they work in metres or centimetres
and for any body size. With the defaults (0.1 and 0.5), for the DeepMimic humanoid (leg
0.83 m) that is 8.3 cm and 0.42 m/s. A walking foot's joints move at 2-5 m/s in swing and
well under 0.5 m/s when planted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.jobs import UserError
from studio.motion.core.clip import Clip
from studio.motion.core.fk import Pose, forward_kinematics
from studio.motion.core.skeleton import find_roles

DEFAULT_HEIGHT = 0.1   # x leg length
DEFAULT_SPEED = 0.5    # x leg length per second
GROUND_PERCENTILE = 5.0
MAX_JOINT_LIFT = 0.15  # x leg length: highest plausible ground level of a foot joint


def leg_length(clip: Clip, pose: Pose | None = None) -> float:
    """Mean hip -> knee -> ankle length over the clip (both legs), in clip units."""
    roles = find_roles(clip.skeleton)
    lengths = []
    for side in ("left", "right"):
        chain = [roles.get(f"{side}_{p}") for p in ("upleg", "leg", "foot")]
        if None in chain:
            continue
        if pose is None:
            pose = forward_kinematics(clip)
        p = pose.positions
        lengths.append(np.linalg.norm(p[:, chain[0]] - p[:, chain[1]], axis=1).mean()
                       + np.linalg.norm(p[:, chain[1]] - p[:, chain[2]], axis=1).mean())
    if not lengths:
        raise UserError(f"{clip.name or 'clip'}: no legs found (need hip, knee and ankle "
                        "joints with known names; see docs/motion-retarget.md)")
    return float(np.mean(lengths))


@dataclass(eq=False)
class FootContacts:
    """Per-frame contact flags. ``mask`` (T, F) is True where foot ``feet[f]`` touches;
    ``joint_mask`` (T, F, K) per tested joint (``joints[f]``, ankle first; -1 pads)."""

    feet: tuple[str, ...]
    joints: tuple[tuple[int, ...], ...]
    mask: np.ndarray
    joint_mask: np.ndarray
    height_threshold: float
    speed_threshold: float
    ground: float

    def fraction(self) -> dict[str, float]:
        """Share of frames in contact, per foot."""
        return {f: float(self.mask[:, i].mean()) for i, f in enumerate(self.feet)}

    def segments(self, foot: str) -> list[tuple[int, int]]:
        """Contact intervals of one foot as ``(start, stop)`` frame ranges (stop exclusive)."""
        m = self.mask[:, self.feet.index(foot)].astype(np.int8)
        edges = np.diff(np.concatenate([[0], m, [0]]))
        return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def foot_joints(clip: Clip) -> dict[str, tuple[int, ...]]:
    """Joints tested for each foot: ankle, then toe when present."""
    roles = find_roles(clip.skeleton)
    feet = {}
    for side in ("left", "right"):
        if f"{side}_foot" in roles:
            feet[side] = tuple(roles[k] for k in (f"{side}_foot", f"{side}_toe") if k in roles)
    if not feet:
        raise UserError(f"{clip.name or 'clip'}: no feet found (need ankle/foot joints with "
                        "known names; see docs/motion-retarget.md)")
    return feet


def foot_contacts(clip: Clip, pose: Pose | None = None, height: float = DEFAULT_HEIGHT,
                  speed: float = DEFAULT_SPEED) -> FootContacts:
    """Detect foot contacts (see the module notes for the rule and the thresholds)."""
    pose = pose or forward_kinematics(clip)
    feet = foot_joints(clip)
    leg = leg_length(clip, pose)
    up = clip.skeleton.up
    h_thr, v_thr = height * leg, speed * leg
    all_j = [j for js in feet.values() for j in js]
    heights = pose.positions[:, :, up]
    ground = float(np.percentile(heights[:, all_j].min(axis=1), GROUND_PERCENTILE))
    if clip.n_frames > 1:
        vel = np.gradient(pose.positions[:, all_j], clip.dt, axis=0)
    else:
        vel = np.zeros((1, len(all_j), 3))
    speeds = dict(zip(all_j, np.linalg.norm(vel, axis=2).T))
    k = max(len(js) for js in feet.values())
    jm = np.zeros((clip.n_frames, len(feet), k), dtype=bool)
    for f, js in enumerate(feet.values()):
        for i, j in enumerate(js):
            base = min(np.percentile(heights[:, j], GROUND_PERCENTILE), ground + MAX_JOINT_LIFT * leg)
            jm[:, f, i] = (heights[:, j] - base < h_thr) & (speeds[j] < v_thr)
    joints = tuple(tuple(js) + (-1,) * (k - len(js)) for js in feet.values())
    return FootContacts(tuple(feet), joints, jm.any(axis=2), jm, h_thr, v_thr, ground)


@dataclass(eq=False)
class FootSliding:
    """How much planted feet move. Speeds in clip units per second; ``per_foot`` maps foot
    -> mean horizontal speed over its contact frames; ``relative`` is the overall mean in
    leg lengths per second, comparable across rigs and units."""

    per_foot: dict[str, float]
    mean_speed: float
    max_speed: float
    distance: float
    contact_frames: int
    relative: float


def foot_sliding(clip: Clip, contacts: FootContacts | None = None,
                 pose: Pose | None = None) -> FootSliding:
    """Foot sliding metric: horizontal speed of the planted joints during contact frames.

    For each foot and contact frame, the horizontal speed of the joints flagged in contact
    (ankle and/or toe; their mean when both) is taken; the metric is the mean of these over
    all contact frames. A clean clip scores a few cm/s; retargeting or blending errors show
    as larger values. ``distance`` sums speed x dt, the total slide length.
    """
    pose = pose or forward_kinematics(clip)
    contacts = contacts or foot_contacts(clip, pose)
    up = clip.skeleton.up
    per_foot, all_speeds = {}, []
    for f, foot in enumerate(contacts.feet):
        js = [j for j in contacts.joints[f] if j >= 0]
        p = pose.positions[:, js].copy()
        p[..., up] = 0.0
        v = np.linalg.norm(np.gradient(p, clip.dt, axis=0), axis=2) if clip.n_frames > 1 \
            else np.zeros((1, len(js)))
        flags = contacts.joint_mask[:, f, :len(js)]
        count = flags.sum(axis=1)
        frames = count > 0
        speed = (v * flags).sum(axis=1)[frames] / count[frames]
        per_foot[foot] = float(speed.mean()) if speed.size else 0.0
        all_speeds.append(speed)
    s = np.concatenate(all_speeds) if all_speeds else np.zeros(0)
    mean = float(s.mean()) if s.size else 0.0
    leg = leg_length(clip, pose)
    return FootSliding(per_foot, mean, float(s.max()) if s.size else 0.0,
                       float(s.sum() * clip.dt), int(s.size), mean / leg)
