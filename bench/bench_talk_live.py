"""Live talk benchmark: latency and sustained fps of the streaming engine, both modes.

Audio is fed at real-time pace in 20 ms blocks (like a microphone) from a file, or from
synthetic speech-like audio; a 'UI' thread polls the newest frame at 60 Hz. By default the
models are the tiny *test fixtures* (random weights, tests.fixtures.tiny_models), which show
the engine's own overhead; pass --models DIR (a folder holding the audio-encoder and U-Net
model folders, each with manifest.json) to measure a real pair. The avatar is a synthetic
frame with a face box sized for the U-Net.

    python bench/bench_talk_live.py [--audio speech.wav] [--seconds 8] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.runtime.pool import SessionPool  # noqa: E402
from studio.settings import cpu_count  # noqa: E402
from studio.talk.lipsync import LipSync  # noqa: E402
from studio.talk.live import LiveEngine  # noqa: E402
from studio.talk.render import ArrayTemplate, render_frames  # noqa: E402


def speech_like(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Syllable-rate bursts of a voiced tone plus a little noise (no speech data needed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.5 * t)
    voiced = np.sin(2 * np.pi * np.cumsum(f0) / sr) + 0.5 * np.sin(4 * np.pi * np.cumsum(f0) / sr)
    return (0.2 * env * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def find_pair(folder: Path) -> tuple[Path, Path]:
    enc = unet = None
    for man in sorted(folder.rglob("manifest.json")):
        role = json.loads(man.read_text()).get("role", "")
        if role == "talk.audio_encoder" and enc is None:
            enc = man
        elif role == "talk.unet" and unet is None:
            unet = man
    if enc is None or unet is None:
        raise SystemExit(f"{folder}: needs manifests with roles talk.audio_encoder and talk.unet")
    return enc, unet


def synthetic_template(size: int) -> ArrayTemplate:
    rng = np.random.default_rng(1)
    side = int(size * 1.6)
    h, w = side * 3 // 2, side * 2
    frames = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(4)]
    x0, y0 = (w - side) // 2, (h - side) // 2
    boxes = np.array([[x0 + i, y0, x0 + side + i, y0 + side] for i in range(4)], np.float32)
    return ArrayTemplate(frames, boxes)


def run_live(ls: LipSync, tpl, wav: np.ndarray, mode: str, block: int) -> dict:
    eng = LiveEngine(ls, tpl, mode)
    stop = threading.Event()
    shown = []

    def ui():
        while not stop.is_set():
            f = eng.latest_frame()
            if f is not None:
                shown.append(f[0])
            time.sleep(1 / 60)

    eng.start()
    th = threading.Thread(target=ui, daemon=True)
    th.start()
    t0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        for k, s in enumerate(range(0, len(wav), block)):
            due = t0 + (k + 1) * block / 16000
            dt = due - time.monotonic()
            if dt > 0:
                time.sleep(dt)
            eng.push_audio(wav[s:s + block], t_capture=due - block / 16000)
        time.sleep(0.3)
        st = eng.stats()
    finally:
        stop.set()
        th.join()
        eng.stop()
    wall = time.monotonic() - t0
    return {"stats": st, "shown": len(shown), "cpu": (time.process_time() - cpu0) / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", type=Path, help="speech file (any format load_audio reads)")
    ap.add_argument("--seconds", type=float, default=8.0, help="synthetic audio length / cap")
    ap.add_argument("--models", type=Path, help="folder with a real audio-encoder + U-Net pair")
    ap.add_argument("--size", type=int, default=64, help="tiny fixture U-Net side (fixtures only)")
    ap.add_argument("--sessions", type=int, default=0, help="U-Net sessions (0: one per core)")
    ap.add_argument("--block-ms", type=float, default=20.0)
    ap.add_argument("--modes", default="low_latency,quality")
    args = ap.parse_args()

    if args.audio:
        from studio.media.audio_io import load_audio

        wav = load_audio(args.audio, 16000).samples[: int(args.seconds * 16000)]
        source = f"{args.audio.name} ({len(wav) / 16000:.1f} s used, --seconds caps it)"
    else:
        wav = speech_like(args.seconds)
        source = f"synthetic speech-like audio ({args.seconds:g} s)"
    sessions = args.sessions or cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        if args.models:
            enc, unet = find_pair(args.models)
            what = f"models from {args.models}"
        else:
            from tests.fixtures.tiny_models import talk_pair

            enc, unet = talk_pair(Path(tmp), size=args.size)
            what = (f"TINY TEST FIXTURES (random weights, U-Net {args.size}x{args.size}; not a real "
                    f"model: numbers show the engine's overhead)")
        ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=sessions))
        tpl = synthetic_template(ls.contract.size)
        print(f"machine: {platform.system()} {platform.machine()}, {cpu_count()} cores; "
              f"provider {ls.unet.provider}")
        print(f"models: {what}")
        print(f"audio: {source}, fed at real-time pace in {args.block_ms:g} ms blocks; "
              f"U-Net pool {sessions} x 1 thread; avatar {tpl.frame(0).shape[1]}x"
              f"{tpl.frame(0).shape[0]} synthetic")

        class Count:
            n = 0

            def write(self, f):
                self.n += 1

        t = time.perf_counter()
        offline = render_frames(ls, tpl, wav, Count())
        off_fps = offline.frames / (time.perf_counter() - t)
        block = int(round(args.block_ms * 16))
        rows = []
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            r = run_live(ls, tpl, wav, mode, block)
            rows.append((mode, r))
        print()
        hdr = (f"{'mode':>12} {'look-ahead':>10} {'frames':>7} {'skipped':>7} {'fps':>6} "
               f"{'lat p50':>8} {'lat p95':>8} {'delay p50':>9} {'delay p95':>9} {'cpu':>5}")
        print(hdr)
        for mode, r in rows:
            s = r["stats"]
            print(f"{mode:>12} {1000 * s.lookahead_s:8.0f}ms {s.frames:7d} {s.skipped:7d} "
                  f"{s.fps:6.1f} {1000 * s.latency_p50_s:6.1f}ms {1000 * s.latency_p95_s:6.1f}ms "
                  f"{1000 * s.delay_p50_s:7.1f}ms {1000 * s.delay_p95_s:7.1f}ms "
                  f"{100 * r['cpu']:4.0f}%")
        print()
        print("latency: capture of the last sample a frame depends on -> frame ready; "
              "delay: capture of the frame's own last sample -> ready (= look-ahead + latency)")
        print(f"offline render of the same audio, as fast as it goes: {off_fps:.1f} fps "
              f"(live needs {ls.fps}); U-Net mean {ls.unet.stats().mean_ms:.2f} ms/call")
        for mode, r in rows:
            s = r["stats"]
            print(f"{mode}: sustained {s.fps:.1f} fps = {s.fps / ls.fps:.2f} x real time; "
                  f"UI saw {r['shown']} frames at 60 Hz polling, {s.overwritten} overwritten unread")
        ls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
