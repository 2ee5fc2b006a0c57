"""`studio codec ...`: sweeps, BD-rate tables and exports from the command line.

    studio codec sweep INPUT --codecs x264,x265,av1,vp9 --points 5 --out REPORT_DIR
    studio codec bdrate REPORT_DIR --anchor x264 [--metric psnr_y] [--method pchip]
    studio codec export REPORT_DIR [--csv F] [--json F] [--svg F] [--metric psnr_y]

``register(subparsers)`` adds the ``codec`` command to the app's argparse tree; each action
sets ``func(args) -> int`` (the exit status). Exit status of ``sweep``: 0 all points done,
3 some points failed (listed), 1 the sweep failed, 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.codec import encoders, report
from studio.codec.project import Project
from studio.codec.sweep import SweepSpec, sweep_job
from studio.jobs import Job, JobResult, JobStatus, UserError


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_presets(items: list[str], codecs: list[str]) -> dict[str, list[str]]:
    """``--preset`` values: ``codec=p1,p2`` for one codec, or a bare ``p1,p2`` for every
    chosen codec that knows those preset names (x264/x265 share names; av1/vp9 use numbers)."""
    out: dict[str, list[str]] = {}
    for item in items:
        if "=" in item:
            codec, _, val = item.partition("=")
            out[codec.strip()] = _split(val)
            continue
        names = _split(item)
        hit = False
        for c in codecs:
            spec = encoders.CODECS.get(c)
            if spec and all(n in spec.presets for n in names):
                out.setdefault(c, names)
                hit = True
        if not hit:
            raise UserError(f"preset {item!r} is not valid for any of {', '.join(codecs)}; use "
                            f"codec=preset (e.g. x264=fast, av1=8)")
    return out


def parse_values(items: list[str]) -> dict[str, list[float]]:
    """``--values 22,27,32,37`` for all codecs, or ``codec=...`` for one."""
    out: dict[str, list[float]] = {}
    for item in items:
        codec, _, val = item.rpartition("=")
        try:
            out[codec.strip() or "*"] = [float(v) for v in _split(val)]
        except ValueError:
            raise UserError(f"--values {item!r}: expected numbers separated by commas") from None
    return out


def _run(job: Job) -> JobResult:
    from studio.cli_progress import run_job_cli  # progress bar; Ctrl-C cancels; prints errors

    return run_job_cli(job)


def _write_reports(proj: Project, out: Path, metric: str) -> list[Path]:
    files = [out / "report.csv", out / f"rd_{metric}.svg"]
    report.export_csv(proj, files[0])
    report.export_svg(proj, files[1], metric)
    return files


def cmd_sweep(args: argparse.Namespace) -> int:
    codecs = _split(args.codecs)
    try:
        spec = SweepSpec(
            input=args.input, codecs=codecs, points=args.points, mode=args.mode,
            presets=parse_presets(args.preset or [], codecs),
            values=parse_values(args.values or []), max_frames=args.frames or None,
            max_seconds=args.seconds, workers=args.workers, ms_ssim=not args.no_ms_ssim,
            vmaf=args.vmaf)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    result = _run(sweep_job(spec, out))
    if result.status is JobStatus.CANCELLED:   # run_job_cli already printed the error
        print(f"finished points are kept in {out}", file=sys.stderr)
        return 130
    if not result.ok:
        return 1
    summary = result.value
    proj = Project.load(out)
    try:
        files = _write_reports(proj, out, args.metric)
        print(f"{len(summary.done)} points encoded, {len(summary.skipped)} already done, "
              f"{len(summary.failed)} failed, in {summary.seconds:.1f} s")
        for note in summary.notes:
            print(f"note: {note}")
        for pid, err in summary.failed.items():
            print(f"failed: {pid}: {err}")
        print("wrote " + ", ".join(str(f) for f in files))
        anchor = args.anchor or codecs[0]
        curves = proj.curves(args.metric)
        if len(curves) > 1 and any(c.codec == anchor or c.key == anchor for c in curves):
            print(report.format_bd_table(report.bd_table(proj, anchor, args.metric)))
    finally:
        proj.close()
    return 3 if summary.failed else 0


def cmd_bdrate(args: argparse.Namespace) -> int:
    try:
        proj = Project.load(args.report_dir)
        rows = report.bd_table(proj, args.anchor, args.metric, args.method)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.format_bd_table(rows))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        proj = Project.load(args.report_dir)
        written = []
        if args.csv:
            report.export_csv(proj, args.csv)
            written.append(args.csv)
        if args.json:
            report.export_json(proj, args.json, args.anchor, args.metric)
            written.append(args.json)
        if args.svg:
            report.export_svg(proj, args.svg, args.metric)
            written.append(args.svg)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("wrote " + (", ".join(written) if written else "nothing (give --csv, --json or --svg)"))
    return 0


METRIC_CHOICES = ("psnr_y", "psnr_yuv", "ssim_y", "ssim_y_db", "ms_ssim", "vmaf")


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``codec`` command (with sweep / bdrate / export actions) to ``subparsers``."""
    p = subparsers.add_parser("codec", help="codec workbench: encoder sweeps and BD-rate",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="codec_action", metavar="ACTION")
    sub.required = True

    s = sub.add_parser("sweep", help="encode a rate ladder per codec and score it")
    s.add_argument("input", help="source video (any container PyAV reads)")
    s.add_argument("--codecs", default="x264,x265,av1,vp9",
                   help=f"comma list from: {', '.join(encoders.CODECS)} (default %(default)s)")
    s.add_argument("--points", type=int, default=5, help="rate points per codec (default 5)")
    s.add_argument("--out", required=True, help="project/report folder (reused to extend it)")
    s.add_argument("--mode", choices=encoders.RATE_MODES, default="crf",
                   help="crf: CRF/QP ladder; bitrate: target-kbps ladder (default crf)")
    s.add_argument("--preset", action="append", metavar="[CODEC=]P1,P2",
                   help="presets to sweep; repeatable (default: each codec's default)")
    s.add_argument("--values", action="append", metavar="[CODEC=]V1,V2",
                   help="explicit CRF or kbps values instead of the default ladder")
    s.add_argument("--frames", type=int, default=60, help="max frames (default 60; 0: all)")
    s.add_argument("--seconds", type=float, default=None, help="max duration in seconds")
    s.add_argument("--workers", type=int, default=None,
                   help="parallel encodes (default min(2, CPUs); 0: no worker processes)")
    s.add_argument("--no-ms-ssim", action="store_true", help="skip MS-SSIM (the slowest metric)")
    s.add_argument("--vmaf", action="store_true", help="add VMAF when imageio-ffmpeg is present")
    s.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y",
                   help="metric for the chart and BD table (default psnr_y)")
    s.add_argument("--anchor", default=None, help="BD anchor (default: the first codec)")
    s.set_defaults(func=cmd_sweep)

    b = sub.add_parser("bdrate", help="BD-rate / BD-quality table of a finished sweep")
    b.add_argument("report_dir")
    b.add_argument("--anchor", default="x264", help="codec or codec/preset/mode (default x264)")
    b.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y")
    b.add_argument("--method", choices=("pchip", "akima", "cubic"), default="pchip")
    b.set_defaults(func=cmd_bdrate)

    e = sub.add_parser("export", help="export a sweep as CSV, JSON and/or an SVG chart")
    e.add_argument("report_dir")
    e.add_argument("--csv")
    e.add_argument("--json")
    e.add_argument("--svg")
    e.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y")
    e.add_argument("--anchor", default=None, help="include a BD table in the JSON")
    e.set_defaults(func=cmd_export)
    return p
