"""Lip-sync accuracy of a model pair + avatar, measured from rendered pixels.

    .venv/bin/python bench/eval_lipsync.py [--models DIR] [--avatar DIR] [--synthetic N]
                                           [--json OUT] [--sheet PNG]

Real speech: every ``*.phone.json`` (pocketsphinx ARPAbet alignments) and ``*.TextGrid``
(praatIO, IPA phone tier) in ../shared/data/speech. Each WAV is rendered through the app's
own render loop (studio.talk.render.render_frames); the mouth opening is measured in every
output frame from its pixels (studio.talk.eval_sync.mouth_opening_pixels) and correlated with
the opening implied by the phone timings (visemes + coarticulation).

Synthetic speech (``--synthetic N``, needs espeak-ng's C library): N sentences in voices the
default encoder never heard (HELD_OUT_VOICES), scored against espeak's own phoneme timings.

``--sheet``: a contact sheet of rendered frames (silence, vowels, closures) from one clip.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.media.audio_io import load_audio  # noqa: E402
from studio.paths import SHARED_DATA  # noqa: E402
from studio.settings import EngineSettings  # noqa: E402
from studio.talk import eval_sync as ev  # noqa: E402


def real_clips(folder: Path):
    for p in sorted(folder.glob("*.phone.json")):
        yield p.name.replace(".phone.json", ""), p.with_name(p.name.replace(".phone.json", ".wav")), p
    for p in sorted(folder.glob("*.TextGrid")):
        wav = p.with_name(p.name.split("_")[0].replace(".TextGrid", "") + ".wav")
        if not wav.exists():
            wav = p.with_suffix(".wav")
        yield p.stem, wav, p


def synthetic_clips(n: int):
    sys.path.insert(0, str(ROOT / "models" / "recipes" / "talk_default"))
    from common import HELD_OUT_VOICES, Espeak, sentences  # recipe helper (ctypes, no torch)

    es = Espeak()
    rng = np.random.default_rng(1234)
    for i, text in enumerate(sentences(n, 4321)):
        voice = HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)]
        wav, events = es.say(text, voice, int(rng.integers(130, 200)), int(rng.integers(35, 65)))
        lead = 4000
        wav = np.concatenate([np.zeros(lead, np.float32), wav, np.zeros(4000, np.float32)])
        events = [(t + lead / 16000, p) for t, p in events]
        yield f"espeak:{voice}:{i}", wav, ev.from_espeak(events, len(wav) / 16000)


def contact_sheet(frames: dict[int, np.ndarray], labels: dict[int, str], out: Path,
                  crop: tuple[int, int, int, int]) -> None:
    import cv2

    x0, y0, x1, y1 = crop
    tiles = []
    for i in sorted(frames):
        t = frames[i][y0:y1, x0:x1].copy()
        t = cv2.resize(t, (256, int(256 * (y1 - y0) / (x1 - x0))), interpolation=cv2.INTER_AREA)
        bar = np.full((26, t.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, labels.get(i, str(i)), (4, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([t, bar], 0))
    cols = 4
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[r:r + cols], 1) for r in range(0, len(tiles), cols)]
    sheet = np.concatenate(rows, 0)
    cv2.imwrite(str(out), sheet[..., ::-1])


def main(argv=None) -> int:
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.session import DEFAULT_AVATAR, DEFAULT_MODELS, open_lipsync

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(DEFAULT_MODELS))
    ap.add_argument("--avatar", default=str(DEFAULT_AVATAR))
    ap.add_argument("--speech", default=str(SHARED_DATA / "speech"))
    ap.add_argument("--synthetic", type=int, default=12)
    ap.add_argument("--json", default=None)
    ap.add_argument("--sheet", default=None)
    a = ap.parse_args(argv)

    avatar = AvatarTemplate.load(a.avatar)
    ls = open_lipsync(Path(a.models), EngineSettings())
    reports = {"real": [], "synthetic": []}
    fps_seen = []
    sheet_done = False
    for name, wav_path, phones_path in real_clips(Path(a.speech)):
        phones = ev.load_phones(phones_path)
        wav = load_audio(wav_path, 16000).samples
        keep = ()
        if a.sheet and not sheet_done:
            t = ev.frame_times(int(round(25 * len(wav) / 16000)))
            track = ev.mouth_track(phones, t)[:, 0]
            order = np.argsort(track)
            keep = tuple(sorted(set([int(order[0]), int(order[1])] + [int(i) for i in order[-4:]]
                                    + [int(i) for i in np.linspace(5, len(t) - 5, 6).astype(int)])))
        m, stats, kept = ev.measure_render(ls, avatar, wav, keep)
        fps_seen.append(stats.fps)
        rep = ev.score(name, m, phones)
        reports["real"].append(rep)
        print(f"real  {name[:44]:44s} r={rep.r:+.3f} (best {rep.r_best:+.3f} at lag {rep.lag:+d}) "
              f"silence closed {rep.silence_closed:.2f} vowels open {rep.vowel_open:.2f} "
              f"[{stats.fps:.1f} fps]", flush=True)
        if keep:
            lab = {}
            exp = ev.mouth_track(phones, ev.frame_times(len(m)))[:, 0]
            for i in kept:
                tt = (i + 0.5) / 25
                ph = next((p.label for p in phones if p.start <= tt < p.end), "SIL")
                lab[i] = f"t={tt:.2f}s {ph} exp {exp[i]:.2f} px {m[i]:.2f}"
            lm = avatar.landmarks[0]
            cx, cy = lm[1]
            contact_sheet(kept, lab, Path(a.sheet), (int(cx - 150), int(cy - 150), int(cx + 150),
                                                     int(cy + 150)))
            sheet_done = True
    if a.synthetic:
        try:
            for name, wav, phones in synthetic_clips(a.synthetic):
                m, stats, _ = ev.measure_render(ls, avatar, wav)
                rep = ev.score(name, m, phones)
                reports["synthetic"].append(rep)
                print(f"synth {name[:44]:44s} r={rep.r:+.3f} silence closed "
                      f"{rep.silence_closed:.2f} vowels open {rep.vowel_open:.2f}", flush=True)
        except OSError as exc:
            print(f"synthetic: skipped ({exc})")

    def summary(reps):
        if not reps:
            return {}
        w = np.array([r.frames for r in reps], float)
        return {"clips": len(reps), "frames": int(w.sum()),
                "r_mean": float(np.mean([r.r for r in reps])),
                "r_frame_weighted": float(np.average([r.r for r in reps], weights=w)),
                "r_min": float(min(r.r for r in reps)),
                "silence_closed": float(np.nanmean([r.silence_closed for r in reps])),
                "vowel_open": float(np.nanmean([r.vowel_open for r in reps]))}

    out = {k: summary(v) for k, v in reports.items()}
    out["render_fps_mean"] = float(np.mean(fps_seen)) if fps_seen else 0.0
    out["sessions"] = ls.unet.size
    out["clips"] = {k: [r.to_dict() for r in v] for k, v in reports.items()}
    for k in ("real", "synthetic"):
        if out[k]:
            s = out[k]
            print(f"{k}: {s['clips']} clips, mean r {s['r_mean']:.3f} (min {s['r_min']:.3f}), "
                  f"silence closed {s['silence_closed']:.2f}, vowels open {s['vowel_open']:.2f}")
    print(f"render speed (whole pipeline, {ls.unet.size} U-Net sessions): "
          f"{out['render_fps_mean']:.1f} fps")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    ls.close()
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"({time.time() - t0:.0f} s)")
    raise SystemExit(rc)
