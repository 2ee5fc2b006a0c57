"""Shot boundaries of a reference clip, with PySceneDetect's detectors.

The detectors see the reference frames themselves (downscaled RGB -> BGR, the order they
expect), so boundaries are frame indices of the reference that every encode and the per-shot
optimiser share. ``adaptive`` (AdaptiveDetector: a frame's change against its neighbours'
average) catches hard cuts without firing on fast motion, and catches most dissolves;
``content`` (ContentDetector: a fixed threshold on the HSV change) is the classic one.
PySceneDetect depends on the GUI build of OpenCV; the app ships the headless one, so
``bootstrap.sh`` installs scenedetect without its dependencies (the API used here needs only
``cv2`` from either build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from studio.codec.reference import ReferenceClip
from studio.jobs import UserError

DETECTORS = ("adaptive", "content")


@dataclass(frozen=True)
class Shot:
    start: int   # first frame
    end: int     # one past the last frame

    @property
    def frames(self) -> int:
        return self.end - self.start

    def to_list(self) -> list[int]:
        return [self.start, self.end]


def _detector(kind: str, threshold: float | None, min_len: int):
    try:
        from scenedetect import AdaptiveDetector, ContentDetector
    except ImportError as exc:
        raise UserError("shot detection needs PySceneDetect: run ./bootstrap.sh again, or "
                        "`pip install --no-deps scenedetect` in the app's environment") from exc
    if kind == "adaptive":
        return AdaptiveDetector(adaptive_threshold=threshold or 3.0, min_scene_len=min_len,
                                min_content_val=10.0)
    if kind == "content":
        return ContentDetector(threshold=threshold or 27.0, min_scene_len=min_len)
    raise UserError(f"unknown shot detector {kind!r}; use {' or '.join(DETECTORS)}")


def _small_bgr(clip: ReferenceClip, i: int, width: int = 320) -> np.ndarray:
    import cv2
    rgb = clip.rgb(i, rotate=False)
    h, w = rgb.shape[:2]
    if w > width:
        rgb = cv2.resize(rgb, (width, max(2, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def detect_shots(clip: ReferenceClip, detector: str = "content", threshold: float | None = None,
                 min_len: int = 8, check: Callable[[], None] = lambda: None,
                 on_frame: Callable[[int], None] | None = None) -> list[Shot]:
    """Shots covering every frame of ``clip`` in order (one shot when there is no cut)."""
    from scenedetect import FrameTimecode

    det = _detector(detector, threshold, min_len)
    fps = float(clip.info.fps)
    cuts: list[int] = []
    n = len(clip)
    for i in range(n):
        check()
        for tc in det.process_frame(FrameTimecode(i, fps), _small_bgr(clip, i)):
            cuts.append(int(tc.frame_num))
        if on_frame is not None:
            on_frame(i + 1)
    for tc in det.post_process(FrameTimecode(n - 1, fps)) if hasattr(det, "post_process") else []:
        cuts.append(int(tc.frame_num))
    bounds = [0] + sorted({c for c in cuts if 0 < c < n}) + [n]
    return [Shot(a, b) for a, b in zip(bounds, bounds[1:])]
