"""Entropy coding of quantised latents with a factorised prior (``constriction`` ANS).

Why a factorised prior with integer tables: the decoder's probability model must be
bit-identical in every process, so it must not come from a float computation at run time.
Each latent channel has a frequency table of integers (summing to 2^precision) exported by
the training recipe; ``constriction``'s ``Categorical`` gets ``freq / 2^precision``, which
float64 represents exactly, and quantises it with deterministic integer-exact code, so the
encoder and any decoder build the same model. (A scale hyperprior would save ~10-20 % more
but needs quantised scale tables and two more networks; the compute budget here trained one
model per rate only.)

Tails: each table covers ``offset .. offset + count - 2`` (chosen at export to contain every
quantised latent of the training photos and the prior's own 1e-9 quantiles) and the last
symbol is an ESCAPE: a value outside the range is coded as the escape followed by the value
itself in a uniform 16-bit code, so no latent is ever clipped; a value beyond +-32767 (never
produced by a sane model) is refused loudly.

Stream layout (one ANS stack): channels in order 0..M-1; per channel, the h*w symbols in
raster order, then the raw values of that channel's escapes. The encoder pushes in reverse.
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
        p = Path(path)
        try:
            with np.load(p) as z:
                t = cls(np.asarray(z["freqs"]), np.asarray(z["offset"]),
                        np.asarray(z["count"]), np.asarray(z["means"]),
                        int(z["precision"]), str(p))
        except FileNotFoundError:
            raise EntropyError(f"{p}: entropy tables missing") from None
        except (KeyError, ValueError, OSError) as exc:
            raise EntropyError(f"{p}: not valid entropy tables ({exc})") from None
        t.validate()
        return t

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
        if q.size and np.abs(q).max() > ESCAPE_LIMIT:
            raise EntropyError(f"a latent value {int(np.abs(q).max())} is beyond the escape "
                               f"code's +-{ESCAPE_LIMIT}: the model is broken")
        coder = _constriction().stream.stack.AnsCoder()
        flat = q.reshape(t.channels, -1).astype(np.int64)
        for c in range(t.channels - 1, -1, -1):
            sym = flat[c] - int(t.offset[c])
            esc = int(t.count[c]) - 1
            out = (sym < 0) | (sym >= esc)
            if out.any():
                raw = (flat[c][out] + (1 << (ESCAPE_BITS - 1))).astype(np.int32)
                coder.encode_reverse(raw, self._uniform)
                sym = np.where(out, esc, sym)
            coder.encode_reverse(sym.astype(np.int32), self._models[c])
        return coder.get_compressed().astype("<u4").tobytes()

    def decode(self, data: bytes, h: int, w: int) -> np.ndarray:
        """Raises EntropyError when the stream does not decode to exactly (M, h, w)."""
        t = self.tables
        if len(data) % 4:
            raise EntropyError(f"latent stream of {len(data)} bytes is not whole 32-bit words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            coder = _constriction().stream.stack.AnsCoder(words)
        except Exception as exc:  # noqa: BLE001 - constriction raises plain errors
            raise EntropyError(f"latent stream rejected by the ANS decoder ({exc})") from None
        out = np.empty((t.channels, h * w), np.int32)
        try:
            for c in range(t.channels):
                sym = np.asarray(coder.decode(self._models[c], h * w), np.int64)
                esc = int(t.count[c]) - 1
                hit = sym == esc
                vals = sym + int(t.offset[c])
                n = int(hit.sum())
                if n:
                    raw = np.asarray(coder.decode(self._uniform, n), np.int64)
                    vals[hit] = raw - (1 << (ESCAPE_BITS - 1))
                out[c] = vals
        except Exception as exc:  # noqa: BLE001
            raise EntropyError(f"latent stream does not decode ({exc})") from None
        if not coder.is_empty():
            raise EntropyError("latent stream has data left over after the last latent "
                               "(damaged, or coded with other tables)")
        return out.reshape(t.channels, h, w)
