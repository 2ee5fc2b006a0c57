"""Codec workbench benchmark: metric throughput at 1080p (ours vs FFmpeg's filters, same run),
VMAF/XPSNR frames/s through the FFmpeg executable against PSNR-only scoring, and the wall time
of a small whole sweep.

    .venv/bin/python bench/bench_codec.py [--frames 20] [--sweep-frames 30] [--no-sweep]
                                          [--no-vmaf | --only-vmaf]

The 1080p pairs are synthetic textured frames and their x264 (CRF 32) decodes, so the
distortion is real coding noise. FFmpeg's filters are timed on frames already wrapped as
AVFrames (filter work only); our functions take numpy planes. The sweep uses a real clip from
../shared/data/grid when present (else a synthetic one), 4 codecs x 3 points, default workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.codec import metrics  # noqa: E402
from studio.media.video_io import frame_planes, planes_to_frame  # noqa: E402


def make_pairs(n: int, width: int = 1920, height: int = 1080):
    """(reference planes, x264-decoded planes) for n textured 1080p frames."""
    import av

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    refs = []
    for i in range(n):
        y = 110 + 60 * np.sin((xx + 7 * i) / 23) * np.cos((yy - 5 * i) / 31)
        y += 20 * np.sin(xx * yy / 5000.0) + rng.normal(0, 6, (height, width))
        u = 128 + 30 * np.sin(xx[::2, ::2] / 40 + i / 5)
        v = 128 + 30 * np.cos(yy[::2, ::2] / 50 - i / 7)
        refs.append([np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mp4"
        with av.open(str(path), "w") as out:
            s = out.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            s.codec_context.options = {"preset": "ultrafast", "crf": "32"}
            for i, r in enumerate(refs):
                f = planes_to_frame(r, "yuv420p")
                f.pts, f.time_base = i, Fraction(1, 25)
                for p in s.encode(f):
                    out.mux(p)
            for p in s.encode(None):
                out.mux(p)
        with av.open(str(path)) as c:
            dists = [frame_planes(f) for f in c.decode(video=0)]
    return list(zip(refs, dists))


REPEATS = 3   # best of 3: the machine is shared, so the best run is the least disturbed


def time_ours(pairs, fn) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for r, d in pairs:
            fn(r, d)
        best = min(best, time.perf_counter() - t0)
    return len(pairs) / best


def time_ffmpeg(pairs, name: str) -> float:
    return max(_time_ffmpeg_once(pairs, name) for _ in range(REPEATS))


def _time_ffmpeg_once(pairs, name: str) -> float:
    import av.filter

    h, w = pairs[0][0][0].shape
    tb = Fraction(1, 25)
    g = av.filter.Graph()
    a = g.add_buffer(width=w, height=h, format="yuv420p", time_base=tb)
    b = g.add_buffer(width=w, height=h, format="yuv420p", time_base=tb)
    f = g.add(name)
    sink = g.add("buffersink")
    a.link_to(f, 0, 0)
    b.link_to(f, 0, 1)
    f.link_to(sink)
    g.configure()
    frames = []
    for i, (r, d) in enumerate(pairs):
        fd, fr = planes_to_frame(d, "yuv420p"), planes_to_frame(r, "yuv420p")
        fd.pts = fr.pts = i
        fd.time_base = fr.time_base = tb
        frames.append((fd, fr))
    got = 0
    t0 = time.perf_counter()
    for fd, fr in frames:
        a.push(fd)
        b.push(fr)
        while True:
            try:
                sink.pull()
                got += 1
            except (av.error.BlockingIOError, BlockingIOError):
                break
    a.push(None)
    b.push(None)
    while True:
        try:
            sink.pull()
            got += 1
        except (av.error.BlockingIOError, av.error.EOFError, BlockingIOError, EOFError):
            break
    dt = time.perf_counter() - t0
    assert got == len(pairs), (got, len(pairs))
    return len(pairs) / dt


def bench_metrics(n: int) -> None:
    print(f"metric throughput, 1920x1080 yuv420p 8-bit, {n} frames, {os.cpu_count()} CPUs")
    pairs = make_pairs(n)
    metrics.score_frame(*pairs[0], 8)  # warm-up
    psnr_ours = time_ours(pairs, lambda r, d: [metrics.mse(x, y) for x, y in zip(r, d)])
    psnr_ff = time_ffmpeg(pairs, "psnr")
    ssim_ours = time_ours(pairs, lambda r, d: metrics.ssim(r[0], d[0]))
    ssim_ff = time_ffmpeg(pairs, "ssim")
    ms_ours = time_ours(pairs[: max(2, n // 4)], lambda r, d: metrics.ms_ssim(r[0], d[0]))
    all_ours = time_ours(pairs[: max(2, n // 4)], lambda r, d: metrics.score_frame(r, d, 8))
    print(f"  {'metric':34s} {'ours fps':>9s} {'FFmpeg fps':>11s} {'ours/FFmpeg':>12s}")
    print(f"  {'PSNR (Y,U,V)':34s} {psnr_ours:9.1f} {psnr_ff:11.1f} {psnr_ours / psnr_ff:12.2f}")
    print(f"  {'SSIM (ours Y; FFmpeg Y+U+V)':34s} {ssim_ours:9.1f} {ssim_ff:11.1f} "
          f"{ssim_ours / ssim_ff:12.2f}")
    print(f"  {'MS-SSIM (Y)':34s} {ms_ours:9.1f} {'-':>11s} {'-':>12s}")
    print(f"  {'all per-frame metrics (sweep)':34s} {all_ours:9.1f} {'-':>11s} {'-':>12s}")


def _write_y4m(path: Path, frames) -> Path:
    from studio.codec.reference import Y4MWriter

    h, w = frames[0][0].shape
    with open(path, "wb") as fh:
        writer = Y4MWriter(fh, w, h, Fraction(25), "yuv420p")
        for planes in frames:
            writer.write(planes)
    return path


def bench_vmaf(n: int) -> None:
    """VMAF (and the other FFmpeg-executable metrics) against PSNR-only scoring, side by side.

    Both inputs go through Y4M files as in a sweep (the encode is decoded to a temp Y4M
    first), so each FFmpeg row includes starting the executable and reading 2 x n frames;
    the executable's own ``psnr`` filter on the same files shows that floor. "ours PSNR"
    is the sweep's per-frame PSNR on planes already in memory."""
    from studio.codec import ffmetrics, ffmpeg_tool

    avail = ffmetrics.available_metrics()
    if not avail["vmaf"][0]:
        print(f"VMAF: skipped ({avail['vmaf'][1]})")
        return
    cpus = os.cpu_count() or 1
    pairs = make_pairs(n)
    with tempfile.TemporaryDirectory(prefix="bench-vmaf-") as tmp:
        ref = _write_y4m(Path(tmp) / "ref.y4m", [r for r, _ in pairs])
        dist = _write_y4m(Path(tmp) / "dist.y4m", [d for _, d in pairs])

        def best_fps(fn, repeats: int = REPEATS) -> float:
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            return n / best

        def exe_psnr() -> None:
            ffmpeg_tool.run(["-i", ffmpeg_tool.path_arg(dist), "-i", ffmpeg_tool.path_arg(ref),
                             "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"])

        def ff(metric_list, threads=1):
            return lambda: ffmetrics.compute(ref, dist, "yuv420p", metric_list, threads=threads)

        ours = time_ours(pairs, lambda r, d: [metrics.mse(x, y) for x, y in zip(r, d)])
        rows = [("PSNR, ours (planes in memory)", ours),
                ("PSNR, FFmpeg exe psnr filter (Y4M)", best_fps(exe_psnr)),
                ("VMAF v0.6.1, 1 thread", best_fps(ff(["vmaf"]))),
                (f"VMAF v0.6.1, {cpus} threads", best_fps(ff(["vmaf"], cpus))),
                ("VMAF + VMAF NEG, 1 thread", best_fps(ff(["vmaf", "vmaf_neg"]))),
                ("VMAF + PSNR-HVS, 1 thread", best_fps(ff(["vmaf", "psnr_hvs"]))),
                ("VMAF + CAMBI, 1 thread", best_fps(ff(["vmaf", "cambi"]))),
                ("VMAF + CIEDE2000, 1 thread", best_fps(ff(["vmaf", "ciede2000"]), 1)),
                ("XPSNR (Y, U, V)", best_fps(ff(["xpsnr_y"]))),
                (f"all 6 FFmpeg metrics, {cpus} threads",
                 best_fps(ff(ffmetrics.FF_METRICS, cpus), 1))]
    print(f"FFmpeg-executable metrics, 1920x1080 yuv420p 8-bit, {n} frames, {cpus} CPUs, "
          f"FFmpeg {ffmpeg_tool.capabilities().version}")
    print(f"  {'scoring':40s} {'fps':>8s} {'PSNR-only fps / this':>21s}")
    for name, fps in rows:
        print(f"  {name:40s} {fps:8.1f} {ours / fps:21.1f}")


def _sweep_source(tmp: str, frames: int) -> tuple[Path, str]:
    grid = ROOT.parent / "shared" / "data" / "grid" / "bbaf2n.mpg"
    if grid.exists():
        return grid, f"{grid.name} (GRID, 360x288, real video)"
    sys.path.insert(0, str(ROOT / "tests" / "codec"))
    from conftest import write_clip  # type: ignore[import-not-found]
    return write_clip(Path(tmp) / "syn.mp4", 352, 288, frames), "synthetic 352x288"


def bench_sweep(frames: int) -> None:
    """The same sweep with and without VMAF, side by side."""
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, what = _sweep_source(tmp, frames)
        for vmaf in (False, True):
            spec = SweepSpec(str(src), ["x264", "x265", "av1", "vp9"], points=3,
                             max_frames=frames, vmaf=vmaf)
            t0 = time.perf_counter()
            s = run_sweep(spec, Path(tmp) / f"proj{int(vmaf)}", JobContext())
            times[vmaf] = (time.perf_counter() - t0, len(s.done), len(s.failed))
    print(f"sweep: {what}, {frames} frames, 4 codecs x 3 CRF points, default presets "
          f"(x264/x265 medium, SVT-AV1 8, VP9 cpu-used 4), default workers")
    for vmaf, (dt, done, failed) in times.items():
        print(f"  {'with VMAF' if vmaf else 'no VMAF':10s} {dt:7.1f} s wall ({done} done, "
              f"{failed} failed)")
    print(f"  VMAF costs x{times[True][0] / times[False][0]:.2f} of the sweep time")


def bench_vvenc(frames: int) -> None:
    """vvenc presets against x265 medium at equal PSNR-Y: BD-rate and encode time."""
    from studio.codec import bdrate
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.codec.project import Project
    from studio.jobs import JobContext

    with tempfile.TemporaryDirectory() as tmp:
        src, what = _sweep_source(tmp, frames)
        presets = ["faster", "fast", "medium"]
        spec = SweepSpec(str(src), ["x265", "vvc"], points=4, max_frames=frames, vmaf=False,
                         ms_ssim=False, presets={"x265": ["medium"], "vvc": presets},
                         values={"x265": [24, 29, 34, 39], "vvc": [26, 31, 36, 41]})
        run_sweep(spec, Path(tmp) / "proj", JobContext())
        proj = Project.load(Path(tmp) / "proj")
        curves = {c.key: c for c in proj.curves("psnr_y")}
        anchor = curves["x265/medium/crf"]
        a_time = sum(p.encode_s for p in anchor.points)
        print(f"vvenc vs x265 medium: {what}, {frames} frames, 4 points each (one encode at a "
              f"time per worker, 2 workers)")
        print(f"  {'curve':22s} {'BD-rate vs x265':>16s} {'encode s (4 pts)':>17s} "
              f"{'time / x265':>12s}")
        print(f"  {'x265 medium':22s} {'0.0 %':>16s} {a_time:17.1f} {1.0:12.2f}")
        for pr in presets:
            c = curves.get(f"vvc/{pr}/crf")
            if c is None:
                print(f"  vvc {pr}: no points")
                continue
            r = bdrate.compare(anchor.rates(), anchor.values("psnr_y"), c.rates(),
                               c.values("psnr_y"))
            t = sum(p.encode_s for p in c.points)
            print(f"  {'vvc ' + pr:22s} {r.bd_rate:15.1f}% {t:17.1f} {t / a_time:12.2f}")
        proj.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--sweep-frames", type=int, default=30)
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--only-sweep", action="store_true", help="only the sweep and vvenc runs")
    ap.add_argument("--no-vmaf", action="store_true", help="skip the FFmpeg-executable metrics")
    ap.add_argument("--only-vmaf", action="store_true", help="only the FFmpeg-executable metrics")
    a = ap.parse_args()
    if a.only_vmaf:
        bench_vmaf(a.frames)
        return
    if a.only_sweep:
        bench_sweep(a.sweep_frames)
        bench_vvenc(a.sweep_frames)
        return
    bench_metrics(a.frames)
    if not a.no_vmaf:
        bench_vmaf(a.frames)
    if not a.no_sweep:
        bench_sweep(a.sweep_frames)
        bench_vvenc(a.sweep_frames)


if __name__ == "__main__":
    main()
