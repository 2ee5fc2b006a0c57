"""The sweep job: encode a ladder per codec in worker processes, score, store in a project.

Why processes: an encoder that crashes (a segfault in a C library) must cost one point, not
the app. Each point runs in a worker of a spawn-context process pool (safe beside Qt threads);
if a worker dies, the points that were in flight are re-run one at a time so the culprit is
found and marked failed while the innocent ones finish. An ordinary exception in a point
marks only that point failed, with its message. ``workers=0`` runs everything in the calling
thread (tests, debugging).

Re-running a sweep on an existing project skips points already done, so adding a codec (or
more presets, or more rate points) only encodes what is new; failed points are retried.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import queue as queue_mod
import shutil
import signal
import tempfile
import time
import traceback
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from studio.codec import encoders, metrics
from studio.codec.adaptive import Target, adaptive_ladder
from studio.codec.project import DONE, FAILED, Point, Project, point_id, write_json
from studio.codec.reference import ReferenceClip, ReferenceInfo, Y4MWriter, prepare_reference
from studio.jobs import Cancelled, Job, JobContext, UserError, atomic_directory, atomic_path

REFERENCE_FILE = "reference.y4m"
# Test hook: a worker whose point id contains this string dies hard (os._exit), to prove that
# a crashing encoder costs one point. Unset in normal use.
CRASH_ENV = "STUDIO_CODEC_TEST_CRASH"


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass
class SweepSpec:
    """What to encode. Lists may be empty to mean 'the defaults'."""

    input: str
    codecs: list[str] = field(default_factory=lambda: ["x264", "x265", "av1", "vp9"])
    points: int = 5
    mode: str = "crf"                       # "crf" (CRF/QP ladder) or "bitrate" (kbps ladder)
    presets: dict[str, list[str]] = field(default_factory=dict)   # codec -> presets
    values: dict[str, list[float]] = field(default_factory=dict)  # codec -> explicit ladder
    max_frames: int | None = 60
    max_seconds: float | None = None
    workers: int | None = None              # None: min(2, cpus); 0: in the calling thread
    ssim: bool = True
    ms_ssim: bool = True
    vmaf: bool = True                       # used where the FFmpeg executable has libvmaf
    extra_metrics: list[str] = field(default_factory=list)   # more ffmetrics columns
    ladder: str = "fixed"                   # "fixed" (CRF range per codec) or "adaptive"
    target: str = "psnr_y:30-45"            # adaptive: METRIC:LOW-HIGH
    shots: list[list[int]] = field(default_factory=list)   # also encode each [first, end)
    cluster: str | None = None              # Dask: "local:N" or "tcp://HOST:PORT"


@dataclass
class SweepSummary:
    project: str
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)   # already done before this run
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs for one point (picklable)."""

    folder: str
    point: dict
    reference: dict
    threads: int
    ssim: bool
    ms_ssim: bool
    ff_metrics: tuple[str, ...]   # columns computed by the FFmpeg executable (ffmetrics)
    user_codecs: dict = field(default_factory=dict)   # users' learned codecs: key -> record


# --- one point (runs in a worker process or in the calling thread) ------------------------------

def run_point(task: PointTask, report: Callable[[str, int], None],
              check: Callable[[], None]) -> dict:
    """Encode, decode and score one point. Returns the finished Point as a dict; raises only
    :class:`Cancelled` (every other failure becomes a failed point with its message)."""
    pt = Point.from_dict(task.point)
    folder = Path(task.folder)
    encoders.register_user_codecs(task.user_codecs)   # a fresh worker knows only built-ins
    spec = encoders.codec_spec(pt.codec)
    enc = encoders.encoder_for(spec)
    stream_rel = f"streams/{pt.id}" + ("" if spec.image else f".{spec.ext}")
    frames_rel = f"frames/{pt.id}.json"
    stream_path = folder / stream_rel
    crash = os.environ.get(CRASH_ENV)
    ref: ReferenceClip | None = None
    shot_dir = ""
    try:
        if crash and crash in pt.id:
            os._exit(3)
        info = ReferenceInfo.from_dict(task.reference)
        ref = ReferenceClip(folder / info.file, info)
        if pt.frame_range:   # a shot: its frames are a reference of their own
            shot_dir = tempfile.mkdtemp(prefix="studio-shot-", dir=folder)
            whole, ref = ref, None
            try:
                ref = whole.subclip(pt.frame_range[0], pt.frame_range[1],
                                    Path(shot_dir) / "shot.y4m")
            finally:
                whole.close()
            info = ref.info
        settings = encoders.EncodeSettings(pt.codec, pt.mode, pt.value, pt.preset, task.threads)

        def on_encoded(i: int) -> None:
            check()
            report("encode", i)

        atomic = atomic_directory if spec.image else atomic_path
        with atomic(stream_path) as tmp:
            result = enc.encode(spec, ref, settings, tmp, on_encoded, check)
        t0 = time.perf_counter()
        scores, pict = [], []
        with tempfile.TemporaryDirectory(prefix="studio-score-") as tmpdir:
            decoded_y4m = Path(tmpdir) / "decoded.y4m"
            with open(decoded_y4m, "wb") if task.ff_metrics else contextlib.nullcontext() as fh:
                writer = Y4MWriter(fh, info.width, info.height, ref.reader.fps, info.pix_fmt,
                                   info.full_range) if fh is not None else None
                frames_it = iter(enc.decode(spec, stream_path, info, info.frames))
                decode_s = 0.0
                while True:
                    t_dec = time.perf_counter()
                    df = next(frames_it, None)
                    decode_s += time.perf_counter() - t_dec
                    if df is None:
                        break
                    check()
                    scores.append(metrics.score_frame(ref.planes(df.index), df.planes,
                                                      info.bit_depth, task.ssim, task.ms_ssim))
                    pict.append(df.pict_type)
                    if writer is not None:
                        writer.write(df.planes)
                    report("score", df.index + 1)
            per_frame: dict[str, list] = metrics.columns(scores)
            pooled_ff: dict[str, float] = {}
            if task.ff_metrics:
                from studio.codec import ffmetrics
                ff = ffmetrics.compute(folder / info.file, decoded_y4m, info.pix_fmt,
                                       list(task.ff_metrics), task.threads, check_cancel=check)
                per_frame.update(ff)
                pooled_ff = ffmetrics.pool(ff)
        per_frame["frame_bytes"] = result.frame_bytes
        per_frame["pict_type"] = pict
        pooled = metrics.pool(per_frame, info.bit_depth)
        pooled.update(pooled_ff)
        write_json(folder / frames_rel, per_frame)
        pt.status, pt.error = DONE, ""
        pt.stream, pt.frames_file = stream_rel, frames_rel
        pt.frames, pt.bytes, pt.bitrate_kbps = result.frames, result.bytes, result.bitrate_kbps
        pt.file_bytes, pt.file_kbps = result.file_bytes, result.file_kbps
        pt.extradata_bytes = result.extradata_bytes
        pt.bpp = 8.0 * result.bytes / (info.width * info.height * max(1, result.frames))
        pt.encode_s, pt.score_s = result.encode_s, time.perf_counter() - t0
        pt.keyframes, pt.pix_fmt, pt.metrics = result.keyframes, result.pix_fmt, pooled
        pt.backend, pt.encoder, pt.encoder_version = enc.name, spec.encoder, result.encoder_version
        pt.options, pt.command = result.options, result.command
        pt.decode_fps = result.frames / decode_s if decode_s > 0 else 0.0
    except Cancelled:
        _remove(stream_path)
        raise
    except Exception as exc:  # noqa: BLE001 - one failed point must not stop the sweep
        _remove(stream_path)
        pt.status = FAILED
        pt.error = f"{type(exc).__name__}: {exc}"
        pt.metrics = {}
        last = traceback.extract_tb(exc.__traceback__)[-1:]
        if last:
            pt.error += f" (at {Path(last[0].filename).name}:{last[0].lineno})"
    finally:
        if ref is not None:
            ref.close()
        if shot_dir:
            shutil.rmtree(shot_dir, ignore_errors=True)
    pt.finished = time.strftime("%Y-%m-%dT%H:%M:%S")
    return asdict(pt)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- worker-process plumbing ------------------------------------------------------------------

_W_EVENT = None
_W_QUEUE = None


def _worker_init(event, q) -> None:
    global _W_EVENT, _W_QUEUE
    _W_EVENT, _W_QUEUE = event, q
    # Ctrl-C reaches the whole process group: only the parent handles it (as a cancel that
    # reaches the workers through the event), so a worker never dies mid-write from it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_entry(task: PointTask) -> dict:
    pid = task.point["id"]

    def report(phase: str, n: int) -> None:
        try:
            _W_QUEUE.put_nowait((pid, phase, n))
        except queue_mod.Full:
            pass

    def check() -> None:
        if _W_EVENT.is_set():
            raise Cancelled()

    return run_point(task, report, check)


# --- the job ----------------------------------------------------------------------------------

class _Progress:
    """Adds up reference + per-point progress into one ctx.progress call."""

    def __init__(self, ctx: JobContext, frames: int, n_points: int) -> None:
        self.ctx = ctx
        self.frames = max(1, frames)
        self.total = float(self.frames * (1 + 2 * n_points))
        self.ref_done = 0
        self.per_point: dict[str, dict[str, int]] = {}
        self.finished_ids: set[str] = set()   # late queue messages of these are ignored
        self.message = ""

    def reference(self, n: int) -> None:
        self.ref_done = n
        self.push("reading source")

    def point(self, pid: str, phase: str, n: int) -> None:
        if pid in self.finished_ids:
            return
        self.per_point.setdefault(pid, {})[phase] = n
        self.message = f"{phase} {pid}"
        self.push(self.message)

    def point_finished(self, pid: str) -> None:
        self.per_point.pop(pid, None)
        self.finished_ids.add(pid)

    def push(self, message: str = "", force: bool = False) -> None:
        done = min(self.ref_done, self.frames) + len(self.finished_ids) * 2 * self.frames
        done += sum(min(self.frames, v) for d in self.per_point.values() for v in d.values())
        if self.per_point:   # 100 % only once the last point is stored
            done = min(done, self.total - 1)
        self.ctx.progress(min(done, self.total), self.total, message or self.message, force)


def resolve_codecs(spec: SweepSpec) -> SweepSpec:
    """The spec with every codec as its key: a user's learned codec may be named by its
    folder (or a name under <user data>/codecs/), here and in ``presets`` / ``values``."""
    def key(name: str) -> str:
        return name if name == "*" or name in encoders.CODECS else encoders.resolve_codec(name)

    def loose(name: str) -> str:   # settings for a codec not swept are ignored, as before
        try:
            return key(name)
        except UserError:
            return name

    codecs = [key(c) for c in spec.codecs]
    presets = {loose(c): v for c, v in spec.presets.items()}
    values = {loose(c): v for c, v in spec.values.items()}
    return replace(spec, codecs=list(dict.fromkeys(codecs)), presets=presets, values=values)


def _user_codecs(spec: SweepSpec, proj: Project) -> None:
    """Record the users' learned codecs of this sweep in the project (key -> folder, label,
    qualities), so reopening it knows them; a key the project already holds for another
    folder that still exists is refused (a moved folder takes its new place)."""
    for c in spec.codecs:
        if not encoders.is_user_learned(encoders.CODECS[c]):
            continue
        folder = Path(encoders.CODECS[c].encoder)
        old = proj.user_codecs.get(c)
        if old and Path(old["path"]) != folder and Path(old["path"]).exists():
            raise UserError(f"{proj.folder}: {c} in this project is {old['path']}, not {folder}; "
                            f"rename the folder to compare both")
        if old and Path(old["path"]) != folder:   # moved: it stands for the stored one now
            encoders.register_user_codec(folder, c, replace=True)
        proj.user_codecs[c] = encoders.user_codec_record(c)


def _validate(spec: SweepSpec) -> None:
    """Check the spec before any work starts; problems become a UserError."""
    if spec.mode not in encoders.RATE_MODES:
        raise UserError(f"unknown rate mode {spec.mode!r}; use crf or bitrate")
    if not spec.codecs:
        raise UserError("no codec chosen")
    for c in spec.codecs:
        if c not in encoders.CODECS:
            raise UserError(f"unknown codec {c!r}; choose from {', '.join(encoders.CODECS)}")
        cs = encoders.CODECS[c]
        ok, why = encoders.encoder_for(cs).available(cs)
        if not ok:
            raise UserError(f"codec {c} cannot be used on this machine: {why} "
                            f"(see `studio codec encoders`)")
        if spec.mode not in cs.rate_modes:
            raise UserError(f"codec {c} has no {spec.mode} mode; use --mode "
                            f"{' or '.join(cs.rate_modes)}")
    if spec.ladder not in ("fixed", "adaptive"):
        raise UserError(f"unknown ladder {spec.ladder!r}; use fixed or adaptive")
    if spec.ladder == "adaptive":
        if spec.mode != "crf":
            raise UserError("the adaptive ladder places quality values: use it with --mode crf")
        try:
            Target.parse(spec.target)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    for c, presets in spec.presets.items():
        cs = encoders.CODECS.get(c)
        for p in presets:
            if cs is not None and p not in cs.presets:
                raise UserError(f"{c}: unknown preset {p!r}; choose from {', '.join(cs.presets)}")
    if spec.points < 1:
        raise UserError("points must be at least 1")


def _presets(spec: SweepSpec, c: str) -> list[str]:
    cs = encoders.CODECS[c]
    return spec.presets.get(c) or spec.presets.get(cs.family) or [cs.default_preset]


def _plan(spec: SweepSpec, ref: ReferenceInfo,
          adaptive: dict[str, list[float]] | None = None) -> list[Point]:
    out = []
    for c in spec.codecs:
        for pr in _presets(spec, c):
            values = spec.values.get(c) or spec.values.get("*") or \
                (adaptive or {}).get(f"{c}/{pr}") or encoders.ladder(
                    c, spec.mode, spec.points, ref.width, ref.height, float(ref.fps))
            for v in values:
                v = float(v)
                try:
                    encoders.check_settings(encoders.EncodeSettings(c, spec.mode, v, pr))
                except ValueError as exc:
                    raise UserError(str(exc)) from None
                out.append(Point(point_id(c, pr, spec.mode, v), c, pr, spec.mode, v))
                for a, b in spec.shots:
                    out.append(Point(point_id(c, pr, spec.mode, v, (a, b)), c, pr, spec.mode,
                                     v, frame_range=[int(a), int(b)]))
    return out


def _codec_notes(spec: SweepSpec, ref: ReferenceInfo) -> list[str]:
    """Say where an encoder cannot take the reference as it is."""
    notes = []
    for c in spec.codecs:
        cs = encoders.CODECS[c]
        if ref.bit_depth > 8 and not cs.high_bit_depth:
            notes.append(f"{cs.label} codes 8 bits only in this build: the {ref.bit_depth}-bit "
                         f"reference is rounded to 8 bits for it (and scored at "
                         f"{ref.bit_depth} bits)")
        if cs.only_10bit and ref.bit_depth == 8:
            notes.append(f"{cs.label} takes 10-bit input only: the 8-bit reference is coded at "
                         f"10 bits (exact x4) and decoded pictures are rounded back to 8 bits")
        if cs.family == "jxl":
            notes.append(f"{cs.label} codes RGB only in this build: its scores include a 4:2:0 "
                         f"-> RGB -> 4:2:0 round trip through the {ref.colorspace} matrix")
        if ref.vfr and cs.image:
            notes.append(f"{cs.label} codes each frame as an image: frame timing does not apply")
    return notes


def _adaptive_ladders(spec: SweepSpec, proj: Project, ref: ReferenceInfo, ctx: JobContext,
                      threads: int) -> dict[str, list[float]]:
    """Probe each codec/preset once per project and target; later runs reuse the result."""
    target = Target.parse(spec.target)
    out: dict[str, list[float]] = {}
    todo = [(c, pr) for c in spec.codecs for pr in _presets(spec, c)
            if not (spec.values.get(c) or spec.values.get("*"))]
    clip = None
    try:
        for k, (c, pr) in enumerate(todo):
            key = f"{c}/{pr}"
            stored = proj.ladders.get(key)
            if stored and stored.get("target") == str(target) and \
                    stored.get("points") == spec.points:
                out[key] = list(stored["values"])
                continue
            ctx.progress(k, len(todo), f"probing {key} for an adaptive ladder", force=True)
            if clip is None:
                clip = ReferenceClip(proj.folder / ref.file, ref)
            lad = adaptive_ladder(encoders.CODECS[c], pr, clip, spec.points, target, threads,
                                  ctx.check)
            proj.ladders[key] = {**lad.to_dict(), "points": spec.points}
            if lad.note not in proj.notes:
                proj.notes.append(lad.note)
            proj.save()
            out[key] = lad.values
    finally:
        if clip is not None:
            clip.close()
    return out


def _open_project(spec: SweepSpec, folder: Path) -> Project:
    src = str(Path(spec.input).resolve())
    if Project.exists(folder):
        proj = Project.load(folder)
        if proj.source and Path(proj.source) != Path(src):
            moved = not Path(proj.source).exists() and Path(proj.source).name == Path(src).name
            if not moved:
                raise UserError(f"{folder}: this project compares {proj.source}, not {src}; "
                                f"choose another folder for a new comparison")
            proj.source = src   # the same file, moved: the stored reference clip still holds
        if proj.reference is not None and (proj.max_frames, proj.max_seconds) != \
                (spec.max_frames, spec.max_seconds):
            def limits(frames, seconds) -> str:
                parts = [f"at most {frames} frames" if frames else "",
                         f"at most {seconds:g} s" if seconds else ""]
                return " and ".join(p for p in parts if p) or "the whole clip"
            raise UserError(f"{folder}: this project compares {limits(proj.max_frames, proj.max_seconds)}"
                            f", not {limits(spec.max_frames, spec.max_seconds)}; extend it with "
                            f"the same limits or use another folder")
        return proj
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder}: folder is not empty and holds no codec project; choose an "
                        f"empty or new folder")
    proj = Project(folder)
    proj.source, proj.max_frames, proj.max_seconds = src, spec.max_frames, spec.max_seconds
    return proj


def _ff_metrics(spec: SweepSpec, ref: ReferenceInfo, notes: list[str]) -> tuple[str, ...]:
    """The FFmpeg-executable metrics to compute: VMAF by default where libvmaf exists (a
    note says why not), plus any extra ones asked for (an error if unavailable)."""
    from studio.codec import ffmetrics
    try:
        extra = ffmetrics.normalize(spec.extra_metrics)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    avail = ffmetrics.available_metrics(ref.width, ref.height, ref.pix_fmt)
    want = (["vmaf"] if spec.vmaf else []) + [m for m in extra if m != "vmaf"]
    out = []
    for m in want:
        ok, why = avail[m]
        if ok:
            out.append(m)
        elif m == "vmaf" and m not in extra:
            msg = f"VMAF not computed: {why}"
            if msg not in notes:
                notes.append(msg)
        else:
            raise UserError(f"metric {m} is not available here: {why}")
    return tuple(out)


def run_sweep(spec: SweepSpec, project_path: str | os.PathLike, ctx: JobContext,
              on_point: Callable[[Point], None] | None = None) -> SweepSummary:
    """Job function: run (or extend) a sweep into the project folder ``project_path``.
    ``on_point(point)`` hears every finished (or failed) point, from the job's thread."""
    t0 = time.perf_counter()
    folder = Project.resolve_folder(project_path)
    proj = _open_project(spec, folder)   # first: it knows the users' codecs it compared
    spec = resolve_codecs(spec)
    _user_codecs(spec, proj)
    _validate(spec)
    summary = SweepSummary(project=str(folder))

    # 1. the reference clip, made once per project
    ref = proj.reference
    if ref is None or not (folder / ref.file).exists():
        if not Path(spec.input).exists() and ref is not None:
            raise UserError(f"{folder / ref.file}: reference clip missing and the source "
                            f"{spec.input} is gone too; the project cannot be extended")
        folder.mkdir(parents=True, exist_ok=True)
        bar = _Progress(ctx, spec.max_frames or 100, len(spec.codecs) * spec.points)
        ref = prepare_reference(spec.input, folder / REFERENCE_FILE, spec.max_frames,
                                spec.max_seconds, lambda n, _exp: bar.reference(n))
        proj.reference = ref
        proj.notes = list(ref.notes)
        proj.save()
    if ref.frames < 1:
        raise UserError(f"{spec.input}: no frame to compare")

    # 2. what is new
    workers = default_workers() if spec.workers is None else max(0, int(spec.workers))
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    adaptive = _adaptive_ladders(spec, proj, ref, ctx, os.cpu_count() or 1) \
        if spec.ladder == "adaptive" else None
    plan = _plan(spec, ref, adaptive)
    for note in _codec_notes(spec, ref):
        if note not in proj.notes:
            proj.notes.append(note)
    ff_metrics = _ff_metrics(spec, ref, proj.notes)
    todo: list[Point] = []
    for pt in plan:
        old = proj.points.get(pt.id)
        if old is not None and old.status == DONE and (folder / old.stream).exists() \
                and (folder / old.frames_file).exists():
            why = encoders.encoder_for(pt.codec).outdated(
                encoders.codec_spec(pt.codec), pt.value, old.options)
            if not why:
                summary.skipped.append(pt.id)
                continue
            summary.notes.append(f"{pt.id}: {why}: encoded again")
        proj.points[pt.id] = pt
        todo.append(pt)
    proj.save()
    summary.notes.extend(proj.notes)

    users = {c: proj.user_codecs[c] for c in spec.codecs if c in proj.user_codecs}
    tasks = [PointTask(str(folder), asdict(p), ref.to_dict(), threads, spec.ssim, spec.ms_ssim,
                       ff_metrics, users) for p in todo]
    bar = _Progress(ctx, ref.frames, len(tasks))
    bar.ref_done = ref.frames

    def finish(d: dict) -> None:
        pt = Point.from_dict(d)
        proj.points[pt.id] = pt
        proj.save()
        bar.point_finished(pt.id)
        if on_point is not None:
            on_point(pt)
        if pt.status == DONE:
            summary.done.append(pt.id)
        else:
            summary.failed[pt.id] = pt.error
        bar.push(f"finished {pt.id}", force=True)

    try:
        run_tasks(tasks, workers, spec.cluster, bar, finish, ctx)
    finally:
        proj.save()
        proj.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def run_tasks(tasks: list[PointTask], workers: int, cluster: str | None, bar: _Progress,
              finish: Callable[[dict], None], ctx: JobContext) -> None:
    """The executor seam: every point runs through here, wherever it runs.

    ``cluster`` ("local:N" or "tcp://HOST:PORT") sends each point to a Dask cluster as one
    task; else ``workers`` spawn processes (0: in this thread). Results come back as the same
    dicts, so a sweep gives identical points on either."""
    if cluster:
        from studio.codec.dask_exec import run_on_cluster
        run_on_cluster(tasks, cluster, bar, finish, ctx)
    elif workers == 0:
        for task in tasks:
            pid = task.point["id"]
            finish(run_point(task, lambda ph, n, pid=pid: bar.point(pid, ph, n), ctx.check))
    else:
        _run_pool(tasks, workers, bar, finish)


def _run_pool(tasks: list[PointTask], workers: int, bar: _Progress,
              finish: Callable[[dict], None]) -> None:
    """Run tasks in a spawn process pool; isolate and blame a worker that dies."""
    mpc = mp.get_context("spawn")
    event = mpc.Event()
    q = mpc.Queue(10000)
    queue = deque(tasks)
    suspects: deque[PointTask] = deque()
    try:
        while queue or suspects:
            if suspects:   # one at a time in a fresh pool: a second crash is this point's fault
                task = suspects.popleft()
                crashed = _pool_round(deque([task]), 1, mpc, event, q, bar, finish)
                for t in crashed:
                    d = dict(t.point)
                    d.update(status=FAILED, error="the encoder process crashed (worker died); "
                                                  "this point is skipped")
                    finish(d)
            else:
                suspects.extend(_pool_round(queue, workers, mpc, event, q, bar, finish))
    finally:
        q.close()


def _pool_round(queue: deque, workers: int, mpc, event, q, bar: _Progress,
                finish: Callable[[dict], None]) -> list[PointTask]:
    """Drain ``queue`` through one pool. Returns the tasks in flight when the pool broke."""
    inflight: dict[cf.Future, PointTask] = {}
    crashed: list[PointTask] = []
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mpc,
                                  initializer=_worker_init, initargs=(event, q))
    try:
        while queue or inflight:
            while queue and len(inflight) < workers:
                task = queue.popleft()
                try:
                    fut = pool.submit(_worker_entry, task)
                except BrokenProcessPool:   # broke between two polls: task never started
                    queue.appendleft(task)
                    if not inflight:
                        raise RuntimeError("the encoder worker processes could not start; "
                                           "run the sweep with workers=0") from None
                    return _settle(inflight, finish)
                inflight[fut] = task
            done, _ = cf.wait(inflight, timeout=0.1, return_when=cf.FIRST_COMPLETED)
            _drain(q, bar)
            for fut in done:
                task = inflight.pop(fut)
                try:
                    finish(fut.result())
                except BrokenProcessPool:
                    crashed.append(task)
            if crashed:
                return crashed + _settle(inflight, finish)
        return crashed
    except BaseException:
        # Cancel (or any error here): stop workers at their next frame, keep finished points.
        event.set()
        for fut in inflight:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _settle(inflight: dict, finish: Callable[[dict], None]) -> list[PointTask]:
    """After the pool broke: keep the results that made it, return the tasks that did not."""
    lost = []
    for fut, task in inflight.items():
        try:
            finish(fut.result())
        except BrokenProcessPool:
            lost.append(task)
    inflight.clear()
    return lost


def _drain(q, bar: _Progress) -> None:
    while True:
        try:
            pid, phase, n = q.get_nowait()
        except (queue_mod.Empty, OSError, ValueError):
            break
        bar.point(pid, phase, n)
    bar.push()


def sweep_job(spec: SweepSpec, project_path: str | os.PathLike,
              on_point: Callable[[Point], None] | None = None) -> Job:
    """The sweep as a :class:`studio.jobs.Job` for the UI worker or the CLI."""
    name = Path(spec.input).name
    return Job(f"Codec sweep of {name}", lambda ctx: run_sweep(spec, project_path, ctx, on_point))
