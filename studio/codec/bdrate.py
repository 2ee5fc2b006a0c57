"""Bjontegaard delta rate and delta quality between two rate-distortion curves.

Current practice (JCT-VC/JVET common test conditions, the ``bjontegaard`` package's default):
interpolate log10(rate) against quality with a piecewise cubic Hermite interpolant (PCHIP)
and integrate both curves over the quality range they share; BD-rate is the mean log-rate
difference turned into a percentage (negative = the test codec needs fewer bits). BD-quality
(BD-PSNR for PSNR) swaps the axes. ``method="cubic"`` gives the original VCEG-M33 cubic
polynomial fit and ``"akima"`` the Akima interpolant, for comparison with older reports.
The interpolants come from scipy; only the bookkeeping is ours.

A BD number alone hides how far to trust it: :func:`compare` also computes the BD-rate with
every other method and returns warnings when the quality ranges overlap under 75 %, when the
methods disagree by more than 2 percentage points or on the sign (they did on real sweeps, with
no hint in the table), and when a curve has under 4 points or is not monotonic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

METHODS = ("pchip", "akima", "cubic")

# When to distrust a BD number (see BDResult.warnings). 75 %: below it the shared quality range
# leaves out a quarter of the curves, so the average says little about the rest of them. 2
# points: about what the three interpolants differ by on well-behaved 4-point curves times ten.
OVERLAP_WARN = 0.75
METHOD_SPREAD_WARN = 2.0     # percentage points of BD-rate between pchip, akima and cubic
MIN_POINTS = 4               # the CTC number of rate points per curve
SIGN_EPS = 0.01              # |BD-rate| (points) under this counts as zero: no false sign flips


class BDError(ValueError):
    """The curves cannot be compared (too few points, no overlap, not monotonic)."""


@dataclass(frozen=True)
class BDResult:
    """Both BD numbers with what it takes to judge them: overlaps, every method, warnings."""

    bd_rate: float      # percent; negative means the test saves bits
    bd_quality: float   # test minus anchor in metric units at equal rate (dB for PSNR);
                        # positive = test better, except for lower-is-better metrics (CAMBI)
    overlap: float      # shared quality range / union of the ranges, 0..1 (BD-rate's span)
    method: str = "pchip"
    rate_overlap: float = 1.0   # the same on log-rate (BD-quality's span)
    bd_rate_by_method: dict[str, float] = field(default_factory=dict)
    bd_quality_by_method: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def method_spread(self) -> float:
        """Largest minus smallest BD-rate over the interpolation methods (points)."""
        vals = list(self.bd_rate_by_method.values())
        return max(vals) - min(vals) if vals else 0.0


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
        from scipy import interpolate   # 0.6 s to import: only when a table is computed
        return interpolate.PchipInterpolator(x, y)
    if method == "akima":
        from scipy import interpolate
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


def _prepare(rate_anchor: Sequence[float], q_anchor: Sequence[float],
             rate_test: Sequence[float], q_test: Sequence[float], higher_is_better: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clean both curves; a lower-is-better metric is negated so that quality rises with rate."""
    ra, qa = _clean(rate_anchor, q_anchor, "anchor")
    rt, qt = _clean(rate_test, q_test, "test")
    if not higher_is_better:
        qa, qt = -qa, -qt
    return ra, qa, rt, qt


def _both(ra: np.ndarray, qa: np.ndarray, rt: np.ndarray, qt: np.ndarray,
          method: str) -> tuple[float, float, float, float]:
    """(BD-rate %, BD-quality, quality overlap, rate overlap) with one interpolation method."""
    oa, ot = np.argsort(qa), np.argsort(qt)
    avg_r, overlap = _delta(qa[oa], ra[oa], qt[ot], rt[ot], method, "quality")
    avg_q, rate_overlap = _delta(ra, qa, rt, qt, method, "rate")
    rate = (10.0 ** avg_r - 1.0) * 100.0
    if not (math.isfinite(rate) and math.isfinite(avg_q)):
        raise BDError(f"BD numbers are not finite with {method} interpolation")
    return rate, avg_q, overlap, rate_overlap


def bd_rate(rate_anchor: Sequence[float], q_anchor: Sequence[float],
            rate_test: Sequence[float], q_test: Sequence[float], method: str = "pchip",
            higher_is_better: bool = True) -> float:
    """Average bitrate difference (%) of test vs anchor at equal quality."""
    ra, qa, rt, qt = _prepare(rate_anchor, q_anchor, rate_test, q_test, higher_is_better)
    oa, ot = np.argsort(qa), np.argsort(qt)
    avg, _ = _delta(qa[oa], ra[oa], qt[ot], rt[ot], method, "quality")
    return (10.0 ** avg - 1.0) * 100.0


def bd_quality(rate_anchor: Sequence[float], q_anchor: Sequence[float],
               rate_test: Sequence[float], q_test: Sequence[float], method: str = "pchip",
               higher_is_better: bool = True) -> float:
    """Average quality difference (e.g. BD-PSNR in dB) of test vs anchor at equal rate, in the
    metric's own units and sign (for a lower-is-better metric, negative = test better)."""
    ra, qa, rt, qt = _prepare(rate_anchor, q_anchor, rate_test, q_test, higher_is_better)
    avg, _ = _delta(ra, qa, rt, qt, method, "rate")
    return avg if higher_is_better else -avg


bd_psnr = bd_quality


def _fmt_methods(rates: dict[str, float]) -> str:
    return ", ".join(f"{m} {v:+.1f} %" for m, v in rates.items())


def _warnings(ra: np.ndarray, qa: np.ndarray, rt: np.ndarray, qt: np.ndarray,
              overlap: float, rates: dict[str, float],
              failed: dict[str, str]) -> list[str]:
    """Everything that makes a BD number less trustworthy than it looks, in plain sentences.

    Only the quality overlap is checked: a codec 30 % better over a 3-octave ladder already
    shares just 70 % of the log-rate range, so warning on that would flag every useful row."""
    out: list[str] = []
    if overlap < OVERLAP_WARN:
        out.append(f"quality ranges overlap only {overlap:.0%} (under {OVERLAP_WARN:.0%}): "
                   "BD-rate averages over that shared part of the curves only")
    vals = list(rates.values())
    spread = max(vals) - min(vals) if vals else 0.0
    flip = bool(vals) and min(vals) < -SIGN_EPS and max(vals) > SIGN_EPS
    if flip or spread > METHOD_SPREAD_WARN:
        what = []
        if spread > METHOD_SPREAD_WARN:
            what.append(f"by {spread:.1f} points (over {METHOD_SPREAD_WARN:g})")
        if flip:
            what.append("on the sign, so which codec wins depends on the interpolation")
        out.append(f"interpolation methods disagree {' and '.join(what)}: {_fmt_methods(rates)}")
    for m, err in failed.items():
        out.append(f"{m} interpolation failed ({err}); it is left out of the cross-check")
    for name, r, q in (("anchor", ra, qa), ("test", rt, qt)):
        if r.size < MIN_POINTS:
            out.append(f"the {name} curve has {r.size} points (fewer than {MIN_POINTS}): "
                       "too few for the interpolation methods to check one another")
        if np.any(np.diff(q) < 0):     # q is in rate order (see _clean)
            out.append(f"the {name} curve is not monotonic (quality drops at a higher rate): "
                       "BD interpolation assumes it rises")
    return out


def compare(rate_anchor: Sequence[float], q_anchor: Sequence[float],
            rate_test: Sequence[float], q_test: Sequence[float],
            method: str = "pchip", higher_is_better: bool = True) -> BDResult:
    """Both BD numbers with ``method``, the BD-rate of every other method as a cross-check,
    how much the ranges overlap, and warnings where the numbers deserve less trust.

    ``higher_is_better=False`` (e.g. CAMBI) compares the negated metric, so BD-rate keeps its
    meaning (negative: fewer bits for the same quality); BD-quality stays in metric units."""
    if method not in METHODS:
        raise BDError(f"unknown interpolation method {method!r}; use one of {', '.join(METHODS)}")
    ra, qa, rt, qt = _prepare(rate_anchor, q_anchor, rate_test, q_test, higher_is_better)
    rate, avg_q, overlap, rate_overlap = _both(ra, qa, rt, qt, method)
    rates, quals, failed = {method: rate}, {method: avg_q}, {}
    for m in METHODS:
        if m == method:
            continue
        try:
            rates[m], quals[m], _, _ = _both(ra, qa, rt, qt, m)
        except (BDError, ValueError, np.linalg.LinAlgError) as exc:
            failed[m] = str(exc)
    rates = {m: rates[m] for m in METHODS if m in rates}
    sign = 1.0 if higher_is_better else -1.0
    quals = {m: sign * quals[m] for m in METHODS if m in quals}
    return BDResult(bd_rate=rate, bd_quality=sign * avg_q, overlap=overlap, method=method,
                    rate_overlap=rate_overlap, bd_rate_by_method=rates,
                    bd_quality_by_method=quals,
                    warnings=_warnings(ra, qa, rt, qt, overlap, rates, failed))
