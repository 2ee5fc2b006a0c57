"""Talk offline benchmark: whole pipeline frames/s vs bare encoder + U-Net frames/s.

Both are measured in this run on the same model pair and the same pool:
- bare: pre-built inputs, encoder (batched) then one U-Net call per frame over the pool;
- pipeline: decode audio, mel, encoder, feature stacking, crop, U-Net, composite and
  H.264 + AAC encoding to an MP4.
Also prints the pool's speed-up over a single session.

    python bench/bench_talk.py [--models DIR] [--seconds 8] [--size 320]
    python bench/bench_talk.py --compare [--seconds 4] [--repeat 2] [--pairs shipped,320,160]
                               [--json OUT]
    python bench/bench_talk.py --writers [--int8] [--seconds 8] [--repeat 3] [--json OUT]

Without --models it uses test-fixture models (random weights; a SyncTalk-sized U-Net
stand-in is far cheaper than a real one, so the ratio is a worst case for overheads).

``--compare``: FP32 against INT8 (``studio talk optimise``, gate skipped: random weights),
side by side in one run, on the shipped pair and on SyncTalk_2D-architecture pairs at 320
px (its "328" model) and 160 px (tests/fixtures/synctalk_models.py, random weights): bare
and pipeline fps with 1 and N sessions. Each (pair, sessions) opens both precisions and
alternates them ``--repeat`` times (the order flips every round), reporting the median: on
a shared machine the load drifts, and the ratio between neighbours is what holds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.jobs import JobContext  # noqa: E402
from studio.runtime.pool import SessionPool  # noqa: E402
from studio.settings import cpu_count  # noqa: E402
from studio.talk.lipsync import LipSync  # noqa: E402
from studio.talk.render import ArrayTemplate, pingpong, render_to_file  # noqa: E402,F401


def bare_fps(ls: LipSync, template, wav: np.ndarray, n: int) -> float:
    rows = ls.audio_rows(wav, n)
    feats = ls.audio_features(rows)
    crops = [ls.crop(template.frame(pingpong(i, template.n_frames)), template.crop_box(pingpong(i, template.n_frames)))[0]
             for i in range(n)]
    t0 = time.perf_counter()
    ls.audio_rows(wav, n)
    for _ in ls.unet.imap((crops[i], feats[i:i + 1]) for i in range(n)):
        pass
    return n / (time.perf_counter() - t0)


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def pipeline_fps(ls: LipSync, template, wav_path: Path, out: Path) -> tuple[float, object]:
    t0 = time.perf_counter()
    stats = render_to_file(ls, template, wav_path, out, JobContext())
    return stats.frames / (time.perf_counter() - t0), stats


def compare(args, template, tname: str, wav: np.ndarray, tmp: Path) -> int:
    """FP32 vs INT8, shipped + SyncTalk_2D 320/160 pairs, 1 and N sessions (module doc)."""
    import json
    import statistics

    from studio.talk.optimise import optimise_pair
    from studio.talk.session import DEFAULT_MODELS
    from tests.fixtures.synctalk_models import synctalk_pair

    n = int(round(args.seconds * 25))
    cores = cpu_count()
    want = set(args.pairs.split(","))
    pairs: list[tuple[str, Path]] = [("shipped 160", DEFAULT_MODELS)] if "shipped" in want else []
    for size in (320, 160):
        if str(size) in want:
            synctalk_pair(tmp / f"synctalk_{size}", size)
            pairs.append((f"SyncTalk_2D {size}", tmp / f"synctalk_{size}"))
    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores ({cpu_name()}); "
          f"load average at start {load_avg()}; {args.seconds:g} s audio = {n} frames, {tname}; "
          f"median of {args.repeat} alternating rounds", flush=True)
    rows = []
    for label, fp32 in pairs:
        t0 = time.perf_counter()
        int8 = tmp / (fp32.name + "_int8")
        optimise_pair(fp32, int8, force=True, calib_frames=args.calib)
        print(f"  {label}: INT8 pair built in {time.perf_counter() - t0:.0f} s "
              f"(load {load_avg()})", flush=True)
        for sessions in sorted({1, cores}):
            pools = {}
            for prec, folder in (("fp32", fp32), ("int8", int8)):
                pools[prec] = LipSync(SessionPool(folder / "audio_encoder", sessions=1),
                                      SessionPool(folder / "unet", sessions=sessions))
            got: dict[str, dict[str, list]] = {p: {"bare": [], "pipe": [], "stats": []} for p in pools}
            for r in range(args.repeat):
                for prec in (("fp32", "int8") if r % 2 == 0 else ("int8", "fp32")):
                    ls = pools[prec]
                    got[prec]["bare"].append(bare_fps(ls, template, wav, n))
                    p, st = pipeline_fps(ls, template, tmp / "a.wav", tmp / "out.mp4")
                    got[prec]["pipe"].append(p)
                    got[prec]["stats"].append(st)
            for prec, ls in pools.items():
                b = statistics.median(got[prec]["bare"])
                p = statistics.median(got[prec]["pipe"])
                rows.append({"pair": label, "px": ls.contract.size, "precision": prec,
                             "sessions": sessions, "bare_fps": round(b, 1),
                             "pipeline_fps": round(p, 1), "pipeline_over_bare": round(p / b, 2),
                             "bare_runs": [round(v, 1) for v in got[prec]["bare"]],
                             "pipeline_runs": [round(v, 1) for v in got[prec]["pipe"]],
                             "stages": got[prec]["stats"][-1].summary(), "load": load_avg()})
                ls.close()
            print(f"  {label}, {sessions} session(s) done (load {load_avg()})", flush=True)
    print(f"{'pair':<16} {'px':>4} {'prec':>5} {'sessions':>8} {'bare fps':>9} {'pipeline fps':>13} "
          f"{'pipeline/bare':>14}")
    for r in rows:
        print(f"{r['pair']:<16} {r['px']:>4} {r['precision']:>5} {r['sessions']:>8} "
              f"{r['bare_fps']:9.1f} {r['pipeline_fps']:13.1f} {r['pipeline_over_bare']:14.2f}")
    print("INT8 / FP32 (same pair, same sessions):")
    for r in rows:
        if r["precision"] != "int8":
            continue
        f = next(x for x in rows if x["pair"] == r["pair"] and x["sessions"] == r["sessions"]
                 and x["precision"] == "fp32")
        print(f"  {r['pair']:<16} {r['sessions']} session(s): bare {r['bare_fps'] / f['bare_fps']:.2f}x, "
              f"pipeline {r['pipeline_fps'] / f['pipeline_fps']:.2f}x")
    print("stages (pipeline, last round):")
    for r in rows:
        print(f"  {r['pair']} {r['precision']} {r['sessions']}s: {r['stages']}")
    print(f"load average at end {load_avg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": f"{platform.system()} {platform.machine()}, "
                                                          f"{cores} cores ({cpu_name()})",
                                               "seconds": args.seconds, "frames": n,
                                               "template": tname, "rows": rows}, indent=1))
    return 0


class LegacyWriter:
    """The writer before run 6, for ``--writers``: RGB frames handed to PyAV as rgb24
    (swscale converts to yuv420p) and x264 in the render's own process."""

    def __init__(self, path, fps, width, height, *, audio=None, audio_sr=48000, crf=18,
                 container_format=None, **_):
        import av
        from fractions import Fraction

        from studio.media.video_writer import _Encoder

        self._av, self.Fraction = av, Fraction
        self.w, self.h = int(width) // 2 * 2, int(height) // 2 * 2
        self.enc = _Encoder(path, int(fps), self.w, self.h,
                            audio=None if audio is None else np.asarray(audio, np.float32),
                            audio_sr=audio_sr, crf=crf, codec="libx264", preset="veryfast",
                            audio_bitrate=160_000, container_format=container_format)
        self.encode_cpu_s = None

    def write(self, rgb):
        f = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:self.h, :self.w]), format="rgb24")
        f.pts = self.enc.frames
        self.enc.frames += 1
        for packet in self.enc.stream.encode(f):
            self.enc.container.mux(packet)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.enc.close() if exc_type is None else self.enc.abort()


def compare_writers(args, template, tname: str, wav: np.ndarray, tmp: Path) -> int:
    """``--writers``: the shipped pair, bare vs pipeline with the old writer ("legacy": rgb24
    via swscale, x264 in-process), the new writer kept in-process ("inline": OpenCV I420,
    x264 in-process) and the new default ("process": OpenCV I420, x264 in a child process),
    1 and N sessions, alternating ``--repeat`` rounds (order rotates), median."""
    import json
    import statistics
    from functools import partial

    import studio.talk.render as render_mod
    from studio.media.video_writer import VideoWriter
    from studio.talk.session import DEFAULT_MODELS

    writers = {"legacy": LegacyWriter, "inline": partial(VideoWriter, separate_process=False),
               "process": partial(VideoWriter, separate_process=True)}
    n = int(round(args.seconds * 25))
    cores = cpu_count()
    folders = {"fp32": DEFAULT_MODELS}
    if args.int8:
        from studio.talk.optimise import optimise_pair

        optimise_pair(DEFAULT_MODELS, tmp / "shipped_int8", force=True, calib_frames=args.calib)
        folders["int8"] = tmp / "shipped_int8"
    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores ({cpu_name()}); "
          f"load average at start {load_avg()}; {args.seconds:g} s audio = {n} frames, {tname}; "
          f"median of {args.repeat} rounds", flush=True)
    rows = []
    original = render_mod.VideoWriter
    try:
        for prec, folder in folders.items():
            for sessions in sorted({1, cores}):
                ls = LipSync(SessionPool(folder / "audio_encoder", sessions=1),
                             SessionPool(folder / "unet", sessions=sessions))
                got = {k: [] for k in ("bare", *writers)}
                cpu = {k: [] for k in writers}
                stages = {}
                names = list(writers)
                for r in range(args.repeat):
                    got["bare"].append(bare_fps(ls, template, wav, n))
                    for name in names[r % 3:] + names[:r % 3]:
                        render_mod.VideoWriter = writers[name]
                        c0 = time.process_time()  # this process, all threads (sessions too)
                        p, st = pipeline_fps(ls, template, tmp / "a.wav", tmp / f"{name}.mp4")
                        c = time.process_time() - c0 + st.stage_s.get("encoder process cpu", 0.0)
                        got[name].append(p)
                        cpu[name].append(1000 * c / st.frames)
                        stages[name] = st.summary()
                b = statistics.median(got["bare"])
                row = {"precision": prec, "sessions": sessions, "bare_fps": round(b, 1),
                       "runs": {k: [round(v, 1) for v in vs] for k, vs in got.items()},
                       "stages": stages, "load": load_avg()}
                # each round's own ratio (neighbours in time share the load), then the median
                row["process_over_legacy_paired"] = round(statistics.median(
                    a / b for a, b in zip(got["process"], got["legacy"])), 2)
                row["inline_over_legacy_paired"] = round(statistics.median(
                    a / b for a, b in zip(got["inline"], got["legacy"])), 2)
                for name in writers:
                    row[name] = round(statistics.median(got[name]), 1)
                    row[f"{name}_cpu_ms"] = round(statistics.median(cpu[name]), 1)
                    row["runs"][f"{name}_cpu_ms"] = [round(v, 1) for v in cpu[name]]
                rows.append(row)
                ls.close()
                print(f"  {prec}, {sessions} session(s) done (load {load_avg()})", flush=True)
    finally:
        render_mod.VideoWriter = original
    print(f"{'prec':>5} {'sessions':>8} {'bare':>7} {'legacy':>7} {'inline':>7} {'process':>8} "
          f"{'process/legacy':>15} {'legacy/bare':>12} {'process/bare':>13}")
    for r in rows:
        print(f"{r['precision']:>5} {r['sessions']:>8} {r['bare_fps']:7.1f} {r['legacy']:7.1f} "
              f"{r['inline']:7.1f} {r['process']:8.1f} {r['process'] / r['legacy']:15.2f} "
              f"{r['legacy'] / r['bare_fps']:12.2f} {r['process'] / r['bare_fps']:13.2f}")
    print("paired (median of each round's own ratio): "
          + "; ".join(f"{r['precision']} {r['sessions']}s process/legacy {r['process_over_legacy_paired']}, "
                      f"inline/legacy {r['inline_over_legacy_paired']}" for r in rows))
    print("CPU ms per frame, render process (all threads) + encoder child, median "
          "(robust to other load: what the pipeline costs, not how fast it got it):")
    for r in rows:
        print(f"  {r['precision']} {r['sessions']}s: legacy {r['legacy_cpu_ms']}, inline "
              f"{r['inline_cpu_ms']}, process {r['process_cpu_ms']}")
    for r in rows:
        print(f"runs {r['precision']} {r['sessions']}s: {r['runs']}")
        for name, st in r["stages"].items():
            print(f"  {name}: {st}")
    sizes = {name: (tmp / f"{name}.mp4").stat().st_size for name in writers}
    print(f"output sizes (last run): {sizes}")
    print(f"load average at end {load_avg()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": f"{platform.system()} {platform.machine()}, "
                                                          f"{cores} cores ({cpu_name()})",
                                               "frames": n, "template": tname, "rows": rows,
                                               "sizes": sizes}, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", help="folder with audio_encoder/ and unet/ (model.onnx + manifest.json)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--compare", action="store_true",
                    help="FP32 vs INT8 on the shipped and SyncTalk_2D 320/160 pairs (module doc)")
    ap.add_argument("--repeat", type=int, default=2, help="--compare: alternating rounds")
    ap.add_argument("--calib", type=int, default=16, help="--compare: calibration frames")
    ap.add_argument("--json", help="--compare: write the results here")
    ap.add_argument("--pairs", default="shipped,320,160",
                    help="--compare: which of shipped, 320, 160 (comma-separated)")
    ap.add_argument("--writers", action="store_true",
                    help="shipped pair: old writer vs OpenCV I420 in-process vs x264 in a child process")
    ap.add_argument("--int8", action="store_true", help="--writers: the shipped pair in INT8 too")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    if args.models:
        enc, unet = Path(args.models) / "audio_encoder", Path(args.models) / "unet"
        label = f"models from {args.models}"
    else:
        from tests.fixtures.tiny_models import talk_pair

        enc, unet = talk_pair(tmp / "models", size=args.size)
        label = f"test-fixture models (random weights), U-Net stand-in at {args.size}x{args.size}"
    from studio.talk.session import DEFAULT_AVATAR

    if DEFAULT_AVATAR.exists():  # real frames: what H.264 sees in use (noise would be a worst case)
        from studio.talk.avatar import AvatarTemplate

        av_t = AvatarTemplate.load(DEFAULT_AVATAR)
        template = ArrayTemplate(list(av_t.load_frames()), av_t.crop_boxes.astype(np.float32))
        tname = f"default avatar {av_t.width}x{av_t.height}"
    else:
        rng = np.random.default_rng(0)
        template = ArrayTemplate([rng.integers(0, 255, (540, 540, 3), dtype=np.uint8) for _ in range(25)],
                                 np.array([[150, 200, 410, 460]] * 25, np.float32))
        tname = "540x540 noise template"
    t = np.arange(int(args.seconds * 16000)) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    sf.write(tmp / "a.wav", wav, 16000)
    if args.compare:
        return compare(args, template, tname, wav, tmp)
    if args.writers:
        return compare_writers(args, template, tname, wav, tmp)
    n = int(round(args.seconds * 25))
    cores = cpu_count()
    results = {}
    for sessions in sorted({1, cores}):
        ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=sessions))
        b = bare_fps(ls, template, wav, n)
        t0 = time.perf_counter()
        stats = render_to_file(ls, template, tmp / "a.wav", tmp / "out.mp4", JobContext())
        p = stats.frames / (time.perf_counter() - t0)
        results[sessions] = (b, p, stats)
        ls.close()
    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores; {label}; "
          f"{args.seconds:g} s audio = {n} frames, {tname}")
    print(f"{'sessions':>8} {'bare fps':>9} {'pipeline fps':>13} {'pipeline/bare':>14}")
    for s, (b, p, _) in results.items():
        print(f"{s:>8} {b:9.1f} {p:13.1f} {p / b:14.2f}")
    if cores > 1:
        print(f"pool speed-up ({cores} sessions / 1): bare {results[cores][0] / results[1][0]:.2f}, "
              f"pipeline {results[cores][1] / results[1][1]:.2f}")
    print("stages (pool run): " + results[cores][2].summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
