"""Runtime benchmark: one session vs the session pool on this machine's cores.

Builds a small conv model in place (a test fixture, not a shipped model) and prints
frames/s for several pool shapes side by side, as ratios to a single 1-thread session.

    python bench/bench_runtime.py [--frames 200] [--size 128]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.runtime.pool import SessionPool  # noqa: E402
from studio.settings import cpu_count  # noqa: E402
from tests.fixtures.tiny_models import conv_net  # noqa: E402


def fps(pool: SessionPool, frames: list[np.ndarray]) -> float:
    pool.map([(f,) for f in frames[:8]])  # settle
    t0 = time.perf_counter()
    pool.map([(f,) for f in frames])
    return len(frames) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    cores = cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        man = conv_net(Path(tmp) / "bench_conv", size=args.size, width=32, depth=4, batch=1)
        rng = np.random.default_rng(0)
        frames = [rng.random((1, 3, args.size, args.size), dtype=np.float32) for _ in range(args.frames)]
        shapes = [(1, 1), (1, cores), (cores, 1)]
        if cores > 2:
            shapes.append((max(1, cores // 2), 2))
        results = {}
        for sessions, threads in shapes:
            with SessionPool(man, sessions=sessions, threads=threads) as pool:
                results[(sessions, threads)] = fps(pool, frames)
                lat = pool.stats()
            results[(sessions, threads, "lat")] = (lat.mean_ms, lat.p95_ms)
    base = results[(1, 1)]
    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores, "
          f"{platform.processor() or 'cpu'}; model: conv 4x32ch at {args.size}x{args.size}, "
          f"{args.frames} frames")
    print(f"{'sessions x threads':>20} {'frames/s':>10} {'vs 1x1':>8} {'mean ms':>8} {'p95 ms':>8}")
    for key in [k for k in results if len(k) == 2]:
        mean, p95 = results[key + ("lat",)]
        print(f"{f'{key[0]} x {key[1]}':>20} {results[key]:10.1f} {results[key] / base:8.2f} "
              f"{mean:8.2f} {p95:8.2f}")
    print(f"pool ({cores} x 1) / single session (1 x 1) = {results[(cores, 1)] / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
