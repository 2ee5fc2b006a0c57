"""Small BVH rigs from many exporters, for tests: the same procedural walk on CMU (with its
zero-length Neck), Biovision/ASF, MakeHuman, Mixamo, neck-less, unnamed, Z-up and
static-root skeletons, in any length unit. Built in memory and written with ``write_bvh``,
so the tests read them through the real BVH reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from studio.motion.core.clip import Clip
from studio.motion.core.skeleton import Skeleton
from studio.motion.io.bvh import write_bvh

# Body points in centimetres, Y up, facing +Z, left = +X, arms out (T-pose).
POINTS: dict[str, tuple[float, float, float]] = {
    "hips": (0, 95, 0), "spine": (0, 105, 0), "chest": (0, 125, 0), "neck": (0, 148, 0),
    "head": (0, 158, 0), "head_end": (0, 175, 0),
}
for _s, _x in (("l", 1.0), ("r", -1.0)):
    POINTS.update({
        f"{_s}_clav": (2 * _x, 145, 0), f"{_s}_arm": (16 * _x, 145, 0),
        f"{_s}_fore": (44 * _x, 145, 0), f"{_s}_hand": (70 * _x, 145, 0),
        f"{_s}_hand_end": (80 * _x, 145, 0),
        f"{_s}_upleg": (9 * _x, 92, 0), f"{_s}_leg": (9 * _x, 50, 0),
        f"{_s}_foot": (9 * _x, 8, 0), f"{_s}_toe": (9 * _x, 2, 12),
        f"{_s}_toe_end": (9 * _x, 2, 18),
    })


def _limbs(names: dict[str, str], clav: str | None, hipsock: str | None, top: str) -> list:
    """(joint, parent, point) rows for both sides' arms and legs."""
    rows = []
    for s in ("l", "r"):
        n = {k: v.format(S="Left" if s == "l" else "Right", s=s.upper()) for k, v in names.items()}
        parent = "HIPS"
        if hipsock:
            rows.append((hipsock.format(S="Left" if s == "l" else "Right", s=s.upper()),
                         parent, "hips"))
            parent = rows[-1][0]
        rows += [(n["upleg"], parent, f"{s}_upleg"), (n["leg"], n["upleg"], f"{s}_leg"),
                 (n["foot"], n["leg"], f"{s}_foot"), (n["toe"], n["foot"], f"{s}_toe"),
                 (None, n["toe"], f"{s}_toe_end")]
        parent = top
        if clav:
            rows.append((clav.format(S="Left" if s == "l" else "Right", s=s.upper()), top,
                         "chest" if "ZERO" in names else f"{s}_clav"))
            parent = rows[-1][0]
        rows += [(n["arm"], parent, f"{s}_arm"), (n["fore"], n["arm"], f"{s}_fore"),
                 (n["hand"], n["fore"], f"{s}_hand"), (None, n["hand"], f"{s}_hand_end")]
    return rows


def _rig(kind: str) -> list[tuple[str | None, str | None, str]]:
    """(joint name, parent name, body point) rows; None names an End Site."""
    if kind == "cmu":  # zero-length LHipJoint, LowerBack, Neck and LeftShoulder
        rows = [("Hips", None, "hips"), ("LowerBack", "Hips", "hips"),
                ("Spine", "LowerBack", "spine"), ("Spine1", "Spine", "chest"),
                ("Neck", "Spine1", "chest"), ("Neck1", "Neck", "neck"), ("Head", "Neck1", "head"),
                (None, "Head", "head_end")]
        rows += _limbs({"upleg": "{S}UpLeg", "leg": "{S}Leg", "foot": "{S}Foot",
                        "toe": "{S}ToeBase", "arm": "{S}Arm", "fore": "{S}ForeArm",
                        "hand": "{S}Hand", "ZERO": ""}, "{S}Shoulder", "{s}HipJoint", "Spine1")
    elif kind == "biovision":
        rows = [("Hips", None, "hips"), ("Chest", "Hips", "chest"), ("Neck", "Chest", "neck"),
                ("Head", "Neck", "head"), (None, "Head", "head_end")]
        rows += _limbs({"upleg": "{S}Hip", "leg": "{S}Knee", "foot": "{S}Ankle",
                        "toe": "{S}Toe", "arm": "{S}Shoulder", "fore": "{S}Elbow",
                        "hand": "{S}Wrist"}, "{S}Collar", None, "Chest")
    elif kind in ("makehuman", "makehuman_dot"):
        sep = "." if kind == "makehuman_dot" else "_"
        rows = [("Root", None, "hips"), ("Spine1", "Root", "spine"), ("Spine3", "Spine1", "chest"),
                ("Neck", "Spine3", "neck"), ("Head", "Neck", "head"), (None, "Head", "head_end")]
        rows += _limbs({"upleg": "UpLeg" + sep + "{s}", "leg": "LoLeg" + sep + "{s}",
                        "foot": "Foot" + sep + "{s}", "toe": "Toe" + sep + "{s}",
                        "arm": "UpArm" + sep + "{s}", "fore": "LoArm" + sep + "{s}",
                        "hand": "Hand" + sep + "{s}"}, "Clavicle" + sep + "{s}", None, "Spine3")
        rows = [(n.replace("HIPS", "Root") if n else n, p.replace("HIPS", "Root") if p else p, q)
                for n, p, q in rows]
        return rows
    elif kind == "mixamo":
        rows = [("mixamorig:Hips", None, "hips"), ("mixamorig:Spine", "mixamorig:Hips", "spine"),
                ("mixamorig:Spine2", "mixamorig:Spine", "chest"),
                ("mixamorig:Neck", "mixamorig:Spine2", "neck"),
                ("mixamorig:Head", "mixamorig:Neck", "head"), (None, "mixamorig:Head", "head_end")]
        rows += _limbs({k: "mixamorig:" + v for k, v in {
            "upleg": "{S}UpLeg", "leg": "{S}Leg", "foot": "{S}Foot", "toe": "{S}ToeBase",
            "arm": "{S}Arm", "fore": "{S}ForeArm", "hand": "{S}Hand"}.items()},
            "mixamorig:{S}Shoulder", None, "mixamorig:Spine2")
        rows = [(n, p.replace("HIPS", "mixamorig:Hips") if p else p, q) for n, p, q in rows]
        return rows
    elif kind == "noneck":
        rows = [("Hips", None, "hips"), ("Spine", "Hips", "spine"), ("Chest", "Spine", "chest"),
                ("Head", "Chest", "head"), (None, "Head", "head_end")]
        rows += _limbs({"upleg": "{S}UpLeg", "leg": "{S}Leg", "foot": "{S}Foot",
                        "toe": "{S}ToeBase", "arm": "{S}Arm", "fore": "{S}ForeArm",
                        "hand": "{S}Hand"}, "{S}Shoulder", None, "Chest")
    elif kind == "unnamed":
        rows = _rig("biovision")
        ren = {n: f"j{i}" for i, (n, _, _) in enumerate(rows) if n}
        return [(ren.get(n) if n else None, ren.get(p) if p else None, q) for n, p, q in rows]
    elif kind == "static_root":  # Bandai-like: a fixed root on the floor, moving Hips below
        rows = [("joint_Root", None, "ROOT")] + [
            (n, p or "joint_Root", q) for n, p, q in _rig("mixamo")]
        rows = [(n.replace("mixamorig:", "") if n else n, p.replace("mixamorig:", "") if p else p,
                 q) for n, p, q in rows]
        return rows
    elif kind == "nolegs":
        return [r for r in _rig("mixamo") if not any(
            k in (r[0] or r[1] or "") for k in ("UpLeg", "Leg", "Foot", "Toe"))]
    else:
        raise ValueError(kind)
    return [(n, p.replace("HIPS", "Hips") if p else p, q) for n, p, q in rows]


RIG_KINDS = ("cmu", "biovision", "makehuman", "makehuman_dot", "mixamo", "noneck", "unnamed",
             "static_root", "nolegs")


def make_clip(kind: str, *, frames: int = 60, fps: float = 30.0, units: float = 1.0,
              z_up: bool = False) -> Clip:
    """The procedural walk (1.2 m/s, 1 stride/s) on rig ``kind``; lengths are centimetres
    times ``units`` (2.54**-1: inches, 0.01: metres...)."""
    rows = _rig(kind)
    names: list[str] = []
    parents: list[int] = []
    points: list[np.ndarray] = []
    for n, p, q in rows:
        name = n if n is not None else f"{p}_End"
        names.append(name)
        parents.append(names.index(p) if p is not None else -1)
        points.append(np.zeros(3) if q == "ROOT" else np.array(POINTS[q], float))
    pts = np.array(points)
    offsets = np.array([pts[j] - (pts[p] if p >= 0 else 0) for j, p in enumerate(parents)])
    static_root = kind == "static_root"
    has_kid = {p for p in parents if p >= 0}
    channels = []
    for j, p in enumerate(parents):
        if j not in has_kid and rows[j][0] is None:
            channels.append(())
        elif p < 0 or (static_root and p == 0):
            channels.append(("Xposition", "Yposition", "Zposition",
                             "Zrotation", "Xrotation", "Yrotation"))
        else:
            channels.append(("Zrotation", "Xrotation", "Yrotation"))
    t = np.arange(frames) / fps
    w = 2 * np.pi * 1.0
    rots = np.zeros((frames, len(names), 4))
    rots[..., 3] = 1.0
    point_of = {j: rows[j][2] for j in range(len(rows))}
    for j, q in point_of.items():
        if rows[j][0] is None:
            continue
        sign = 1.0 if q.startswith("l_") else -1.0
        phase = 0.0 if q.startswith("l_") else np.pi
        if q.endswith("_upleg"):
            r = Rotation.from_rotvec(np.outer(-0.45 * np.sin(w * t + phase), [1, 0, 0]))
        elif q.endswith("_leg"):
            r = Rotation.from_rotvec(np.outer(0.5 * (1 + np.cos(w * t + phase)) * 0.6, [1, 0, 0]))
        elif q.endswith("_arm"):
            r = Rotation.from_rotvec(np.outer(0.3 * np.sin(w * t + phase), [0, 1, 0])) * \
                Rotation.from_rotvec([0, 0, -sign * 1.1])
        elif q.endswith("_fore"):
            r = Rotation.from_rotvec(np.outer(np.full(frames, sign * 0.4), [0, 1, 0]))
        else:
            continue
        rots[:, j] = r.as_quat()
    hips_pos = np.stack([np.zeros(frames), 95 + 2 * np.sin(2 * w * t), 120 * t], axis=1)
    translations = None
    if static_root:
        root_pos = np.zeros((frames, 3))
        translations = np.broadcast_to(offsets, (frames, len(names), 3)).copy()
        translations[:, 1] = hips_pos
    else:
        root_pos = hips_pos
    if z_up:
        v = Rotation.from_rotvec([np.pi / 2, 0, 0])  # +Y -> +Z
        offsets = v.apply(offsets)
        root_pos = v.apply(root_pos)
        if translations is not None:
            translations = v.apply(translations.reshape(-1, 3)).reshape(translations.shape)
        flat = Rotation.from_quat(rots.reshape(-1, 4))
        rots = (v * flat * v.inv()).as_quat().reshape(rots.shape)
    sk = Skeleton(names, parents, offsets * units, channels, up=2 if z_up else 1)
    return Clip(sk, fps, root_pos * units, rots,
                translations=None if translations is None else translations * units,
                name=kind)


def write_rig(tmp_path: Path, kind: str, **kw) -> Path:
    """``make_clip(kind, **kw)`` written as ``<tmp_path>/<kind>.bvh``."""
    path = Path(tmp_path) / f"{kind}{'_z' if kw.get('z_up') else ''}.bvh"
    write_bvh(make_clip(kind, **kw), path)
    return path
