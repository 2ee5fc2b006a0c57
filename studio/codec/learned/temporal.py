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

D-frames (either entropy model): a flat residual still costs the image prior ~0.2 bit
per pixel, and consecutive residuals' latents are ~95 % equal on a static clip, so a D-frame
codes the latents' CHANGE from the previous P/D frame with a model sent in the frame itself:
per channel the share of zeros (one byte), and one table of the non-zero changes (integers,
so the decoder rebuilds exactly the same model). The encoder codes every non-I frame both
ways and keeps the smaller.
"""

from __future__ import annotations

import numpy as np

from studio.jobs import UserError

INTRA, PREDICTED, DELTA = b"I", b"P", b"D"
OFFSET = 0.5           # residuals in [-0.5, 0.5] map to [0, 1] (beyond: clipped, then fixed
                       # by the next residual, since the loop is closed)
SCENE_CUT = 0.08
DEFAULT_GOP = 50       # 2 s at 25 fps: a viewer seeks from an I-frame at most 49 frames back
DELTA_RANGE = 8        # non-zero changes -8..8 in the table; beyond: escape + 16-bit value


class TemporalEncoder:
    """Codes pictures in order; keeps the decoder's view of the previous frame."""

    def __init__(self, model, gop: int = DEFAULT_GOP) -> None:
        self.model, self.gop = model, max(0, int(gop))
        self.prev: np.ndarray | None = None      # the decoder's previous frame
        self._source: np.ndarray | None = None   # the previous source frame (cut test)
        self._latents: np.ndarray | None = None  # the previous P/D frame's residual latents
        self.count = 0

    def encode(self, rgb: np.ndarray) -> bytes:
        """(H, W, 3) float RGB in [0, 1] -> a frame payload (type byte + model bytes)."""
        h, w = rgb.shape[:2]
        m = self.model
        intra = (self.prev is None or self.prev.shape != rgb.shape
                 or (self.gop and self.count % self.gop == 0)
                 or float(np.abs(rgb - self._source).mean()) > SCENE_CUT)
        self._source = rgb
        self.count += 1
        if intra:
            body = m.encode_rgb(rgb)
            self.prev, self._latents = m.decode_rgb(body, w, h), None
            return INTRA + body
        residual = np.clip(rgb - self.prev + OFFSET, 0.0, 1.0)
        kind, (body, q) = PREDICTED, m.encode_q(residual)
        if self._latents is not None and self._latents.shape == q.shape:
            delta = encode_delta(q - self._latents)
            if len(delta) < len(body):
                kind, body = DELTA, delta
        self._latents = q
        self.prev = _add(self.prev, m.synthesise(q, w, h))
        return kind + body


class TemporalDecoder:
    def __init__(self, model) -> None:
        self.model = model
        self.prev: np.ndarray | None = None
        self._latents: np.ndarray | None = None

    def decode(self, payload: bytes, width: int, height: int, where: str) -> np.ndarray:
        kind, body = payload[:1], payload[1:]
        m = self.model
        if kind == INTRA:
            self.prev, self._latents = m.decode_rgb(body, width, height, where=where), None
            return self.prev
        if kind not in (PREDICTED, DELTA):
            raise UserError(f"{where}: unknown frame type {kind!r} (expected I, P or D)")
        if self.prev is None or (kind == DELTA and self._latents is None):
            raise UserError(f"{where}: a {kind.decode()}-frame needs the frame before it "
                            f"(decode the stream from its first frame or from an I-frame)")
        if kind == PREDICTED:
            q = m.decode_q(body, width, height, where=where)
        else:
            try:
                q = self._latents + decode_delta(body, self._latents.shape)
            except ValueError as exc:   # EntropyError: damaged or foreign data
                raise UserError(f"{where}: {exc}") from None
        self._latents = q
        self.prev = _add(self.prev, m.synthesise(q, width, height))
        return self.prev


def frame_type(payload: bytes) -> str:
    return payload[:1].decode("ascii", "replace")


def _add(prev: np.ndarray, residual: np.ndarray) -> np.ndarray:
    return np.clip(prev + (residual - OFFSET), 0.0, 1.0).astype(np.float32)


# --- D-frames: the latents' change, with a model sent in the frame -----------------------
# Layout: M bytes (per channel, P(zero) in 1/256), (2R + 1) uint16 LE frequencies of the
# non-zero symbols (-R..-1, 1..R, escape; sum 2^16), then one ANS stream: per channel the
# h*w zero flags, then every non-zero change in channel-then-raster order, then the raw
# 16-bit values of the escapes.

def _cm():
    from studio.codec.learned.entropy import _constriction

    return _constriction().stream.model


def _nonzero_symbols(v: np.ndarray) -> np.ndarray:
    r = DELTA_RANGE
    s = np.where(v < 0, v + r, v + r - 1)
    return np.where(np.abs(v) > r, 2 * r, s)


def encode_delta(d: np.ndarray) -> bytes:
    from studio.codec.learned.entropy import ESCAPE_BITS, _check_range, _constriction

    _check_range(d)
    r = DELTA_RANGE
    flat = d.reshape(d.shape[0], -1).astype(np.int64)
    zero = flat == 0
    p0 = np.clip(np.rint(zero.mean(axis=1) * 256), 1, 255).astype(np.uint8)
    nz = flat[~zero]
    sym = _nonzero_symbols(nz)
    counts = np.bincount(sym, minlength=2 * r + 1).astype(np.float64) + 0.5
    freqs = 1 + np.floor(counts / counts.sum() * ((1 << 16) - len(counts))).astype(np.int64)
    freqs[np.argmax(freqs)] += (1 << 16) - freqs.sum()
    cm = _cm()
    coder = _constriction().stream.stack.AnsCoder()
    esc = np.abs(nz) > r
    if esc.any():
        coder.encode_reverse((nz[esc] + (1 << (ESCAPE_BITS - 1))).astype(np.int32),
                             cm.Uniform(1 << ESCAPE_BITS))
    if len(sym):
        coder.encode_reverse(sym.astype(np.int32),
                             cm.Categorical(freqs / float(1 << 16), perfect=False))
    for c in range(flat.shape[0] - 1, -1, -1):
        coder.encode_reverse((~zero[c]).astype(np.int32), _flag_model(p0[c]))
    return (p0.tobytes() + freqs.astype("<u2").tobytes()
            + coder.get_compressed().astype("<u4").tobytes())


def _flag_model(p0: int):
    return _cm().Categorical(np.array([p0, 256 - int(p0)], np.float64) / 256.0, perfect=False)


def decode_delta(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    from studio.codec.learned.entropy import (ESCAPE_BITS, EntropyError, _check_empty,
                                              _words)

    m, n = shape[0], shape[1] * shape[2]
    r = DELTA_RANGE
    head = m + 2 * (2 * r + 1)
    if len(data) < head:
        raise EntropyError(f"D-frame of {len(data)} bytes is shorter than its model "
                           f"({head} bytes)")
    p0 = np.frombuffer(data[:m], np.uint8)
    freqs = np.frombuffer(data[m:head], "<u2").astype(np.int64)
    if p0.min() < 1 or freqs.min() < 1 or freqs.sum() != 1 << 16:
        raise EntropyError("D-frame model damaged (probabilities out of range)")
    coder = _words(data[head:])
    cm = _cm()
    try:
        nonzero = np.stack([np.asarray(coder.decode(_flag_model(p0[c]), n), np.int64)
                            for c in range(m)]).astype(bool)
        k = int(nonzero.sum())
        out = np.zeros((m, n), np.int64)
        if k:
            sym = np.asarray(coder.decode(cm.Categorical(freqs / float(1 << 16),
                                                         perfect=False), k), np.int64)
            vals = np.where(sym < r, sym - r, sym - r + 1)
            hit = sym == 2 * r
            if hit.any():
                raw = np.asarray(coder.decode(cm.Uniform(1 << ESCAPE_BITS), int(hit.sum())),
                                 np.int64)
                vals[hit] = raw - (1 << (ESCAPE_BITS - 1))
            out[nonzero] = vals
    except Exception as exc:  # noqa: BLE001 - constriction raises plain errors
        raise EntropyError(f"D-frame stream does not decode ({exc})") from None
    _check_empty(coder)
    return out.reshape(shape).astype(np.int32)
