"""Skeletons: the joint tree every clip, FK pass and retarget shares.

A skeleton is a list of joints in parent-before-child order (so FK is one forward sweep),
each with a rest offset from its parent and the BVH channels it carries. End sites (BVH
"End Site") are joints with no channels and no children; they are kept as joints so that FK
also gives the tips of hands, feet and head, which contact detection and drawing need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True, eq=False)
class Skeleton:
    """Joint tree. ``parents[j] < j`` for every non-root joint; joint 0 is the root.

    ``offsets`` are rest translations from the parent joint, in the skeleton's length unit
    (metres for the DeepMimic humanoid, usually centimetres for BVH files). ``channels`` holds
    the BVH channel names of each joint (``()`` for end sites); the order of the rotation
    channels is the joint's Euler order (BVH: intrinsic, first channel outermost).
    ``up`` is the world up axis index (BVH and DeepMimic: 1 = Y); ``forward`` is the
    character's facing direction in the root joint's local frame, when known.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    up: int = 1
    forward: tuple[float, float, float] = (0.0, 0.0, 1.0)
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "channels", tuple(tuple(c) for c in self.channels))
        n = len(self.names)
        if not (len(self.parents) == len(self.channels) == len(offsets) == n) or n == 0:
            raise ValueError(f"skeleton arrays disagree: {n} names, {len(self.parents)} parents, "
                             f"{len(offsets)} offsets, {len(self.channels)} channel lists")
        if self.parents[0] != -1:
            raise ValueError("joint 0 must be the root (parent -1)")
        for j, p in enumerate(self.parents[1:], start=1):
            if not 0 <= p < j:
                raise ValueError(f"joint {self.names[j]!r}: parent index {p} must come before it")
        for j, chans in enumerate(self.channels):
            bad = [c for c in chans if c not in POSITION_CHANNELS + ROTATION_CHANNELS]
            if bad:
                raise ValueError(f"joint {self.names[j]!r}: unknown channel(s) {bad}")
        index = {name: j for j, name in enumerate(self.names)}
        if len(index) != n:
            dup = sorted({x for x in self.names if self.names.count(x) > 1})
            raise ValueError(f"duplicate joint names: {dup}")
        object.__setattr__(self, "_index", index)

    # -- lookups -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Joint index by exact name (KeyError names the joint)."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no joint named {name!r}") from None

    def get(self, name: str) -> int | None:
        return self._index.get(name)

    def children(self, j: int) -> list[int]:
        return [k for k, p in enumerate(self.parents) if p == j]

    def rotation_order(self, j: int) -> str:
        """Euler order of joint ``j`` as scipy's intrinsic axes string, e.g. ``"ZXY"``."""
        return "".join(c[0] for c in self.channels[j] if c in ROTATION_CHANNELS)

    def has_position(self, j: int) -> bool:
        return any(c in POSITION_CHANNELS for c in self.channels[j])

    @property
    def end_sites(self) -> np.ndarray:
        """Boolean mask: joints with no channels and no children (BVH End Sites)."""
        has_child = np.zeros(len(self), dtype=bool)
        for p in self.parents[1:]:
            has_child[p] = True
        return np.array([not self.channels[j] and not has_child[j] for j in range(len(self))])

    def bone_lengths(self) -> np.ndarray:
        return np.linalg.norm(self.offsets, axis=1)

    def chain_length(self, top: int, bottom: int) -> float:
        """Summed rest offset lengths from ``top`` down to ``bottom`` (a descendant)."""
        total, j = 0.0, bottom
        while j != top:
            if j < 0:
                raise ValueError(f"{self.names[bottom]!r} is not below {self.names[top]!r}")
            total += float(np.linalg.norm(self.offsets[j]))
            j = self.parents[j]
        return total

    def with_offsets(self, offsets: np.ndarray) -> "Skeleton":
        return Skeleton(self.names, self.parents, np.array(offsets, dtype=np.float64),
                        self.channels, self.up, self.forward)

    def scaled(self, factor: float) -> "Skeleton":
        return self.with_offsets(self.offsets * factor)


# -- joint roles --------------------------------------------------------------------------
# A role is a body part that retargeting and contact detection need to find in any
# skeleton. Candidates are compared after normalise_name(): namespace prefix dropped
# ("mixamorig:LeftArm" -> "leftarm"), lower case, no "_", "-", "." or spaces. In the sided
# templates "{S}" is "left"/"right" and "{s}" is "l"/"r". Note that "LeftShoulder" is the
# clavicle in CMU and Mixamo rigs, so it is deliberately not an upper-arm candidate.
_CENTRE: dict[str, tuple[str, ...]] = {
    "hips": ("hips", "hip", "pelvis"),
    "neck": ("neck", "neck1", "necklower"),
    "head": ("head",),
}
_SIDED: dict[str, tuple[str, ...]] = {
    "upleg": ("{S}upleg", "upperleg{s}", "{S}upperleg", "{S}thigh", "{s}thigh", "thigh{s}",
              "{S}hip", "{s}hip", "hip{s}"),
    "leg": ("{S}leg", "lowerleg{s}", "{S}lowerleg", "{S}shin", "{s}shin", "shin{s}", "{S}knee",
            "{s}knee", "knee{s}", "calf{s}"),
    "foot": ("{S}foot", "foot{s}", "{s}foot", "{S}ankle", "{s}ankle", "ankle{s}"),
    "toe": ("{S}toebase", "toes{s}", "toe{s}", "{S}toe", "{S}toes", "{s}toe", "ball{s}"),
    "arm": ("{S}arm", "upperarm{s}", "{S}upperarm", "{s}upperarm", "{s}humerus", "{s}shldr"),
    "forearm": ("{S}forearm", "lowerarm{s}", "{S}lowerarm", "{s}forearm", "forearm{s}",
                "{s}radius", "{S}elbow", "{s}elbow", "elbow{s}"),
    "hand": ("{S}hand", "hand{s}", "{s}hand", "{S}wrist", "{s}wrist", "wrist{s}"),
}
ROLE_CANDIDATES: dict[str, tuple[str, ...]] = dict(_CENTRE)
for _side, _s in (("left", "l"), ("right", "r")):
    for _part, _templates in _SIDED.items():
        ROLE_CANDIDATES[f"{_side}_{_part}"] = tuple(t.format(S=_side, s=_s) for t in _templates)


def normalise_name(name: str) -> str:
    """Compare joint names across rigs: drop a ``namespace:`` prefix, case and separators."""
    return re.sub(r"[\s_\-.]", "", name.rsplit(":", 1)[-1]).lower()


# The DeepMimic humanoid names its upper arm "shoulder", which in other rigs is the clavicle,
# so it is recognised by its full name set instead of by candidates.
HUMANOID_ROLES: dict[str, str] = {
    "hips": "root", "neck": "neck", "head": "head",
    **{f"{side}_{part}": f"{side}_{joint}" for side in ("left", "right") for part, joint in (
        ("upleg", "hip"), ("leg", "knee"), ("foot", "ankle"), ("toe", "toe"),
        ("arm", "shoulder"), ("forearm", "elbow"), ("hand", "wrist"))},
}


def find_roles(skeleton: Skeleton) -> dict[str, int]:
    """Map role -> joint index for every role whose name is found (first candidate wins).

    End sites never take a role (except in the DeepMimic humanoid, whose tips are named).
    Roles that are not found are simply absent.
    """
    core = ("root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
            "right_elbow", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow")
    if all(skeleton.get(n) is not None for n in core):
        return {role: skeleton.index(n) for role, n in HUMANOID_ROLES.items()
                if skeleton.get(n) is not None}
    normal: dict[str, int] = {}
    ends = skeleton.end_sites
    for j, n in enumerate(skeleton.names):
        if not ends[j]:
            normal.setdefault(normalise_name(n), j)
    roles: dict[str, int] = {}
    for role, cands in ROLE_CANDIDATES.items():
        for c in cands:
            if c in normal:
                roles[role] = normal[c]
                break
    return roles
