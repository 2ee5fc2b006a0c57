"""Guess a clip's length unit from the body it draws.

BVH has no unit field: CMU files use their own unit (about 5.6 cm), most exporters
centimetres, some inches, metres or millimetres. The rig is measured (legs hip -> knee ->
ankle, else arms shoulder -> elbow -> wrist, else standing height) against an adult human;
the scale snaps to a common unit when it is within a factor of 1.45 of it (the nearest two,
centimetres and inches, are 2.54 apart), otherwise the measured ratio is used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.motion.core.clip import Clip
from studio.motion.core.fk import Pose, forward_kinematics
from studio.motion.core.skeleton import find_roles

HUMAN_LEG_M = 0.88     # hip -> knee -> ankle of an adult
HUMAN_ARM_M = 0.55     # shoulder -> elbow -> wrist
HUMAN_HEIGHT_M = 1.7   # standing height
SNAP_FACTOR = 1.45
UNITS: tuple[tuple[str, float], ...] = (
    ("metres", 1.0), ("centimetres", 0.01), ("millimetres", 0.001), ("inches", 0.0254),
    ("feet", 0.3048))


@dataclass(frozen=True)
class UnitScale:
    """How a clip's lengths become metres: ``to_metres`` per clip unit; ``unit`` names it
    ("centimetres"... or "estimated" when no common unit fits); ``basis`` says what was
    measured (e.g. "leg 80.3 units")."""

    unit: str
    to_metres: float
    basis: str

    @property
    def snapped(self) -> bool:
        return self.unit != "estimated"

    @property
    def label(self) -> str:
        """One line for the UI, e.g. "centimetres (leg 80.3 units)" or
        "1 unit = 5.64 cm (estimated from leg 15.9 units)"."""
        if self.snapped:
            return f"{self.unit} ({self.basis})"
        return f"1 unit = {100 * self.to_metres:.3g} cm (estimated from {self.basis})"


def _chain_len(p: np.ndarray, chain: list[int]) -> float:
    return float(sum(np.linalg.norm(p[:, a] - p[:, b], axis=1).mean()
                     for a, b in zip(chain, chain[1:])))


def measure(clip: Clip, pose: Pose | None = None) -> tuple[float, float, str]:
    """(measured length in clip units, the same length of a human in metres, what it is)."""
    roles = find_roles(clip.skeleton)
    pose = pose or forward_kinematics(clip)
    p = pose.positions
    for parts, ref, what in ((("upleg", "leg", "foot"), HUMAN_LEG_M, "leg"),
                             (("arm", "forearm", "hand"), HUMAN_ARM_M, "arm")):
        lengths = []
        for side in ("left", "right"):
            chain = [roles.get(f"{side}_{k}") for k in parts]
            if None not in chain:
                lengths.append(_chain_len(p, chain))
        if lengths and max(lengths) > 0:
            return float(np.mean(lengths)), ref, what
    up = clip.skeleton.up
    height = float(np.ptp(p[0, :, up]))
    return height, HUMAN_HEIGHT_M, "height"


def estimate_units(clip: Clip, pose: Pose | None = None) -> UnitScale:
    """The clip's length unit (see the module notes). Never refuses a rig: one without legs
    is measured by its arms or height, and a rig of zero size is taken as metres."""
    length, ref, what = measure(clip, pose)
    basis = f"{what} {length:.4g} units"
    if not (np.isfinite(length) and length > 0):
        return UnitScale("metres", 1.0, f"{what} of zero length")
    raw = ref / length
    name, factor = min(UNITS, key=lambda u: abs(np.log(raw / u[1])))
    if abs(np.log(raw / factor)) <= np.log(SNAP_FACTOR):
        return UnitScale(name, factor, basis)
    return UnitScale("estimated", float(raw), basis)
