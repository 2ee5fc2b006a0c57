"""Retarget any humanoid clip (BVH: CMU, Mixamo, Bandai-Namco...) onto the DeepMimic humanoid.

Joints are matched by name (``skeleton.find_roles``; the table is in docs/motion-retarget.md).
Rigs disagree on rest poses (T-pose, A-pose, or Bandai's all-bones-along-X zero pose) and on
bone axes, so source rotations cannot be copied. Instead each target joint gets a constant
*alignment* ``K`` with ``target_global(t) = W * source_global(t) * K``:

* ``W`` turns the source's up axis into +Y;
* ``K`` is found from the motion itself: in every frame the source joint positions define an
  anatomical frame (e.g. thigh: hip -> knee, and the knee's hinge axis from the bend), the
  rotation that puts the target's rest bone onto that frame is compared with the source
  joint's global rotation, and the per-frame offsets are averaged (``Rotation.mean``,
  weighted by how well the frame is defined - a straight knee says little about the hinge).

Because ``K`` is constant per joint, the source's own rotations (twists included) drive the
target; the frames only decide how the two rigs' bones line up. The knees and elbows of the
humanoid are hinges, so their angles come from the source's joint positions, and the thighs
and upper arms are swung to point exactly where the source's do. Then:

* feet: the source's ankle -> toe pitch while standing flat is measured from contact frames,
  so a flat source foot gives a flat humanoid foot;
* scale: root positions are scaled by leg length (humanoid hip -> ankle / source's);
* ground: the clip is lifted or lowered so that the lowest sole point is at y = 0 (the 5th
  percentile over frames, so a single bad frame does not decide);
* facing: the result starts at x = z = 0 facing +X, like the DeepMimic clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import UserError
from studio.motion.core.clip import Clip, normalised
from studio.motion.core.contacts import DEFAULT_HEIGHT, foot_contacts
from studio.motion.core.fk import forward_kinematics, infer_axes, rest_positions
from studio.motion.core.skeleton import CORE_ROLES, find_roles
from studio.motion.io.deepmimic import FOOT_SOLE_POINTS, HINGE_AXIS, HUMANOID, is_humanoid

REQUIRED_ROLES = CORE_ROLES
GROUND_PERCENTILE = 5.0
_HINGE_WEIGHT_FLOOR = 0.05  # body-axis helper weight, so straight limbs still get a frame


@dataclass
class RetargetInfo:
    """What the retarget did, for logs and the UI."""

    mapping: dict[str, str]          # humanoid joint -> source joint driving it
    scale: float                     # source units -> metres
    up_axis: int                     # source up axis (0, 1, 2)
    ground_shift: float              # metres added to the root height
    foot_pitch_deg: dict[str, float] = field(default_factory=dict)  # source flat-foot pitch


def map_joints(clip: Clip, source: str = "") -> dict[str, int]:
    """Role -> source joint index, or :class:`UserError` naming the roles not found (with
    what was matched for the others, and how to fix the mapping)."""
    from studio.motion.core.rigmap import ROLE_LABELS

    sk = clip.skeleton
    roles = find_roles(sk)
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        name = source or clip.name or "clip"
        found = [f"{r} = {sk.names[roles[r]]}" for r in REQUIRED_ROLES if r in roles]
        raise UserError(
            f"{name}: cannot retarget to the humanoid, joints not found for: "
            f"{', '.join(missing)} ({'; '.join(ROLE_LABELS[r] for r in missing)}). "
            f"Matched: {', '.join(found) if found else 'none'}. "
            f"Set the missing ones with `studio motion roles {name} --set ROLE=JOINT` or the "
            "Motion panel's Joint roles button (saved for this rig); names understood: "
            "docs/motion-retarget.md")
    neck_parent = sk.parents[roles["neck"]]
    roles["chest"] = neck_parent if neck_parent >= 0 else roles["hips"]
    return roles


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _basis(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal frames (..., 3, 3) with columns (a, (a x b) x a, a x b), and how well
    defined each is (|a^ x b|, 0 when b is parallel to a)."""
    a, b = np.broadcast_arrays(a, b)
    # A zero-length axis (a bone of length 0, or a frame where two joints meet) gets any
    # axis and weight 0, so one degenerate frame cannot make a singular matrix.
    zero = np.linalg.norm(a, axis=-1) < 1e-12
    a = np.where(zero[..., None], [0.0, 1.0, 0.0], a)
    e1 = _unit(a)
    c = np.cross(e1, b)
    w = np.linalg.norm(c, axis=-1)
    # Any perpendicular for degenerate frames; their weight is ~0 anyway.
    alt = np.cross(e1, np.where(np.abs(e1[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0]))
    e3 = np.where((w > 1e-9)[..., None], c, alt)
    e3 = _unit(e3)
    e2 = np.cross(e3, e1)
    return np.stack([e1, e2, e3], axis=-1), np.where(zero, 0.0, w)


def _frame_rotation(p: np.ndarray, s: np.ndarray, P: np.ndarray, S: np.ndarray
                    ) -> tuple[Rotation, np.ndarray]:
    """Per frame, the rotation taking target rest vectors (p, s) onto source (P, S)."""
    from scipy.spatial.transform import Rotation

    bt, _ = _basis(p, s)
    bs, w = _basis(P, S)
    return Rotation.from_matrix(bs @ np.swapaxes(bt, -1, -2)), w


def _alignment(g_src: Rotation, frame: Rotation, weights: np.ndarray) -> Rotation:
    """Constant K with g_src * K ~ frame, weighted mean over frames."""
    w = np.maximum(weights, 0.0) + 1e-9
    return (g_src.inv() * frame).mean(weights=w)


def _swing(g: Rotation, rest_dir: np.ndarray, target_dir: np.ndarray) -> Rotation:
    """Rotate ``g`` by the smallest rotation that points ``g * rest_dir`` along target_dir."""
    from scipy.spatial.transform import Rotation

    cur = _unit(g.apply(rest_dir))
    tgt = _unit(target_dir)
    axis = np.cross(cur, tgt)
    s = np.linalg.norm(axis, axis=-1)
    angle = np.arctan2(s, np.sum(cur * tgt, axis=-1))
    rotvec = _unit(axis) * angle[:, None]
    return Rotation.from_rotvec(rotvec) * g


def _hinge_angle(parent_global: Rotation, child_dir: np.ndarray) -> np.ndarray:
    """Signed hinge angle about local Z that swings the rest direction -Y towards child_dir."""
    local = parent_global.inv().apply(child_dir)
    return np.arctan2(local[:, 0], -local[:, 1])


def _flat_foot_pitch(clip: Clip, pose, roles: dict[str, int], w: Rotation) -> dict[str, float]:
    """Pitch (radians, negative = toe lower) of ankle -> toe while the foot is flat.

    Flat = toe planted (a contact) and the ankle within 2% of a leg length of its lowest
    height over those frames: a heel that is up lifts the ankle."""
    out: dict[str, float] = {}
    try:
        contacts = foot_contacts(clip, pose)
    except UserError:
        return out
    leg = contacts.height_threshold / DEFAULT_HEIGHT
    for f, side in enumerate(contacts.feet):
        js = contacts.joints[f]
        if f"{side}_toe" not in roles or len(js) < 2 or js[1] < 0:
            continue
        planted = contacts.joint_mask[:, f, 1]
        if planted.sum() < 2:
            continue
        ankle = w.apply(pose.positions[planted, roles[f"{side}_foot"]])
        toe = w.apply(pose.positions[planted, roles[f"{side}_toe"]])
        flat = ankle[:, 1] <= np.percentile(ankle[:, 1], GROUND_PERCENTILE) + 0.02 * leg
        v = toe[flat] - ankle[flat]
        pitch = np.arctan2(v[:, 1], np.linalg.norm(v[:, [0, 2]], axis=1))
        out[side] = float(np.median(pitch))
    return out


def retarget(clip: Clip, source: str = "") -> Clip:
    """The motion of ``clip`` on the DeepMimic humanoid (metres, Y up, faces +X at frame 0).

    ``source`` names the file in error messages (:class:`UserError` when the joints cannot be
    mapped, or for NaNs and empty clips)."""
    return retarget_with_info(clip, source)[0]


def retarget_with_info(clip: Clip, source: str = "") -> tuple[Clip, RetargetInfo]:
    """:func:`retarget`, plus what it did (joint mapping, scale, ground shift)."""
    from scipy.spatial.transform import Rotation

    name = source or clip.name or "clip"
    clip.check(name)
    if is_humanoid(clip.skeleton):
        return _humanoid_copy(clip), RetargetInfo(
            mapping={n: n for n in _DRIVERS}, scale=1.0, up_axis=1, ground_shift=0.0)
    roles = map_joints(clip, name)
    up, _ = infer_axes(clip)
    w = Rotation.identity() if up == 1 else Rotation.from_rotvec(
        [0, 0, np.pi / 2] if up == 0 else [-np.pi / 2, 0, 0])
    pose = forward_kinematics(clip)
    pos = w.apply(pose.positions.reshape(-1, 3)).reshape(pose.positions.shape)
    t = clip.n_frames

    def g(role: str) -> Rotation:
        return w * pose.rotation(roles[role])

    def p(role: str) -> np.ndarray:
        return pos[:, roles[role]]

    size = max(float(np.ptp(pos[0], axis=0).max()), 1e-9)
    sk = clip.skeleton

    def apart(a: int, b: int) -> bool:
        return bool(np.linalg.norm(pos[:, a] - pos[:, b], axis=1).max() > 1e-4 * size)

    def toward(a_role: str, b_role: str, prefer: str | None = None) -> np.ndarray:
        """Bone axis a -> b, never zero: when b sits on a (a zero-length bone such as CMU's
        Neck) the next joint below b that does not (towards ``prefer`` where it branches),
        else a's parent axis, else up."""
        a, b = roles[a_role], roles[b_role]
        if apart(a, b):
            return pos[:, b] - pos[:, a]
        goal = roles.get(prefer) if prefer else None
        j = b
        while True:
            kids = sk.children(j)
            if not kids:
                break
            if goal is not None:
                kids.sort(key=lambda k: goal not in _descendants(sk, k))
            far = [k for k in kids if apart(a, k)]
            if far:
                return pos[:, far[0]] - pos[:, a]
            j = kids[0]
        q = sk.parents[a]
        while q >= 0 and not apart(q, a):
            q = sk.parents[q]
        if q >= 0:
            return pos[:, a] - pos[:, q]
        return np.tile([0.0, 1.0, 0.0], (t, 1))

    rest = rest_positions(HUMANOID)
    hj = {n: HUMANOID.index(n) for n in HUMANOID.names}

    def r(a: str, b: str) -> np.ndarray:  # humanoid rest vector a -> b
        return rest[hj[b]] - rest[hj[a]]

    pelvis_right = p("right_upleg") - p("left_upleg")
    # Pelvis "up": towards the first spine joint, which is rigid in the hips' frame, unless
    # that bone is (nearly) zero-length; then towards the neck (bends with the spine).
    spine = _spine_child(clip, roles)
    rigid = spine is not None and np.linalg.norm(pos[:, spine] - p("hips"), axis=1).min() \
        > 0.05 * np.linalg.norm(p("neck") - p("hips"), axis=1).mean()
    pelvis_up = pos[:, spine] - p("hips") if rigid else p("neck") - p("hips")
    chest_right = p("right_arm") - p("left_arm")
    top = "head" if "head" in roles and roles["head"] != roles["neck"] else None
    chest_up = toward("chest", "neck", prefer="head")
    up_dir = toward("neck", top) if top else chest_up

    glob: dict[str, Rotation] = {}
    frames = {
        # humanoid joint: (source rotation role, rest p, rest s, source P, source S)
        "root": ("hips", r("root", "chest" if rigid else "neck"), r("left_hip", "right_hip"),
                 pelvis_up, pelvis_right),
        "chest": ("chest", r("chest", "neck"), r("left_shoulder", "right_shoulder"),
                  chest_up, chest_right),
        "neck": (top or "neck", r("neck", "head"), r("left_shoulder", "right_shoulder"),
                 up_dir, chest_right),
    }
    for hname, (role, rp, rs, sp, ss) in frames.items():
        f, wt = _frame_rotation(rp, rs, sp, ss)
        glob[hname] = g(role) * _alignment(g(role), f, wt)

    pitches = _flat_foot_pitch(clip, pose, roles, w)
    local = np.zeros((t, len(HUMANOID), 4))
    local[..., 3] = 1.0
    for side in ("left", "right"):
        thigh = toward(f"{side}_upleg", f"{side}_leg")
        shin = toward(f"{side}_leg", f"{side}_foot")
        # Knee hinge axis (points right for a forward bend), length sin(bend).
        leg_s = np.cross(_unit(shin), _unit(thigh)) + _HINGE_WEIGHT_FLOOR * _unit(pelvis_right)
        down, zaxis = np.array([0.0, -1.0, 0.0]), HINGE_AXIS
        f, wt = _frame_rotation(down, zaxis, thigh, leg_s)
        g_thigh = g(f"{side}_upleg") * _alignment(g(f"{side}_upleg"), f, wt)
        g_thigh = _swing(g_thigh, down, thigh)
        knee = _hinge_angle(g_thigh, shin)
        g_knee = g_thigh * Rotation.from_rotvec(knee[:, None] * zaxis)
        # Foot: ankle -> toe, pitched like the source's flat foot.
        if f"{side}_toe" in roles:
            pitch = pitches.get(side)
            toe_rest = r(f"{side}_ankle", f"{side}_toe")
            if pitch is not None:
                toe_rest = np.array([np.cos(pitch), np.sin(pitch), 0.0])
            f, wt = _frame_rotation(toe_rest, zaxis, toward(f"{side}_foot", f"{side}_toe"),
                                    leg_s)
        else:
            f, wt = _frame_rotation(down, zaxis, shin, leg_s)
        g_foot = g(f"{side}_foot") * _alignment(g(f"{side}_foot"), f, wt)

        upper = toward(f"{side}_arm", f"{side}_forearm")
        fore = toward(f"{side}_forearm", f"{side}_hand")
        arm_s = np.cross(_unit(upper), _unit(fore)) + _HINGE_WEIGHT_FLOOR * _unit(chest_right)
        f, wt = _frame_rotation(down, zaxis, upper, arm_s)
        g_upper = g(f"{side}_arm") * _alignment(g(f"{side}_arm"), f, wt)
        g_upper = _swing(g_upper, down, upper)
        elbow = _hinge_angle(g_upper, fore)

        local[:, hj[f"{side}_hip"]] = (glob["root"].inv() * g_thigh).as_quat()
        local[:, hj[f"{side}_knee"]] = Rotation.from_rotvec(knee[:, None] * zaxis).as_quat()
        local[:, hj[f"{side}_ankle"]] = (g_knee.inv() * g_foot).as_quat()
        local[:, hj[f"{side}_shoulder"]] = (glob["chest"].inv() * g_upper).as_quat()
        local[:, hj[f"{side}_elbow"]] = Rotation.from_rotvec(elbow[:, None] * zaxis).as_quat()
    local[:, hj["chest"]] = (glob["root"].inv() * glob["chest"]).as_quat()
    local[:, hj["neck"]] = (glob["chest"].inv() * glob["neck"]).as_quat()

    # Scale by leg length; the humanoid's root sits midway between its hip joints.
    src_leg = np.mean([np.linalg.norm(p(f"{s}_leg") - p(f"{s}_upleg"), axis=1).mean()
                       + np.linalg.norm(p(f"{s}_foot") - p(f"{s}_leg"), axis=1).mean()
                       for s in ("left", "right")])
    if not src_leg > 0:
        raise UserError(f"{name}: cannot retarget, the legs have zero length")
    tgt_leg = HUMANOID.chain_length(hj["right_hip"], hj["right_ankle"])
    scale = tgt_leg / src_leg
    root_pos = 0.5 * (p("left_upleg") + p("right_upleg")) * scale
    root_rot = glob["root"]

    # Face +X and start at the origin (horizontally).
    heading = root_rot[0].apply([1.0, 0.0, 0.0])
    yaw = Rotation.from_rotvec([0.0, -np.arctan2(-heading[2], heading[0]), 0.0])
    start = root_pos[0] * np.array([1.0, 0.0, 1.0])
    root_pos = yaw.apply(root_pos - start)
    local[:, 0] = (yaw * root_rot).as_quat()
    out = Clip(HUMANOID, clip.fps, root_pos, normalised(local), loop=False,
               name=clip.name, meta={"retargeted_from": name})

    # Put the soles on the ground: the median lowest sole point while a foot is planted (so
    # flat stance lands at y = 0; the box toe may dip a little at toe-off), else the 5th
    # percentile of the lowest sole point.
    opose = forward_kinematics(out)
    soles = []
    for side in ("left", "right"):
        a = hj[f"{side}_ankle"]
        pts = [opose.positions[:, a, 1] + opose.rotation(a).apply(pt)[:, 1]
               for pt in FOOT_SOLE_POINTS]
        soles.append(np.min(pts, axis=0))
    soles = np.stack(soles, axis=1)  # (T, 2): left, right
    planted = foot_contacts(out, opose).mask
    if planted.any():
        shift = -float(np.median(soles[planted]))
    else:
        shift = -float(np.percentile(soles.min(axis=1), GROUND_PERCENTILE))
    out.root_pos[:, 1] += shift
    mapping = {h: clip.skeleton.names[roles[r]] for h, r in _DRIVERS.items()}
    if top:
        mapping["neck"] = clip.skeleton.names[roles[top]]
    return out, RetargetInfo(mapping=mapping, scale=scale, up_axis=up, ground_shift=shift,
                             foot_pitch_deg={k: float(np.degrees(v)) for k, v in pitches.items()})


def _descendants(sk, j: int) -> set[int]:
    """``j`` and every joint below it."""
    out = {j}
    for k in range(j + 1, len(sk)):
        if sk.parents[k] in out:
            out.add(k)
    return out


def _spine_child(clip: Clip, roles: dict[str, int]) -> int | None:
    """The child of the hips on the way to the neck (None if the neck hangs off the hips)."""
    parents = clip.skeleton.parents
    j = roles["neck"]
    while j >= 0 and parents[j] != roles["hips"]:
        j = parents[j]
    return j if j >= 0 else None


_DRIVERS = {"root": "hips", "chest": "chest", "neck": "neck",
            **{f"{s}_{h}": f"{s}_{r}" for s in ("left", "right") for h, r in (
                ("hip", "upleg"), ("knee", "leg"), ("ankle", "foot"), ("shoulder", "arm"),
                ("elbow", "forearm"))}}


def _humanoid_copy(clip: Clip) -> Clip:
    """A clip already on the humanoid (e.g. a BVH written from one): copy rotations by name,
    project knees and elbows onto their hinge axis."""
    from scipy.spatial.transform import Rotation

    from studio.motion.io.deepmimic import HINGE_JOINTS, hinge_angles

    sk = clip.skeleton
    local = np.zeros((clip.n_frames, len(HUMANOID), 4))
    local[..., 3] = 1.0
    for j, n in enumerate(HUMANOID.names):
        k = sk.get(n)
        if k is None or HUMANOID.end_sites[j]:
            continue
        if n in HINGE_JOINTS:
            ang = hinge_angles(clip.local_rotation(k))
            local[:, j] = Rotation.from_rotvec(ang[:, None] * HINGE_AXIS).as_quat()
        else:
            local[:, j] = clip.rotations[:, k]
    return Clip(HUMANOID, clip.fps, clip.root_pos.copy(), normalised(local), loop=clip.loop,
                name=clip.name, meta=dict(clip.meta))
