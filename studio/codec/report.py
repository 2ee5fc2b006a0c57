"""Reports from a project: BD-rate table, CSV/JSON export, an RD-curve chart as SVG.

The SVG is written by hand (a few polylines and labels) so the engine needs no plotting
package; the UI draws its own interactive plots and can save PNGs itself.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass
from html import escape

from studio.codec import bdrate
from studio.codec.project import Curve, Project, write_json
from studio.jobs import UserError, atomic_path

METRIC_LABELS = {
    "psnr_y": "PSNR-Y (dB)", "psnr_yuv": "PSNR-YUV 6:1:1 (dB)", "psnr_u": "PSNR-U (dB)",
    "psnr_v": "PSNR-V (dB)", "ssim_y": "SSIM-Y", "ssim_y_db": "SSIM-Y (dB)",
    "ms_ssim": "MS-SSIM", "vmaf": "VMAF",
}


@dataclass
class BDRow:
    """One test curve against the anchor."""

    curve: str
    anchor: str
    metric: str
    bd_rate: float | None     # percent (negative: fewer bits than the anchor)
    bd_quality: float | None  # metric units (dB for PSNR)
    overlap: float | None
    note: str = ""


def find_anchor(curves: list[Curve], anchor: str) -> Curve:
    """``anchor`` is a codec key (first preset wins) or a full curve key codec/preset/mode."""
    for c in curves:
        if c.key == anchor:
            return c
    for c in curves:
        if c.codec == anchor:
            return c
    raise UserError(f"anchor {anchor!r} not found; curves: {', '.join(c.key for c in curves) or 'none'}")


def bd_table(project: Project, anchor: str, metric: str = "psnr_y",
             method: str = "pchip") -> list[BDRow]:
    """BD-rate and BD-quality of every curve against ``anchor`` for ``metric``."""
    curves = project.curves(metric)
    ref = find_anchor(curves, anchor)
    rows = []
    for c in curves:
        if c is ref:
            continue
        try:
            r = bdrate.compare(ref.rates(), ref.values(metric), c.rates(), c.values(metric), method)
            rows.append(BDRow(c.key, ref.key, metric, r.bd_rate, r.bd_quality, r.overlap,
                              "low overlap" if r.overlap < 0.5 else ""))
        except bdrate.BDError as exc:
            rows.append(BDRow(c.key, ref.key, metric, None, None, None, str(exc)))
    return rows


def format_bd_table(rows: list[BDRow]) -> str:
    if not rows:
        return "(no other curve to compare with the anchor)"
    unit = "dB" if rows[0].metric.startswith("psnr") or rows[0].metric.endswith("_db") else ""
    head = f"{'curve':28s} {'BD-rate':>9s} {'BD-' + rows[0].metric:>14s}  note"
    lines = [f"anchor: {rows[0].anchor}   metric: {rows[0].metric}", head, "-" * len(head)]
    for r in rows:
        rate = f"{r.bd_rate:+8.2f}%" if r.bd_rate is not None else "      n/a"
        q = f"{r.bd_quality:+10.4f} {unit}" if r.bd_quality is not None else "       n/a"
        lines.append(f"{r.curve:28s} {rate:>9s} {q:>14s}  {r.note}")
    return "\n".join(lines)


POINT_COLUMNS = ("id", "codec", "preset", "mode", "value", "status", "bitrate_kbps", "bytes",
                 "frames", "keyframes", "encode_s", "score_s", "pix_fmt", "stream", "error")
METRIC_COLUMNS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim_y", "ms_ssim", "vmaf",
                  "psnr_y_global", "psnr_u_global", "psnr_v_global")


def points_csv(project: Project) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(POINT_COLUMNS + METRIC_COLUMNS)
    for p in project.points.values():
        d = asdict(p)
        w.writerow([d[c] for c in POINT_COLUMNS] +
                   [("" if p.metrics.get(m) is None else f"{p.metrics[m]:.6f}")
                    for m in METRIC_COLUMNS])
    return buf.getvalue()


def export_csv(project: Project, path: str | os.PathLike) -> None:
    """One row per point (failed ones too, with their error), pooled metrics as columns."""
    with atomic_path(path) as tmp:
        tmp.write_text(points_csv(project), encoding="utf-8")


def export_json(project: Project, path: str | os.PathLike, anchor: str | None = None,
                metric: str = "psnr_y") -> None:
    """Points, curves and (with an anchor) the BD table, in one self-contained file."""
    data = {
        "source": project.source,
        "reference": project.reference.to_dict() if project.reference else None,
        "notes": project.notes,
        "points": [asdict(p) for p in project.points.values()],
        "curves": [{"key": c.key, "label": c.label, "points": [p.id for p in c.points]}
                   for c in project.curves()],
    }
    if anchor:
        data["bd"] = [asdict(r) for r in bd_table(project, anchor, metric)]
    write_json(path, data)


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
            "#e377c2", "#7f7f7f", "#bcbd22")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def rd_svg(project: Project, metric: str = "psnr_y", width: int = 720, height: int = 480,
           log_rate: bool = True) -> str:
    """Rate-distortion chart (bitrate on a log axis) as an SVG document."""
    curves = project.curves(metric)
    pts = [(p.bitrate_kbps, p.metrics[metric]) for c in curves for p in c.points]
    ml, mr, mt, mb = 70, 190, 30, 50
    pw, ph = width - ml - mr, height - mt - mb
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    ylabel = METRIC_LABELS.get(metric, metric)
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">'
                   f'no finished points with {escape(metric)}</text></svg>')
        return "\n".join(out)
    fx = (lambda r: math.log10(r)) if log_rate else (lambda r: r)
    xs, ys = [fx(r) for r, _ in pts], [q for _, q in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    padx, pady = (x1 - x0) * 0.05 or 0.5, (y1 - y0) * 0.08 or 0.5
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return mt + ph - (y - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
                   f'stroke="#ddd"/><text x="{ml - 6}" y="{sy(t) + 4:.1f}" '
                   f'text-anchor="end">{t:g}</text>')
    if log_rate:
        xt = [math.log10(v) for e in range(int(math.floor(x0)), int(math.ceil(x1)) + 1)
              for v in (10 ** e, 2 * 10 ** e, 5 * 10 ** e) if x0 <= math.log10(v) <= x1]
    else:
        xt = _ticks(x0, x1)
    for t in xt:
        val = 10 ** t if log_rate else t
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{mt + ph}" '
                   f'stroke="#eee"/><text x="{sx(t):.1f}" y="{mt + ph + 16}" '
                   f'text-anchor="middle">{val:g}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 10}" text-anchor="middle">'
               f'bitrate (kbps{", log scale" if log_rate else ""})</text>')
    out.append(f'<text transform="translate(16 {mt + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    for i, c in enumerate(curves):
        col = _COLOURS[i % len(_COLOURS)]
        coords = " ".join(f"{sx(fx(p.bitrate_kbps)):.1f},{sy(p.metrics[metric]):.1f}"
                          for p in c.points)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{col}" stroke-width="2"/>')
        for p in c.points:
            out.append(f'<circle cx="{sx(fx(p.bitrate_kbps)):.1f}" '
                       f'cy="{sy(p.metrics[metric]):.1f}" r="3" fill="{col}">'
                       f'<title>{escape(p.label)}: {p.bitrate_kbps:.1f} kbps, '
                       f'{p.metrics[metric]:.4f}</title></circle>')
        ly = mt + 14 + 18 * i
        out.append(f'<line x1="{ml + pw + 12}" x2="{ml + pw + 32}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{col}" stroke-width="2"/><text x="{ml + pw + 38}" y="{ly}">'
                   f'{escape(c.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def export_svg(project: Project, path: str | os.PathLike, metric: str = "psnr_y") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(rd_svg(project, metric), encoding="utf-8")
