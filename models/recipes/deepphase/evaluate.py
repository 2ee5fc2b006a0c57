"""Measure the shipped DeepPhase model and the blends built on it (the numbers in docs/motion.md).

    .venv/bin/python models/recipes/deepphase/evaluate.py [--model models/deepphase] [--json F]

Needs only the app's venv (onnxruntime). Clips:

* the DeepMimic walk and run (training clips; pybullet_data), each loop cycled to 8 s;
* held-out real mocap: the Bandai-Namco walk / run / dash clips (``../shared/data/mocap``,
  CC BY-NC 4.0, read in place, retargeted to the humanoid), when present.

Phase: per clip, on the dominant-amplitude channel, frames within ``TRIM`` of either end
skipped (their windows reach past the clip): ``cv`` = std / mean of the per-frame phase
increment, ``fwd`` = fraction of increments > 0, ``f_model`` = mean of the model's frequency
output, ``f_phase`` = mean phase advance per second; cadence = strides per second from foot
touch-downs (``studio.motion.learned.phase.contact_cadence``); errors are relative to the cadence.

Blending: foot sliding (``contacts.foot_sliding``, m/s) of naive and phase-aligned blends,
over the contacts detected on the result and over the contacts the source clips expect
(``blend.blend_sliding``); and for constant walk/run mixes the result's cadence, speed and
DeepPhase regularity.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from studio.motion.core.sampling import sample_clip  # noqa: E402
from studio.motion.io.library import load_builtin  # noqa: E402
from studio.motion.learned.blend import blend_clips, blend_sliding, crossfade_weights  # noqa: E402
from studio.motion.learned.phase import compute_phase, contact_cadence, regularity  # noqa: E402
from studio.paths import SHARED_DATA  # noqa: E402

TRIM = 15
STYLES = ("normal", "happy", "sad", "angry", "proud", "not-confident", "masculinity",
          "feminine", "childish", "old", "tired", "active", "musical", "giant", "chimpira")
BANDAI = SHARED_DATA / "mocap" / "bandai-1" / "data"


def looped(name: str, seconds: float = 8.0):
    clip = load_builtin(name)
    out = sample_clip(clip, np.arange(int(seconds * 30) + 1) / 30.0, 30.0)
    out.name = f"{name} (DeepMimic, looped {seconds:g} s)"
    return out


def bandai(content: str, style: str):
    from studio.motion.core.retarget import retarget
    from studio.motion.io.files import load_clip

    path = BANDAI / f"dataset-1_{content}_{style}_001.bvh"
    if not path.exists():
        return None
    clip = retarget(load_clip(path), source=str(path))
    clip.name = f"{content}_{style} (Bandai)"
    return clip


def _channel_stats(tr, k: int, cad: float) -> dict:
    reg = regularity(tr, k, trim=TRIM)
    f_model = float(tr.freq[TRIM:-TRIM, k].mean())
    nan = float("nan")
    return {"channel": k, "cv": reg.cv, "forward": reg.forward, "f_model": f_model,
            "f_phase": reg.rate,
            "err_model_pct": 100 * (f_model - cad) / cad if cad == cad else nan,
            "err_phase_pct": 100 * (reg.rate - cad) / cad if cad == cad else nan}


def phase_row(clip, model) -> dict:
    """Metrics on the dominant-amplitude channel and on the stride channel that
    ``blend.choose_channel`` picks with the mirror test (the one blending aligns on)."""
    from studio.motion.learned.blend import choose_channel

    tr = compute_phase(clip, model=model)
    cad = contact_cadence(clip)
    stride = choose_channel([tr], [compute_phase(clip, model=model, mirror=True)])
    row = {"clip": clip.name, "seconds": round(clip.duration, 2), "cadence": cad,
           **_channel_stats(tr, tr.dominant(), cad),
           "stride": _channel_stats(tr, stride, cad)}
    row["all_channels"] = {
        "amp": [round(float(a), 3) for a in tr.amp[TRIM:-TRIM].mean(axis=0)],
        "f_model": [round(float(f), 3) for f in tr.freq[TRIM:-TRIM].mean(axis=0)],
        "f_phase": [round(regularity(tr, c, trim=TRIM).rate, 3) for c in range(tr.n_channels)],
        "cv": [round(regularity(tr, c, trim=TRIM).cv, 3) for c in range(tr.n_channels)]}
    return row


def blend_rows(label: str, clips, weights, model) -> list[dict]:
    rows = []
    for mode, phase in (("naive", "-"), ("aligned", "deepphase"), ("aligned", "contacts")):
        t0 = time.perf_counter()
        out = blend_clips(clips, weights, mode, 30.0, phase=phase if phase != "-" else
                          "deepphase", model=model)
        dt = time.perf_counter() - t0
        s = blend_sliding(out, clips)
        info = out.meta["blend"]
        rows.append({"case": label, "mode": mode if mode == "naive" else f"aligned/{phase}",
                     "detected": s["detected"].mean_speed,
                     "detected_frames": s["detected"].contact_frames,
                     "expected": s["expected"].mean_speed,
                     "expected_frames": s["expected"].contact_frames,
                     "channel": info.channel, "seconds": round(dt, 2)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "deepphase"))
    ap.add_argument("--json", default="")
    ap.add_argument("--styles", type=int, default=len(STYLES),
                    help="Bandai styles per content (default all 15)")
    args = ap.parse_args()
    model = args.model

    # -- phase ----------------------------------------------------------------------------
    clips = [looped("walk"), looped("run")]
    have_bandai = BANDAI.is_dir()
    if have_bandai:
        for content in ("walk", "run", "dash"):
            for style in STYLES[:args.styles]:
                c = bandai(content, style)
                if c is not None and c.duration > 2.0:
                    clips.append(c)
    rows = []
    for c in clips:
        r = phase_row(c, model)
        rows.append(r)
    print("| clip | s | ch | cv | fwd | f_model Hz | f_phase Hz | cadence Hz | err model | "
          "err phase | stride ch: ch, cv, err phase |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        st = r["stride"]
        print(f"| {r['clip']} | {r['seconds']} | {r['channel']} | {r['cv']:.3f} | "
              f"{r['forward']:.3f} | {r['f_model']:.3f} | {r['f_phase']:.3f} | "
              f"{r['cadence']:.3f} | {r['err_model_pct']:+.1f}% | {r['err_phase_pct']:+.1f}% | "
              f"{st['channel']}, {st['cv']:.3f}, {st['err_phase_pct']:+.1f}% |")
    print()
    print("| clips | channel | n | cv median (max) | fwd min | abs err f_phase median (max) | "
          "abs err f_model median (max) |")
    print("|---|---|---|---|---|---|---|")
    for group in ("DeepMimic", "walk_", "run_", "dash_"):
        sel = [r for r in rows if group in r["clip"] and r["cadence"] == r["cadence"]]
        for label, get in (("dominant", lambda r: r), ("stride", lambda r: r["stride"])):
            v = [get(r) for r in sel]
            if not v:
                continue
            cv = [x["cv"] for x in v]
            ep = [abs(x["err_phase_pct"]) for x in v]
            em = [abs(x["err_model_pct"]) for x in v]
            print(f"| {group.strip('_')} | {label} | {len(v)} | {np.median(cv):.3f} "
                  f"({max(cv):.3f}) | {min(x['forward'] for x in v):.3f} | "
                  f"{np.median(ep):.1f}% ({max(ep):.1f}%) | {np.median(em):.1f}% "
                  f"({max(em):.1f}%) |")
    for r in rows[:2]:
        print(r["clip"], json.dumps(r["all_channels"]))

    # -- blending ---------------------------------------------------------------------------
    walk, run = load_builtin("walk"), load_builtin("run")
    cases = [("DeepMimic walk->run crossfade (2 s walk, 4 s fade, 2 s run)",
              [walk, run], crossfade_weights(241, 2, 60, 180)),
             ("DeepMimic walk+run 50/50, 6 s", [walk, run], np.tile([0.5, 0.5], (181, 1))),
             ("DeepMimic walk+run 75/25, 6 s", [walk, run], np.tile([0.75, 0.25], (181, 1))),
             ("DeepMimic run->walk crossfade", [walk, run], crossfade_weights(241, 2, 60, 180,
                                                                              src=1, dst=0))]
    if have_bandai:
        bw, br, bd = bandai("walk", "normal"), bandai("run", "sad"), bandai("dash", "proud")
        n = min(bw.n_frames, br.n_frames)
        cases += [(f"Bandai walk_normal->run_sad (jog) crossfade, {n / 30:.1f} s", [bw, br],
                   crossfade_weights(n, 2, n // 4, 3 * n // 4)),
                  (f"DeepMimic walk->Bandai run_sad (jog) crossfade, {br.n_frames / 30:.1f} s",
                   [walk, br], crossfade_weights(br.n_frames, 2, br.n_frames // 4,
                                                 3 * br.n_frames // 4))]
        n = min(br.n_frames, bd.n_frames)
        cases += [(f"Bandai run_sad (jog)->dash_proud crossfade, {n / 30:.1f} s", [br, bd],
                   crossfade_weights(n, 2, n // 4, 3 * n // 4))]
    brows = []
    for label, cl, w in cases:
        brows += blend_rows(label, cl, w, model)
    print()
    print("| blend | mode | sliding, detected contacts m/s (frames) | sliding, source contacts "
          "m/s (frames) |")
    print("|---|---|---|---|")
    for r in brows:
        print(f"| {r['case']} | {r['mode']} | {r['detected']:.3f} ({r['detected_frames']}) | "
              f"{r['expected']:.3f} ({r['expected_frames']}) |")
    # -- what an aligned blend looks like: cadence between the clips', regular phase --------
    from studio.motion.core.fk import root_trajectory

    mix_rows = []
    print()
    print("| walk:run mix | mode | cadence Hz | speed m/s | DeepPhase cv of the result |")
    print("|---|---|---|---|---|")
    for a in (0.25, 0.5, 0.75):
        for mode in ("naive", "aligned"):
            out = blend_clips([walk, run], [1 - a, a], mode, 30.0, n_frames=241, model=model)
            reg = regularity(compute_phase(out, model=model), trim=30)
            row = {"run_weight": a, "mode": mode, "cadence": contact_cadence(out),
                   "speed": root_trajectory(out).distance / out.duration, "cv": reg.cv}
            mix_rows.append(row)
            print(f"| {1 - a:g}:{a:g} | {mode} | {row['cadence']:.3f} | {row['speed']:.2f} | "
                  f"{row['cv']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"phase": rows, "blend": brows, "mix": mix_rows}, indent=1,
                                              default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
