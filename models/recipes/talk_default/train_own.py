"""Train your own avatar: a talking-face video with audio -> an avatar template that carries
its own lip-sync pair (``<out>/models/audio_encoder``, ``<out>/models/unet``).

    /tmp/recipevenv/bin/python models/recipes/talk_default/train_own.py VIDEO --out DIR
        [--minutes 4] [--batch 8] [--encoder-minutes 1]

Steps:

1. ``studio.talk.prepare.prepare_avatar``: 25 fps frames, face-mesh landmarks, crop boxes.
2. Mouth shape per frame measured from the landmarks (openness = inner-lip gap / mouth width,
   scaled so the clip's 5th..95th percentiles map to 0..1; width = mouth width / face width
   around its median; rounding from narrowing). These are the same three numbers the default
   audio encoder predicts, so the default encoder is reused as is and only fine-tuned briefly
   on this clip's own audio (``--encoder-minutes``, 0 to skip).
3. The U-Net starts from the shipped renderer's weights (read from models/talk_default's ONNX
   files by studio.talk.train.import_pair) and is fine-tuned on this person's
   frames: input = a *different* frame's crop as reference (so it cannot copy the mouth) and
   the masked target crop; condition = the measured mouth shape; loss L1 + 6x mouth-region L1.

CPU scale (the defaults): a few minutes, enough to show the pipeline end to end on one GRID
clip; expect a soft, roughly-synced mouth. GPU settings for a real avatar (3-5 minutes of
video): ``--device cuda --minutes 60 --batch 32 --encoder-minutes 10`` (about 20-40k steps);
keep the lr schedule (cosine from 1e-3).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import PAD, S, WIN_CENTRE, WORK, UNetExport, crop_box_img  # noqa: E402

from studio.talk import mel as melmod  # noqa: E402

torch.set_num_threads(2)


def mouth_params(lm: np.ndarray) -> np.ndarray:
    """(T, 468, 2) -> (T, 3) openness, width, rounding: the app's own measure (one definition,
    shared with `studio talk train`)."""
    from studio.talk.train import mouth_params as app_mouth_params

    return app_mouth_params(lm)


def main(argv=None) -> int:
    from studio.jobs import JobContext
    from studio.media.audio_io import load_audio
    from studio.runtime.manifest import Manifest
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.prepare import prepare_avatar
    from studio.talk.session import DEFAULT_MODELS

    ap = argparse.ArgumentParser(description="train a lip-sync pair for your own avatar")
    ap.add_argument("video")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=4.0, help="U-Net fine-tuning time")
    ap.add_argument("--encoder-minutes", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    out = Path(a.out)
    t_start = time.time()

    # 1. template
    tmp_tpl = WORK / "own_template"
    shutil.rmtree(tmp_tpl, ignore_errors=True)
    prep = prepare_avatar(a.video, tmp_tpl, JobContext())
    tpl = AvatarTemplate.load(tmp_tpl)
    frames = tpl.load_frames()
    params = mouth_params(tpl.landmarks)
    print(f"template: {tpl.num_frames} frames {tpl.width}x{tpl.height}, "
          f"opening range {prep.mouth_opening_range}", flush=True)

    # 2. encoder: the default one, briefly fine-tuned on this clip's audio
    # the shipped pair's weights, read from its ONNX files (checked against onnxruntime to
    # 1e-4): a fresh install has no /tmp/talk_default_work checkpoints
    from studio.talk.train import import_pair

    enc, ren, _un, import_err = import_pair(DEFAULT_MODELS)
    print(f"shipped pair read into torch (max error vs onnxruntime {import_err})", flush=True)
    enc = enc.to(dev)
    wav = load_audio(a.video, 16000).samples
    n = melmod.frame_count(len(wav))
    win = torch.from_numpy(melmod.mel_windows(melmod.melspectrogram(wav), n)).to(dev)
    t_frames = (np.arange(tpl.num_frames) + 0.5) / 25
    tgt = np.stack([np.interp(np.arange(n) / 25 + WIN_CENTRE, t_frames, params[:, j])
                    for j in range(3)], 1).astype(np.float32)
    tgt_t = torch.from_numpy(tgt).to(dev)
    with torch.no_grad():
        enc.eval()
        before = float(np.corrcoef(enc.params(win)[:, 0].cpu().numpy(), tgt[:, 0])[0, 1])
    opt = torch.optim.AdamW(enc.parameters(), 2e-4)
    t0 = time.time()
    steps = 0
    while time.time() - t0 < a.encoder_minutes * 60:
        enc.train()
        idx = torch.randint(0, n, (64,))
        loss = (enc.params(win[idx]) - tgt_t[idx]).abs().mean()
        opt.zero_grad(); loss.backward(); opt.step(); steps += 1
    enc.eval()
    with torch.no_grad():
        after = float(np.corrcoef(enc.params(win)[:, 0].cpu().numpy(), tgt[:, 0])[0, 1])
    enc_steps = steps
    print(f"encoder: r(open) vs this clip's landmarks {before:.3f} -> {after:.3f} "
          f"({steps} steps; measured on the training clip itself)", flush=True)

    # 3. U-Net fine-tune from the default renderer
    ren = ren.to(dev)
    crops = np.stack([crop_box_img(f, b)[..., ::-1] for f, b in zip(frames, tpl.crop_boxes)])
    lm = tpl.landmarks
    wts = []
    for k in range(len(frames)):
        x0, y0, x1, y1 = tpl.crop_boxes[k]
        sc = (S + 2 * PAD) / (x1 - x0)
        cx, cy = (lm[k, 61, 0] + lm[k, 291, 0]) / 2, (lm[k, 13, 1] + lm[k, 14, 1]) / 2
        hw = (lm[k, 291, 0] - lm[k, 61, 0]) / 2
        ys, xs = np.mgrid[0:S, 0:S].astype(np.float32)
        X, Y = (xs + PAD + 0.5) / sc + x0, (ys + PAD + 0.5) / sc + y0
        m = (np.abs(X - cx) < 1.25 * hw) & (Y > cy - 0.7 * hw) & (Y < cy + 1.9 * hw)
        wts.append(cv2.GaussianBlur(m.astype(np.float32), (0, 0), 3))
    wts = torch.from_numpy(np.stack(wts))[:, None]
    C = torch.from_numpy(crops.transpose(0, 3, 1, 2).copy()).float() / 255
    P = torch.from_numpy(params)
    opt = torch.optim.AdamW(ren.parameters(), 1e-3)
    rng = np.random.default_rng(0)
    t0 = time.time()
    steps, run = 0, 0.0
    budget = a.minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for g in opt.param_groups:
            g["lr"] = max(1e-3 * 0.5 * (1 + math.cos(math.pi * frac)), 2e-5)
        k = rng.integers(0, len(C), a.batch)
        kr = rng.integers(0, len(C), a.batch)
        tgt_img = C[k]
        masked = tgt_img.clone()
        masked[:, :, 5:150, 5:155] = 0
        x = torch.cat([C[kr], masked], 1).to(dev)
        ren.train()
        y = ren(x, P[k].to(dev))
        l1 = (y - tgt_img.to(dev)).abs()
        w = wts[k].to(dev)
        loss = l1.mean() + 6.0 * (l1 * w).sum() / (w.sum() * 3 + 1e-6)
        opt.zero_grad(); loss.backward(); opt.step()
        steps += 1
        run = loss.item() if steps == 1 else 0.95 * run + 0.05 * loss.item()
        if steps % 50 == 0:
            print(f"unet step {steps}: loss {run:.4f}", flush=True)
    print(f"unet: {steps} steps, batch {a.batch}, loss {run:.4f}", flush=True)

    # 4. export into the template, then move it into place
    ren.eval().cpu(); enc.eval().cpu()
    mdir = tmp_tpl / "models"
    for sub in ("audio_encoder", "unet"):
        (mdir / sub).mkdir(parents=True, exist_ok=True)
    torch.onnx.export(enc, (torch.zeros(1, 1, 80, 16),), str(mdir / "audio_encoder" / "model.onnx"),
                      input_names=["mel"], output_names=["feature"], opset_version=17,
                      dynamic_axes={"mel": {0: "B"}, "feature": {0: "B"}}, dynamo=False)
    torch.onnx.export(UNetExport(ren).eval(), (torch.zeros(1, 6, S, S), torch.zeros(1, 32, 16, 16)),
                      str(mdir / "unet" / "model.onnx"), input_names=["image", "audio"],
                      output_names=["pred"], opset_version=17, dynamo=False)
    for sub, extra in (("audio_encoder", {"encoder_steps": enc_steps, "r_open_before": before,
                                          "r_open_after": after}),
                       ("unet", {"unet_steps": steps, "batch": a.batch, "final_loss": run})):
        m = Manifest.load(DEFAULT_MODELS / sub)
        m.name = f"own_{m.name}"
        m.description = (f"Fine-tuned for {Path(a.video).name} by train_own.py. " + m.description)
        m.training = {"recipe": "models/recipes/talk_default/train_own.py", "source": Path(a.video).name,
                      "base": f"models/talk_default/{sub}", "minutes": round((time.time() - t_start) / 60, 1),
                      "device": a.device, **extra}
        m.license = ("Derived from the default talk models; carries the licence of the source "
                     f"video ({Path(a.video).name}) for its weights.")
        m.save(mdir / sub / "manifest.json")
    AvatarTemplate.load(tmp_tpl)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(tmp_tpl, out)
    print(json.dumps({"avatar": str(out), "frames": tpl.num_frames,
                      "minutes": round((time.time() - t_start) / 60, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
