"""The learned codec's temporal mode: P-frames code the residual against the previous
DECODED frame with the same image model; I-frames code the picture.

Why this simple form: it needs no model trained for video (the shipped image codec codes
``clip(x_t - x_hat_{t-1} + 0.5)``), yet on a mostly static clip the residual is a flat
mid-grey picture with a little detail, which costs fewer bits than the picture itself
(measured in docs/models.md). The loop is closed: the encoder reconstructs every frame as
the decoder will, so errors do not accumulate (both run the same synthesis graph; across
different execution providers the reconstructions may differ by float rounding until the
next I-frame). An I-frame starts the stream, every ``gop`` frames (0: never again) and at a
scene cut (the source changed by more than ``SCENE_CUT`` in mean absolute value since the
previous source frame).
"""

from __future__ import annotations

import numpy as np

from studio.jobs import UserError

INTRA, PREDICTED = b"I", b"P"
OFFSET = 0.5           # residuals in [-0.5, 0.5] map to [0, 1] (beyond: clipped, then fixed
                       # by the next residual, since the loop is closed)
SCENE_CUT = 0.08
DEFAULT_GOP = 50       # 2 s at 25 fps: a viewer seeks from an I-frame at most 49 frames back


class TemporalEncoder:
    """Codes pictures in order; keeps the decoder's view of the previous frame."""

    def __init__(self, model, gop: int = DEFAULT_GOP) -> None:
        self.model, self.gop = model, max(0, int(gop))
        self.prev: np.ndarray | None = None      # the decoder's previous frame
        self._source: np.ndarray | None = None   # the previous source frame (cut test)
        self.count = 0

    def encode(self, rgb: np.ndarray) -> bytes:
        """(H, W, 3) float RGB in [0, 1] -> a frame payload (type byte + model bytes)."""
        h, w = rgb.shape[:2]
        m = self.model
        intra = (self.prev is None or self.prev.shape != rgb.shape
                 or (self.gop and self.count % self.gop == 0)
                 or float(np.abs(rgb - self._source).mean()) > SCENE_CUT)
        self._source = rgb
        if intra:
            body = m.encode_rgb(rgb)
            self.prev = m.decode_rgb(body, w, h)
        else:
            body = m.encode_rgb(np.clip(rgb - self.prev + OFFSET, 0.0, 1.0))
            self.prev = _add(self.prev, m.decode_rgb(body, w, h))
        self.count += 1
        return (INTRA if intra else PREDICTED) + body


class TemporalDecoder:
    def __init__(self, model) -> None:
        self.model = model
        self.prev: np.ndarray | None = None

    def decode(self, payload: bytes, width: int, height: int, where: str) -> np.ndarray:
        kind, body = payload[:1], payload[1:]
        if kind == INTRA:
            self.prev = self.model.decode_rgb(body, width, height, where=where)
        elif kind == PREDICTED:
            if self.prev is None:
                raise UserError(f"{where}: a P-frame needs the frame before it (decode the "
                                f"stream from its first frame or from an I-frame)")
            self.prev = _add(self.prev, self.model.decode_rgb(body, width, height, where=where))
        else:
            raise UserError(f"{where}: unknown frame type {kind!r} (expected I or P)")
        return self.prev


def frame_type(payload: bytes) -> str:
    return payload[:1].decode("ascii", "replace")


def _add(prev: np.ndarray, residual: np.ndarray) -> np.ndarray:
    return np.clip(prev + (residual - OFFSET), 0.0, 1.0).astype(np.float32)
