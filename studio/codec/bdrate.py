"""Bjontegaard delta rate and delta quality between two rate-distortion curves.

Current practice (JCT-VC/JVET common test conditions, the ``bjontegaard`` package's default):
interpolate log10(rate) against quality with a piecewise cubic Hermite interpolant (PCHIP)
and integrate both curves over the quality range they share; BD-rate is the mean log-rate
difference turned into a percentage (negative = the test codec needs fewer bits). BD-quality
(BD-PSNR for PSNR) swaps the axes. ``method="cubic"`` gives the original VCEG-M33 cubic
polynomial fit and ``"akima"`` the Akima interpolant, for comparison with older reports.
The interpolants come from scipy; only the bookkeeping is ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import interpolate

METHODS = ("pchip", "akima", "cubic")


class BDError(ValueError):
    """The curves cannot be compared (too few points, no overlap, not monotonic)."""


@dataclass(frozen=True)
class BDResult:
    bd_rate: float      # percent; negative means the test saves bits
    bd_quality: float   # metric units (dB for PSNR); positive means the test is better
    overlap: float      # shared quality range / union of the ranges, 0..1


def _clean(rate: Sequence[float], quality: Sequence[float], label: str) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise BDError(f"{label}: rate and quality lists differ in length")
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    if r.size < 2:
        raise BDError(f"{label}: needs at least 2 valid points, has {r.size}")
    order = np.argsort(r)
    return np.log10(r[order]), q[order]


def _interp(x: np.ndarray, y: np.ndarray, method: str):
    if method == "pchip" or (method == "akima" and x.size < 3):
        return interpolate.PchipInterpolator(x, y)
    if method == "akima":
        return interpolate.Akima1DInterpolator(x, y)
    if method == "cubic":
        deg = min(3, x.size - 1)
        coeffs = np.polyfit(x, y, deg)
        integral = np.polyint(coeffs)

        class _Poly:
            def integrate(self, a: float, b: float) -> float:
                return float(np.polyval(integral, b) - np.polyval(integral, a))
        return _Poly()
    raise BDError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")


def _delta(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray,
           method: str, axis: str) -> tuple[float, float]:
    """Mean of (test - anchor) of y over the shared x range; returns (delta, overlap)."""
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    span = max(xa.max(), xt.max()) - min(xa.min(), xt.min())
    if hi <= lo:
        raise BDError("the curves do not overlap")
    for x, name in ((xa, "anchor"), (xt, "test")):
        if np.any(np.diff(x) <= 0):
            raise BDError(f"{name} curve has two points with the same {axis}")
    ia, it = _interp(xa, ya, method), _interp(xt, yt, method)
    diff = (it.integrate(lo, hi) - ia.integrate(lo, hi)) / (hi - lo)
    return float(diff), float((hi - lo) / span) if span > 0 else 1.0


def bd_rate(rate_anchor: Sequence[float], q_anchor: Sequence[float],
            rate_test: Sequence[float], q_test: Sequence[float], method: str = "pchip") -> float:
    """Average bitrate difference (%) of test vs anchor at equal quality."""
    ra, qa = _clean(rate_anchor, q_anchor, "anchor")
    rt, qt = _clean(rate_test, q_test, "test")
    oa, ot = np.argsort(qa), np.argsort(qt)
    avg, _ = _delta(qa[oa], ra[oa], qt[ot], rt[ot], method, "quality")
    return (10.0 ** avg - 1.0) * 100.0


def bd_quality(rate_anchor: Sequence[float], q_anchor: Sequence[float],
               rate_test: Sequence[float], q_test: Sequence[float], method: str = "pchip") -> float:
    """Average quality difference (e.g. BD-PSNR in dB) of test vs anchor at equal rate."""
    ra, qa = _clean(rate_anchor, q_anchor, "anchor")
    rt, qt = _clean(rate_test, q_test, "test")
    avg, _ = _delta(ra, qa, rt, qt, method, "rate")
    return avg


bd_psnr = bd_quality


def compare(rate_anchor: Sequence[float], q_anchor: Sequence[float],
            rate_test: Sequence[float], q_test: Sequence[float],
            method: str = "pchip") -> BDResult:
    """Both BD numbers plus how much the quality ranges overlap (low overlap: trust less)."""
    ra, qa = _clean(rate_anchor, q_anchor, "anchor")
    rt, qt = _clean(rate_test, q_test, "test")
    oa, ot = np.argsort(qa), np.argsort(qt)
    avg_r, overlap = _delta(qa[oa], ra[oa], qt[ot], rt[ot], method, "quality")
    avg_q, _ = _delta(ra, qa, rt, qt, method, "rate")
    rate = (10.0 ** avg_r - 1.0) * 100.0
    if not math.isfinite(rate):
        raise BDError("BD-rate is not finite")
    return BDResult(bd_rate=rate, bd_quality=avg_q, overlap=overlap)
