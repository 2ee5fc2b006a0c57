"""A real-speech development score for the audio encoder, kept apart from the evaluation set.

The ten GRID clips in ../shared/data/grid are real people speaking on camera. The mouth
opening of every video frame is measured from face-mesh landmarks (the same measure as
``train_own.mouth_params``) and correlated with the encoder's openness for the audio window
centred on that frame. Recipe choices are compared on this score; ``bench/eval_lipsync.py``
on ../shared/data/speech stays the held-out measurement that docs/models.md reports.

    /tmp/recipevenv/bin/python models/recipes/talk_default/dev_grid.py [--encoder CKPT]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK  # noqa: E402
from train import WIN_CENTRE, AudioEncoder  # noqa: E402

from studio.paths import SHARED_DATA  # noqa: E402
from studio.talk import mel as melmod  # noqa: E402

CACHE = WORK / "grid_dev.npz"


def _mouth_open(lm: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width per frame (unnormalised: Pearson r needs no scaling)."""
    mw = np.linalg.norm(lm[:, 291] - lm[:, 61], axis=1)
    return (np.linalg.norm(lm[:, 14] - lm[:, 13], axis=1) / np.maximum(mw, 1e-6)).astype(np.float32)


def build() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{clip: (mel windows (N,1,80,16), landmark openness at each window centre (N,))}."""
    if CACHE.exists():
        z = np.load(CACHE)
        names = sorted({k.rsplit("_", 1)[0] for k in z.files})
        return {n: (z[f"{n}_win"], z[f"{n}_open"]) for n in names}
    from studio.jobs import JobContext
    from studio.media.audio_io import load_audio
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.prepare import prepare_avatar

    out, tmp = {}, WORK / "grid_dev_tpl"
    for clip in sorted((SHARED_DATA / "grid").glob("*.mpg")):
        shutil.rmtree(tmp, ignore_errors=True)
        prepare_avatar(clip, tmp, JobContext())
        tpl = AvatarTemplate.load(tmp)
        opening = _mouth_open(tpl.landmarks)
        wav = load_audio(clip, 16000).samples
        n = min(melmod.frame_count(len(wav)), tpl.num_frames)
        win = melmod.mel_windows(melmod.melspectrogram(wav), n)
        t_frames = (np.arange(tpl.num_frames) + 0.5) / 25
        target = np.interp(np.arange(n) / 25 + WIN_CENTRE, t_frames, opening)
        out[clip.stem] = (win.astype(np.float32), target.astype(np.float32))
        print(f"grid dev: {clip.stem} {n} windows", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    np.savez(CACHE, **{f"{k}_win": v[0] for k, v in out.items()},
             **{f"{k}_open": v[1] for k, v in out.items()})
    return out


def score(model: AudioEncoder, data=None) -> dict[str, float]:
    """Mean per-clip r, and the mean predicted openness (amplitude on real speech)."""
    data = data or build()
    model.eval()
    rs, amp = [], []
    with torch.no_grad():
        for win, target in data.values():
            p = model.params(torch.from_numpy(win))[:, 0].numpy()
            rs.append(float(np.corrcoef(p, target)[0, 1]))
            amp.append(float(np.percentile(p, 90)))
    return {"r": float(np.mean(rs)), "r_min": float(np.min(rs)), "open_p90": float(np.mean(amp))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default=str(WORK / "encoder.pt"))
    a = ap.parse_args(argv)
    model = AudioEncoder()
    model.load_state_dict(torch.load(a.encoder, weights_only=False)["model"])
    s = score(model)
    print(f"GRID dev (10 real clips): mean r {s['r']:.3f} (min {s['r_min']:.3f}), "
          f"openness p90 {s['open_p90']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
