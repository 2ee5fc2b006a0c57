"""Content-adaptive ladders: place N rate points evenly over a target quality span per codec.

A fixed CRF range bunches points on some content (three AV1 points within 3 dB at 1080p, an
AV1 point at 57.5 dB on a small clip) and wastes the sweep. Instead, probe: encode a short
sample of the clip (frames spread over it) at a few quality values, fit quality against the
value (piecewise linear, made monotonic), refine once near the ends of the span, and invert
for N evenly spaced targets such as PSNR-Y 30-45 dB. Values the content cannot reach are
clamped and said so.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from studio.codec import encoders, metrics
from studio.codec.reference import ReferenceClip, ReferenceInfo, Y4MWriter

PROBE_FRAMES = 8
TARGET_METRICS = ("psnr_y", "vmaf")


@dataclass
class Target:
    metric: str = "psnr_y"
    low: float = 30.0
    high: float = 45.0

    @staticmethod
    def parse(text: str) -> "Target":
        """'psnr_y:30-45' or 'vmaf:60-97'."""
        try:
            metric, _, span = text.partition(":")
            lo, _, hi = span.partition("-")
            t = Target(metric.strip(), float(lo), float(hi))
        except ValueError:
            raise ValueError(f"target {text!r}: use METRIC:LOW-HIGH, e.g. psnr_y:30-45") from None
        if t.metric not in TARGET_METRICS:
            raise ValueError(f"target metric {t.metric!r}: use one of {', '.join(TARGET_METRICS)}")
        if not t.low < t.high:
            raise ValueError(f"target {text!r}: LOW must be below HIGH")
        return t

    def __str__(self) -> str:
        return f"{self.metric}:{self.low:g}-{self.high:g}"


@dataclass
class AdaptiveLadder:
    codec: str
    preset: str
    target: str
    values: list[float]
    probes: list[tuple[float, float]] = field(default_factory=list)  # (value, quality)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _probe_reference(ref: ReferenceClip, folder: Path, frames: int) -> ReferenceClip:
    """A short clip of frames spread over the reference (constant rate, same format)."""
    info = ref.info
    idx = sorted({int(round(x)) for x in np.linspace(0, info.frames - 1, min(frames, info.frames))})
    path = folder / "probe.y4m"
    with open(path, "wb") as fh:
        w = Y4MWriter(fh, info.width, info.height, info.fps, info.pix_fmt, info.full_range)
        for i in idx:
            w.write(ref.planes(i))
    pinfo = ReferenceInfo(file=path.name, width=info.width, height=info.height,
                          pix_fmt=info.pix_fmt, bit_depth=info.bit_depth, frames=len(idx),
                          fps=info.fps, colorspace=info.colorspace, full_range=info.full_range,
                          pts=list(range(len(idx))), time_base=Fraction(1) / info.fps)
    return ReferenceClip(path, pinfo)


def _quality(spec, enc, probe: ReferenceClip, value: float, preset: str, metric: str,
             threads: int, folder: Path, check: Callable[[], None]) -> float:
    s = encoders.EncodeSettings(spec.key, "crf", value, preset, threads)
    out = folder / (f"p{value:g}" + ("" if spec.image else f".{spec.ext}"))
    enc.encode(spec, probe, s, out, None, check)
    info = probe.info
    if metric == "vmaf":
        from studio.codec import ffmetrics
        dist = folder / f"p{value:g}.y4m"
        with open(dist, "wb") as fh:
            w = Y4MWriter(fh, info.width, info.height, info.fps, info.pix_fmt, info.full_range)
            for df in enc.decode(spec, out, info, info.frames):
                w.write(df.planes)
        vals = ffmetrics.compute(folder / info.file, dist, info.pix_fmt, ["vmaf"], threads,
                                 check_cancel=check)["vmaf"]
        return float(np.mean(vals))
    scores = [metrics.score_frame(probe.planes(df.index), df.planes, info.bit_depth, False, False)
              for df in enc.decode(spec, out, info, info.frames)]
    return float(metrics.pool(metrics.columns(scores), info.bit_depth)["psnr_y"])


def _invert(probes: list[tuple[float, float]], targets: np.ndarray, spec) -> np.ndarray:
    """Values that should give each target quality (piecewise linear, monotonic fit)."""
    pts = sorted(probes)                         # by value
    v = np.array([p[0] for p in pts])
    q = np.array([p[1] for p in pts])
    # quality falls as a CRF-like value rises (rises for WebP-like): force that monotonicity
    if spec.higher_is_better:
        q = np.maximum.accumulate(q)
    else:
        q = np.minimum.accumulate(q)
    order = np.argsort(q, kind="stable")
    return np.interp(targets, q[order], v[order])


def _best_probe(probes, spec) -> float:
    vals = [v for v, _ in probes]
    return max(vals) if spec.higher_is_better else min(vals)


def _worst_probe(probes, spec) -> float:
    vals = [v for v, _ in probes]
    return min(vals) if spec.higher_is_better else max(vals)


def adaptive_ladder(spec, preset: str, ref: ReferenceClip, points: int, target: Target,
                    threads: int = 1, check: Callable[[], None] = lambda: None,
                    probe_frames: int = PROBE_FRAMES) -> AdaptiveLadder:
    enc = encoders.encoder_for(spec)
    lo, hi = sorted(spec.value_range)
    targets = np.linspace(target.high, target.low, points) if points > 1 else \
        np.array([(target.low + target.high) / 2])
    with tempfile.TemporaryDirectory(prefix="studio-ladder-") as tmp:
        folder = Path(tmp)
        probe = _probe_reference(ref, folder, probe_frames)
        try:
            probes: list[tuple[float, float]] = []
            seen: set[float] = set()

            def measure(v: float) -> None:
                v = encoders.round_values(spec, [v])[0]
                if v in seen:
                    return
                seen.add(v)
                check()
                probes.append((v, _quality(spec, enc, probe, v, preset, target.metric, threads,
                                           folder, check)))

            for f in (0.15, 0.45, 0.8):
                measure(lo + f * (hi - lo))
            best, worst = spec.value_range
            for _ in range(2):   # reach past the probes when the span lies outside them
                qs = [q for _, q in probes]
                if max(qs) < target.high:
                    measure(best if not probes or abs(best - _best_probe(probes, spec)) < 1e-9
                            else (best + _best_probe(probes, spec)) / 2)
                if min(qs) > target.low:
                    measure(worst if abs(worst - _worst_probe(probes, spec)) < 1e-9
                            else (worst + _worst_probe(probes, spec)) / 2)
            for v in _invert(probes, np.array([target.high, target.low]), spec):
                measure(float(v))
            values = encoders.round_values(spec, _invert(probes, targets, spec))
        finally:
            probe.close()
    qs = [q for _, q in probes]
    note = (f"{spec.key} {spec.preset_name} {preset}: adaptive ladder for {target} from "
            f"{len(probes)} probe encodes of {probe.info.frames} frames -> {spec.value_name} "
            f"{', '.join(f'{v:g}' for v in values)}")
    if max(qs) < target.high or min(qs) > target.low:
        note += (f" (the probes reach {min(qs):.1f}-{max(qs):.1f}; targets outside that are "
                 f"clamped)")
    if len(values) < points:
        note += f" ({points - len(values)} points merged: the span is narrow for this codec)"
    return AdaptiveLadder(spec.key, preset, str(target), values,
                          [(float(v), float(q)) for v, q in sorted(probes)], note)
