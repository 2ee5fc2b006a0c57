"""Train the shipped default lip-sync pair (models/talk_default) on CPU.

    /tmp/recipevenv/bin/python models/recipes/talk_default/make_avatar.py
    /tmp/recipevenv/bin/python models/recipes/talk_default/train.py [--stage all|synth|encoder|unet|export]

Two stages, each resumable from checkpoints in /tmp/talk_default_work:

1. **Audio encoder** (B,1,80,16) -> (B,512): regresses the mouth shape (openness, width,
   rounding) at the middle of its 0.2 s mel window. Trained on espeak-ng speech (7 accents x
   15 voice variants, rates 120-220, pitches 30-70) with noise, EQ and room-reverb
   augmentation; targets come from espeak's own phoneme timings through the viseme table and
   coarticulation model in ``studio/talk/eval_sync.py``. The 512-wide row carries the three
   values in entries 0-2 (the rest are zero), so the SyncTalk_2D "ave" plumbing is unchanged.
2. **U-Net** (1,6,160,160) + (1,32,16,16) -> (1,3,160,160): reads the mouth shape from the
   stacked rows (rows i-2..i of the 16, weights 0.2/0.6/0.2: the encoder window that is
   centred on the video frame, see the one-row delay of ``features.align_rows``) and paints
   the mouth into the crop: output = alpha * rgb + (1 - alpha) * reference. Trained on crops
   of the default avatar with the mouth warped to random shapes (``common.warp_mouth``), loss
   L1 + 6x L1 inside the mouth region.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import queue
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (AVATAR_DIR, HELD_OUT_VOICES, MODELS_OUT, VARIANTS, VOICES, WORK,  # noqa: E402
                    Espeak, apply_motion, augment, base_face, mouth_geom, sentences, warp_mouth)

from studio.talk import mel as melmod  # noqa: E402
from studio.talk.eval_sync import from_espeak, mouth_track  # noqa: E402

torch.set_num_threads(2)
cv2.setNumThreads(1)
S, PAD = 160, 4
WIN_CENTRE = (melmod.WINDOW - 1) / 2 / melmod.MEL_FPS  # 0.09375 s: middle of a mel window
ROW_WEIGHTS = (0.2, 0.6, 0.2)   # stack positions 6, 7, 8 (rows i-2, i-1, i)
ROW_POS = (6, 7, 8)


# --- stage 0: speech --------------------------------------------------------------------------

def synth(n_train: int = 900, n_test: int = 60) -> None:
    out = WORK / "speech.npz"
    if out.exists():
        print("speech: cached", out)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    es = Espeak()
    rng = np.random.default_rng(0)
    clips = {"train": [], "test": []}
    t0 = time.time()
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 99)):
        for i, text in enumerate(sentences(n, seed)):
            if split == "train":
                voice = VOICES[rng.integers(len(VOICES))] + VARIANTS[rng.integers(len(VARIANTS))]
            else:
                voice = HELD_OUT_VOICES[i % len(HELD_OUT_VOICES)]
            rate, pitch = int(rng.integers(120, 221)), int(rng.integers(30, 71))
            wav, ev = es.say(text, voice, rate, pitch, int(rng.integers(20, 90)))
            # random leading/trailing silence so pauses and onsets are learned
            lead, tail = int(rng.integers(800, 8000)), int(rng.integers(800, 8000))
            wav = np.concatenate([np.zeros(lead, np.float32), wav, np.zeros(tail, np.float32)])
            ev = [(t + lead / 16000.0, p) for t, p in ev]
            clips[split].append((wav, ev, voice, text))
    total = sum(len(c[0]) for c in clips["train"]) / 16000
    print(f"speech: {n_train}+{n_test} clips, {total / 60:.1f} min train audio, "
          f"{time.time() - t0:.0f} s")
    np.savez(out, **{f"{s}_{i}_wav": c[0] for s in clips for i, c in enumerate(clips[s])},
             meta=json.dumps({s: [{"events": c[1], "voice": c[2], "text": c[3]}
                                  for c in clips[s]] for s in clips}))


def load_speech():
    z = np.load(WORK / "speech.npz")
    meta = json.loads(str(z["meta"]))
    out = {}
    for s in meta:
        out[s] = [(z[f"{s}_{i}_wav"], [tuple(e) for e in m["events"]], m["voice"])
                  for i, m in enumerate(meta[s])]
    return out


def clip_windows(wav: np.ndarray, events, rng=None):
    """Mel windows of one clip (optionally augmented) and the mouth target of each window."""
    x = augment(wav, rng) if rng is not None else wav
    n = melmod.frame_count(len(x))
    mel = melmod.melspectrogram(x)
    win = melmod.mel_windows(mel, n)
    phones = from_espeak(events, len(wav) / 16000.0)
    times = np.arange(n) / 25.0 + WIN_CENTRE
    return win, mouth_track(phones, times)


# --- stage 1: audio encoder --------------------------------------------------------------------

class AudioEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        def blk(i, o, s):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))
        self.net = nn.Sequential(blk(1, 24, 1), blk(24, 32, 2), blk(32, 64, 2), blk(64, 96, 2),
                                 blk(96, 128, (2, 1)), nn.AdaptiveAvgPool2d((5, 1)))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(640, 128), nn.ReLU(inplace=True),
                                  nn.Linear(128, 3))

    def params(self, mel):
        z = self.head(self.net(mel))
        return torch.cat([torch.sigmoid(z[:, :1]), torch.tanh(z[:, 1:2]),
                          torch.sigmoid(z[:, 2:3])], dim=1)

    def forward(self, mel):  # (B,1,80,16) -> (B,512)
        return F.pad(self.params(mel), (0, 509))


LOSS_W = torch.tensor([3.0, 1.0, 1.0])


def spec_augment(x: torch.Tensor) -> torch.Tensor:
    """Mel-domain augmentation against the synthetic-voice gap: a random frequency warp
    (vocal-tract length: formants of real people sit elsewhere than espeak's), one or two
    frequency bands and one short time span replaced by the window mean, and level jitter."""
    b = x.shape[0]
    alpha = torch.empty(b).uniform_(0.82, 1.18)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = alpha          # y (mel bins) scaled about bin 0
    theta[:, 1, 2] = alpha - 1.0
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    mean = y.mean(dim=(2, 3), keepdim=True)
    bins = torch.arange(80).view(1, 1, 80, 1)
    cols = torch.arange(16).view(1, 1, 1, 16)
    for _ in range(2):
        f0 = torch.randint(0, 80, (b, 1, 1, 1))
        fw = torch.randint(0, 9, (b, 1, 1, 1))
        y = torch.where((bins >= f0) & (bins < f0 + fw), mean, y)
    t0 = torch.randint(0, 16, (b, 1, 1, 1))
    tw = torch.randint(0, 3, (b, 1, 1, 1))
    y = torch.where((cols >= t0) & (cols < t0 + tw) & (torch.rand(b, 1, 1, 1) < 0.5), mean, y)
    return y + 0.05 * torch.randn(b, 1, 1, 1)


def train_encoder(minutes: float = 9.0, ck: Path = WORK / "encoder.pt", spec_aug: bool = False,
                  max_epochs: int = 3) -> None:
    """Stops at ``max_epochs`` or ``minutes``, whichever comes first. The shipped encoder is 3
    epochs without ``spec_aug`` (see docs/models.md for why more epochs and the augmentation
    were tried and not shipped)."""
    from dev_grid import build as grid_dev, score as grid_score

    data = load_speech()
    dev = grid_dev()
    model = AudioEncoder()
    opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    state = {"epoch": 0, "seconds": 0.0, "log": []}
    if ck.exists():
        d = torch.load(ck, weights_only=False)
        model.load_state_dict(d["model"]); opt.load_state_dict(d["opt"]); state = d["state"]
        if state.get("done"):
            print("encoder: done (cached)")
            return
    test = [clip_windows(w, e) for w, e, _ in data["test"]]
    tw = torch.from_numpy(np.concatenate([t[0] for t in test]))
    tt = torch.from_numpy(np.concatenate([t[1] for t in test]))
    rng = np.random.default_rng(state["epoch"] + 1)
    budget = minutes * 60
    while state["seconds"] < budget and state["epoch"] < max_epochs:
        t0 = time.time()
        model.train()
        order = rng.permutation(len(data["train"]))[:len(data["train"]) * 2 // 5]  # 40% a pass
        wins, tgts = [], []
        for i in order:
            w, e, _ = data["train"][i]
            a, b = clip_windows(w, e, rng if rng.random() < 0.85 else None)
            wins.append(a); tgts.append(b)
        X = torch.from_numpy(np.concatenate(wins)); Y = torch.from_numpy(np.concatenate(tgts))
        perm = torch.randperm(len(X))
        done = max(state["seconds"] / budget, state["epoch"] / max_epochs)  # whichever ends first
        lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        for g in opt.param_groups:
            g["lr"] = max(lr, 5e-5)
        tot = 0.0
        for s in range(0, len(X), 128):
            idx = perm[s:s + 128]
            x = spec_augment(X[idx]) if spec_aug else X[idx] + 0.05 * torch.randn(len(idx), 1, 1, 1)
            p = model.params(x)
            loss = ((p - Y[idx]).abs() * LOSS_W).mean()
            opt.zero_grad(); loss.backward(); opt.step()
            tot += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            pt = torch.cat([model.params(tw[i:i + 512]) for i in range(0, len(tw), 512)])
        r = float(np.corrcoef(pt[:, 0].numpy(), tt[:, 0].numpy())[0, 1])
        real = grid_score(model, dev)
        state["epoch"] += 1
        state["seconds"] += time.time() - t0
        state["log"].append({"epoch": state["epoch"], "train_loss": tot / len(X),
                             "test_r_open": r, "grid_dev_r": real["r"],
                             "grid_dev_open_p90": real["open_p90"], "seconds": state["seconds"]})
        print(f"encoder epoch {state['epoch']}: loss {tot / len(X):.4f}, held-out voices r(open) "
              f"{r:.3f}, GRID dev r {real['r']:.3f} (open p90 {real['open_p90']:.2f}), "
              f"{state['seconds'] / 60:.1f} min", flush=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ck)
    state["done"] = True
    state["spec_aug"] = spec_aug
    state["frames_per_epoch"] = int(len(X))
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ck)


# --- stage 2: U-Net ----------------------------------------------------------------------------

class Renderer(nn.Module):
    """Conditioned U-Net: 6-channel crop (reference, masked; BGR/255) + mouth shape (3)."""

    def __init__(self, c=(24, 40, 64, 96)) -> None:
        super().__init__()
        def conv(i, o, s=1):
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1), nn.BatchNorm2d(o), nn.ReLU(inplace=True))
        self.e1 = nn.Sequential(conv(6, c[0], 2), conv(c[0], c[0]))        # 80
        self.e2 = nn.Sequential(conv(c[0], c[1], 2), conv(c[1], c[1]))     # 40
        self.e3 = nn.Sequential(conv(c[1], c[2], 2), conv(c[2], c[2]))     # 20
        self.e4 = nn.Sequential(conv(c[2], c[3], 2), conv(c[3], c[3]))     # 10
        self.cond = nn.Sequential(nn.Linear(3, 64), nn.ReLU(inplace=True), nn.Linear(64, 64),
                                  nn.ReLU(inplace=True))
        self.f4 = nn.Linear(64, 2 * c[3])
        self.f3 = nn.Linear(64, 2 * c[2])
        self.f2 = nn.Linear(64, 2 * c[1])
        self.d3 = conv(c[3] + c[2], c[2])                                  # 20
        self.d2 = conv(c[2] + c[1], c[1])                                  # 40
        self.d1 = conv(c[1] + c[0], c[0])                                  # 80
        self.d0 = nn.Sequential(nn.Conv2d(c[0] + 6, 16, 3, 1, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(16, 4, 3, 1, 1))                 # 160

    @staticmethod
    def film(x, f):
        g, b = f.chunk(2, dim=1)
        return x * (1 + g[..., None, None]) + b[..., None, None]

    def forward(self, image, p):
        h = self.cond(p)
        x1 = self.e1(image)
        x2 = self.film(self.e2(x1), self.f2(h))
        x3 = self.film(self.e3(x2), self.f3(h))
        x4 = self.film(self.e4(x3), self.f4(h))
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        y = self.d3(torch.cat([up(x4), x3], 1))
        y = self.d2(torch.cat([up(y), x2], 1))
        y = self.d1(torch.cat([up(y), x1], 1))
        y = self.d0(torch.cat([up(y), image], 1))
        rgb, a = torch.sigmoid(y[:, :3]), torch.sigmoid(y[:, 3:4])
        return a * rgb + (1 - a) * image[:, :3]


class UNetExport(nn.Module):
    """The app-facing graph: reads the mouth shape from the stacked encoder rows."""

    def __init__(self, r: Renderer) -> None:
        super().__init__()
        self.r = r
        w = torch.zeros(16)
        for pos, wt in zip(ROW_POS, ROW_WEIGHTS):
            w[pos] = wt
        self.register_buffer("w", w.view(1, 16, 1))

    def forward(self, image, audio):
        rows = audio.reshape(1, 16, 512)[:, :, :3]
        p = (rows * self.w).sum(dim=1)
        return self.r(image, p)


def crop_box_img(frame: np.ndarray, box) -> np.ndarray:
    """Exactly studio.talk.lipsync.LipSync.crop's reference crop (RGB, SxS)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    big = cv2.resize(frame[y0:y1, x0:x1], (S + 2 * PAD,) * 2,
                     interpolation=cv2.INTER_AREA if (x1 - x0) > S else cv2.INTER_LINEAR)
    return big[PAD:PAD + S, PAD:PAD + S]


class UNetData:
    """Random training pairs: template frame k, mouth shape p, reference mouth shape p_ref."""

    def __init__(self, seed: int) -> None:
        from make_avatar import motion_matrices
        from studio.talk.avatar import AvatarTemplate

        self.img, self.lm = base_face()
        self.mats = motion_matrices()
        tpl = AvatarTemplate.load(AVATAR_DIR)
        self.frames = tpl.load_frames()
        self.boxes = tpl.crop_boxes
        self.lms = tpl.landmarks
        self.rng = np.random.default_rng(seed)
        self.rest = warp_mouth(self.img, self.lm, 0, 0, 0)
        g = mouth_geom(self.lm)
        self.geom = g

    def shape(self):
        rng = self.rng
        u = rng.random()
        if u < 0.2:
            return np.array([0.0, rng.uniform(-0.2, 0.3), rng.uniform(0, 0.3)], np.float32)
        o = rng.uniform(0, 1) ** 0.8
        w = rng.uniform(-0.7, 0.8)
        r = np.clip(rng.uniform(-0.2, 1.0), 0, 1)
        return np.array([o, w, r], np.float32)

    def mouth_weight(self, k: int) -> np.ndarray:
        x0, y0, x1, y1 = self.boxes[k]
        sc = (S + 2 * PAD) / (x1 - x0)
        lm = self.lms[k]
        cx = (lm[61, 0] + lm[291, 0]) / 2
        cy = (lm[13, 1] + lm[14, 1]) / 2
        hw = (lm[291, 0] - lm[61, 0]) / 2
        ys, xs = np.mgrid[0:S, 0:S].astype(np.float32)
        X = (xs + PAD + 0.5) / sc + x0
        Y = (ys + PAD + 0.5) / sc + y0
        m = ((np.abs(X - cx) < 1.25 * hw) & (Y > cy - 0.7 * hw) & (Y < cy + 1.9 * hw))
        return cv2.GaussianBlur(m.astype(np.float32), (0, 0), 3)

    def sample(self):
        rng = self.rng
        k = int(rng.integers(len(self.frames)))
        p = self.shape()
        tgt_full = apply_motion(warp_mouth(self.img, self.lm, *p), self.mats[k])
        if rng.random() < 0.6:
            ref_full = self.frames[k]
        else:
            ref_full = apply_motion(warp_mouth(self.img, self.lm, *self.shape()), self.mats[k])
        box = self.boxes[k]
        ref = crop_box_img(ref_full, box)[..., ::-1]
        tgt = crop_box_img(tgt_full, box)[..., ::-1]
        masked = ref.copy()
        masked[5:150, 5:155] = 0
        x = np.concatenate([ref, masked], axis=2).transpose(2, 0, 1)
        return x, tgt.transpose(2, 0, 1), p, k

    def batch(self, n: int):
        xs, ts, ps, ws = [], [], [], []
        for _ in range(n):
            x, t, p, k = self.sample()
            xs.append(x); ts.append(t); ps.append(p); ws.append(self.mouth_weight(k))
        return (torch.from_numpy(np.stack(xs)).float() / 255, torch.from_numpy(np.stack(ts)).float() / 255,
                torch.from_numpy(np.stack(ps)), torch.from_numpy(np.stack(ws))[:, None])


def train_unet(minutes: float = 24.0, batch: int = 12, ck: Path = WORK / "unet.pt",
               lr0: float = 2e-3, start_from: Path | None = None) -> None:
    """``start_from``: continue from another checkpoint's weights with a fresh schedule
    (the "refine" stage: a second, lower cosine cycle)."""
    model = Renderer()
    opt = torch.optim.AdamW(model.parameters(), lr0, weight_decay=1e-5)
    state = {"step": 0, "seconds": 0.0, "log": []}
    if ck.exists():
        d = torch.load(ck, weights_only=False)
        model.load_state_dict(d["model"]); opt.load_state_dict(d["opt"]); state = d["state"]
        if state.get("done"):
            print(f"unet: done (cached {ck.name})")
            return
    elif start_from is not None:
        d = torch.load(start_from, weights_only=False)
        model.load_state_dict(d["model"])
        state["start_from"] = {"file": start_from.name, "step": d["state"]["step"]}
        state["lr0"] = lr0
    data = UNetData(seed=state["step"] + 5 + (1000 if start_from is not None else 0))
    q: queue.Queue = queue.Queue(maxsize=6)
    stop = threading.Event()

    def producer():
        while not stop.is_set():
            q.put(data.batch(batch))

    th = threading.Thread(target=producer, daemon=True)
    th.start()
    budget = minutes * 60
    t_last = time.time()
    run = 0.0
    try:
        while state["seconds"] < budget:
            x, t, p, w = q.get()
            frac = min(1.0, state["seconds"] / budget)
            for g in opt.param_groups:
                g["lr"] = max(lr0 * 0.5 * (1 + math.cos(math.pi * frac)), 3e-5)
            model.train()
            if np.random.random() < 0.7:  # most steps on a 112x112 window round the mouth (2x cheaper)
                oy, ox = np.random.randint(16, 45), np.random.randint(16, 41)
                x, t, w = (v[..., oy:oy + 112, ox:ox + 112] for v in (x, t, w))
            y = model(x, p)
            l1 = (y - t).abs()
            loss = l1.mean() + 6.0 * (l1 * w).sum() / (w.sum() * 3 + 1e-6)
            opt.zero_grad(); loss.backward(); opt.step()
            run = 0.98 * run + 0.02 * loss.item() if state["step"] else loss.item()
            state["step"] += 1
            now = time.time()
            state["seconds"] += now - t_last
            t_last = now
            if state["step"] % 100 == 0:
                state["log"].append({"step": state["step"], "loss": run, "seconds": state["seconds"]})
                print(f"{ck.stem} step {state['step']}: loss {run:.4f}, {state['seconds'] / 60:.1f} min",
                      flush=True)
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ck)
    finally:
        stop.set()
    state["done"] = True
    state["batch"] = batch
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state}, ck)


def shipped_unet_checkpoint() -> Path:
    """The refined U-Net when its cycle has run, else the base one (what export ships)."""
    refined = WORK / "unet_refine.pt"
    return refined if refined.exists() else WORK / "unet.pt"


# --- export ------------------------------------------------------------------------------------

def export() -> None:
    from studio.runtime.manifest import Manifest, TensorSpec

    enc_d = torch.load(WORK / "encoder.pt", weights_only=False)
    base_d = torch.load(WORK / "unet.pt", weights_only=False)
    chosen = shipped_unet_checkpoint()
    un_d = base_d if chosen.name == "unet.pt" else torch.load(chosen, weights_only=False)
    if not un_d["state"].get("done"):
        raise SystemExit(f"export: the U-Net run behind {chosen} has not finished")
    enc = AudioEncoder(); enc.load_state_dict(enc_d["model"]); enc.eval()
    ren = Renderer(); ren.load_state_dict(un_d["model"]); ren.eval()
    un = UNetExport(ren).eval()
    for sub in ("audio_encoder", "unet"):
        (MODELS_OUT / sub).mkdir(parents=True, exist_ok=True)
    torch.onnx.export(enc, (torch.zeros(1, 1, 80, 16),), str(MODELS_OUT / "audio_encoder" / "model.onnx"),
                      input_names=["mel"], output_names=["feature"], opset_version=17,
                      dynamic_axes={"mel": {0: "B"}, "feature": {0: "B"}}, dynamo=False)
    torch.onnx.export(un, (torch.zeros(1, 6, S, S), torch.zeros(1, 32, 16, 16)),
                      str(MODELS_OUT / "unet" / "model.onnx"), input_names=["image", "audio"],
                      output_names=["pred"], opset_version=17, dynamo=False)
    es, us = enc_d["state"], un_d["state"]
    lic = ("Proprietary (this project). Trained only on synthetic data made by the recipe: "
           "espeak-ng speech (GPL-3.0 program; its audio output is not covered) and the "
           "scikit-image astronaut photo (NASA, public domain).")
    common_train = {"recipe": "models/recipes/talk_default/train.py", "device": "CPU, 2 threads",
                    "framework": f"PyTorch {torch.__version__}, exported with torch.onnx (opset 17)"}
    Manifest(
        name="talk_default_audio_encoder", role="talk.audio_encoder", version="1",
        description="Default lip-sync audio encoder: one 0.2 s mel window -> the mouth shape at "
                    "its middle (entries 0-2 of the 512 row: openness 0..1, width -1..1, "
                    "rounding 0..1; entries 3-511 are zero).",
        license=lic,
        inputs=[TensorSpec("mel", ("B", 1, 80, 16), range=(-4.0, 4.0),
                           description="SyncTalk_2D/Wav2Lip normalised log-mel window (studio.talk.mel)")],
        outputs=[TensorSpec("feature", ("B", 512), description="row: [openness, width, rounding, 0...]")],
        constants={"sample_rate": 16000, "fps": 25, "row_layout": ["openness", "width", "rounding"]},
        training={**common_train,
                  "data": "espeak-ng English speech: 900 generated sentences (Harvard sentences + "
                          "word templates), 7 accents x 15 voice variants, rates 120-220 wpm, "
                          "pitch 30-70; noise (5-45 dB SNR), EQ tilt and room reverb; targets "
                          "from espeak phoneme timings via studio/talk/eval_sync.py visemes + "
                          "coarticulation. Held-out: 60 sentences in 3 unseen voices."
                          + (" Mel-domain augmentation (train.spec_augment): frequency warp "
                             "0.82-1.18, band and time masks, level jitter." if es.get("spec_aug") else ""),
                  "loss": "L1 on (openness, width, rounding), weights 3/1/1",
                  "epochs": es["epoch"], "minutes": round(es["seconds"] / 60, 1),
                  "frames_per_epoch": es.get("frames_per_epoch"),
                  "held_out_r_open_last": es["log"][-1]["test_r_open"] if es["log"] else None,
                  **({"grid_dev_r_open_last": es["log"][-1]["grid_dev_r"]}
                     if es["log"] and "grid_dev_r" in es["log"][-1] else {})},
    ).save(MODELS_OUT / "audio_encoder" / "manifest.json")
    Manifest(
        name="talk_default_unet", role="talk.unet", version="1",
        description="Default lip-sync U-Net for the astronaut avatar (SyncTalk_2D contract, "
                    "160x160): paints the mouth shape read from the encoder rows into the "
                    "lower-face crop. Trained for the default avatar only.",
        license=lic,
        inputs=[TensorSpec("image", (1, 6, S, S), range=(0.0, 1.0),
                           description="reference crop then masked crop, BGR/255"),
                TensorSpec("audio", (1, 32, 16, 16), description="16 stacked encoder rows (ave)")],
        outputs=[TensorSpec("pred", (1, 3, S, S), range=(0.0, 1.0), description="BGR/255")],
        constants={"size": S, "pad": PAD, "mask": "rect", "mask_rect": [5, 5, 155, 150],
                   "input_order": ["reference", "masked"], "channel_order": "BGR",
                   "audio_mode": "ave", "row_positions": list(ROW_POS),
                   "row_weights": list(ROW_WEIGHTS)},
        training={**common_train,
                  "data": "crops of resources/avatars/default (125 frames of idle motion) with "
                          "the mouth warped to random shapes by the recipe's warp_mouth (jaw, "
                          "lips, real teeth, shaded inner mouth); reference mouth randomised 40%",
                  "loss": "L1 + 6 x L1 in the mouth region",
                  "steps": base_d["state"]["step"] + (us["step"] if us is not base_d["state"] else 0),
                  "batch": us.get("batch", 12),
                  "minutes": round(base_d["state"]["seconds"] / 60
                                   + (us["seconds"] / 60 if us is not base_d["state"] else 0), 1),
                  "schedule": "cosine from lr 2e-3" + (
                      f" ({base_d['state']['step']} steps), then a refine cycle from lr "
                      f"{us.get('lr0', 6e-4):g} ({us['step']} steps)" if us is not base_d["state"] else ""),
                  "final_loss": us["log"][-1]["loss"] if us["log"] else None},
    ).save(MODELS_OUT / "unet" / "manifest.json")
    for sub in ("audio_encoder", "unet"):
        print(sub, (MODELS_OUT / sub / "model.onnx").stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="all",
                    choices=["all", "synth", "encoder", "unet", "refine", "export"])
    ap.add_argument("--encoder-minutes", type=float, default=9.0)
    ap.add_argument("--encoder-epochs", type=int, default=3)
    ap.add_argument("--spec-augment", action="store_true",
                    help="mel-domain augmentation (tried, not shipped: docs/models.md)")
    ap.add_argument("--unet-minutes", type=float, default=24.0)
    ap.add_argument("--refine-minutes", type=float, default=28.0,
                    help="second, lower cosine cycle from the U-Net's weights (0 skips it)")
    a = ap.parse_args()
    if a.stage in ("all", "synth"):
        synth()
    if a.stage in ("all", "encoder"):
        train_encoder(a.encoder_minutes, spec_aug=a.spec_augment, max_epochs=a.encoder_epochs)
    if a.stage in ("all", "unet"):
        train_unet(a.unet_minutes)
    if a.stage in ("all", "refine") and a.refine_minutes > 0:
        train_unet(a.refine_minutes, ck=WORK / "unet_refine.pt", lr0=6e-4, start_from=WORK / "unet.pt")
    if a.stage in ("all", "export"):
        export()
