"""Talk offline benchmark: whole pipeline frames/s vs bare encoder + U-Net frames/s.

Both are measured in this run on the same model pair and the same pool:
- bare: pre-built inputs, encoder (batched) then one U-Net call per frame over the pool;
- pipeline: decode audio, mel, encoder, feature stacking, crop, U-Net, composite and
  H.264 + AAC encoding to an MP4.
Also prints the pool's speed-up over a single session.

    python bench/bench_talk.py [--models DIR] [--seconds 8] [--size 320]

Without --models it uses test-fixture models (random weights; a SyncTalk-sized U-Net
stand-in is far cheaper than a real one, so the ratio is a worst case for overheads).
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", help="folder with audio_encoder/ and unet/ (model.onnx + manifest.json)")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--size", type=int, default=320)
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
