"""Motion features and training windows shared by the learned motion models and the app.

TransitionNet (``studio.motion.learned.transition``) and StyleVAE (``studio.motion.learned.style``) and their
training recipes (``models/recipes/transition``, ``models/recipes/style``) all read motion
through this module, so the features the app feeds a model are exactly the ones it was
trained on.

Everything works on the DeepMimic humanoid at :data:`FPS` (30) frames per second; other clips
are retargeted (``retarget.retarget``) and resampled first (:func:`humanoid_clip`). Rotations
are handled per *animated* joint (:data:`ANIMATED`, the 13 humanoid joints that rotate; end
sites are fixed), as arrays ``root_pos (T, 3)`` and ``quats (T, 13, 4)`` (scipy's x, y, z, w).

Two per-frame representations:

* **motion features** (:func:`motion_features`, :data:`MOTION_DIM` = 82 numbers, used by
  StyleVAE and the style classifier): root velocity on the ground in the root's heading frame
  (2, metres per frame), root height (1), heading rate (1, radians per frame), then the root
  rotation with the heading taken out and the 12 other joints' local rotations, each as a
  6-D rotation (the first two columns of its matrix, Zhou et al. 2019). They do not depend on
  where the character stands or faces; :func:`features_to_arrays` integrates them back.
* **placement features** (:func:`placement_features`, :data:`PLACEMENT_DIM` = 81, used by
  TransitionNet): root position (3) and root rotation (6-D) in a reference ground frame (the
  last context frame of a transition), then the 12 local joint rotations (6-D). An in-between
  must land on a target placement exactly, which velocities integrated over up to 60 frames
  cannot promise.

The heading of a frame follows ``fk.root_trajectory``: forward is ``up x (left hip -> right
hip)`` (for the humanoid, the root's +Z axis turned by 90 degrees), its angle measured around
+Y from +Z (a humanoid facing +X has heading pi/2).

Corpus (:func:`load_corpus`): the Bandai-Namco-Research-Motiondataset-1 BVH clips (read from
``shared/data``, never copied; CC BY-NC 4.0) retargeted to the humanoid, plus the DeepMimic
clips shipped with pybullet (looping ones repeated for three cycles). Retargeted arrays are
cached in ``~/.cache/neural-media-studio/motion-corpus`` (``STUDIO_MOTION_CACHE``). The
held-out split (:func:`bandai_split`) is fixed so that every Bandai style keeps two contents
out of training.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import UserError
from studio.motion.core.clip import Clip, normalised, resample
from studio.motion.io.deepmimic import HINGE_AXIS, HINGE_JOINTS, HUMANOID, hinge_angles, is_humanoid

FPS = 30.0
ANIMATED: tuple[str, ...] = (
    "root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
    "right_elbow", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow")
ANIMATED_INDEX = np.array([HUMANOID.index(n) for n in ANIMATED])
N_ROT = len(ANIMATED)
MOTION_DIM = 4 + 6 * N_ROT       # 82
PLACEMENT_DIM = 3 + 6 * N_ROT    # 81
HINGE_SLOTS = tuple(ANIMATED.index(n) for n in HINGE_JOINTS)
# Left/right swap of the animated joints (mirror augmentation).
MIRROR_PERM = np.array([ANIMATED.index(n.replace("left_", "#").replace("right_", "left_")
                                       .replace("#", "right_")) for n in ANIMATED])
# Full humanoid (incl. end sites) left/right swap, for FK outputs.
MIRROR_PERM_FULL = np.array([HUMANOID.index(n.replace("left_", "#").replace("right_", "left_")
                                            .replace("#", "right_")) for n in HUMANOID.names])

BANDAI_CONTENTS = ("walk", "run", "dash", "walk-back", "walk-left", "walk-right", "bow", "bye",
                   "guide", "byebye", "respond", "call", "punch", "kick", "slash", "dance-long",
                   "dance-short")
BANDAI_STYLES = ("normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity",
                 "feminine", "childish", "old", "tired", "active", "musical", "giant", "chimpira")
BANDAI_LICENSE = ("Bandai-Namco-Research-Motiondataset-1 (Bandai Namco Research Inc.), "
                  "CC BY-NC 4.0: non-commercial use only")
PYBULLET_LICENSE = "DeepMimic humanoid clips shipped in pybullet_data (pybullet, zlib licence)"
CACHE_VERSION = "1"


# -- rotations ------------------------------------------------------------------------------------

def quat_to_6d(q: np.ndarray) -> np.ndarray:
    """(..., 4) scalar-last quaternions -> (..., 6): the matrix's first two columns."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    m = Rotation.from_quat(q.reshape(-1, 4)).as_matrix()
    return np.concatenate([m[:, :, 0], m[:, :, 1]], axis=1).reshape(q.shape[:-1] + (6,))


def sixd_to_matrix(x: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) rotation matrices by Gram-Schmidt (any input is accepted)."""
    x = np.asarray(x, dtype=np.float64)
    a, b = x[..., :3], x[..., 3:6]
    e1 = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)
    b = b - np.sum(e1 * b, axis=-1, keepdims=True) * e1
    e2 = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def sixd_to_quat(x: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    x = np.asarray(x, dtype=np.float64)
    m = sixd_to_matrix(x).reshape(-1, 3, 3)
    return Rotation.from_matrix(m).as_quat().reshape(x.shape[:-1] + (4,))


def yaw(angle: np.ndarray | float) -> Rotation:
    """Rotation(s) by ``angle`` radians about +Y."""
    from scipy.spatial.transform import Rotation

    a = np.asarray(angle, dtype=np.float64)
    return Rotation.from_rotvec(a.reshape(-1, 1) * np.array([0.0, 1.0, 0.0]))


def heading_of(root_quats: np.ndarray) -> np.ndarray:
    """(T,) heading angle of the humanoid root (see the module notes), unwrapped."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(root_quats, dtype=np.float64).reshape(-1, 4)
    right = Rotation.from_quat(q).apply([0.0, 0.0, 1.0])
    return np.unwrap(np.arctan2(right[:, 2], -right[:, 0]))


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2.0 * np.pi) - np.pi


# -- clips <-> arrays -----------------------------------------------------------------------------

def humanoid_clip(clip: Clip, source: str = "", fps: float = FPS) -> Clip:
    """``clip`` on the DeepMimic humanoid at ``fps`` (retargeted / resampled when needed)."""
    from studio.motion.core.retarget import retarget

    name = source or clip.name or "clip"
    clip.check(name)
    if not is_humanoid(clip.skeleton) or len(clip.skeleton) != len(HUMANOID):
        clip = retarget(clip, source=name)
    if abs(clip.fps - fps) > 1e-6:
        clip = resample(clip, fps)
    return clip


def clip_arrays(clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """(root_pos (T, 3), quats (T, 13, 4)) of a humanoid clip."""
    if not is_humanoid(clip.skeleton):
        raise UserError(f"{clip.name or 'clip'}: expected a clip on the DeepMimic humanoid "
                        "(use dataset.humanoid_clip first)")
    idx = [clip.skeleton.index(n) for n in ANIMATED]
    return clip.root_pos.copy(), normalised(clip.rotations[:, idx])


def arrays_to_clip(root_pos: np.ndarray, quats: np.ndarray, fps: float = FPS, name: str = "",
                   meta: dict | None = None) -> Clip:
    """A humanoid clip from animated-joint arrays (knees and elbows projected onto their
    hinge axis, end sites at identity)."""
    from scipy.spatial.transform import Rotation

    t = quats.shape[0]
    rots = np.zeros((t, len(HUMANOID), 4))
    rots[..., 3] = 1.0
    rots[:, ANIMATED_INDEX] = quats
    for n in HINGE_JOINTS:
        j = HUMANOID.index(n)
        ang = hinge_angles(Rotation.from_quat(rots[:, j]))
        rots[:, j] = Rotation.from_rotvec(ang[:, None] * HINGE_AXIS).as_quat()
    return Clip(HUMANOID, float(fps), np.asarray(root_pos, dtype=np.float64).copy(),
                normalised(rots), loop=False, name=name, meta=dict(meta or {}))


def global_pose(root_pos: np.ndarray, quats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, 18, 3) and global quaternions (T, 18, 4) of every humanoid joint
    (end sites included) from animated-joint arrays."""
    from studio.motion.core.fk import forward_kinematics_arrays

    t = quats.shape[0]
    rots = np.zeros((t, len(HUMANOID), 4))
    rots[..., 3] = 1.0
    rots[:, ANIMATED_INDEX] = quats
    trans = np.broadcast_to(HUMANOID.offsets, (t, len(HUMANOID), 3)).copy()
    trans[:, 0] = root_pos
    pose = forward_kinematics_arrays(HUMANOID, trans, rots)
    return pose.positions, pose.rotations


def mirror_arrays(root_pos: np.ndarray, quats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left/right mirror (through the humanoid's sagittal plane z = 0): swap sides, negate z
    of positions and the x, y parts of quaternions."""
    p = np.array(root_pos, dtype=np.float64)
    p[..., 2] *= -1.0
    q = np.array(quats, dtype=np.float64)[..., MIRROR_PERM, :]
    q[..., 0] *= -1.0
    q[..., 1] *= -1.0
    return p, q


def cycle_arrays(root_pos: np.ndarray, quats: np.ndarray, cycles: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat a looping clip (last frame = first pose, moved on) ``cycles`` times, each cycle
    shifted on the ground by the root displacement of one cycle (DeepMimic's own rule: the
    pose and heading are not turned, so the small yaw wobble of a cycle does not add up)."""
    if cycles <= 1 or len(root_pos) < 3:
        return root_pos.copy(), quats.copy()
    shift = (root_pos[-1] - root_pos[0]) * np.array([1.0, 0.0, 1.0])
    ps = [root_pos] + [root_pos[1:] + k * shift for k in range(1, cycles)]
    qs = [quats] + [quats[1:]] * (cycles - 1)
    return np.concatenate(ps), normalised(np.concatenate(qs))


# -- motion features (velocity based) -------------------------------------------------------------

def motion_features(root_pos: np.ndarray, quats: np.ndarray) -> np.ndarray:
    """(T, 82) motion features (module notes) from animated-joint arrays at :data:`FPS`.

    Velocities and heading rate at frame t are forward differences t -> t + 1 (the last
    frame repeats the one before), so :func:`features_to_arrays` gives back the input."""
    from scipy.spatial.transform import Rotation

    t = len(root_pos)
    h = heading_of(quats[:, 0])
    inv = yaw(-h)
    if t > 1:
        d = np.diff(root_pos, axis=0)
        d = np.concatenate([d, d[-1:]])
        dh = _wrap(np.diff(h))
        dh = np.concatenate([dh, dh[-1:]])
    else:
        d, dh = np.zeros((1, 3)), np.zeros(1)
    v = inv.apply(d)
    local_root = (inv * Rotation.from_quat(quats[:, 0])).as_quat()
    rots = quats.copy()
    rots[:, 0] = local_root
    six = quat_to_6d(rots).reshape(t, -1)
    return np.concatenate([v[:, [0, 2]], root_pos[:, 1:2], dh[:, None], six], axis=1)


def features_to_arrays(feats: np.ndarray, start_pos: np.ndarray | None = None,
                       start_heading: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integrate motion features back to (root_pos, quats). The first frame is placed at
    ``start_pos`` (x, z; default the origin) facing ``start_heading`` (default +X)."""
    from scipy.spatial.transform import Rotation

    feats = np.asarray(feats, dtype=np.float64)
    t = feats.shape[0]
    h0 = np.pi / 2 if start_heading is None else float(start_heading)
    h = h0 + np.concatenate([[0.0], np.cumsum(feats[:-1, 3])])
    step = np.zeros((t, 3))
    step[:, 0], step[:, 2] = feats[:, 0], feats[:, 1]
    world_step = yaw(h).apply(step)
    pos = np.zeros((t, 3))
    pos[1:] = np.cumsum(world_step[:-1], axis=0)
    if start_pos is not None:
        sp = np.asarray(start_pos, dtype=np.float64).ravel()
        pos[:, 0] += sp[0]
        pos[:, 2] += sp[-1]
    pos[:, 1] = feats[:, 2]
    q = sixd_to_quat(feats[:, 4:].reshape(t, N_ROT, 6))
    # The root rotation is stored relative to the heading frame.
    q[:, 0] = (yaw(h) * Rotation.from_quat(q[:, 0])).as_quat()
    return pos, normalised(q)


# -- placement features ---------------------------------------------------------------------------

def ground_frame(root_pos: np.ndarray, root_quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground placement (..., 3) with y = 0 and heading (...) of root positions (..., 3) and
    root quaternions (..., 4): reference frames for placement features."""
    from scipy.spatial.transform import Rotation

    p = np.asarray(root_pos, dtype=np.float64) * np.array([1.0, 0.0, 1.0])
    q = np.asarray(root_quat, dtype=np.float64)
    right = Rotation.from_quat(q.reshape(-1, 4)).apply([0.0, 0.0, 1.0])
    h = np.arctan2(right[:, 2], -right[:, 0]).reshape(q.shape[:-1])
    return p, h


def yaw_matrix(angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices about +Y."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def quat_matrix(q: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, dtype=np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(q.shape[:-1] + (3, 3))


def placement_features(root_pos: np.ndarray, quats: np.ndarray, ref_pos: np.ndarray,
                       ref_heading) -> np.ndarray:
    """Placement features (..., T, 81) relative to the ground frame (ref_pos (..., 3),
    ref_heading (...)); root_pos (..., T, 3), quats (..., T, 13, 4)."""
    inv = np.swapaxes(yaw_matrix(np.asarray(ref_heading, dtype=np.float64)), -1, -2)
    rel = np.asarray(root_pos, dtype=np.float64) - np.asarray(ref_pos)[..., None, :]
    p = np.einsum("...ab,...tb->...ta", inv, rel)
    m = quat_matrix(quats)                                     # (..., T, 13, 3, 3)
    m[..., 0, :, :] = np.einsum("...ab,...tbc->...tac", inv, m[..., 0, :, :])
    six = np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)  # (..., T, 13, 6)
    return np.concatenate([p, six.reshape(six.shape[:-2] + (-1,))], axis=-1)


def placement_to_arrays(feats: np.ndarray, ref_pos: np.ndarray, ref_heading
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`placement_features`: (root_pos (..., T, 3), quats (..., T, 13, 4))."""
    from scipy.spatial.transform import Rotation

    feats = np.asarray(feats, dtype=np.float64)
    rot = yaw_matrix(np.asarray(ref_heading, dtype=np.float64))
    pos = np.einsum("...ab,...tb->...ta", rot, feats[..., :3]) + np.asarray(ref_pos)[..., None, :]
    m = sixd_to_matrix(feats[..., 3:].reshape(feats.shape[:-1] + (N_ROT, 6)))
    m[..., 0, :, :] = np.einsum("...ab,...tbc->...tac", rot, m[..., 0, :, :])
    q = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat(canonical=True)
    return pos, q.reshape(m.shape[:-2] + (4,))


def interpolate_arrays(pos_a: np.ndarray, quat_a: np.ndarray, pos_b: np.ndarray,
                       quat_b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames strictly between two poses: linear root position, SLERP on every local
    rotation (the classic baseline). pos (3,), quat (13, 4) -> (n, 3), (n, 13, 4)."""
    from scipy.spatial.transform import Rotation, Slerp

    w = np.arange(1, n + 1) / (n + 1)
    pos = pos_a[None] * (1.0 - w[:, None]) + pos_b[None] * w[:, None]
    q = np.empty((n, N_ROT, 4))
    for j in range(N_ROT):
        slerp = Slerp([0.0, 1.0], Rotation.from_quat(np.stack([quat_a[j], quat_b[j]])))
        q[:, j] = slerp(w).as_quat()
    return pos, q


def interpolate_batch(pos_a: np.ndarray, quat_a: np.ndarray, pos_b: np.ndarray,
                      quat_b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`interpolate_arrays` over a batch: pos (B, 3), quat (B, 13, 4) ->
    (B, n, 3), (B, n, 13, 4). Same result (quaternion SLERP, shortest path)."""
    w = (np.arange(1, n + 1) / (n + 1))[None, :, None]
    pos = pos_a[:, None] * (1.0 - w) + pos_b[:, None] * w
    qa = quat_a / np.linalg.norm(quat_a, axis=-1, keepdims=True)
    qb = quat_b / np.linalg.norm(quat_b, axis=-1, keepdims=True)
    dot = np.sum(qa * qb, axis=-1, keepdims=True)
    qb = np.where(dot < 0, -qb, qb)
    dot = np.abs(dot)[:, None]                                     # (B, 1, 13, 1)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    s = np.sin(theta)
    ww = w[..., None]                                              # (1, n, 1, 1)
    small = s < 1e-6
    s_safe = np.where(small, 1.0, s)
    ca = np.where(small, 1.0 - ww, np.sin((1.0 - ww) * theta) / s_safe)
    cb = np.where(small, ww, np.sin(ww * theta) / s_safe)
    q = ca * qa[:, None] + cb * qb[:, None]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return pos, q


# -- windows ---------------------------------------------------------------------------------------

def sliding_windows(n_frames: int, length: int, stride: int) -> list[int]:
    """Start frames of windows of ``length`` covering ``n_frames`` (the last one flush with
    the end); one window starting at 0 when the clip is shorter than ``length``."""
    if n_frames <= length:
        return [0]
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] != n_frames - length:
        starts.append(n_frames - length)
    return starts


def pad_frames(x: np.ndarray, length: int) -> np.ndarray:
    """Pad (T, ...) to ``length`` frames by repeating the last frame."""
    if len(x) >= length:
        return x
    return np.concatenate([x, np.repeat(x[-1:], length - len(x), axis=0)])


# -- the corpus ------------------------------------------------------------------------------------

@dataclass
class MotionRecord:
    """One clip of the training corpus on the humanoid at :data:`FPS`."""

    name: str                 # "bandai/walk_happy_001", "pybullet/walk"
    source: str               # "bandai" | "pybullet"
    content: str
    style: str                # Bandai style, or the pybullet clip name
    root_pos: np.ndarray      # (T, 3)
    quats: np.ndarray         # (T, 13, 4)
    split: str = "train"      # "train" | "test"
    meta: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.root_pos)

    @property
    def label(self) -> str:
        """Style label: Bandai style, or "pybullet:<clip>"."""
        return self.style if self.source == "bandai" else f"pybullet:{self.style}"

    def clip(self) -> Clip:
        return arrays_to_clip(self.root_pos, self.quats, FPS, self.name, self.meta)

    def features(self) -> np.ndarray:
        return motion_features(self.root_pos, self.quats)


_BANDAI_NAME = re.compile(r"dataset-1_(?P<content>[a-z-]+)_(?P<style>[a-z-]+)_(?P<take>\d+)$")


def parse_bandai_name(stem: str) -> tuple[str, str, str] | None:
    m = _BANDAI_NAME.match(stem)
    return (m["content"], m["style"], m["take"]) if m else None


def bandai_split(content: str, style: str, take: str = "001") -> str:
    """Fixed held-out rule: (content index + style index) % 5 == 0 is held out ("test").

    Over the ten contents performed in all 15 styles this keeps exactly two contents of every
    style out of training (about 19% of the clips)."""
    c = BANDAI_CONTENTS.index(content) if content in BANDAI_CONTENTS else 0
    s = BANDAI_STYLES.index(style) if style in BANDAI_STYLES else 0
    return "test" if (c + s) % 5 == 0 else "train"


def bandai_dir() -> Path:
    from studio.paths import SHARED_DATA

    return SHARED_DATA / "mocap" / "bandai-1" / "data"


def cache_dir() -> Path:
    env = os.environ.get("STUDIO_MOTION_CACHE")
    if env:
        return Path(env)
    from studio.paths import user_cache_dir

    return user_cache_dir() / "motion-corpus"


def _cache_key(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha1(f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_bandai_record(path: Path, use_cache: bool = True) -> MotionRecord:
    """One Bandai BVH retargeted to the humanoid at 30 fps (cached)."""
    parsed = parse_bandai_name(path.stem)
    if parsed is None:
        raise UserError(f"{path}: not a Bandai-Namco dataset-1 file name")
    content, style, take = parsed
    cpath = cache_dir() / f"{path.stem}.{_cache_key(path)}.npz"
    if use_cache and cpath.exists():
        z = np.load(cpath)
        root, quats = z["root_pos"], z["quats"]
    else:
        from studio.motion.io.files import load_clip

        hum = humanoid_clip(load_clip(path), source=str(path))
        root, quats = clip_arrays(hum)
        if use_cache:
            cpath.parent.mkdir(parents=True, exist_ok=True)
            tmp = cpath.with_suffix(".part.npz")
            np.savez_compressed(tmp, root_pos=root, quats=quats)
            os.replace(tmp, cpath)
    return MotionRecord(f"bandai/{content}_{style}_{take}", "bandai", content, style, root,
                        quats, bandai_split(content, style, take),
                        {"file": path.name, "take": take, "license": BANDAI_LICENSE})


def load_pybullet_record(name: str, min_frames: int = 150) -> MotionRecord:
    """A built-in DeepMimic clip at 30 fps; looping clips are cycled to at least
    ``min_frames`` frames (and three cycles)."""
    from studio.motion.io.library import load_builtin

    clip = load_builtin(name)
    root, quats = clip_arrays(clip)
    if clip.loop and clip.n_frames > 2:
        per = clip.duration * FPS
        cycles = max(3, int(np.ceil(min_frames / max(per, 1.0))))
        root, quats = cycle_arrays(root, quats, cycles)
        clip = arrays_to_clip(root, quats, clip.fps, name)
    hum = humanoid_clip(clip, source=name)
    root, quats = clip_arrays(hum)
    return MotionRecord(f"pybullet/{name}", "pybullet", name, name, root, quats, "train",
                        {"license": PYBULLET_LICENSE, "loop": bool(clip.loop)})


def load_corpus(bandai: bool = True, pybullet: bool = True, use_cache: bool = True,
                contents: tuple[str, ...] | None = None, progress=None) -> list[MotionRecord]:
    """All corpus clips (see the module notes), Bandai first, in file-name order."""
    records: list[MotionRecord] = []
    if bandai:
        folder = bandai_dir()
        if not folder.is_dir():
            raise UserError(f"{folder}: Bandai-Namco mocap not found (shared/data/mocap/bandai-1)")
        files = sorted(folder.glob("dataset-1_*.bvh"))
        for i, f in enumerate(files):
            parsed = parse_bandai_name(f.stem)
            if parsed is None or (contents and parsed[0] not in contents):
                continue
            records.append(load_bandai_record(f, use_cache))
            if progress:
                progress(i + 1, len(files))
    if pybullet:
        from studio.motion.io.library import builtin_clips

        for name in builtin_clips():
            records.append(load_pybullet_record(name))
    return records


def label_list(records: list[MotionRecord]) -> list[str]:
    """Style labels: the 15 Bandai styles in the dataset's order, then pybullet clip names."""
    extra = sorted({r.label for r in records if r.source != "bandai"})
    return list(BANDAI_STYLES) + extra


def feature_stats(arrays: list[np.ndarray], min_std: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over frames (std floored at ``min_std`` so constant channels stay finite)."""
    x = np.concatenate(arrays, axis=0)
    return x.mean(axis=0), np.maximum(x.std(axis=0), min_std)


def save_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
