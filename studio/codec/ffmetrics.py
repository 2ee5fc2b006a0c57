"""Metrics that only FFmpeg's executable computes: VMAF (+NEG), XPSNR, PSNR-HVS, CIEDE2000, CAMBI.

PyAV's FFmpeg has no libvmaf and no xpsnr filter; the static executable of imageio-ffmpeg has
both (see :mod:`studio.codec.ffmpeg_tool`). Everything is detected, never assumed: a build
without libvmaf, a libvmaf without one of its extra features, or no executable at all each
become a sentence from :func:`available_metrics`, and :func:`compute` raises
:class:`~studio.codec.ffmpeg_tool.FFmpegError` with that sentence instead of returning less.

One FFmpeg run computes everything asked for: libvmaf evaluates both VMAF models
(``vmaf_v0.6.1`` and ``vmaf_v0.6.1neg``, both built into libvmaf, so no model file) and the
``psnr_hvs`` / ``ciede`` / ``cambi`` features in one pass over the frames, and passes the
distorted frames through to the ``xpsnr`` filter chained after it. Both inputs are Y4M files
of the same frame count (the sweep decodes every encode to a temp Y4M first), so frames pair
up by position.

Column meanings (all per frame, higher is better except ``cambi``):

* ``vmaf``, ``vmaf_neg``: libvmaf's scores, 0-100, models :func:`model_names`.
* ``xpsnr_y`` (+ ``xpsnr_u``, ``xpsnr_v``): FFmpeg's xpsnr filter (Helmrich et al.), dB.
* ``psnr_hvs`` (+ ``psnr_hvs_y``): libvmaf's PSNR-HVS, dB; ``psnr_hvs`` is its Y/Cb/Cr blend.
* ``ciede2000``: libvmaf's ``45 - 20 log10(mean CIEDE2000 colour difference)``, dB-like.
* ``cambi``: Netflix's banding index of the distorted picture, 0 (none) to ~24.

A perfect frame has infinite XPSNR / PSNR-HVS / CIEDE2000 score (libvmaf logs null);
it is reported as :data:`studio.codec.metrics.PSNR_CAP` like our PSNR, so JSON and means
stay finite.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from studio.codec import ffmpeg_tool
from studio.codec.ffmpeg_tool import FFmpegError
from studio.codec.metrics import PSNR_CAP

FF_METRICS = ("vmaf", "vmaf_neg", "xpsnr_y", "psnr_hvs", "ciede2000", "cambi")
# extra per-frame columns that come with a requested metric
EXTRA_COLUMNS = {"xpsnr_y": ("xpsnr_u", "xpsnr_v"), "psnr_hvs": ("psnr_hvs_y",)}
ALIASES = {"xpsnr": "xpsnr_y", "ciede": "ciede2000", "vmafneg": "vmaf_neg",
           "vmaf_v0.6.1neg": "vmaf_neg", "psnrhvs": "psnr_hvs"}

VMAF_MODEL = "vmaf_v0.6.1"
VMAF_NEG_MODEL = "vmaf_v0.6.1neg"
_MODELS = {"vmaf": VMAF_MODEL, "vmaf_neg": VMAF_NEG_MODEL}
_FEATURES = {"psnr_hvs": "psnr_hvs", "ciede2000": "ciede", "cambi": "cambi"}   # column -> name
_LIBVMAF = ("vmaf", "vmaf_neg", "psnr_hvs", "ciede2000", "cambi")
_DB_LIKE = {"xpsnr_y", "xpsnr_u", "xpsnr_v", "psnr_hvs", "psnr_hvs_y", "ciede2000"}
_PROBE_SIZE = (256, 144)    # large enough for every feature of this libvmaf (CAMBI skips
_PROBE_FRAMES = 2           # pictures under 216 px in both dimensions), fast (~0.1 s)
_VMAF_LOG = "vmaf.json"
_XPSNR_LOG = "xpsnr.txt"


def model_names() -> dict[str, str]:
    """The VMAF models behind the ``vmaf`` / ``vmaf_neg`` columns, for reports."""
    return dict(_MODELS)


def normalize(names: Iterable[str]) -> list[str]:
    """Canonical FFmpeg metric names (``xpsnr`` -> ``xpsnr_y``...), in order, deduplicated;
    :class:`ValueError` naming the valid ones for anything else."""
    out: list[str] = []
    for raw in names:
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in FF_METRICS:
            raise ValueError(f"unknown FFmpeg metric {raw!r}; choose from "
                             f"{', '.join(FF_METRICS)} (or xpsnr for xpsnr_y)")
        if name not in out:
            out.append(name)
    return out


# --- what this executable can do --------------------------------------------------------------

def _q(text: str) -> str:
    """Quote a filter option value so '|' and escaped ':' reach libvmaf's own parser."""
    if "'" in text:
        raise ValueError(f"cannot quote {text!r} for a filter graph")
    return "'" + text + "'"


def _libvmaf_filter(metrics: Sequence[str], threads: int) -> str:
    models = [f"version={_MODELS[m]}\\:name={m}" for m in ("vmaf", "vmaf_neg") if m in metrics]
    if not models:   # libvmaf needs a model; a feature-only run still computes VMAF (unused)
        models = [f"version={VMAF_MODEL}\\:name=vmaf"]
    opts = ["log_fmt=json", f"log_path={_VMAF_LOG}", f"n_threads={max(1, int(threads))}",
            f"model={_q('|'.join(models))}"]
    feats = [f"name={_FEATURES[m]}" for m in metrics if m in _FEATURES]
    if feats:
        opts.append(f"feature={_q('|'.join(feats))}")
    return "libvmaf=" + ":".join(opts)


def _graph(metrics: Sequence[str], pix_fmt: str, threads: int, dist: str, ref: str) -> str:
    """Filter graph: libvmaf (main = distorted, reference second) passes the distorted frames
    on to xpsnr, so one decode of each input feeds every metric."""
    want_vmaf = any(m in _LIBVMAF for m in metrics)
    want_xpsnr = "xpsnr_y" in metrics
    norm = f"format={pix_fmt},setpts=PTS-STARTPTS"
    parts = [f"{dist}{norm}[d]"]
    if want_vmaf and want_xpsnr:
        parts.append(f"{ref}{norm},split=2[r0][r1]")
        parts.append(f"[d][r0]{_libvmaf_filter(metrics, threads)}[dv]")
        parts.append(f"[dv][r1]xpsnr,metadata=mode=print:file={_XPSNR_LOG}")
    elif want_vmaf:
        parts.append(f"{ref}{norm}[r0]")
        parts.append(f"[d][r0]{_libvmaf_filter(metrics, threads)}")
    else:
        parts.append(f"{ref}{norm}[r0]")
        parts.append(f"[d][r0]xpsnr,metadata=mode=print:file={_XPSNR_LOG}")
    return ";".join(parts)


def _filter_problems(metrics: Sequence[str]) -> dict[str, str]:
    """Why each metric cannot run, from the executable's filter list alone (no run)."""
    caps = ffmpeg_tool.capabilities()
    out = {}
    for m in metrics:
        flt = "xpsnr" if m == "xpsnr_y" else "libvmaf"
        why = caps.why_not_filter(flt)
        if why:
            out[m] = why
    return out


def _probe_run(metrics: Sequence[str], width: int, height: int, pix_fmt: str) -> dict[str, str]:
    """Run ``metrics`` on two synthetic frames; return {metric: why it produced nothing}.

    Raises :class:`FFmpegError` when the run itself fails."""
    src = (f"testsrc2=size={width}x{height}:rate=25:duration={_PROBE_FRAMES / 25},"
           f"format={pix_fmt},split=2[a][b];[b]noise=alls=12:allf=t[bn]")
    graph = _graph(metrics, pix_fmt, 1, "[a]", "[bn]")
    with tempfile.TemporaryDirectory(prefix="ffmetrics-probe-") as tmp:
        ffmpeg_tool.run(["-filter_complex", f"{src};{graph}", "-f", "null", "-"], cwd=tmp,
                        timeout_s=60, what="FFmpeg metric probe")
        got = _read_logs(Path(tmp), metrics, _PROBE_FRAMES)
    return {m: "" if got.get(m) else "no values came back" for m in metrics}


@functools.lru_cache(maxsize=16)
def _probe(exe: str, version: str, width: int, height: int, pix_fmt: str,
           metrics: tuple[str, ...]) -> dict[str, str]:
    """Cached per executable and picture size: one run of everything, then one run per metric
    only if that failed, so a broken feature is blamed alone."""
    del exe, version   # cache keys: another executable is probed afresh
    try:
        problems = _probe_run(metrics, width, height, pix_fmt)
    except FFmpegError:
        problems = {}
        for m in metrics:
            try:
                problems.update(_probe_run([m], width, height, pix_fmt))
            except FFmpegError as exc:
                problems[m] = str(exc)
    out = {}
    for m, why in problems.items():
        if not why:
            continue
        what = f"libvmaf's {_FEATURES[m]} feature" if m in _FEATURES else \
            f"libvmaf's {_MODELS[m]} model" if m in _MODELS else "the xpsnr filter"
        out[m] = f"{what} does not work in this FFmpeg build at {width}x{height} ({why})"
    return out


def available_metrics(width: int | None = None, height: int | None = None,
                      pix_fmt: str = "yuv420p") -> dict[str, tuple[bool, str]]:
    """Per FFmpeg metric: (can this executable compute it, why not).

    Without a size the answer is for the build (probed once on a 256x144 picture); with one
    it is for pictures of that size, which matters for CAMBI: this libvmaf silently computes
    nothing for pictures under 216 px in both dimensions. Probe results are cached per
    executable and size; :func:`reset` forgets them.
    """
    caps = ffmpeg_tool.capabilities()
    if not caps.ok or caps.exe is None:
        why = caps.problem or "no FFmpeg executable"
        return {m: (False, why) for m in FF_METRICS}
    out: dict[str, tuple[bool, str]] = {}
    problems = _filter_problems(FF_METRICS)
    runnable = tuple(m for m in FF_METRICS if m not in problems)
    if runnable:
        w, h = (width, height) if width and height else _PROBE_SIZE
        problems.update(_probe(caps.exe, caps.version, int(w), int(h), pix_fmt, runnable))
    for m in FF_METRICS:
        out[m] = (m not in problems, problems.get(m, ""))
    return out


def vmaf_available() -> tuple[bool, str]:
    """(available, message) for the old callers (UI label, sweep notes)."""
    ok, why = available_metrics()["vmaf"]
    if ok:
        return True, f"VMAF available ({VMAF_MODEL} model, FFmpeg " \
                     f"{ffmpeg_tool.capabilities().version})"
    return False, f"VMAF not available: {why}"


def reset() -> None:
    """Forget the executable's capabilities and the probes (tests; after an install)."""
    ffmpeg_tool.reset()
    _probe.cache_clear()


# --- computing ------------------------------------------------------------------------------

def _y4m_frames(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of a Y4M file, with an error that names it."""
    from studio.codec.reference import Y4MReader
    from studio.jobs import UserError

    try:
        reader = Y4MReader(path)
    except UserError as exc:
        raise FFmpegError(str(exc)) from exc
    try:
        return reader.frames, reader.width, reader.height
    finally:
        reader.close()


def _finite(value: object, name: str) -> float:
    """libvmaf logs an infinite score as null: dB-like columns cap +-inf (and null) at
    +-PSNR_CAP like our PSNR; anything else non-finite becomes NaN (null in the JSON)."""
    if value is None:
        return PSNR_CAP if name in _DB_LIKE else float("nan")
    v = float(value)  # type: ignore[arg-type]
    if name in _DB_LIKE and not math.isnan(v):
        return max(-PSNR_CAP, min(PSNR_CAP, v))
    return v


def _read_vmaf_log(path: Path, metrics: Sequence[str]) -> dict[str, list[float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        frames = sorted(data["frames"], key=lambda f: int(f["frameNum"]))
    except FileNotFoundError:
        raise FFmpegError(f"libvmaf wrote no log ({path.name})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FFmpegError(f"libvmaf's log {path.name} is unreadable ({exc})") from exc
    keys = {"vmaf": "vmaf", "vmaf_neg": "vmaf_neg", "psnr_hvs": "psnr_hvs",
            "psnr_hvs_y": "psnr_hvs_y", "ciede2000": "ciede2000", "cambi": "cambi"}
    wanted = [m for m in metrics if m in _LIBVMAF]
    wanted += [e for m in wanted for e in EXTRA_COLUMNS.get(m, ())]
    out: dict[str, list[float]] = {}
    for col in wanted:
        key = keys[col]
        if frames and all(key in f.get("metrics", {}) for f in frames):
            out[col] = [_finite(f["metrics"][key], col) for f in frames]
    return out


_META_FRAME = re.compile(r"frame:(\d+)")
_META_XPSNR = re.compile(r"lavfi\.xpsnr\.xpsnr\.([yuv])=(\S+)")


def _read_xpsnr_log(path: Path) -> dict[str, list[float]]:
    """Parse ``metadata=mode=print`` output: full-precision values (the filter's own
    stats_file rounds to 4 decimals)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FFmpegError(f"the xpsnr filter wrote no values ({path.name})") from None
    rows: dict[int, dict[str, float]] = {}
    current = -1
    for line in text.splitlines():
        m = _META_FRAME.match(line)
        if m:
            current = int(m.group(1))
            rows.setdefault(current, {})
            continue
        m = _META_XPSNR.match(line)
        if m and current >= 0:
            plane, raw = m.groups()
            try:
                val = float(raw)
            except ValueError:
                val = float("nan")
            rows[current][f"xpsnr_{plane}"] = _finite(val, f"xpsnr_{plane}")
    order = sorted(rows)
    out: dict[str, list[float]] = {}
    for col in ("xpsnr_y", "xpsnr_u", "xpsnr_v"):
        if order and all(col in rows[i] for i in order):
            out[col] = [rows[i][col] for i in order]
    return out


def _read_logs(folder: Path, metrics: Sequence[str], frames: int) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {}
    if any(m in _LIBVMAF for m in metrics):
        got.update(_read_vmaf_log(folder / _VMAF_LOG, metrics))
    if "xpsnr_y" in metrics:
        got.update(_read_xpsnr_log(folder / _XPSNR_LOG))
    return {k: v for k, v in got.items() if len(v) == frames}


def compute(reference_y4m: str | os.PathLike, distorted_y4m: str | os.PathLike, pix_fmt: str,
            metrics: Sequence[str], threads: int = 1, timeout_s: float = 3600,
            check_cancel: Callable[[], None] | None = None,
            on_frame: Callable[[int], None] | None = None) -> dict[str, list[float]]:
    """Per-frame values of each requested metric (plus their extra columns, e.g.
    ``xpsnr_u``), one list per column over the frames, in one FFmpeg run.

    Raises :class:`FFmpegError` naming the file or the metric when the executable is missing,
    lacks a filter, fails, times out, or gives no value for a requested metric (e.g. CAMBI on
    a picture too small for it: check :func:`available_metrics` with the size first).
    ``check_cancel`` may raise (e.g. ``studio.jobs.Cancelled``): FFmpeg is killed and the
    exception propagates.
    """
    try:
        wanted = normalize(metrics)
    except ValueError as exc:
        raise FFmpegError(str(exc)) from None
    if not wanted:
        return {}
    ffmpeg_tool.require()
    problems = _filter_problems(wanted)
    if problems:
        m, why = next(iter(problems.items()))
        raise FFmpegError(f"{m} cannot be computed: {why}")
    ref, dist = Path(reference_y4m), Path(distorted_y4m)
    n_ref, w_ref, h_ref = _y4m_frames(ref)
    n_dist, w_dist, h_dist = _y4m_frames(dist)
    if (w_ref, h_ref) != (w_dist, h_dist):
        raise FFmpegError(f"{dist}: {w_dist}x{h_dist} pictures, but the reference {ref.name} "
                          f"is {w_ref}x{h_ref}")
    if n_ref != n_dist:
        raise FFmpegError(f"{dist}: {n_dist} frames, but the reference {ref.name} has {n_ref}")
    if n_ref == 0:
        raise FFmpegError(f"{ref}: no frame to compare")
    if check_cancel is not None:   # a cancelled job starts no FFmpeg run at all
        check_cancel()
    with tempfile.TemporaryDirectory(prefix="ffmetrics-") as tmp:
        graph = _graph(wanted, pix_fmt, threads, "[0:v]", "[1:v]")
        ffmpeg_tool.run(["-i", ffmpeg_tool.path_arg(dist), "-i", ffmpeg_tool.path_arg(ref),
                         "-filter_complex", graph, "-f", "null", "-"],
                        on_frame=on_frame, check_cancel=check_cancel, timeout_s=timeout_s,
                        cwd=tmp, what=f"FFmpeg metrics ({', '.join(wanted)}) of {dist.name}")
        got = _read_logs(Path(tmp), wanted, n_ref)
    missing = [m for m in wanted if m not in got]
    if missing:
        hint = " (CAMBI in this libvmaf skips pictures under 216 px in both dimensions)" \
            if "cambi" in missing else ""
        raise FFmpegError(f"{dist.name}: FFmpeg gave no {', '.join(missing)} values for all "
                          f"{n_ref} frames of this {w_ref}x{h_ref} clip{hint}")
    return got


def pool(per_frame: dict[str, Sequence[float | None]]) -> dict[str, float]:
    """Pool per-frame columns into one value per point: the arithmetic mean.

    Why the mean everywhere: it is what BD-rate tables and codec papers use for per-frame
    scores, what libvmaf itself reports as the VMAF of a clip (its default pool), and what
    :func:`studio.codec.metrics.pool` does for PSNR/SSIM, so all columns are comparable.
    CAMBI is a mean too (Netflix pools CAMBI over frames with the mean as well; a high
    percentile would say more about worst-case banding but would not match their tools).
    Note that FFmpeg's printed XPSNR "average" is a square-mean-root pool
    (``-20 log10(mean(10^(-x/20)))``), a little below the mean of the frame values; it is
    kept as ``xpsnr_y_smr`` for comparison with FFmpeg's log.
    """
    out: dict[str, float] = {}
    cols = list(FF_METRICS) + [e for m in FF_METRICS for e in EXTRA_COLUMNS.get(m, ())]
    for k in cols:
        vals = [float(v) for v in per_frame.get(k) or [] if v is not None and
                math.isfinite(float(v))]
        if vals:
            out[k] = float(np.mean(vals))
    vals = [float(v) for v in per_frame.get("xpsnr_y") or [] if v is not None]
    if vals:
        out["xpsnr_y_smr"] = -20.0 * math.log10(float(np.mean([10 ** (-v / 20) for v in vals])))
    return out
