"""`studio codec ...`: sweeps, BD-rate tables and exports from the command line.

    studio codec sweep INPUT --codecs x264,x265,av1,vp9 --points 5 --out REPORT_DIR
    studio codec bdrate REPORT_DIR [--anchor x264] [--metric psnr_y] [--method pchip]
    studio codec export REPORT_DIR [--csv F] [--json F] [--svg F] [--frames-csv F] [--metric M]
    studio codec score REPORT_DIR --metrics vmaf,xpsnr [--force]
    studio codec encode INPUT --codec learned|FOLDER|NAME --quality Q [--temporal] --out F.nlc
    studio codec decode FILE.nlc --out OUT.png|OUT.mp4

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


def _write_reports(proj: Project, out: Path, metric: str, anchor: str | None = None) -> list[Path]:
    files = report.export_csv(proj, out / "report.csv", anchor=anchor, metric=metric)
    report.export_frames_csv(proj, out / "frames.csv")
    report.export_svg(proj, out / f"rd_{metric}.svg", metric)
    return [*files, out / "frames.csv", out / f"rd_{metric}.svg"]


def resolve_codecs(text: str, project: str | Path | None = None) -> list[str]:
    """``--codecs`` -> codec keys: built-in keys, and users' learned codecs given as a folder
    of rate points or a name under <user data>/codecs/ (key ``learned:<folder name>``). A
    project being extended first registers the users' codecs it already compares."""
    if project is not None and Project.exists(project):
        Project.load(project).close()
    return list(dict.fromkeys(encoders.resolve_codec(c) for c in _split(text)))


def cmd_sweep(args: argparse.Namespace) -> int:
    try:
        codecs = resolve_codecs(args.codecs, args.out)
        spec = SweepSpec(
            input=args.input, codecs=codecs, points=args.points, mode=args.mode,
            presets=parse_presets(args.preset or [], codecs),
            values=parse_values(args.values or []), max_frames=args.frames or None,
            max_seconds=args.seconds, workers=args.workers, ms_ssim=not args.no_ms_ssim,
            vmaf=not args.no_vmaf, extra_metrics=_split(args.metrics or ""),
            ladder=args.ladder, target=args.target, cluster=args.cluster)
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
        files = _write_reports(proj, out, args.metric, args.anchor)
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


def parse_budget(text: str | None) -> tuple[float | None, float | None]:
    """``--decoder-budget 60fps`` (the slowest decode allowed), ``20kmac`` (the most a learned
    decoder may cost per pixel), or both comma-separated -> (min fps, max kMAC/pixel)."""
    fps = kmac = None
    for part in filter(None, (p.strip().lower() for p in (text or "").split(","))):
        unit = "kmac" if part.endswith("kmac") else "fps"
        num = part.removesuffix("kmac").removesuffix("fps").strip()
        try:
            v = float(num)
        except ValueError:
            raise UserError(f"--decoder-budget {text!r}: give e.g. 60fps, 20kmac or "
                            f"60fps,20kmac") from None
        if v <= 0:
            raise UserError("--decoder-budget values must be positive")
        if unit == "kmac":
            kmac = v
        else:
            fps = v
    return fps, kmac


def cmd_optimise(args: argparse.Namespace) -> int:
    """Per-shot optimisation: exit 0 done, 1 failed, 130 cancelled."""
    from studio.codec.pershot import OptimiseSpec, optimise_job

    try:
        codecs = resolve_codecs(args.codecs, args.out)
        spec = OptimiseSpec(
            input=args.input, target_kbps=args.target_kbps, codecs=codecs,
            presets=parse_presets(args.preset or [], codecs), values=parse_values(args.values or []),
            points=args.points, max_frames=args.frames or None, max_seconds=args.seconds,
            detector=args.detector, min_decode_fps=parse_budget(args.decoder_budget)[0],
            max_kmac_per_pixel=parse_budget(args.decoder_budget)[1],
            curve=not args.no_curve, workers=args.workers, cluster=args.cluster,
            vmaf=args.vmaf, mixed=args.mixed)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = _run(optimise_job(spec, args.out))
    if result.status is JobStatus.CANCELLED:
        print(f"finished encodes are kept in {args.out}", file=sys.stderr)
        return 130
    if not result.ok:
        return 1
    s = result.value
    proj = Project.load(args.out)
    try:
        print(f"{len(s.shots)} shots: " + ", ".join(f"{a}-{b - 1}" for a, b in s.shots))
        for pid, parts in s.chosen.items():
            p = proj.point(pid)
            if abs(p.value - args.target_kbps) > 0.05:
                continue
            print(f"{pid}: {p.bitrate_kbps:.1f} kbit/s (target {p.value:g}), PSNR-Y "
                  f"{p.metrics.get('psnr_y', float('nan')):.2f} dB (MSE-pooled "
                  f"{p.metrics.get('psnr_y_global', float('nan')):.2f}), decodes at "
                  f"{p.decode_fps:.0f} fps; {p.stream}")
            for k, sh in enumerate(p.shots):
                what = " ".join(x for x in (sh.get("codec", "") if p.codec == "mixed" else "",
                                            sh["preset"], f"{sh['value']:g}") if x)
                print(f"  shot {k} frames {sh['frames'][0]}-{sh['frames'][1] - 1}: "
                      f"{what} ({sh['kbps']:.1f} kbit/s alone)")
            if p.report:
                print(f"  report: {Path(args.out) / p.report} (and .csv, .html)")
        if s.removed_by_budget:
            print(f"decoder budget: {len(s.removed_by_budget)} candidates removed (never chosen; "
                  f"project.json: decoder_budget.removed, point.over_budget):")
            for pid, why in s.budget_reasons.items():
                print(f"  {pid}: {why}")
        for note in s.notes:
            print(f"note: {note}")
        files = _write_reports(proj, Path(args.out), "psnr_y_global", None)
        print("wrote " + ", ".join(str(f) for f in files))
        for c in codecs:
            key = next((cv.key for cv in proj.curves("psnr_y_global")
                        if cv.codec == c and cv.mode == "crf"), None)
            if key:   # per-shot and ABR of this codec against its fixed CRF ladder
                rows = [r for r in report.bd_table(proj, key, "psnr_y_global")
                        if r.curve.split("/")[0] in (c, "mixed")]
                print(report.format_bd_table(rows))
    finally:
        proj.close()
    return 0


def cmd_encoders(args: argparse.Namespace) -> int:
    """List every codec and FFmpeg-executable metric with its state on this machine."""
    from studio.codec import ffmetrics, ffmpeg_tool
    from studio.codec.encoders.pyav_backend import pyav_version

    caps = ffmpeg_tool.capabilities()
    print(f"PyAV backend:   {pyav_version()}")
    print("FFmpeg backend: " + (f"{caps.exe} (FFmpeg {caps.version})" if caps.ok
                                 else f"unavailable: {caps.problem}"))
    print()
    print(f"{'codec':12s} {'backend':8s} {'encoder':12s} {'kind':6s} {'quality':9s} state")
    for key, spec in encoders.CODECS.items():
        ok, why = encoders.encoder_for(spec).available(spec)
        kind = "image" if spec.image else ("intra" if spec.intra else "video")
        print(f"{key:12s} {spec.backend:8s} {spec.encoder:12s} {kind:6s} {spec.value_name:9s} "
              f"{'ok' if ok else 'missing: ' + why}")
    named = encoders.user_codecs_dir()
    for folder in sorted(named.iterdir()) if named.is_dir() else []:
        key = f"learned:{folder.name}"
        try:
            spec = encoders.codec_spec(encoders.resolve_codec(str(folder)))
            state = f"ok ({spec.label}, quality {min(spec.value_range):g}-"\
                    f"{max(spec.value_range):g})"
        except UserError as exc:
            state = f"missing: {str(exc).removeprefix(f'--codecs {folder}: ')}"
        print(f"{key:12s} {'learned':8s} {'(yours)':12s} {'image':6s} {'quality':9s} {state}")
    print()
    for name, (ok, why) in ffmetrics.available_metrics().items():
        print(f"metric {name:10s} {'ok' if ok else 'missing: ' + why}")
    return 0


def cmd_bdrate(args: argparse.Namespace) -> int:
    try:
        proj = Project.load(args.report_dir)
        rows = report.bd_table(proj, args.anchor, args.metric, args.method)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.format_bd_table(rows))
    flagged = sum(1 for r in rows if r.warnings)
    if flagged:
        print(f"warning: {flagged} of {len(rows)} rows deserve less trust (lines marked !)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """CSV (+ companion BD CSV), JSON (with the BD table), SVG, per-frame CSV. A BD table
    that cannot be made (metric or anchor missing) is reported; the other files are written,
    and the exit status is 1 only when the anchor was asked for explicitly."""
    bd = not args.no_bd
    try:
        proj = Project.load(args.report_dir)
        bd_error = ""
        if bd and (args.csv or args.json):
            _rows, bd_error = report.try_bd_table(proj, args.anchor, args.metric, args.method)
        written: list[str] = []
        if args.csv:
            written += [str(f) for f in report.export_csv(proj, args.csv, args.anchor,
                                                         args.metric, args.method, bd=bd)]
        if args.json:
            report.export_json(proj, args.json, args.anchor, args.metric, args.method, bd=bd)
            written.append(args.json)
        if args.svg:
            report.export_svg(proj, args.svg, args.metric)
            written.append(args.svg)
        if args.frames_csv:
            report.export_frames_csv(proj, args.frames_csv)
            written.append(args.frames_csv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("wrote " + (", ".join(written) if written else
                      "nothing (give --csv, --json, --svg or --frames-csv)"))
    if bd_error:
        print(f"{'error' if args.anchor else 'warning'}: no BD table: {bd_error}", file=sys.stderr)
        return 1 if args.anchor else 0
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Add metrics to a finished project without re-encoding. Exit status: 0 every point
    scored (or already had them), 1 an error or a failed point, 130 cancelled."""
    from studio.codec.score import parse_metrics, rescore_job

    try:
        wanted = parse_metrics(_split(args.metrics))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    result = _run(rescore_job(args.report_dir, wanted, workers=args.workers, force=args.force))
    if result.status is JobStatus.CANCELLED:   # run_job_cli already printed the error
        print(f"points scored before the cancel are kept in {args.report_dir}", file=sys.stderr)
        return 130
    if not result.ok:
        return 1
    s = result.value
    print(f"{len(s.done)} points scored with {', '.join(s.metrics)}, {len(s.skipped)} already "
          f"had them, {len(s.failed)} failed, in {s.seconds:.1f} s")
    for note in s.notes:
        print(f"note: {note}")
    for pid, err in s.failed.items():
        print(f"failed: {pid}: {err}", file=sys.stderr)
    return 1 if s.failed else 0


def _learned_family(codec: str) -> str:
    """``--codec`` of encode/decode -> 'learned' (shipped) or a model folder: a learned codec's
    key or name (``learned:NAME``, or NAME under <user data>/codecs/), a family folder, or a
    single rate point's folder."""
    if codec in ("learned", "learned_codec"):
        return "learned"
    p = Path(codec).expanduser()
    if p.is_dir() and (p / "codec.json").is_file():   # a single rate point
        return str(p)
    try:
        spec = encoders.codec_spec(encoders.resolve_codec(codec))
    except UserError as exc:
        raise UserError(f"--codec {codec}: {str(exc).removeprefix(f'--codecs {codec}: ')}") \
            from None
    if spec.backend != "learned":
        raise UserError(f"--codec {codec!r}: not a learned codec; give 'learned', a learned "
                        f"codec's folder or its name")
    return spec.encoder if encoders.is_user_learned(spec) else "learned"


def _frame_total(path: str, limit: int | None) -> int:
    """Frames an encode will read (for its progress bar): 1 for an image, else the video's
    count or estimate (0 where unknown: the bar then shows the count only)."""
    from studio.codec.learned.io import IMAGE_EXTS

    if Path(path).suffix.lower() in IMAGE_EXTS or not Path(path).exists():
        return 1
    from studio.media import video_io

    n = video_io.probe(path).frames or 0
    return min(n, limit) if limit and n else (limit or n)


def _finish(result: JobResult) -> int:
    """Exit status of an encode/decode job (run_job_cli has printed any error)."""
    return 0 if result.ok else 130 if result.status is JobStatus.CANCELLED else 1


def cmd_encode(args: argparse.Namespace) -> int:
    """Code an image (or every frame of a video) with the learned codec into one .nlc file:
    a job with a progress bar; Ctrl-C cancels and leaves no file."""
    from studio.codec import learned
    from studio.codec.learned.io import read_pictures

    try:
        model = learned.resolve_model(_learned_family(args.codec), args.quality)
        total = _frame_total(args.input, args.frames or None)
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    def work(ctx):
        def on_frame(i: int) -> None:
            ctx.progress(i, max(total, i), f"frame {i}" + (f"/{total}" if total else ""))
        try:
            bs = learned.encode_pictures(model, read_pictures(args.input, args.frames or None),
                                         on_frame=on_frame, temporal=args.temporal,
                                         gop=args.gop)
        except ValueError as exc:   # e.g. a clip whose picture size changes
            raise UserError(f"{args.input}: {exc}") from None
        ctx.check()
        return bs, bs.write(args.out)

    result = _run(Job(f"encode {Path(args.input).name}", work))
    if not result.ok:
        return _finish(result)
    bs, size = result.value
    n = len(bs.payloads)
    if bs.temporal:
        from studio.codec.learned.temporal import frame_type
        kinds = "".join(frame_type(p) for p in bs.payloads)
        print(f"temporal: {kinds.count('I')} I-frame(s), {kinds.count('P')} P-frame(s), "
              f"{kinds.count('D')} D-frame(s)")
    print(f"wrote {args.out}: {n} frame(s) {bs.width}x{bs.height}, {size} bytes, "
          f"{8.0 * size / (bs.width * bs.height * n):.4f} bpp ({model.name}, model id "
          f"{model.id_hex})")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode an .nlc file to PNG (one frame: OUT.png; more: OUT_00000.png...) or MP4: a job
    with a progress bar; a failed or cancelled decode leaves no output behind."""
    from studio.codec import learned
    from studio.codec.learned.io import write_pictures

    try:
        extra = [_learned_family(args.codec)] if args.codec else []
        bs, model, pictures = learned.iter_decode(args.input, [e for e in extra
                                                               if e != "learned"])
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n = len(bs.payloads)

    def work(ctx):
        def counted():
            for i, rgb in enumerate(pictures, 1):
                yield rgb
                ctx.progress(i, n, f"frame {i}/{n}")
        try:
            return write_pictures(args.out, counted(), n, args.fps)
        except ValueError as exc:   # a damaged frame (the entropy decoder's own check)
            raise UserError(str(exc)) from None

    result = _run(Job(f"decode {Path(args.input).name}", work))
    if not result.ok:
        return _finish(result)
    written = result.value
    print(f"decoded {n} frame(s) {bs.width}x{bs.height} with {model.name} -> "
          + ", ".join(str(w) for w in written[:3]) + (" ..." if len(written) > 3 else ""))
    return 0


METRIC_CHOICES = report.BD_METRICS   # psnr_y ... psnr_y_global (MSE-pooled) ... cambi


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``codec`` command (with sweep / bdrate / export actions) to ``subparsers``."""
    p = subparsers.add_parser("codec", help="codec workbench: encoder sweeps and BD-rate",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="codec_action", metavar="ACTION")
    sub.required = True

    o = sub.add_parser("optimise", aliases=["optimize"],
                       help="per-shot encoding (Dynamic Optimizer) at a target bitrate, with "
                            "decoder budgets, against fixed encoding of the whole clip")
    o.add_argument("input", help="source video")
    o.add_argument("--target-kbps", type=float, required=True, help="target average bitrate")
    o.add_argument("--codecs", default="x264",
                   help="codecs, as for sweep (a learned codec's folder too; default "
                        "%(default)s)")
    o.add_argument("--out", required=True, help="project folder (the workbench opens it)")
    o.add_argument("--preset", action="append", metavar="[CODEC=]P1,P2",
                   help="presets to consider per shot; repeatable")
    o.add_argument("--values", action="append", metavar="[CODEC=]V1,V2",
                   help="CRF/QP values per shot (default: --points over the codec's range)")
    o.add_argument("--points", type=int, default=6, help="ladder values per shot (default 6)")
    o.add_argument("--frames", type=int, default=120, help="max frames (default 120; 0: all)")
    o.add_argument("--seconds", type=float, default=None, help="max duration in seconds")
    o.add_argument("--detector", choices=("content", "adaptive"), default="content",
                   help="PySceneDetect detector (default content)")
    o.add_argument("--decoder-budget", default=None, metavar="60fps|20kmac",
                   help="minimum decode speed at the clip's size (e.g. 60fps) and/or the most "
                        "a learned decoder may cost (e.g. 20kmac per pixel): candidates that "
                        "break it are never chosen")
    mx = o.add_mutually_exclusive_group()
    mx.add_argument("--mixed", dest="mixed", action="store_true", default=None,
                    help="also choose across codecs per shot (the default with two or more "
                         "codecs): one segment file per shot and a report, scored on the "
                         "whole clip")
    mx.add_argument("--no-mixed", dest="mixed", action="store_false",
                    help="optimise each codec on its own only")
    o.add_argument("--no-curve", action="store_true",
                   help="optimise at the target only (no per-shot RD curve for BD-rate)")
    o.add_argument("--workers", type=int, default=None)
    o.add_argument("--cluster", default=None, metavar="local:N|tcp://HOST:PORT")
    o.add_argument("--vmaf", action="store_true", help="also VMAF for every encode")
    o.set_defaults(func=cmd_optimise)

    c = sub.add_parser("encoders", help="what this machine can encode and measure, and why "
                                        "something is missing")
    c.set_defaults(func=cmd_encoders)

    s = sub.add_parser("sweep", help="encode a rate ladder per codec and score it")
    s.add_argument("input", help="source video (any container PyAV reads)")
    s.add_argument("--codecs", default="x264,x265,av1,vp9",
                   help=f"comma list from: {', '.join(encoders.CODECS)}, or a user's learned "
                        f"codec: its folder of rate points (q1..qN, as models/learned_codec) or "
                        f"its name under <user data>/codecs/, keyed learned:<folder name> "
                        f"(default %(default)s)")
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
    s.add_argument("--ladder", choices=("fixed", "adaptive"), default="fixed",
                   help="fixed: each codec's default CRF/QP range; adaptive: probe the clip and "
                        "spread the points evenly over --target (default fixed)")
    s.add_argument("--target", default="psnr_y:30-45", metavar="METRIC:LOW-HIGH",
                   help="quality span of the adaptive ladder: psnr_y:30-45 or vmaf:60-97 "
                        "(default %(default)s)")
    s.add_argument("--no-ms-ssim", action="store_true", help="skip MS-SSIM (the slowest metric)")
    s.add_argument("--no-vmaf", action="store_true",
                   help="skip VMAF (computed by default where the FFmpeg executable has libvmaf)")
    s.add_argument("--vmaf", action="store_true", help=argparse.SUPPRESS)  # the old opt-in
    s.add_argument("--cluster", default=None, metavar="local:N|tcp://HOST:PORT",
                   help="run each encode as a task on a Dask cluster (a local one of N worker "
                        "processes, or a scheduler you started); default: local processes")
    s.add_argument("--metrics", default="", metavar="M1,M2",
                   help="more metrics from the FFmpeg executable: vmaf_neg, xpsnr_y, psnr_hvs, "
                        "ciede2000, cambi")
    s.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y",
                   help="metric for the chart and BD table (default psnr_y)")
    s.add_argument("--anchor", default=None, help="BD anchor (default: the first codec)")
    s.set_defaults(func=cmd_sweep)

    b = sub.add_parser("bdrate", help="BD-rate / BD-quality table of a finished sweep")
    b.add_argument("report_dir")
    b.add_argument("--anchor", default=None,
                   help="codec or codec/preset/mode (default: the first codec)")
    b.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y",
                   help="psnr_y_global: PSNR-Y pooled over the clip's MSE, like FFmpeg's "
                        "average; cambi is lower-is-better and compared as such")
    b.add_argument("--method", choices=("pchip", "akima", "cubic"), default="pchip",
                   help="interpolation (default pchip); the others are computed as a "
                        "cross-check and a disagreement is a warning")
    b.set_defaults(func=cmd_bdrate)

    e = sub.add_parser("export", help="export a sweep as CSV, JSON and/or an SVG chart")
    e.add_argument("report_dir")
    e.add_argument("--csv", help="one row per point; the BD table goes beside it as *_bd.csv")
    e.add_argument("--json", help="points, curves, encoder versions and options, BD tables")
    e.add_argument("--svg", help="rate-distortion chart")
    e.add_argument("--frames-csv", metavar="F",
                   help="per-frame metrics: one row per point per frame")
    e.add_argument("--metric", choices=METRIC_CHOICES, default="psnr_y")
    e.add_argument("--anchor", default=None, help="BD anchor (default: the first codec)")
    e.add_argument("--method", choices=("pchip", "akima", "cubic"), default="pchip")
    e.add_argument("--no-bd", action="store_true", help="leave the BD table out")
    e.set_defaults(func=cmd_export)

    r = sub.add_parser("score", help="add metrics (VMAF, XPSNR...) to a finished sweep, "
                                     "without re-encoding")
    r.add_argument("report_dir")
    r.add_argument("--metrics", required=True, metavar="M1,M2",
                   help="comma list from: psnr_y, ssim_y, ms_ssim, vmaf, vmaf_neg, xpsnr_y "
                        "(or xpsnr), psnr_hvs, ciede2000, cambi")
    r.add_argument("--force", action="store_true",
                   help="score points again even if they already have these metrics")
    r.add_argument("--workers", type=int, default=None,
                   help="points scored in parallel (default min(2, CPUs); 0: one at a time)")
    r.set_defaults(func=cmd_score)

    en = sub.add_parser("encode", help="code an image or clip with the learned codec (.nlc)")
    en.add_argument("input", help="image (PNG, JPEG...) or video")
    en.add_argument("--codec", default="learned",
                    help="'learned' (shipped), a learned codec's folder (rate points q1..qN, "
                         "or one rate point) or its name under <user data>/codecs/ (default "
                         "learned)")
    en.add_argument("--quality", type=int, default=2, help="rate point 1..N, 1 = lowest rate")
    en.add_argument("--frames", type=int, default=0, help="max video frames (default 0: all)")
    en.add_argument("--temporal", action="store_true",
                    help="video: P-frames code the residual against the previous decoded "
                         "frame (I-frames at the start, every --gop frames and at cuts)")
    en.add_argument("--gop", type=int, default=50,
                    help="with --temporal: an I-frame every N frames (0: only the first and "
                         "scene cuts; default 50)")
    en.add_argument("--out", required=True, help="bitstream to write (.nlc)")
    en.set_defaults(func=cmd_encode)

    de = sub.add_parser("decode", help="decode a learned-codec bitstream to PNG or MP4")
    de.add_argument("input", help="an .nlc bitstream")
    de.add_argument("--out", required=True, help="OUT.png or OUT.mp4")
    de.add_argument("--codec", default=None,
                    help="a learned codec (folder or name) to look in besides the shipped "
                         "one")
    de.add_argument("--fps", type=int, default=25, help="frame rate of an MP4 (default 25)")
    de.set_defaults(func=cmd_decode)
    return p
