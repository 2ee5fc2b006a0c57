"""Motion models benchmark: TransitionNet and StyleVAE through our SessionPool vs a bare
onnxruntime InferenceSession on the same models and inputs, side by side in one run.

- transitions/s: a batch of 30-frame-gap windows (10 context + 30 + 1 target frames) in one
  call, ``pool.run`` (1 session x 1 thread, inputs checked against the manifest) vs the bare
  session (1 intra-op thread); ``pool.run_batched`` over one session per core; and the whole
  ``transition.inbetween`` (numpy preparation + model + rebuild) per transition;
- style transfers/s: the encoder + decoder on a batch of 60-frame windows, same comparison, and
  the whole ``style.transfer`` of a 10 s clip (features, windows, both models, overlap-add,
  integration) in clips/s and windows/s.

    python bench/bench_motion_models.py [--batch 64] [--gap 30]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import style as S  # noqa: E402
from studio.motion.learned import transition as T  # noqa: E402
from studio.runtime import models  # noqa: E402
from studio.runtime.pool import SessionPool  # noqa: E402
from studio.settings import cpu_count  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from timing import interleaved as _interleaved  # noqa: E402


def interleaved(cases: dict, rounds: int = 7, slice_s: float = 0.25) -> dict[str, float]:
    return _interleaved(cases, rounds, slice_s)


def bare_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def long_walk(seconds: float):
    """The built-in walk cycled to ``seconds`` on the humanoid at 30 fps."""
    rec = D.load_pybullet_record("walk", min_frames=int(seconds * D.FPS) + 1)
    n = int(seconds * D.FPS)
    return D.arrays_to_clip(rec.root_pos[:n], rec.quats[:n], D.FPS, "walk")


def table(title: str, unit: str, rows: list[tuple[str, float, float]], base: float) -> None:
    print(f"{title:<40} {'ms/call':>9} {unit:>12} {'vs bare':>8}")
    for name, sec, items in rows:
        print(f"{name:<40} {sec * 1e3:9.2f} {items / sec:12.1f} {base / sec:8.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--gap", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    cores = cpu_count()
    b, n = args.batch, args.gap
    print(f"machine: {platform.system()} {platform.machine()}, {cores} cores, "
          f"onnxruntime CPU; batch {b}")

    # -- TransitionNet --------------------------------------------------------------------------
    tman = models.pool(T.ROLE, sessions=1).manifest
    walk = long_walk(max(args.seconds, 6.0))
    pos, quat = D.clip_arrays(walk)
    length = T.CONTEXT + n + 1
    starts = np.linspace(0, len(pos) - length, b).astype(int)
    wp = np.stack([pos[s:s + length] for s in starts])
    wq = np.stack([quat[s:s + length] for s in starts])
    c = tman.constants
    x, known, tta, _, _ = T.model_inputs(wp[:, :T.CONTEXT], wq[:, :T.CONTEXT], wp[:, -1], wq[:, -1],
                                         n, np.asarray(c["mean"]), np.asarray(c["std"]))
    bare = bare_session(tman.model_path)
    names = [i.name for i in bare.get_inputs()]
    feed = dict(zip(names, (x, known, tta)))
    with SessionPool(tman, sessions=1, threads=1) as p1, \
            SessionPool(tman, sessions=cores, threads=1) as pn:
        assert np.allclose(p1.run(x, known, tta)[0], bare.run(None, feed)[0], atol=1e-4)
        chunk = max(1, b // cores)
        res = interleaved({
            "bare": lambda: bare.run(None, feed),
            "pool 1x1": lambda: p1.run(x, known, tta),
            f"pool {cores}x1 run_batched": lambda: pn.run_batched(x, known, tta, batch=chunk),
            "inbetween() whole, pool": lambda: T.inbetween(wp[:, :T.CONTEXT], wq[:, :T.CONTEXT],
                                                           wp[:, -1], wq[:, -1], n, pool=pn,
                                                           batch=chunk),
            "inbetween() linear baseline": lambda: T.inbetween(wp[:, :T.CONTEXT], wq[:, :T.CONTEXT],
                                                               wp[:, -1], wq[:, -1], n, "linear"),
        })
    print(f"\nTransitionNet {tman.model_path.name} ({tman.model_path.stat().st_size / 1e6:.2f} MB), "
          f"{b} transitions of {n} frames per call, input {tuple(x.shape)}")
    table("transitions", "trans/s", [(k, v, b) for k, v in res.items()], res["bare"])
    t_ratio_1 = res["bare"] / res["pool 1x1"]
    t_ratio_n = res["bare"] / res[f"pool {cores}x1 run_batched"]

    # -- StyleVAE --------------------------------------------------------------------------------
    models1 = S.StyleModels(sessions=1)
    enc_m, dec_m = models1.encoder.manifest, models1.decoder.manifest
    feats, _ = S.clip_features(walk)
    wins, _ = S.windows_of(feats, models1.window, 5)
    wins = np.resize(wins, (b,) + wins.shape[1:])
    xs = ((wins - models1.mean) / models1.std).astype(np.float32)
    be, bd = bare_session(enc_m.model_path), bare_session(dec_m.model_path)
    en, dn = be.get_inputs()[0].name, [i.name for i in bd.get_inputs()]

    def bare_style():
        mu = be.run(None, {en: xs})[0]
        return bd.run(None, {dn[0]: xs, dn[1]: mu[::-1].copy()})

    def pool_style(m, chunk=None):
        if chunk is None:
            mu = m.encoder.run(xs)[0]
            return m.decoder.run(xs, mu[::-1].copy())
        mu = m.encoder.run_batched(xs, batch=chunk)[0]
        return m.decoder.run_batched(xs, mu[::-1].copy(), batch=chunk)

    modelsn = S.StyleModels(SessionPool(enc_m, sessions=cores, threads=1),
                            SessionPool(dec_m, sessions=cores, threads=1))
    style_clip = walk
    assert np.allclose(pool_style(models1)[0], bare_style()[0], atol=1e-4)
    chunk = max(1, b // cores)
    res2 = interleaved({
        "bare": bare_style,
        "pool 1x1": lambda: pool_style(models1),
        f"pool {cores}x1 run_batched": lambda: pool_style(modelsn, chunk),
    })
    clip_s = interleaved({"transfer() whole clip": lambda: S.transfer(walk, style_clip, 1.0,
                                                                      models=modelsn)},
                         rounds=3, slice_s=0.5)["transfer() whole clip"]
    nwin = len(S.windows_of(feats, models1.window, models1.stride)[1])
    print(f"\nStyleVAE encoder ({enc_m.model_path.stat().st_size / 1e6:.2f} MB) + decoder "
          f"({dec_m.model_path.stat().st_size / 1e6:.2f} MB), {b} windows of "
          f"{models1.window} frames per call (one window = one 2 s style transfer)")
    table("style transfers (windows)", "windows/s", [(k, v, b) for k, v in res2.items()], res2["bare"])
    print(f"{'transfer() of a ' + f'{args.seconds:g} s clip (' + str(nwin) + ' windows)':<40} "
          f"{clip_s * 1e3:9.2f} {1 / clip_s:12.1f} clips/s ({nwin / clip_s:.0f} windows/s, "
          f"{len(feats) / clip_s:.0f} frames/s)")
    s_ratio_1 = res2["bare"] / res2["pool 1x1"]
    s_ratio_n = res2["bare"] / res2[f"pool {cores}x1 run_batched"]
    print(f"\nratios (bare time / pool time, >1 = pool faster): transitions pool 1x1 "
          f"{t_ratio_1:.2f}, pool {cores}x1 {t_ratio_n:.2f}; style transfers pool 1x1 "
          f"{s_ratio_1:.2f}, pool {cores}x1 {s_ratio_n:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
