"""Re-score a finished codec project with more metrics, without re-encoding anything.

A sweep stores every encoded stream, so adding VMAF or XPSNR later only needs each stream
decoded again and scored against the stored reference. For every finished point this job
decodes the stream to a temporary Y4M file (in the project folder, so a 1080p clip does not
fill a small /tmp), runs :func:`studio.codec.ffmetrics.compute` once for all requested FFmpeg
metrics, and, for our own metrics (PSNR, SSIM, MS-SSIM), scores the decoded frames while
they are written. The new per-frame columns are merged into ``frames/<id>.json`` and the pooled
values into the point; ``project.json`` is saved (atomically) after every point, so a cancel
or a crash keeps what was finished. Points that already have every requested metric are
skipped unless ``force``.

The decode lives in :func:`decode_to_y4m` alone, so a backend-aware decoder (one that can read
what the executable backends write) can replace it in one place.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from studio.codec import encoders, ffmetrics, metrics
from studio.codec.project import MIXED, Point, Project, mixed_frames, read_json, write_json
from studio.codec.reference import ReferenceClip, ReferenceInfo, Y4MReader, Y4MWriter
from studio.jobs import Cancelled, Job, JobContext, UserError

# Our own metrics, and the per-frame columns that re-scoring one of them rewrites.
_PSNR_COLUMNS = ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv", "mse_y", "mse_u", "mse_v")
PY_METRICS: dict[str, tuple[str, ...]] = {
    "psnr_y": _PSNR_COLUMNS, "psnr_yuv": _PSNR_COLUMNS, "ssim_y": ("ssim_y",),
    "ms_ssim": ("ms_ssim",)}
PY_ALIASES = {"psnr": "psnr_y", "ssim": "ssim_y", "msssim": "ms_ssim", "ms-ssim": "ms_ssim"}
# pooled values derived from a column beyond its mean (see metrics.pool, ffmetrics.pool)
_DERIVED = {"psnr_y": ("psnr_y_global", "psnr_u_global", "psnr_v_global"),
            "ssim_y": ("ssim_y_db",), "xpsnr_y": ("xpsnr_y_smr",)}


# failures that cost one point (FFmpegError and AlignmentError are RuntimeErrors); anything
# else is a bug and fails the job with its traceback
_POINT_ERRORS = (RuntimeError, UserError, OSError, ValueError)


def valid_metrics() -> tuple[str, ...]:
    return tuple(PY_METRICS) + ffmetrics.FF_METRICS


def parse_metrics(names: Iterable[str]) -> list[str]:
    """Canonical metric names, deduplicated in order; :class:`UserError` listing the valid
    ones for an unknown name. ``xpsnr`` means ``xpsnr_y``."""
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        name = PY_ALIASES.get(name, name)
        if name not in PY_METRICS:
            try:
                name = ffmetrics.normalize([name])[0]
            except ValueError:
                raise UserError(f"unknown metric {raw.strip()!r}; choose from "
                                f"{', '.join(valid_metrics())} (xpsnr means xpsnr_y)") from None
        if name not in out:
            out.append(name)
    if not out:
        raise UserError(f"no metric chosen; choose from {', '.join(valid_metrics())}")
    return out


@dataclass
class RescoreSummary:
    project: str
    metrics: list[str]
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)      # already had every metric
    failed: dict[str, str] = field(default_factory=dict)  # point id -> why (others finished)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def columns_of(metric: str) -> tuple[str, ...]:
    """Per-frame columns that scoring ``metric`` writes."""
    if metric in PY_METRICS:
        return PY_METRICS[metric]
    return (metric, *ffmetrics.EXTRA_COLUMNS.get(metric, ()))


def _pooled_keys(wanted: Sequence[str]) -> set[str]:
    keys: set[str] = set()
    for m in wanted:
        cols = columns_of(m)
        keys.update(c for c in cols if not c.startswith("mse_"))
        for c in cols:
            keys.update(_DERIVED.get(c, ()))
    return keys


def _frame_range(pt: Point, ref: ReferenceInfo) -> tuple[int, int]:
    rng = getattr(pt, "frame_range", None)   # [first, end) of the reference; empty: all
    if rng:
        return int(rng[0]), int(rng[1])
    return 0, ref.frames


def decode_to_y4m(folder: Path, pt: Point, ref: ReferenceInfo, out_path: Path,
                  on_frame: Callable[[int, list], None]) -> int:
    """Decode point ``pt``'s stream, write its frames (in the reference's pixel format) to
    ``out_path`` as Y4M and hand each frame's planes to ``on_frame(index, planes)``.
    Returns the frame count. The one place that knows how streams are decoded: through the
    codec's own backend (PyAV, or the FFmpeg executable for vvc/rav1e/image codecs)."""
    first, end = _frame_range(pt, ref)
    with open(out_path, "wb") as fh:
        writer = Y4MWriter(fh, ref.width, ref.height, ref.fps, ref.pix_fmt, ref.full_range)
        if pt.codec == MIXED:                # one segment per shot, each its own codec
            frames = mixed_frames(folder, pt, ref)
        elif pt.mode == "pershot" and not encoders.codec_spec(pt.codec).image:
            # a stitched MPEG-TS/Matroska file: its clock is offset, count pictures instead
            from studio.codec.encoders.pyav_backend import decode_sequential
            frames = decode_sequential(folder / pt.stream, ref, end - first)
        else:
            frames = encoders.decode_points(folder / pt.stream, ref, end - first, codec=pt.codec)
        for df in frames:
            writer.write(df.planes)
            on_frame(df.index, df.planes)
    return writer.frames


def _reference_y4m(folder: Path, clip: ReferenceClip, ref: ReferenceInfo, first: int, end: int,
                   tmp: Path) -> Path:
    """The reference file itself when it holds exactly these frames, else a temp copy."""
    path = folder / ref.file
    reader = Y4MReader(path)
    try:
        whole = first == 0 and end == reader.frames
    finally:
        reader.close()
    if whole:
        return path
    out = tmp / f"reference_{first}_{end}.y4m"
    if not out.exists():
        with open(out, "wb") as fh:
            writer = Y4MWriter(fh, ref.width, ref.height, ref.fps, ref.pix_fmt, ref.full_range)
            for i in range(first, end):
                writer.write(clip.planes(i))
    return out


class _Bar:
    """Thread-safe sum of per-point progress; the job's thread pushes it to ctx."""

    def __init__(self, ctx: JobContext, total: float) -> None:
        self.ctx, self.total = ctx, max(1.0, total)
        self.lock = threading.Lock()
        self.parts: dict[str, float] = {}
        self.finished = 0.0
        self.message = ""

    def set(self, pid: str, done: float, message: str) -> None:
        with self.lock:
            self.parts[pid] = done
            self.message = message

    def finish(self, pid: str, weight: float, message: str) -> None:
        with self.lock:
            self.parts.pop(pid, None)
            self.finished += weight
            self.message = message

    def push(self, force: bool = False) -> None:
        with self.lock:
            done = self.finished + sum(self.parts.values())
            message = self.message
            if self.parts:   # 100 % only once the last point is stored
                done = min(done, self.total - 1)
        self.ctx.progress(min(done, self.total), self.total, message, force)


def score_point(folder: Path, pt: Point, ref: ReferenceInfo, wanted: Sequence[str],
                threads: int, check: Callable[[], None],
                report: Callable[[float, str], None]) -> tuple[dict[str, list], dict[str, float]]:
    """Per-frame columns and pooled values of ``wanted`` for one point (nothing is written
    to the project here). ``report(frames_done, message)`` counts decode + FFmpeg frames."""
    first, end = _frame_range(pt, ref)
    n = end - first
    py = [m for m in wanted if m in PY_METRICS]
    ff = [m for m in wanted if m not in PY_METRICS]
    want_ssim, want_ms = "ssim_y" in py, "ms_ssim" in py
    clip = ReferenceClip(folder / ref.file, ref)
    scores: list[metrics.FrameScore] = []
    try:
        with tempfile.TemporaryDirectory(prefix=".rescore-", dir=folder) as tmp_name:
            tmp = Path(tmp_name)

            def on_decoded(i: int, planes: list) -> None:
                check()
                if py:
                    scores.append(metrics.score_frame(clip.planes(first + i), planes,
                                                      ref.bit_depth, want_ssim, want_ms))
                report(i + 1, f"decode {pt.id}")

            dist = tmp / "decoded.y4m"
            got = decode_to_y4m(folder, pt, ref, dist, on_decoded)
            if got != n:
                raise encoders.AlignmentError(f"{pt.stream}: decoded {got} frames, expected {n}")
            per_frame: dict[str, list] = {}
            if py:
                cols = metrics.columns(scores)
                for m in py:
                    for c in PY_METRICS[m]:
                        per_frame[c] = cols[c]
            if ff:
                ref_y4m = _reference_y4m(folder, clip, ref, first, end, tmp)
                per_frame.update(ffmetrics.compute(
                    ref_y4m, dist, ref.pix_fmt, ff, threads=threads, check_cancel=check,
                    on_frame=lambda k: report(n + min(k, n), f"{', '.join(ff)} {pt.id}")))
    finally:
        clip.close()
    pooled = {**metrics.pool(per_frame, ref.bit_depth), **ffmetrics.pool(per_frame)}
    keys = _pooled_keys(wanted)
    return per_frame, {k: v for k, v in pooled.items() if k in keys}


def _has_all(folder: Path, pt: Point, wanted: Sequence[str]) -> bool:
    if any(m not in pt.metrics for m in wanted):
        return False
    try:
        frames = read_json(folder / pt.frames_file, "per-frame metrics")
    except UserError:
        return False
    return all(c in frames for m in wanted for c in columns_of(m))


def _check_available(wanted: Sequence[str], ref: ReferenceInfo) -> None:
    ff = [m for m in wanted if m not in PY_METRICS]
    if not ff:
        return
    avail = ffmetrics.available_metrics(ref.width, ref.height, ref.pix_fmt)
    bad = [f"{m} ({avail[m][1]})" for m in ff if not avail[m][0]]
    if bad:
        raise UserError(f"cannot compute {'; '.join(bad)}. PSNR, SSIM and MS-SSIM can still "
                        f"be re-scored")


def rescore(folder: str | os.PathLike, wanted_names: Sequence[str], ctx: JobContext,
            workers: int | None = None, force: bool = False) -> RescoreSummary:
    """Job function: add ``wanted_names`` to every finished point of the project."""
    t0 = time.perf_counter()
    wanted = parse_metrics(wanted_names)
    proj = Project.load(folder)
    folder = proj.folder
    summary = RescoreSummary(str(folder), list(wanted))
    try:
        ref = proj.reference
        if ref is None or not (folder / ref.file).exists():
            raise UserError(f"{folder}: the project has no reference clip "
                            f"({ref.file if ref else 'reference.y4m'} missing); it cannot be "
                            f"re-scored")
        _check_available(wanted, ref)
        todo: list[Point] = []
        for pt in proj.done_points():
            if not force and _has_all(folder, pt, wanted):
                summary.skipped.append(pt.id)
            elif not pt.stream or not (folder / pt.stream).exists():
                summary.failed[pt.id] = f"{folder / (pt.stream or pt.id)}: stream file missing"
            else:
                todo.append(pt)
        if not proj.done_points():
            summary.notes.append(f"{folder}: no finished point to score")
        n_workers = _workers(workers, len(todo))
        threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
        # progress units: decoded frames, plus FFmpeg's frames when it runs
        passes = 2 if any(m not in PY_METRICS for m in wanted) else 1
        weight = {pt.id: passes * max(1, _frame_range(pt, ref)[1] - _frame_range(pt, ref)[0])
                  for pt in todo}
        bar = _Bar(ctx, float(sum(weight.values())))
        job_thread = threading.current_thread()

        def one(pt: Point) -> tuple[dict[str, list], dict[str, float]]:
            def report(k: float, msg: str) -> None:
                bar.set(pt.id, k, msg)
                if threading.current_thread() is job_thread:   # else the job thread pushes
                    bar.push()
            return score_point(folder, pt, ref, wanted, threads, ctx.check, report)

        def store(pt: Point, result: tuple[dict[str, list], dict[str, float]] | None,
                  error: str = "") -> None:
            if result is not None:
                per_frame, pooled = result
                frames_path = folder / pt.frames_file
                data = read_json(frames_path, f"per-frame metrics of {pt.id}") \
                    if pt.frames_file and frames_path.is_file() else {}
                data.update(per_frame)
                if not pt.frames_file:
                    pt.frames_file = f"frames/{pt.id}.json"
                write_json(folder / pt.frames_file, data)
                pt.metrics.update(pooled)
                proj.save()
                summary.done.append(pt.id)
            else:
                summary.failed[pt.id] = error
            bar.finish(pt.id, weight[pt.id], f"finished {pt.id}")
            bar.push(force=True)

        if n_workers <= 1:
            for pt in todo:
                ctx.check()
                try:
                    result = one(pt)
                except _POINT_ERRORS as exc:
                    store(pt, None, str(exc))
                    continue
                store(pt, result)
        else:
            _run_threads(todo, n_workers, one, store, bar, ctx)
        ctx.progress(bar.total, bar.total, "done", force=True)
    finally:
        proj.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _workers(workers: int | None, n: int) -> int:
    if workers is None:
        workers = max(1, min(2, os.cpu_count() or 1))
    return max(0, min(int(workers), n))


def _run_threads(todo: list[Point], n_workers: int, one, store, bar: _Bar,
                 ctx: JobContext) -> None:
    """Points in parallel threads (FFmpeg runs as a subprocess and PyAV decodes without the
    GIL, so threads suffice); results are stored by this thread only, one at a time."""
    pool = cf.ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="rescore")
    futures = {pool.submit(one, pt): pt for pt in todo}
    try:
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                pt = futures[fut]
                try:
                    result = fut.result()
                except Cancelled:
                    raise
                except _POINT_ERRORS as exc:
                    store(pt, None, str(exc))
                    continue
                store(pt, result)
            bar.push()   # also raises Cancelled once the token is set
    except BaseException:
        ctx.token.cancel()     # the other threads stop at their next frame / FFmpeg poll
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def rescore_job(folder: str | os.PathLike, metrics: list[str], workers: int | None = None,
                force: bool = False) -> Job:
    """The re-score as a :class:`studio.jobs.Job` for the UI worker or the CLI."""
    name = Project.resolve_folder(folder).name
    return Job(f"Re-score {name}", lambda ctx: rescore(folder, metrics, ctx, workers, force))
