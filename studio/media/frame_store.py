"""Keep many video frames in memory cheaply (JPEG in RAM) for preview and scrubbing.

A minute of 540x540 frames is ~1.3 GB raw but ~50 MB as JPEG; decoding one back takes a
few milliseconds, well inside a 40 ms frame period.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np


class FrameStore:
    def __init__(self, max_side: int = 720, quality: int = 88) -> None:
        self.max_side = max_side
        self.quality = quality
        self._frames: list[bytes] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def append(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        s = self.max_side / max(h, w)
        if s < 1:
            rgb = cv2.resize(rgb, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError("could not encode a preview frame")
        with self._lock:
            self._frames.append(buf.tobytes())

    def get(self, i: int) -> np.ndarray:
        with self._lock:
            data = self._frames[i]
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return np.ascontiguousarray(img[..., ::-1])

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(len(f) for f in self._frames)
