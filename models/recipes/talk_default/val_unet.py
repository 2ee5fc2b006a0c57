"""Held-out check of a U-Net checkpoint on samples the training never drew (fixed seed).

Reports whole-crop L1, mouth-region L1 and sharpness: the variance of the Laplacian of the
painted region (the masked rectangle) relative to the target's, 1.0 = as detailed as the
photo, lower = softer. Used to compare the shipped checkpoint with a refined one.

    /tmp/recipevenv/bin/python models/recipes/talk_default/val_unet.py CKPT [CKPT ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import Renderer, UNetData  # noqa: E402

SEED, N = 424242, 96


def held_out(n: int = N):
    data = UNetData(seed=SEED)
    x, t, p, w = data.batch(n)
    return x, t, p, w


def laplacian_var(img_chw: np.ndarray) -> float:
    g = cv2.cvtColor((img_chw.transpose(1, 2, 0) * 255).astype(np.uint8), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(g[5:150, 5:155], cv2.CV_32F).var())


def evaluate(ckpt: Path, batch=None) -> dict[str, float]:
    x, t, p, w = batch or held_out()
    model = Renderer()
    model.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
    model.eval()
    with torch.no_grad():
        y = torch.cat([model(x[i:i + 16], p[i:i + 16]) for i in range(0, len(x), 16)])
    l1 = (y - t).abs()
    mouth = float((l1 * w).sum() / (w.sum() * 3))
    sharp = [laplacian_var(y[i].numpy()) / max(laplacian_var(t[i].numpy()), 1e-6) for i in range(len(x))]
    return {"l1": float(l1.mean()), "mouth_l1": mouth, "sharpness": float(np.median(sharp))}


def main(argv=None) -> int:
    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    batch = held_out()
    for ck in paths:
        r = evaluate(ck, batch)
        print(f"{ck.name}: L1 {r['l1'] * 255:.2f}/255, mouth L1 {r['mouth_l1'] * 255:.2f}/255, "
              f"sharpness {r['sharpness']:.2f} of the target's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
