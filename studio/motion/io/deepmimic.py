"""The DeepMimic humanoid and its clip files.

A DeepMimic clip (``humanoid3d_*.txt``) is JSON: ``{"Loop": "wrap" | "none", "Frames": [...]}``
where every frame is 44 numbers, as ``pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py``
(``Slerp``) reads them::

    [0]       duration of this frame in seconds (the last frame's is unused, usually 0)
    [1:4]     root position (x, y, z), metres, Y up, the character faces +X
    [4:8]     root rotation quaternion (w, x, y, z)
    [8:12]    chest          quaternion (w, x, y, z)
    [12:16]   neck           quaternion
    [16:20]   right hip      quaternion
    [20]      right knee     angle (radians, about the joint's local Z)
    [21:25]   right ankle    quaternion
    [25:29]   right shoulder quaternion
    [29]      right elbow    angle
    [30:34]   left hip       quaternion
    [34]      left knee      angle
    [35:39]   left ankle     quaternion
    [39:43]   left shoulder  quaternion
    [43]      left elbow     angle

Quaternions are local (child relative to parent). The skeleton below is pybullet's
``humanoid/humanoid.urdf`` at ``globalScaling=0.25``, as ``humanoid_stable_pd.py`` loads it;
joint frames in that URDF have no rotation, so the rest pose (all identity) stands upright with
arms down. Right is +Z. Five end sites (head, toes, wrists) are added so FK gives the tips;
the toe tip sits at the front of the foot box's sole.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import UserError, atomic_path
from studio.motion.core.clip import Clip, normalised
from studio.motion.core.skeleton import Skeleton

_ROOT_CH = ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
_ROT_CH = ("Zrotation", "Xrotation", "Yrotation")

# name, parent, offset (metres), kind: "free" root, "sphere" quaternion, "hinge" angle, "end"
_JOINTS: tuple[tuple[str, str | None, tuple[float, float, float], str], ...] = (
    ("root", None, (0.0, 0.0, 0.0), "free"),
    ("chest", "root", (0.0, 0.236151, 0.0), "sphere"),
    ("neck", "chest", (0.0, 0.223894, 0.0), "sphere"),
    ("head", "neck", (0.0, 0.175, 0.0), "end"),
    ("right_hip", "root", (0.0, 0.0, 0.084887), "sphere"),
    ("right_knee", "right_hip", (0.0, -0.421546, 0.0), "hinge"),
    ("right_ankle", "right_knee", (0.0, -0.40987, 0.0), "sphere"),
    ("right_toe", "right_ankle", (0.1335, -0.05, 0.0), "end"),
    ("right_shoulder", "chest", (-0.02405, 0.2435, 0.18311), "sphere"),
    ("right_elbow", "right_shoulder", (0.0, -0.274788, 0.0), "hinge"),
    ("right_wrist", "right_elbow", (0.0, -0.258947, 0.0), "end"),
    ("left_hip", "root", (0.0, 0.0, -0.084887), "sphere"),
    ("left_knee", "left_hip", (0.0, -0.421546, 0.0), "hinge"),
    ("left_ankle", "left_knee", (0.0, -0.40987, 0.0), "sphere"),
    ("left_toe", "left_ankle", (0.1335, -0.05, 0.0), "end"),
    ("left_shoulder", "chest", (-0.02405, 0.2435, -0.18311), "sphere"),
    ("left_elbow", "left_shoulder", (0.0, -0.274788, 0.0), "hinge"),
    ("left_wrist", "left_elbow", (0.0, -0.258947, 0.0), "end"),
)
_NAMES = tuple(j[0] for j in _JOINTS)

HUMANOID = Skeleton(
    names=_NAMES,
    parents=tuple(-1 if p is None else _NAMES.index(p) for _, p, _, _ in _JOINTS),
    offsets=np.array([o for _, _, o, _ in _JOINTS]),
    channels=tuple(_ROOT_CH if k == "free" else () if k == "end" else _ROT_CH
                   for _, _, _, k in _JOINTS),
    up=1,
    forward=(1.0, 0.0, 0.0),
)
"""The DeepMimic humanoid (metres, Y up, faces +X, right is +Z)."""

HINGE_AXIS = np.array([0.0, 0.0, 1.0])
HINGE_JOINTS = tuple(n for n, _, _, k in _JOINTS if k == "hinge")
# File order after the duration: root pos, root quat, then these joints.
FILE_JOINTS = ("chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder",
               "right_elbow", "left_hip", "left_knee", "left_ankle", "left_shoulder",
               "left_elbow")
FRAME_SIZE = 1 + 3 + 4 + sum(1 if n in HINGE_JOINTS else 4 for n in FILE_JOINTS)  # 44
# Where the foot box's sole corners are in the ankle frame (heel, toe), for ground checks.
FOOT_SOLE_POINTS = np.array([[-0.0435, -0.05, 0.0], [0.1335, -0.05, 0.0]])


def is_humanoid(skeleton: Skeleton) -> bool:
    """True when every animated DeepMimic joint is present by name."""
    return all(skeleton.get(n) is not None for n in ("root",) + FILE_JOINTS)


def hinge_angles(rot: Rotation) -> np.ndarray:
    """Angle about the hinge axis (local Z) of rotations that should be hinges.

    Uses the intrinsic ZXY Euler split, so any off-axis part is dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock only affects X/Y here
        return rot.as_euler("ZXY")[..., 0]


def frames_to_clip(frames: np.ndarray, fps: float, loop: bool = False, name: str = "") -> Clip:
    """Build a humanoid clip from an (T, 44) frame array (durations already checked)."""
    from scipy.spatial.transform import Rotation

    t = frames.shape[0]
    rots = np.zeros((t, len(HUMANOID), 4))
    rots[..., 3] = 1.0
    rots[:, 0] = frames[:, [5, 6, 7, 4]]
    col = 8
    for n in FILE_JOINTS:
        j = HUMANOID.index(n)
        if n in HINGE_JOINTS:
            rots[:, j] = Rotation.from_rotvec(frames[:, col:col + 1] * HINGE_AXIS).as_quat()
            col += 1
        else:
            rots[:, j] = frames[:, [col + 1, col + 2, col + 3, col]]
            col += 4
    clip = Clip(HUMANOID, float(fps), frames[:, 1:4].copy(), rots, loop=loop, name=name)
    return clip


def clip_to_frames(clip: Clip, target: str = "") -> np.ndarray:
    """(T, 44) DeepMimic frame array of a humanoid clip (hinges projected on their axis).
    ``target`` names the output in error messages."""
    sk = clip.skeleton
    if not is_humanoid(sk):
        raise UserError(f"{target or clip.name or 'clip'}: only clips on the DeepMimic humanoid "
                        f"can be saved as DeepMimic files, and {clip.name or 'this clip'} uses "
                        "another skeleton; retarget it first (motion convert --retarget)")
    t = clip.n_frames
    out = np.zeros((t, FRAME_SIZE))
    out[:, 0] = clip.dt
    if t:
        out[-1, 0] = 0.0
    out[:, 1:4] = clip.root_pos
    q = normalised(clip.rotations[:, sk.index("root")])
    out[:, 4:8] = q[:, [3, 0, 1, 2]]
    col = 8
    for n in FILE_JOINTS:
        j = sk.index(n)
        if n in HINGE_JOINTS:
            out[:, col] = hinge_angles(clip.local_rotation(j))
            col += 1
        else:
            q = normalised(clip.rotations[:, j])
            out[:, col:col + 4] = q[:, [3, 0, 1, 2]]
            col += 4
    return out


def read_deepmimic(path: str | os.PathLike) -> Clip:
    """Read a DeepMimic clip file. Raises :class:`UserError` naming the file on bad input.

    Per-frame durations that are not all equal are resampled onto an even grid at the mean
    rate, since a :class:`Clip` has one fps.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a DeepMimic clip (not a text file)") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a DeepMimic clip (JSON error at line {exc.lineno}: "
                        f"{exc.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("Frames"), list):
        raise UserError(f"{path}: not a DeepMimic clip (no \"Frames\" list)")
    rows = data["Frames"]
    if not rows:
        raise UserError(f"{path}: the clip has no frames")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != FRAME_SIZE:
            n = len(row) if isinstance(row, list) else type(row).__name__
            raise UserError(f"{path}: frame {i} has {n} values, expected {FRAME_SIZE} "
                            "(duration, root position, root and joint rotations)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise UserError(f"{path}: frame {i} contains a value that is not a number")
    frames = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(frames)):
        i = int(np.argwhere(~np.isfinite(frames))[0][0])
        raise UserError(f"{path}: frame {i} contains NaN or infinite values")
    durations = frames[:-1, 0] if len(frames) > 1 else frames[:, 0]
    if len(frames) > 1 and np.any(durations <= 0):
        i = int(np.argwhere(durations <= 0)[0][0])
        raise UserError(f"{path}: frame {i} has a duration of {durations[i]} s; "
                        "durations must be positive")
    dt = float(durations.mean()) if len(frames) > 1 else (float(frames[0, 0]) or 1 / 30)
    loop_flag = str(data.get("Loop", "none")).lower()
    clip = frames_to_clip(frames, 1.0 / dt, loop=loop_flag == "wrap", name=path.stem)
    clip.check(str(path))
    clip.rotations = normalised(clip.rotations)
    clip.meta["deepmimic"] = {k: v for k, v in data.items() if k not in ("Frames", "Loop")}
    if len(frames) > 2 and np.ptp(durations) > 1e-6 * dt:
        clip = _to_even_grid(clip, np.concatenate([[0.0], np.cumsum(durations)]))
    return clip


def _to_even_grid(clip: Clip, times: np.ndarray) -> Clip:
    """Resample frames taken at uneven ``times`` onto an even grid at ``clip.fps``."""
    from scipy.spatial.transform import Slerp

    n = int(np.floor(times[-1] * clip.fps + 1e-6)) + 1
    new_t = np.arange(n) / clip.fps
    rots = np.empty((n, clip.n_joints, 4))
    for j in range(clip.n_joints):
        rots[:, j] = Slerp(times, clip.local_rotation(j))(new_t).as_quat()
    root = np.stack([np.interp(new_t, times, clip.root_pos[:, k]) for k in range(3)], axis=1)
    return clip.copy(root_pos=root, rotations=normalised(rots))


def write_deepmimic(clip: Clip, path: str | os.PathLike) -> None:
    """Write a humanoid clip as a DeepMimic file (temp file, then rename)."""
    frames = clip_to_frames(clip.check(clip.name or str(path)), str(path))
    lines = ["[" + ", ".join(f"{v:.10g}" for v in row) + "]" for row in frames]
    head = {"Loop": "wrap" if clip.loop else "none"}
    extra = clip.meta.get("deepmimic", {})
    body = ",\n".join(lines)
    text = "{\n" + "".join(f"{json.dumps(k)}: {json.dumps(v)},\n" for k, v in
                           {**head, **extra}.items()) + f"\"Frames\":\n[\n{body}\n]\n}}\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
