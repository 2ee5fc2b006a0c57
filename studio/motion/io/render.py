"""Render a clip to video without a display: a perspective camera that follows the hips
(the pelvis role, not joint 0, which in some rigs is a static node on the floor), a ground
grid, bones, joints and foot-contact markers, drawn with OpenCV.

It runs on a worker (or headless from the CLI), so exporting never freezes the window
and needs no OpenGL; the look matches the app's 3-D viewport. Video is written at its own
frame rate (30 fps by default): the clip is sampled at the video's frame times, so a 120 fps
capture does not cost four times the drawing and encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from studio.jobs import JobContext, UserError
from studio.media.video_writer import VideoWriter
from studio.motion.core.display import ClipDisplay

BG = (20, 18, 17)  # BGR
GRID = (82, 74, 70)
BONE = (230, 214, 204)
JOINT = (253, 140, 61)
CONTACT = (0, 158, 250)
BODY_DARK = (112, 100, 92)      # a capsule's edge
BODY_LIGHT = (226, 210, 198)    # its lit middle
SHADOW = (8, 8, 8)
BONE_RADIUS = 0.045             # metres, as the app's viewport draws them
JOINT_RADIUS = 0.052


@dataclass
class Camera:
    azimuth_deg: float = -60.0
    elevation_deg: float = 12.0
    distance: float = 3.2
    fov_deg: float = 45.0
    target_height: float = 0.9

    def view(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World->camera rotation and camera position looking at ``target`` (Z up)."""
        az, el = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        offset = self.distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        eye = target + offset
        fwd = target - eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        return np.stack([right, up, fwd]), eye


def project(points: np.ndarray, rot: np.ndarray, eye: np.ndarray, cam: Camera,
            width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (N, 2) and a visible mask (in front of the camera)."""
    p = (points - eye) @ rot.T
    f = 0.5 * height / np.tan(np.radians(cam.fov_deg) / 2)
    z = np.maximum(p[:, 2], 1e-3)
    xy = np.stack([width / 2 + f * p[:, 0] / z, height / 2 - f * p[:, 1] / z], axis=1)
    return xy, p[:, 2] > 0.05


DEFAULT_FPS = 30.0


def draw_frame(d: ClipDisplay, i: int, cam: Camera, width: int = 960, height: int = 540,
               follow: bool = True) -> np.ndarray:
    """One RGB frame of the clip's frame ``i``."""
    return draw_pose(d, d.positions[i], d.contacts[i] if d.contacts.size else None,
                     f"{d.name}  {i + 1}/{d.n_frames}", cam, width, height, follow)


def camera_target(d: ClipDisplay, pos: np.ndarray, cam: Camera, follow: bool = True
                  ) -> np.ndarray:
    """Where the camera looks: above the hips (``d.focus``) on the ground when following,
    else above the origin."""
    if not follow:
        return np.array([0.0, 0.0, cam.target_height])
    c = pos[d.focus]
    return np.array([c[0], c[1], cam.target_height])


def draw_pose(d: ClipDisplay, pos: np.ndarray, contacts: np.ndarray | None, label: str,
              cam: Camera, width: int = 960, height: int = 540,
              follow: bool = True) -> np.ndarray:
    """One RGB frame of joint positions ``pos`` (J, 3) drawn with ``d``'s bones; ``contacts``
    (F,) flags feet in contact. The camera looks at ``d.focus`` (the hips) when following."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = BG
    target = camera_target(d, pos, cam, follow)
    rot, eye = cam.view(target)
    # ground grid around the target, 0.5 m spacing
    cx, cy = np.round(target[:2] * 2) / 2
    ticks = np.arange(-5, 5.01, 0.5)
    a = np.array([[cx + t, cy - 5, 0] for t in ticks] + [[cx - 5, cy + t, 0] for t in ticks])
    b = np.array([[cx + t, cy + 5, 0] for t in ticks] + [[cx + 5, cy + t, 0] for t in ticks])
    # each line in 20 pieces, so the parts behind the camera drop out; one projection call
    pts = a[:, None] + (b - a)[:, None] * np.linspace(0, 1, 21)[None, :, None]
    gxy, gvis = project(pts.reshape(-1, 3), rot, eye, cam, width, height)
    gxy = np.round(gxy).astype(np.int32).reshape(len(a), 21, 2)
    gvis = gvis.reshape(len(a), 21)
    for line, vis_line in zip(gxy, gvis):
        ok = vis_line[:-1] & vis_line[1:]
        for k in np.flatnonzero(ok):
            cv2.line(img, tuple(line[k]), tuple(line[k + 1]), GRID, 1, cv2.LINE_AA)
    # a soft shadow straight down on the ground, then the body as shaded capsules drawn far
    # to near (each limb: a dark edge, a lit core, a highlight), sized by perspective
    flat = pos.copy()
    flat[:, 2] = 0.0
    sxy, svis = project(flat, rot, eye, cam, width, height)
    spix = np.round(sxy).astype(int)
    shade = img.copy()
    f = 0.5 * height / np.tan(np.radians(cam.fov_deg) / 2)
    sdepth = np.maximum(((flat - eye) @ rot.T)[:, 2], 1e-3)
    for a, b in d.bones:
        if svis[a] and svis[b]:
            w = max(2, int(round(2.4 * f * BONE_RADIUS / max(sdepth[a], sdepth[b]))))
            cv2.line(shade, tuple(spix[a]), tuple(spix[b]), SHADOW, w, cv2.LINE_AA)
    cv2.addWeighted(shade, 0.45, img, 0.55, 0, img)
    xy, vis = project(pos, rot, eye, cam, width, height)
    pix = np.round(xy).astype(int)
    depth = np.maximum(((pos - eye) @ rot.T)[:, 2], 1e-3)
    order = sorted(range(len(d.bones)), key=lambda k: -depth[d.bones[k]].mean())
    for k in order:
        a, b = d.bones[k]
        if not (vis[a] and vis[b]):
            continue
        r = f * BONE_RADIUS / depth[[a, b]].mean()
        pa, pb = tuple(pix[a]), tuple(pix[b])
        cv2.line(img, pa, pb, BODY_DARK, max(2, int(round(2 * r))), cv2.LINE_AA)
        cv2.line(img, pa, pb, BODY_LIGHT, max(1, int(round(1.3 * r))), cv2.LINE_AA)
        for j, p in ((a, pa), (b, pb)):
            rj = max(2, int(round(f * JOINT_RADIUS / depth[j])))
            cv2.circle(img, p, rj, BODY_DARK, -1, cv2.LINE_AA)
            cv2.circle(img, p, max(1, int(rj * 0.7)), BODY_LIGHT, -1, cv2.LINE_AA)
    if contacts is not None and d.contact_joints.size:
        for j in d.contact_joints[contacts]:
            if vis[j]:
                cv2.circle(img, tuple(pix[j]), 8, CONTACT, -1, cv2.LINE_AA)
    cv2.putText(img, label, (14, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (200, 200, 200), 1, cv2.LINE_AA)
    return np.ascontiguousarray(img[..., ::-1])


def frame_times(d: ClipDisplay, fps: float, loops: int = 1) -> np.ndarray:
    """Source frame positions (fractional indices into the clip, one loop = ``n_frames``
    frames) of each video frame at ``fps``."""
    n = d.n_frames
    total = max(1, int(round(n * max(1, loops) * fps / d.fps)))
    return np.arange(total) * (d.fps / fps)


def sample_pose(d: ClipDisplay, s: float) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Positions at fractional source frame ``s`` (wrapping every ``n_frames``; linear
    between frames, never across the jump from a loop's end to its start), the contacts of
    the nearest frame, and that frame's index."""
    n = d.n_frames
    s = float(s) % n
    i = min(int(np.floor(s)), n - 1)
    a = s - i
    j = min(i + 1, n - 1)
    pos = d.positions[i] if a == 0.0 or j == i else (1 - a) * d.positions[i] + a * d.positions[j]
    k = j if a >= 0.5 else i
    return pos, (d.contacts[k] if d.contacts.size else None), k


def render_mp4(d: ClipDisplay, out: str | Path, ctx: JobContext | None = None,
               cam: Camera | None = None, width: int = 960, height: int = 540,
               loops: int = 1, fps: float | None = DEFAULT_FPS, start: float = 0.0,
               seconds: float | None = None) -> Path:
    """Write the clip (``loops`` times) to an H.264 MP4 at ``fps`` (whole frames per second;
    None: the clip's own rate, rounded). The clip is sampled at the video's frame times, so
    the video lasts as long as the clip whatever the two rates. ``start`` and ``seconds``
    render only that part (seconds into the clip; a long clip's positions are then computed
    for those frames only)."""
    ctx = ctx or JobContext()
    cam = cam or Camera()
    rate = max(1, int(round(d.fps if fps is None else fps)))
    times = frame_times(d, rate, loops)
    if start or seconds is not None:
        first = max(0, int(np.ceil(start * rate - 1e-9)))
        last = len(times) if seconds is None else first + max(1, int(round(seconds * rate)))
        times = times[first:last]
        if not len(times):
            raise UserError(f"{d.name or 'clip'}: --start {start:g} s is past the end "
                            f"({d.n_frames / d.fps:.2f} s)")
    total = len(times)
    with ctx.atomic_output(out) as tmp:
        with VideoWriter(tmp, rate, width, height, crf=20, container_format="mp4") as w:
            for k, s in enumerate(times):
                pos, contacts, i = sample_pose(d, s)
                w.write(draw_pose(d, pos, contacts, f"{d.name}  {i + 1}/{d.n_frames}", cam,
                                  width, height))
                ctx.progress(k + 1, total, f"frame {k + 1}/{total}")
    return Path(out)
