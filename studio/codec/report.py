"""Reports from a project: BD-rate table, CSV/JSON export, an RD-curve chart as SVG.

Exports are meant to stand on their own: the JSON carries the BD table (against the first
codec unless an anchor is given) with its warnings, every point's encoder, version, exact
options and command line; a points CSV comes with a companion ``<name>_bd.csv``; per-frame
metrics go to their own CSV. The SVG is written by hand (a few polylines and labels) so the
engine needs no plotting package; the UI draws its own interactive plots and can save PNGs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from studio.codec import bdrate, encoders
from studio.codec.project import DONE, Curve, Point, Project, write_json
from studio.jobs import UserError, atomic_path

METRIC_LABELS = {
    "psnr_y": "PSNR-Y (dB)", "psnr_y_global": "PSNR-Y, MSE-pooled (dB)",
    "psnr_yuv": "PSNR-YUV 6:1:1 (dB)", "psnr_u": "PSNR-U (dB)", "psnr_v": "PSNR-V (dB)",
    "psnr_u_global": "PSNR-U, MSE-pooled (dB)", "psnr_v_global": "PSNR-V, MSE-pooled (dB)",
    "ssim_y": "SSIM-Y", "ssim_y_db": "SSIM-Y (dB)", "ms_ssim": "MS-SSIM", "vmaf": "VMAF",
    "vmaf_neg": "VMAF NEG", "xpsnr_y": "XPSNR-Y (dB)", "psnr_hvs": "PSNR-HVS (dB)",
    "ciede2000": "CIEDE2000 (higher is better)", "cambi": "CAMBI banding (lower is better)",
}
# Metrics offered for BD tables and charts (CLI --metric, the panel's metric list).
BD_METRICS = ("psnr_y", "psnr_y_global", "psnr_yuv", "ssim_y", "ssim_y_db", "ms_ssim", "vmaf",
              "vmaf_neg", "xpsnr_y", "psnr_hvs", "ciede2000", "cambi")
# CAMBI counts banding: 0 is none, 24 unwatchable (libvmaf resource/doc/cambi.md). libvmaf's
# ciede2000 is 45 - 20 log10(mean dE00), so it rises with quality like PSNR and is not here.
LOWER_IS_BETTER = frozenset({"cambi"})
# Column name -> the name `studio codec score --metrics` takes, where they differ.
SCORE_NAMES = {"xpsnr_y": "xpsnr", "psnr_y_global": "psnr_y", "ssim_y_db": "ssim_y"}


def metric_unit(metric: str) -> str:
    return "dB" if metric.startswith(("psnr", "xpsnr")) or metric.endswith("_db") else ""


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def clip_name(project: Project) -> str:
    """The source file's name, which is what a reader of a chart or table knows the clip by."""
    if project.source:
        return Path(project.source).name
    return project.folder.name


def rate_axis(curves: list[Curve]) -> str:
    """``"bpp"`` when every point is a still image (bits per pixel is how images are
    compared; a single picture has no meaningful kbit/s), else ``"kbps"``."""
    pts = [p for c in curves for p in c.points]
    return "bpp" if pts and all(p.bpp > 0 and p.frames == 1 for p in pts) else "kbps"


def point_rate(p: Point, axis: str) -> float:
    return p.bpp if axis == "bpp" else p.bitrate_kbps


# --- BD table ----------------------------------------------------------------------------------

@dataclass
class BDRow:
    """One test curve against the anchor, with what it takes to judge the numbers."""

    curve: str
    anchor: str
    metric: str
    bd_rate: float | None     # percent (negative: fewer bits than the anchor)
    bd_quality: float | None  # test minus anchor in metric units (dB for PSNR)
    overlap: float | None     # of the quality ranges (BD-rate's span), 0..1
    note: str = ""            # why there is no number, when there is none
    warnings: list[str] = field(default_factory=list)   # why to trust the numbers less
    method: str = "pchip"
    bd_rate_by_method: dict[str, float] = field(default_factory=dict)
    rate_overlap: float | None = None
    label: str = ""           # the curve's human name ("AV1 (SVT-AV1) preset 8")
    anchor_label: str = ""
    rate_unit: str = "kbps"   # or "bpp" (still images)


def find_anchor(curves: list[Curve], anchor: str) -> Curve:
    """``anchor`` is a codec key (first preset wins) or a full curve key codec/preset/mode."""
    for c in curves:
        if c.key == anchor:
            return c
    for c in curves:
        if c.codec == anchor:
            return c
    raise UserError(f"anchor {anchor!r} not found; curves: {', '.join(c.key for c in curves) or 'none'}")


def score_hint(project: Project, metric: str) -> str:
    return f"studio codec score {project.folder} --metrics {SCORE_NAMES.get(metric, metric)}"


def resolve_anchor(project: Project, anchor: str | None, metric: str) -> Curve:
    """The anchor curve among those with ``metric`` (``None``: the first codec's). When the
    metric is what is missing, say so and how to add it, not "anchor not found"."""
    curves = project.curves(metric)
    if curves:
        if anchor is None:
            return curves[0]
        try:
            return find_anchor(curves, anchor)
        except UserError:
            pass
    every = project.curves()
    name = f"{METRIC_LABELS.get(metric, metric)} ({metric})" if metric in METRIC_LABELS else metric
    if not every:
        raise UserError(f"{project.folder}: no finished points yet; run a sweep first")
    if not curves:
        raise UserError(f"no point in {project.folder} has {name}; add it without "
                        f"re-encoding: {score_hint(project, metric)}")
    if anchor is not None and any(c.key == anchor or c.codec == anchor for c in every):
        raise UserError(f"anchor {anchor!r} has no {name} values; add them without "
                        f"re-encoding: {score_hint(project, metric)}")
    return find_anchor(curves, anchor or "")


def bd_table(project: Project, anchor: str | None = None, metric: str = "psnr_y",
             method: str = "pchip") -> list[BDRow]:
    """BD-rate and BD-quality of every curve against ``anchor`` (default: the first codec)
    for ``metric``; lower-is-better metrics (CAMBI) are compared the right way round."""
    if method not in bdrate.METHODS:
        raise UserError(f"unknown interpolation method {method!r}; use one of "
                        f"{', '.join(bdrate.METHODS)}")
    curves = project.curves(metric)
    ref = resolve_anchor(project, anchor, metric)
    axis = rate_axis(curves)
    higher = not lower_is_better(metric)
    total = {c.key: len(c.points) for c in project.curves()}

    def holes(c: Curve, role: str) -> list[str]:
        """A curve with unscored points is compared on fewer points than it has."""
        n, k = total.get(c.key, 0), len(c.points)
        return [f"only {k} of the {n} points of the {role} curve have {metric}; score the "
                f"rest: {score_hint(project, metric)}"] if k < n else []

    rows = []
    for c in curves:
        if c.key == ref.key:
            continue
        base = dict(curve=c.key, anchor=ref.key, metric=metric, method=method, label=c.label,
                    anchor_label=ref.label, rate_unit=axis)
        try:
            r = bdrate.compare([point_rate(p, axis) for p in ref.points], ref.values(metric),
                               [point_rate(p, axis) for p in c.points], c.values(metric),
                               method, higher_is_better=higher)
            rows.append(BDRow(bd_rate=r.bd_rate, bd_quality=r.bd_quality, overlap=r.overlap,
                              warnings=holes(ref, "anchor") + holes(c, "test") + r.warnings,
                              bd_rate_by_method=dict(r.bd_rate_by_method),
                              rate_overlap=r.rate_overlap, **base))
        except bdrate.BDError as exc:
            rows.append(BDRow(bd_rate=None, bd_quality=None, overlap=None, note=str(exc), **base))
    return rows


def try_bd_table(project: Project, anchor: str | None = None, metric: str = "psnr_y",
                 method: str = "pchip") -> tuple[list[BDRow], str]:
    """``(rows, "")``, or ``([], why)`` when no table can be made (metric or anchor missing)."""
    try:
        return bd_table(project, anchor, metric, method), ""
    except UserError as exc:
        return [], str(exc)


def format_bd_table(rows: list[BDRow]) -> str:
    """Plain-text table; each row's warnings follow it on lines marked ``!``."""
    if not rows:
        return "(no other curve to compare with the anchor)"
    metric = rows[0].metric
    unit = metric_unit(metric)
    width = max(28, *(len(r.curve) for r in rows))
    head = f"{'curve':{width}s} {'BD-rate':>9s} {'BD-' + metric:>14s} {'overlap':>7s}  note"
    first = f"anchor: {rows[0].anchor}   metric: {metric}   method: {rows[0].method}"
    if lower_is_better(metric):
        first += f"   ({metric}: lower is better, so BD-{metric} < 0 means the test is better)"
    lines = [first, head, "-" * len(head)]
    for r in rows:
        rate = f"{r.bd_rate:+8.2f}%" if r.bd_rate is not None else "      n/a"
        q = f"{r.bd_quality:+10.4f} {unit}".rstrip() if r.bd_quality is not None else "n/a"
        ov = f"{r.overlap:.0%}" if r.overlap is not None else "n/a"
        n = len(r.warnings)
        flag = f"{n} warning{'s' if n > 1 else ''}" if n else ""
        lines.append(f"{r.curve:{width}s} {rate:>9s} {q:>14s} {ov:>7s}  {r.note or flag}")
        lines.extend(f"    ! {w}" for w in r.warnings)
    return "\n".join(lines)


BD_COLUMNS = ("curve", "label", "anchor", "metric", "method", "rate_unit", "bd_rate",
              "bd_quality", "overlap", "rate_overlap") + tuple(
                  f"bd_rate_{m}" for m in bdrate.METHODS) + ("warnings", "note")


def bd_csv(rows: list[BDRow]) -> str:
    """The BD table as CSV; warnings joined with " | " in one column."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(BD_COLUMNS)

    def num(v: float | None, fmt: str = ".6f") -> str:
        return "" if v is None or not math.isfinite(v) else format(v, fmt)

    for r in rows:
        w.writerow([r.curve, r.label, r.anchor, r.metric, r.method, r.rate_unit, num(r.bd_rate),
                    num(r.bd_quality), num(r.overlap, ".4f"), num(r.rate_overlap, ".4f")] +
                   [num(r.bd_rate_by_method.get(m)) for m in bdrate.METHODS] +
                   [" | ".join(r.warnings), r.note])
    return buf.getvalue()


def bd_csv_path(points_csv_path: str | os.PathLike) -> Path:
    """Companion of a points CSV: ``report.csv`` -> ``report_bd.csv``."""
    p = Path(points_csv_path)
    return p.with_name(f"{p.stem}_bd{p.suffix or '.csv'}")


# --- points CSV ----------------------------------------------------------------------------------

POINT_COLUMNS = ("id", "codec", "preset", "mode", "value", "status", "bitrate_kbps", "bytes",
                 "file_kbps", "file_bytes", "extradata_bytes", "bpp", "frames", "keyframes",
                 "encode_s", "score_s", "pix_fmt", "backend", "encoder", "encoder_version",
                 "options", "command", "frame_range", "stream", "error")
METRIC_COLUMNS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim_y", "ms_ssim", "vmaf",
                  "psnr_y_global", "psnr_u_global", "psnr_v_global", "vmaf_neg", "xpsnr_y",
                  "psnr_hvs", "ciede2000", "cambi")


def metric_columns(project: Project) -> tuple[str, ...]:
    """The standard metric columns, then any other metric some point has (sorted), so a
    metric added by a newer scorer is never dropped from an export."""
    extra = sorted({k for p in project.points.values() for k in p.metrics} - set(METRIC_COLUMNS))
    return METRIC_COLUMNS + tuple(extra)


def _cell(value: Any) -> Any:
    """CSV cell: options and ranges as compact JSON (exact, machine-readable), None empty."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=isinstance(value, dict), separators=(",", ":")) \
            if value else ""
    return value


def points_csv(project: Project) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    mcols = metric_columns(project)
    w.writerow(POINT_COLUMNS + mcols)
    for p in project.points.values():
        d = asdict(p)
        w.writerow([_cell(d.get(c)) for c in POINT_COLUMNS] +
                   [("" if p.metrics.get(m) is None else f"{p.metrics[m]:.6f}") for m in mcols])
    return buf.getvalue()


def export_csv(project: Project, path: str | os.PathLike, anchor: str | None = None,
               metric: str = "psnr_y", method: str = "pchip", bd: bool = True) -> list[Path]:
    """One row per point (failed ones too, with their error), pooled metrics as columns; with
    ``bd`` (default) the BD table too, as ``<name>_bd.csv`` beside it, when one can be made.
    Returns the files written."""
    written = [Path(path)]
    with atomic_path(path) as tmp:
        tmp.write_text(points_csv(project), encoding="utf-8")
    if bd:
        rows, err = try_bd_table(project, anchor, metric, method)
        if not err:
            written.append(bd_csv_path(path))
            with atomic_path(written[-1]) as tmp:
                tmp.write_text(bd_csv(rows), encoding="utf-8")
    return written


# --- per-frame CSV -------------------------------------------------------------------------------

FRAME_ID_COLUMNS = ("point", "codec", "preset", "mode", "value", "frame", "ref_frame")
_FRAME_FIRST = ("pict_type", "frame_bytes", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "ssim_y",
                "ms_ssim", "vmaf", "vmaf_neg", "xpsnr_y", "psnr_hvs", "ciede2000", "cambi",
                "mse_y", "mse_u", "mse_v")


def export_frames_csv(project: Project, path: str | os.PathLike) -> int:
    """Per-frame metrics: one row per finished point per frame, a column for every per-frame
    list in frames/<id>.json (columns a point lacks stay empty). ``frame`` counts the point's
    frames, ``ref_frame`` is the reference frame it was scored against. Returns the row count."""
    tables: list[tuple[Point, dict[str, list]]] = []
    names: set[str] = set()
    for p in project.points.values():
        if p.status != DONE or not p.frames_file:
            continue
        data = project.point_frames(p.id)
        if not isinstance(data, dict):
            continue
        cols = {k: v for k, v in data.items() if isinstance(v, list)}
        tables.append((p, cols))
        names.update(cols)
    order = [c for c in _FRAME_FIRST if c in names] + sorted(names - set(_FRAME_FIRST))

    def cell(v: Any) -> Any:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return ""
        return f"{v:.6f}" if isinstance(v, float) else v

    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FRAME_ID_COLUMNS + tuple(order))
        for p, cols in tables:
            first = p.frame_range[0] if p.frame_range else 0
            n = max((len(v) for v in cols.values()), default=0)
            for i in range(n):
                w.writerow([p.id, p.codec, p.preset, p.mode, f"{p.value:g}", i, first + i] +
                           [cell(cols[c][i]) if c in cols and i < len(cols[c]) else ""
                            for c in order])
                count += 1
    return count


# --- JSON ----------------------------------------------------------------------------------------

def encoder_summary(project: Project) -> dict[str, dict[str, Any]]:
    """Per codec: backend, encoder and every version string its finished points were made
    with (two versions in one project means the numbers came from different builds)."""
    out: dict[str, dict[str, Any]] = {}
    for p in project.points.values():
        if p.status != DONE:
            continue
        e = out.setdefault(p.codec, {"backends": [], "encoders": [], "versions": []})
        for key, val in (("backends", p.backend), ("encoders", p.encoder),
                         ("versions", p.encoder_version)):
            if val and val not in e[key]:
                e[key].append(val)
    return out


def _bd_block(project: Project, anchor: str | None, metric: str, method: str) -> dict:
    rows, err = try_bd_table(project, anchor, metric, method)
    block: dict[str, Any] = {"metric": metric, "method": method,
                             "anchor": rows[0].anchor if rows else anchor,
                             "lower_is_better": lower_is_better(metric),
                             "rows": [asdict(r) for r in rows]}
    if err:
        block["error"] = err
    return block


def _vmaf_models() -> dict[str, str]:
    """Which VMAF model each VMAF column came from (a report without it is ambiguous)."""
    try:
        from studio.codec import ffmetrics
        return dict(ffmetrics.model_names())
    except (ImportError, AttributeError):
        return {}


def export_json(project: Project, path: str | os.PathLike, anchor: str | None = None,
                metric: str = "psnr_y", method: str = "pchip", bd: bool = True) -> None:
    """Points (each with encoder, version, exact options and command line), curves, and by
    default the BD table against ``anchor`` (default: the first codec) for ``metric`` as
    ``bd``, plus one per other metric the project has in ``bd_by_metric``. A BD table that
    cannot be made leaves its reason in ``bd_error`` instead of failing the export."""
    data: dict[str, Any] = {
        "clip": clip_name(project),
        "source": project.source,
        "reference": project.reference.to_dict() if project.reference else None,
        "notes": project.notes,
        "encoders": encoder_summary(project),
        "points": [asdict(p) for p in project.points.values()],
        "curves": [{"key": c.key, "label": c.label, "codec": c.codec, "preset": c.preset,
                    "mode": c.mode, "points": [p.id for p in c.points]}
                   for c in project.curves()],
    }
    have = {k for p in project.done_points() for k in p.metrics}
    models = _vmaf_models()
    if models and have & set(models):
        data["vmaf_models"] = {k: v for k, v in models.items() if k in have}
    if bd:
        main = _bd_block(project, anchor, metric, method)
        data["bd"] = main["rows"]
        data["bd_anchor"], data["bd_metric"], data["bd_method"] = main["anchor"], metric, method
        if "error" in main:
            data["bd_error"] = main["error"]
        data["bd_by_metric"] = {m: _bd_block(project, anchor, m, method)
                                for m in BD_METRICS if m in have}
    write_json(path, data)


# --- SVG chart -----------------------------------------------------------------------------------

# One colour per codec family, the same in every chart (x264-intra is drawn like x264, its
# presets told apart by dashes); families not listed take the unused colours in turn.
FAMILY_COLOURS = {"x264": "#1f77b4", "x265": "#d62728", "av1": "#2ca02c", "vp9": "#9467bd",
                  "vvc": "#ff7f0e", "aom": "#17becf", "rav1e": "#8c564b", "jpeg": "#e377c2",
                  "webp": "#7f7f7f", "avif": "#bcbd22", "jxl": "#393b79", "j2k": "#ad494a"}
_SPARE = ("#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1")
_DASHES = ("", "7,3", "2,3", "9,3,2,3", "4,4")


def codec_family(codec: str) -> str:
    spec = encoders.CODECS.get(codec)
    return getattr(spec, "family", None) or codec.replace("-intra", "")


def curve_styles(curves: list[Curve]) -> list[tuple[str, str]]:
    """(colour, dash pattern) per curve: colour by codec family, dash by order in the family."""
    colours: dict[str, str] = {}
    count: dict[str, int] = {}
    out = []
    for c in curves:
        fam = codec_family(c.codec)
        if fam not in colours:
            unknown = sum(1 for f in colours if f not in FAMILY_COLOURS)
            colours[fam] = FAMILY_COLOURS.get(fam) or _SPARE[unknown % len(_SPARE)]
        k = count.get(fam, 0)
        count[fam] = k + 1
        out.append((colours[fam], _DASHES[k % len(_DASHES)]))
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _setting(p: Point) -> str:
    """The rate setting of a point in the encoder's own words ("CRF 32", "q 4", "800 kbps")."""
    if p.mode == "bitrate":
        return f"{p.value:g} kbps"
    spec = encoders.CODECS.get(p.codec)
    return f"{getattr(spec, 'value_name', '') or p.mode.upper()} {p.value:g}"


def rd_svg(project: Project, metric: str = "psnr_y", width: int = 720, height: int = 480,
           log_rate: bool = True) -> str:
    """Rate-distortion chart as an SVG document: the clip's name in the title, bitrate (or bits
    per pixel when every curve is a still image) on a log axis, the legend right of the plot."""
    curves = project.curves(metric)
    axis = rate_axis(curves)
    pts = [(point_rate(p, axis), p.metrics[metric]) for c in curves for p in c.points
           if point_rate(p, axis) > 0 or not log_rate]
    ylabel = METRIC_LABELS.get(metric, metric)
    xname = "bits per pixel" if axis == "bpp" else "bitrate"
    log_note = ", log scale" if log_rate else ""
    xlabel = (f"bits per pixel ({log_note[2:]})" if log_note else "bits per pixel") \
        if axis == "bpp" else f"bitrate (kbit/s{log_note})"
    title = f"{clip_name(project)}: {ylabel} against {xname}"
    labels = [c.label for c in curves]
    legend_w = int(44 + 7 * max((len(s) for s in labels), default=10))
    ml, mr, mt, mb = 70, max(150, legend_w), 40, 50
    pw, ph = width - ml - 190, height - mt - mb
    width = ml + pw + mr
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<title>{escape(title)}</title>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{ml}" y="{mt - 14}" font-size="14" font-weight="bold">{escape(title)}</text>']
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
        if len(xt) < 3:   # a narrow range: plain steps of the value, still placed on log
            xt = [math.log10(v) for v in _ticks(10 ** x0, 10 ** x1) if v > 0]
    else:
        xt = _ticks(x0, x1)
    for t in xt:
        val = 10 ** t if log_rate else t
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{mt}" y2="{mt + ph}" '
                   f'stroke="#eee"/><text x="{sx(t):.1f}" y="{mt + ph + 16}" '
                   f'text-anchor="middle">{float(f"{val:.3g}"):g}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 10}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(16 {mt + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(ylabel)}</text>')
    unit = "bpp" if axis == "bpp" else "kbps"
    for i, (c, (col, dash)) in enumerate(zip(curves, curve_styles(curves))):
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        shown = [p for p in c.points if point_rate(p, axis) > 0 or not log_rate]
        coords = " ".join(f"{sx(fx(point_rate(p, axis))):.1f},{sy(p.metrics[metric]):.1f}"
                          for p in shown)
        out.append(f'<polyline points="{coords}" fill="none" stroke="{col}" stroke-width="2"'
                   f'{dash_attr}/>')
        for p in shown:
            r = point_rate(p, axis)
            out.append(f'<circle cx="{sx(fx(r)):.1f}" cy="{sy(p.metrics[metric]):.1f}" r="3" '
                       f'fill="{col}"><title>{escape(c.label)}, {escape(_setting(p))}: '
                       f'{r:.4g} {unit}, {p.metrics[metric]:.4f}</title></circle>')
        ly = mt + 14 + 18 * i
        out.append(f'<line x1="{ml + pw + 12}" x2="{ml + pw + 36}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{col}" stroke-width="2"{dash_attr}/><text x="{ml + pw + 42}" '
                   f'y="{ly}">{escape(c.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def export_svg(project: Project, path: str | os.PathLike, metric: str = "psnr_y") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(rd_svg(project, metric), encoding="utf-8")
