"""What a viewer needs to draw a clip: Z-up world positions, bones, contacts, facts.

Computed once per clip on a worker (FK and contacts are the expensive part), so the
viewport only indexes arrays while it plays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.jobs import UserError
from studio.motion.core.clip import Clip
from studio.motion.core.contacts import foot_contacts
from studio.motion.core.fk import forward_kinematics, root_trajectory
from studio.motion.core.skeleton import find_roles
from studio.motion.core.units import UnitScale, estimate_units


@dataclass(eq=False)
class ClipDisplay:
    name: str
    fps: float
    positions: np.ndarray  # (T, J, 3) metres, Z up
    bones: np.ndarray  # (B, 2) joint index pairs (parent, child)
    contact_joints: np.ndarray  # (F,) joint index of each foot's ankle
    contacts: np.ndarray  # (T, F) bool
    facts: dict[str, str] = field(default_factory=dict)
    units: UnitScale | None = None  # the clip's length unit, as guessed from the rig
    focus: int = 0  # the joint a following camera tracks: the hips (pelvis role), else joint 0

    @property
    def n_frames(self) -> int:
        return len(self.positions)


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
    pose = forward_kinematics(clip)
    if not np.isfinite(pose.positions).all():
        raise UserError(f"{clip.name or 'clip'}: forward kinematics produced NaN positions")
    units = estimate_units(clip, pose)
    scale = units.to_metres
    pos = to_z_up(pose.positions, clip.skeleton.up) * scale
    pos[..., 2] -= np.percentile(pos[..., 2].min(axis=1), 5)  # stand on the ground plane
    sk = clip.skeleton
    focus = find_roles(sk).get("hips", 0)
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
                       focus)
