"""Motion benchmark: DeepPhase inference through our SessionPool vs a bare onnxruntime session.

Measured side by side in one run, on the same model and the same input windows:

- per-frame latency: one (1, 54, 61) window per call, ``pool.run`` (1 session x 1 thread,
  input checked against the manifest) vs ``InferenceSession.run`` (1 intra-op thread);
- batched throughput over a clip (windows for every frame of a 20 s walk): ``pool.run_batched``
  with 1 session and with one session per core, vs one bare session called with the same
  batches;
- the whole ``phase.compute_phase`` (FK, features, windows, inference) in frames/s.

    python bench/bench_motion.py [--model models/deepphase] [--seconds 20] [--batch 64]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.motion.core.sampling import sample_clip  # noqa: E402
from studio.motion.io.library import load_builtin  # noqa: E402
from studio.motion.learned.phase import clip_features, compute_phase, windows  # noqa: E402
from studio.runtime.manifest import Manifest  # noqa: E402
from studio.runtime.pool import SessionPool  # noqa: E402
from studio.settings import cpu_count  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from timing import interleaved as _interleaved  # noqa: E402


def interleaved(cases: dict, rounds: int = 9, slice_s: float = 0.15) -> dict[str, float]:
    return _interleaved(cases, rounds, slice_s)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(ROOT / "models" / "deepphase"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    import onnxruntime as ort

    man = Manifest.load(args.model)
    c = man.constants
    fps, window = float(c["fps"]), int(c["window"])
    mean, std = np.asarray(c["mean"], np.float32), np.asarray(c["std"], np.float32)
    walk = load_builtin("walk")
    long = sample_clip(walk, np.arange(int(args.seconds * fps) + 1) / fps, fps)
    long.name = "walk"
    feats, n = clip_features(long, fps, window // 2)
    wins = np.ascontiguousarray(windows(((feats - mean) / std).astype(np.float32), window))
    one = wins[n // 2:n // 2 + 1]
    cores = cpu_count()

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    bare = ort.InferenceSession(str(man.model_path), sess_options=so,
                                providers=["CPUExecutionProvider"])
    in_name = bare.get_inputs()[0].name

    with SessionPool(man, sessions=1, threads=1) as pool1, \
            SessionPool(man, sessions=cores, threads=1) as pooln:
        a = pool1.run(one)[2]
        b = bare.run(None, {in_name: one})[2]
        assert np.allclose(a, b, atol=1e-5), "pool and bare session disagree"

        def bare_batched():
            for i in range(0, n, args.batch):
                bare.run(None, {in_name: wins[i:i + args.batch]})

        results = interleaved({
            "bare single": lambda: bare.run(None, {in_name: one}),
            "pool single": lambda: pool1.run(one),
            "pool single, no check": lambda: pool1.run(one, validate=False),
        })
        results.update(interleaved({
            "bare batched": bare_batched,
            "pool 1x1 batched": lambda: pool1.run_batched(wins, batch=args.batch),
            f"pool {cores}x1 batched": lambda: pooln.run_batched(wins, batch=args.batch),
            "compute_phase (whole)": lambda: compute_phase(long, pool=pooln, batch=args.batch),
        }, slice_s=0.3))

    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores; model "
          f"{man.model_path} ({man.model_path.stat().st_size / 1024:.0f} KiB), input "
          f"(B, {wins.shape[1]}, {window}); clip: walk looped {args.seconds:g} s = {n} frames "
          f"at {fps:g} fps, batch {args.batch}")
    sb = results["bare single"]
    print(f"{'per-frame (1 window per call)':<34} {'us/call':>9} {'calls/s':>9} {'vs bare':>8}")
    for key in ("bare single", "pool single", "pool single, no check"):
        s = results[key]
        print(f"{key:<34} {s * 1e6:9.1f} {1 / s:9.0f} {sb / s:8.2f}")
    bb = results["bare batched"]
    print(f"{'batched over the clip':<34} {'ms/clip':>9} {'frames/s':>9} {'vs bare':>8}")
    for key in ("bare batched", "pool 1x1 batched", f"pool {cores}x1 batched",
                "compute_phase (whole)"):
        s = results[key]
        print(f"{key:<34} {s * 1e3:9.2f} {n / s:9.0f} {bb / s:8.2f}")
    ps = results["pool single"]
    print(f"ratios: pool/bare single-frame throughput = {sb / ps:.2f}; "
          f"pool {cores}x1 / bare batched = {bb / results[f'pool {cores}x1 batched']:.2f}; "
          f"batched / single-window frames per second (bare) = {sb * n / bb:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
