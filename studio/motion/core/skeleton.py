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
# ("mixamorig:LeftArm" -> "leftarm", also "mixamorig_" and "Bip01 "), lower case, no "_",
# "-", "." or spaces. In the sided templates "{S}" is "left"/"right" and "{s}" is "l"/"r".
# "LeftShoulder" is the clavicle in CMU and Mixamo rigs but the upper arm in Biovision/ASF
# rigs (LeftCollar -> LeftShoulder -> LeftElbow), so it is not a name candidate: the upper
# arm is taken as the parent of the forearm when no upper-arm name is present.
_CENTRE: dict[str, tuple[str, ...]] = {
    "hips": ("hips", "hip", "pelvis", "root"),
    "neck": ("neck", "neck1", "necklower", "neck01"),
    "head": ("head",),
}
_PARTS: dict[str, tuple[str, ...]] = {
    "upleg": ("upleg", "upperleg", "thigh", "hip", "upperleg01"),
    "leg": ("leg", "lowerleg", "loleg", "lowleg", "shin", "knee", "calf", "lowerleg01"),
    "foot": ("foot", "ankle"),
    "toe": ("toebase", "toes", "toe", "toe0", "ball"),
    "arm": ("arm", "upperarm", "uparm", "humerus", "shldr", "upperarm01"),
    "forearm": ("forearm", "lowerarm", "loarm", "lowarm", "radius", "elbow", "lowerarm01"),
    "hand": ("hand", "wrist"),
}
_SIDED: dict[str, tuple[str, ...]] = {
    part: tuple(t.replace("#", b) for b in bases
                for t in ("{S}#", "{s}#", "#{s}", "#{S}"))
    for part, bases in _PARTS.items()
}
ROLE_CANDIDATES: dict[str, tuple[str, ...]] = dict(_CENTRE)
for _side, _s in (("left", "l"), ("right", "r")):
    for _part, _templates in _SIDED.items():
        ROLE_CANDIDATES[f"{_side}_{_part}"] = tuple(t.format(S=_side, s=_s) for t in _templates)
SIDES = ("left", "right")
LIMB_PARTS = ("upleg", "leg", "foot", "toe", "arm", "forearm", "hand")
ROLES: tuple[str, ...] = tuple(ROLE_CANDIDATES)
# The roles every tool needs (retargeting, phase, blending...); toe and head are optional,
# and a rig without a neck uses its head (or the top of its spine) instead.
CORE_ROLES: tuple[str, ...] = ("hips", "neck") + tuple(
    f"{s}_{p}" for s in SIDES for p in ("upleg", "leg", "foot", "arm", "forearm", "hand"))

_PREFIX = re.compile(r"^(mixamorig\d*|bip0?\d|biped|armature)(?=[_:\s])", re.IGNORECASE)


def normalise_name(name: str) -> str:
    """Compare joint names across rigs: drop a ``namespace:`` (or ``mixamorig_``, ``Bip01 ``)
    prefix, case and separators."""
    name = name.rsplit(":", 1)[-1]
    name = _PREFIX.sub("", name)
    return re.sub(r"[\s_\-.]", "", name).lower()


# The DeepMimic humanoid names its upper arm "shoulder", which in other rigs is the clavicle,
# so it is recognised by its full name set instead of by candidates.
HUMANOID_ROLES: dict[str, str] = {
    "hips": "root", "neck": "neck", "head": "head",
    **{f"{side}_{part}": f"{side}_{joint}" for side in ("left", "right") for part, joint in (
        ("upleg", "hip"), ("leg", "knee"), ("foot", "ankle"), ("toe", "toe"),
        ("arm", "shoulder"), ("forearm", "elbow"), ("hand", "wrist"))},
}


def find_roles(skeleton: Skeleton, *, overrides: bool = True) -> dict[str, int]:
    """Map role -> joint index for every role that can be found.

    Order: the user's saved mapping for this rig (see :mod:`studio.motion.core.rigmap`, when
    ``overrides``), then names (:data:`ROLE_CANDIDATES`, first candidate wins), then the
    structure around named joints (the upper arm is the parent of the forearm, a rig without
    a neck uses its head), then topology for whatever is still missing (:func:`topology_roles`:
    chain lengths from the root and left/right symmetry, for rigs with unknown names).
    End sites never take a role (except in the DeepMimic humanoid, whose tips are named).
    Roles that are not found are simply absent.
    """
    roles = name_roles(skeleton)
    if any(r not in roles for r in CORE_ROLES):
        for role, j in topology_roles(skeleton).items():
            if role not in roles and j not in roles.values():
                roles[role] = j
    if overrides:
        from studio.motion.core.rigmap import saved_mapping

        saved = saved_mapping(skeleton)
        if saved:  # the user's choice wins, and takes its joints from automatic roles
            taken = set(saved.values())
            roles = {r: j for r, j in roles.items() if j not in taken}
            roles.update(saved)
    return roles


def name_roles(skeleton: Skeleton) -> dict[str, int]:
    """Roles found from joint names and the structure around them (no topology guess)."""
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
    taken: set[int] = set()
    for role, cands in ROLE_CANDIDATES.items():
        for c in cands:
            j = normal.get(c)
            if j is not None and j not in taken:
                roles[role] = j
                taken.add(j)
                break
    if roles.get("hips") is not None and skeleton.parents[roles["hips"]] >= 0 \
            and normalise_name(skeleton.names[roles["hips"]]) == "root":
        del roles["hips"]  # "root" names the hips only when it is the root joint
    _structure_fill(skeleton, roles)
    return roles


def _structure_fill(sk: Skeleton, roles: dict[str, int]) -> None:
    """Fill limb roles from their named neighbours: a chain joint's parent is the segment
    above it (Biovision "LeftShoulder" above "LeftElbow" is the upper arm), and a rig without
    a neck uses its head."""
    used = set(roles.values())
    for side in SIDES:
        for upper, lower in (("leg", "foot"), ("upleg", "leg"), ("forearm", "hand"),
                             ("arm", "forearm")):
            u, lo = f"{side}_{upper}", f"{side}_{lower}"
            if u not in roles and lo in roles:
                p = sk.parents[roles[lo]]
                if p >= 0 and p not in used and p != roles.get("hips"):
                    roles[u] = p
                    used.add(p)
    if "neck" not in roles and "head" in roles:
        roles["neck"] = roles["head"]


def _subtree(sk: Skeleton, j: int) -> list[int]:
    """``j`` and all its descendants (joints are parent-before-child)."""
    inside = {j}
    for k in range(j + 1, len(sk)):
        if sk.parents[k] in inside:
            inside.add(k)
    return sorted(inside)


def _live_children(sk: Skeleton, j: int) -> list[int]:
    ends = sk.end_sites
    return [k for k in sk.children(j) if not ends[k]]


def _chain(sk: Skeleton, j: int) -> list[int]:
    """Joints from ``j`` down while there is exactly one animated child (a limb)."""
    out = [j]
    while True:
        kids = _live_children(sk, out[-1])
        if len(kids) != 1:
            return out
        out.append(kids[0])


def _limb(sk: Skeleton, rest: np.ndarray, chain: list[int], parts: tuple[str, str, str],
          extra: str | None) -> dict[str, int]:
    """Name a limb chain: the two longest consecutive bones are the upper and lower segment
    (so a clavicle or hip socket before them and a toe after them fall into place)."""
    if len(chain) < 3:
        return {}
    seg = [float(np.linalg.norm(rest[chain[i + 1]] - rest[chain[i]]))
           for i in range(len(chain) - 1)]
    i = int(np.argmax([seg[k] + seg[k + 1] for k in range(len(seg) - 1)]))
    out = {parts[0]: chain[i], parts[1]: chain[i + 1], parts[2]: chain[i + 2]}
    if extra and i + 3 < len(chain):
        out[extra] = chain[i + 3]
    return out


def topology_roles(skeleton: Skeleton) -> dict[str, int]:
    """Roles from the shape of the joint tree alone, for rigs whose names say nothing.

    The hips are the first joint from the root with three or more animated branches; the
    branch that splits again (into two arms and a head) is the spine, the other two are the
    legs. At the split, the two branches of most similar length (the symmetric pair) are the
    arms and the remaining one is the neck and head. In each limb the two longest consecutive
    bones are the upper and lower segment. Left is told from right by the rest pose: up is
    hips -> chest, forward is heel -> toe when the feet have toes (else the BVH habit, the axis
    after up), and left is ``up x forward``. Returns {} when the tree is not humanoid.
    """
    from studio.motion.core.fk import rest_positions

    sk = skeleton
    rest = rest_positions(sk)
    hips = 0
    while len(_live_children(sk, hips)) == 1:
        hips = _live_children(sk, hips)[0]
    branches = _live_children(sk, hips)
    if len(branches) < 3:
        return {}

    def split_of(b: int) -> int | None:
        for k in _subtree(sk, b):
            if len(_live_children(sk, k)) >= 3:
                return k
        return None

    spines = [b for b in branches if split_of(b) is not None]
    if not spines:
        return {}
    spine = max(spines, key=lambda b: len(_subtree(sk, b)))
    chest = split_of(spine)
    size = max(float(np.ptp(rest, axis=0).max()), 1e-9)

    def reach(b: int) -> float:  # length of the longest path down from b's parent
        total = {b: float(np.linalg.norm(rest[b] - rest[sk.parents[b]]))}
        for k in _subtree(sk, b)[1:]:
            total[k] = total[sk.parents[k]] + float(np.linalg.norm(rest[k] - rest[sk.parents[k]]))
        return max(total.values())

    def pair(cands: list[int]) -> tuple[int, int] | None:
        best, key = None, np.inf
        for a in range(len(cands)):
            for b in range(a + 1, len(cands)):
                d = abs(reach(cands[a]) - reach(cands[b]))
                if d < key:
                    best, key = (cands[a], cands[b]), d
        return best

    legs = pair([b for b in branches if b != spine])
    arms_at = _live_children(sk, chest)
    arms = pair(arms_at)
    if legs is None or arms is None:
        return {}
    roles: dict[str, int] = {"hips": hips}
    limb = {}
    for k, b in enumerate(legs):
        limb[("leg", k)] = _limb(sk, rest, _chain(sk, b), ("upleg", "leg", "foot"), "toe")
    for k, b in enumerate(arms):
        limb[("arm", k)] = _limb(sk, rest, _chain(sk, b), ("arm", "forearm", "hand"), None)
    if any(not v for v in limb.values()):
        return {}
    heads = [b for b in arms_at if b not in arms]
    if heads:
        top = max(heads, key=reach)
        chain = _chain(sk, top)
        moved = [j for j in chain if np.linalg.norm(rest[j] - rest[chest]) > 1e-6 * size]
        roles["neck"] = (moved or chain)[0]
        if len(chain) > 1:
            roles["head"] = chain[-1]
    else:
        roles["neck"] = chest
    # Sides from the rest pose.
    up = rest[chest] - rest[hips]
    up = up / max(np.linalg.norm(up), 1e-12)
    toes = [limb[("leg", k)].get("toe") for k in range(2)]
    if all(t is not None for t in toes):
        fwd = sum(rest[toes[k]] - rest[limb[("leg", k)]["foot"]] for k in range(2))
    else:
        fwd = np.zeros(3)
        fwd[(sk.up + 1) % 3] = 1.0
    fwd = fwd - np.dot(fwd, up) * up
    left = np.cross(up, fwd)

    def side_of(group: str) -> list[str]:
        a, b = (limb[(group, k)]["upleg" if group == "leg" else "arm"] for k in range(2))
        return ["left", "right"] if np.dot(rest[a] - rest[b], left) >= 0 else ["right", "left"]

    for group in ("leg", "arm"):
        for k, side in enumerate(side_of(group)):
            for part, j in limb[(group, k)].items():
                roles[f"{side}_{part}"] = j
    return roles
