"""Entropy coding of quantised latents (``constriction`` ANS): a factorised prior, and the
Gaussian conditional of a scale hyperprior.

Why integer tables: the decoder's probability model must be bit-identical in every process,
so it must not come from a float computation at run time. Each latent channel (factorised)
or each quantised scale (Gaussian) has a frequency table of integers (summing to
2^precision) exported by the training recipe; ``constriction``'s ``Categorical`` gets
``freq / 2^precision``, which float64 represents exactly, and quantises it with
deterministic integer-exact code, so the encoder and any decoder build the same model.

Tails: each table covers ``offset .. offset + count - 2`` and the last symbol is an ESCAPE:
a value outside the range is coded as the escape followed by the value itself in a uniform
16-bit code, so no latent is ever clipped; a value beyond +-32767 (never produced by a sane
model) is refused loudly.

Factorised stream (one ANS stack): channels in order 0..M-1; per channel, the h*w symbols
in raster order, then the raw values of that channel's escapes. Gaussian stream: the same,
with "channel" read as "scale index" (0..S-1) and its symbols being the latents whose scale
falls in that bin, in raster order of the (M, h, w) array. The encoder pushes in reverse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ESCAPE_BITS = 16
ESCAPE_LIMIT = (1 << (ESCAPE_BITS - 1)) - 1


class EntropyError(ValueError):
    """Tables or a stream that cannot be used (the message names the file and the problem)."""


def _constriction():
    try:
        import constriction
    except ImportError:  # pragma: no cover - a declared dependency
        raise EntropyError("the learned codec needs the 'constriction' package (pip install "
                           "constriction)") from None
    return constriction


def _load_tables(path: str | os.PathLike, what: str, build):
    """``build(npz, source)`` from the file, validated; errors name the file."""
    p = Path(path)
    try:
        with np.load(p) as z:
            t = build(z, str(p))
    except FileNotFoundError:
        raise EntropyError(f"{p}: entropy tables missing") from None
    except (KeyError, ValueError, OSError) as exc:
        raise EntropyError(f"{p}: not valid {what} ({exc})") from None
    t.validate()
    return t


@dataclass
class FactorizedTables:
    freqs: np.ndarray      # (M, L) int32; row c valid over [:count[c]], last valid = escape
    offset: np.ndarray     # (M,) int32: the value coded as symbol 0
    count: np.ndarray      # (M,) int32: symbols incl. the escape
    means: np.ndarray      # (M,) float32: quantisation offsets (y_hat = q + mean)
    precision: int
    source: str = ""

    @property
    def channels(self) -> int:
        return int(self.freqs.shape[0])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FactorizedTables":
        return _load_tables(path, "entropy tables", lambda z, src: cls(
            np.asarray(z["freqs"]), np.asarray(z["offset"]), np.asarray(z["count"]),
            np.asarray(z["means"]), int(z["precision"]), src))

    def validate(self) -> None:
        where = self.source or "entropy tables"
        m = self.channels
        if self.freqs.ndim != 2 or not np.issubdtype(self.freqs.dtype, np.integer):
            raise EntropyError(f"{where}: 'freqs' must be a 2-D integer array")
        if self.offset.shape != (m,) or self.count.shape != (m,) or self.means.shape != (m,):
            raise EntropyError(f"{where}: offset/count/means must have one entry per channel "
                               f"({m})")
        if not 8 <= self.precision <= 20:
            raise EntropyError(f"{where}: precision {self.precision} outside 8..20 bits")
        total = 1 << self.precision
        for c in range(m):
            n = int(self.count[c])
            if not 2 <= n <= self.freqs.shape[1]:
                raise EntropyError(f"{where}: channel {c}: count {n} outside 2.."
                                   f"{self.freqs.shape[1]}")
            row = self.freqs[c, :n].astype(np.int64)
            if row.min() < 1 or row.sum() != total:
                raise EntropyError(f"{where}: channel {c}: frequencies must be >= 1 and sum "
                                   f"to 2^{self.precision}")

    def models(self) -> list:
        """One exact ``Categorical`` per channel (built from the integer tables)."""
        cm = _constriction().stream.model
        total = float(1 << self.precision)
        return [cm.Categorical(self.freqs[c, :int(self.count[c])].astype(np.float64) / total,
                               perfect=False) for c in range(self.channels)]


def _push(coder, uniform, values: np.ndarray, model, offset: int, count: int) -> None:
    """Push one group's values (and its escapes' raw values after them) in reverse."""
    sym = values - offset
    esc = count - 1
    out = (sym < 0) | (sym >= esc)
    if out.any():
        raw = (values[out] + (1 << (ESCAPE_BITS - 1))).astype(np.int32)
        coder.encode_reverse(raw, uniform)
        sym = np.where(out, esc, sym)
    coder.encode_reverse(sym.astype(np.int32), model)


def _pop(coder, uniform, n: int, model, offset: int, count: int) -> np.ndarray:
    sym = np.asarray(coder.decode(model, n), np.int64)
    hit = sym == count - 1
    vals = sym + offset
    k = int(hit.sum())
    if k:
        raw = np.asarray(coder.decode(uniform, k), np.int64)
        vals[hit] = raw - (1 << (ESCAPE_BITS - 1))
    return vals


def _check_range(q: np.ndarray) -> None:
    if q.size and np.abs(q).max() > ESCAPE_LIMIT:
        raise EntropyError(f"a latent value {int(np.abs(q).max())} is beyond the escape "
                           f"code's +-{ESCAPE_LIMIT}: the model is broken")


def _words(data: bytes):
    if len(data) % 4:
        raise EntropyError(f"latent stream of {len(data)} bytes is not whole 32-bit words")
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    try:
        return _constriction().stream.stack.AnsCoder(words)
    except Exception as exc:  # noqa: BLE001 - constriction raises plain errors
        raise EntropyError(f"latent stream rejected by the ANS decoder ({exc})") from None


def _check_empty(coder) -> None:
    if not coder.is_empty():
        raise EntropyError("latent stream has data left over after the last latent "
                           "(damaged, or coded with other tables)")


class FactorizedCoder:
    """Codes (M, h, w) int32 latents with the tables; reusable, not thread-safe to build."""

    def __init__(self, tables: FactorizedTables) -> None:
        self.tables = tables
        self._models = tables.models()
        self._uniform = _constriction().stream.model.Uniform(1 << ESCAPE_BITS)

    def encode(self, q: np.ndarray) -> bytes:
        t = self.tables
        q = np.asarray(q)
        if q.ndim != 3 or q.shape[0] != t.channels:
            raise EntropyError(f"latents of shape {q.shape}; expected ({t.channels}, h, w)")
        _check_range(q)
        coder = _constriction().stream.stack.AnsCoder()
        flat = q.reshape(t.channels, -1).astype(np.int64)
        for c in range(t.channels - 1, -1, -1):
            _push(coder, self._uniform, flat[c], self._models[c], int(t.offset[c]),
                  int(t.count[c]))
        return coder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, h: int, w: int) -> np.ndarray:
        """Raises EntropyError when the stream does not decode to exactly (M, h, w)."""
        t = self.tables
        coder = _words(data)
        out = np.empty((t.channels, h * w), np.int32)
        try:
            for c in range(t.channels):
                out[c] = _pop(coder, self._uniform, h * w, self._models[c], int(t.offset[c]),
                              int(t.count[c]))
        except Exception as exc:  # noqa: BLE001
            raise EntropyError(f"latent stream does not decode ({exc})") from None
        _check_empty(coder)
        return out.reshape(t.channels, h, w)


@dataclass
class GaussianTables:
    """The scale hyperprior's Gaussian conditional: one integer table per quantised scale.

    A latent whose predicted scale is ``s`` uses table ``scale_index(s)``: the first entry of
    ``scales`` that is >= s (the last one for anything larger), as CompressAI does."""

    scales: np.ndarray     # (S,) float32, increasing
    freqs: np.ndarray      # (S, L) int32, rows as FactorizedTables.freqs
    offset: np.ndarray     # (S,) int32
    count: np.ndarray      # (S,) int32
    precision: int
    source: str = ""
    # (M,) float32 or None: y's quantisation offsets (q = round(y - mean), y_hat = q + mean);
    # optional (``y_means`` in the file), zero when absent: a hyperprior fitted to a
    # factorised model's transforms keeps that model's offsets, so its distortion is unchanged
    y_means: np.ndarray | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "GaussianTables":
        return _load_tables(path, "hyperprior tables", lambda z, src: cls(
            np.asarray(z["scale_table"], np.float32), np.asarray(z["g_freqs"]),
            np.asarray(z["g_offset"]), np.asarray(z["g_count"]), int(z["precision"]), src,
            np.asarray(z["y_means"], np.float32) if "y_means" in z.files else None))

    def offsets(self, channels: int) -> np.ndarray:
        """y's quantisation offsets, (channels, 1, 1), for broadcasting over a latent grid."""
        if self.y_means is None:
            return np.zeros((channels, 1, 1), np.float32)
        if self.y_means.shape != (channels,):
            raise EntropyError(f"{self.source or 'Gaussian tables'}: 'y_means' has "
                               f"{self.y_means.shape[0]} entries, the latents {channels} "
                               f"channels")
        return self.y_means[:, None, None]

    def validate(self) -> None:
        where = self.source or "Gaussian tables"
        if self.y_means is not None and (self.y_means.ndim != 1
                                         or not np.all(np.isfinite(self.y_means))):
            raise EntropyError(f"{where}: 'y_means' must be a finite 1-D array")
        if self.scales.ndim != 1 or len(self.scales) < 2 or \
                not np.all(np.diff(self.scales) > 0) or self.scales[0] <= 0:
            raise EntropyError(f"{where}: 'scale_table' must be positive and increasing")
        as_factorized = FactorizedTables(self.freqs, self.offset, self.count,
                                         np.zeros(len(self.scales), np.float32),
                                         self.precision, where)
        as_factorized.validate()

    def scale_index(self, scales: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.scales[:-1], np.asarray(scales, np.float32),
                               side="left").astype(np.int32)

    def models(self) -> list:
        cm = _constriction().stream.model
        total = float(1 << self.precision)
        return [cm.Categorical(self.freqs[i, :int(self.count[i])].astype(np.float64) / total,
                               perfect=False) for i in range(len(self.scales))]


class GaussianCoder:
    """Codes (M, h, w) int32 latents given each one's scale index (same shape)."""

    def __init__(self, tables: GaussianTables) -> None:
        self.tables = tables
        self._models = tables.models()
        self._uniform = _constriction().stream.model.Uniform(1 << ESCAPE_BITS)

    def encode(self, q: np.ndarray, index: np.ndarray) -> bytes:
        t = self.tables
        q = np.asarray(q)
        if q.shape != index.shape:
            raise EntropyError(f"latents {q.shape} and scale indexes {index.shape} differ")
        _check_range(q)
        flat, idx = q.reshape(-1).astype(np.int64), index.reshape(-1)
        coder = _constriction().stream.stack.AnsCoder()
        for s in range(len(t.scales) - 1, -1, -1):
            sel = idx == s
            if sel.any():
                _push(coder, self._uniform, flat[sel], self._models[s], int(t.offset[s]),
                      int(t.count[s]))
        return coder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, index: np.ndarray) -> np.ndarray:
        t = self.tables
        coder = _words(data)
        idx = index.reshape(-1)
        out = np.empty(idx.shape, np.int32)
        try:
            for s in range(len(t.scales)):
                sel = idx == s
                n = int(sel.sum())
                if n:
                    out[sel] = _pop(coder, self._uniform, n, self._models[s], int(t.offset[s]),
                                    int(t.count[s]))
        except Exception as exc:  # noqa: BLE001
            raise EntropyError(f"latent stream does not decode ({exc})") from None
        _check_empty(coder)
        return out.reshape(index.shape)
