"""Fit a scale hyperprior to a trained factorised rate point, its transforms frozen.

    # --from: a FACTORISED rate point (the shipped ones up to commit f5d1c10 were)
    .venv-recipes/bin/python models/recipes/learned_codec/fit_hyperprior.py \
        --from /work/lc/f5/models/learned_codec/q4 --minutes 10 --ckpt /work/lc/h_q4.pt
    .venv-recipes/bin/python models/recipes/learned_codec/export.py --ckpt /work/lc/h_q4.pt \
        --out models/learned_codec/q4 --quality 4

Why: a scale hyperprior (Balle et al. 2018) codes each latent with a Gaussian whose scale is
sent as side information, where the factorised prior gives every latent of a channel one
distribution; joint training from scratch needs hours this CPU does not have (a 1,600-step
joint try was 13 % worse than its starting point). With g_a and g_s frozen the distortion is
the factorised model's exactly (the same quantisation offsets: q = round(y - mean), y_hat =
q + mean) and only the rate changes, so the fit is a pure entropy-modelling problem: the
latents of every training photo are computed once, and h_a / h_s / the side prior learn to
minimise the EXACT discrete rate of q (the Gaussian's mass on each integer bin; no noise
proxy for y) plus the side information (noise proxy for z; h_s sees round(z - median) +
median, what the app decodes). The result can only be kept if it beats the factorised tables
on held-out images (evaluate.py); nothing here touches g_a / g_s.

Data: BSDS500 train + val (300 photos) with horizontal/vertical flips, random latent crops;
Kodak never read (train.load_images refuses it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from export import PAD_HYPER, pad_to  # noqa: E402
from train import (build, load_images, load_transforms_from_onnx, optimise,  # noqa: E402
                   scheduled_lr)

SCALE_MIN = 0.11          # CompressAI's scale bound = the first entry of the exported table
ESCAPE_BITS = 16          # a value outside a table: the escape symbol, then 16 raw bits


@torch.no_grad()
def training_latents(model, flips: int) -> list[torch.Tensor]:
    """g_a of every training photo, padded as the app pads a hyperprior (to 64), with up to
    four flip variants: (M, h, w) float tensors."""
    out = []
    for im in load_images():
        x = im[None].float() / 255.0
        for f in [(), (3,), (2,), (2, 3)][:flips]:
            xf = x.flip(f) if f else x
            out.append(model.g_a(pad_to(xf, PAD_HYPER))[0])
    return out


def gaussian_bits(q: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """-log2 of a zero-mean Gaussian's mass on each integer bin (the exported tables' model)."""
    s = scales.clamp_min(SCALE_MIN)
    upper = torch.special.ndtr((0.5 - q.abs()) / s)
    lower = torch.special.ndtr((-0.5 - q.abs()) / s)
    return -torch.log2((upper - lower).clamp_min(1e-9))


def crops(lat: list[torch.Tensor], n: int, size: int, rng: random.Random) -> torch.Tensor:
    """n random (size x size) windows of the latent maps, on the side latents' grid of 4."""
    out = []
    for _ in range(n):
        y = lat[rng.randrange(len(lat))]
        _, h, w = y.shape
        i = 4 * rng.randrange((h - size) // 4 + 1)
        j = 4 * rng.randrange((w - size) // 4 + 1)
        out.append(y[:, i:i + size, j:j + size])
    return torch.stack(out)


def rate(model, y: torch.Tensor, means: torch.Tensor, train: bool) -> tuple[torch.Tensor, ...]:
    """(bits of y, bits of z), summed, for latents y (B, M, h, w)."""
    eb = model.entropy_bottleneck
    z = model.h_a(torch.abs(y))
    if train:
        _, z_lk = eb(z)
        med = eb.quantiles[:, 0, 1].detach().view(1, -1, 1, 1)
        z_hat = z + (torch.round(z - med) + med - z).detach()
    else:
        z_hat, z_lk = eb(z, training=False)
    scales = model.h_s(z_hat)
    q = torch.round(y - means)
    return gaussian_bits(q, scales).sum(), -torch.log2(z_lk).sum()


def factorised_bits(tables, held: list[torch.Tensor], means: torch.Tensor) -> float:
    """What the factorised point's own integer tables spend on the held-out latents (as the
    app codes them: a value outside a channel's table costs the escape plus 16 raw bits)."""
    freqs, off, cnt = tables["freqs"], tables["offset"], tables["count"]
    bits = 0.0
    for y in held:
        q = torch.round(y - means[0]).long().numpy()
        for c in range(q.shape[0]):
            k = q[c] - off[c]
            out = (k < 0) | (k >= cnt[c] - 1)
            k = np.where(out, cnt[c] - 1, k)
            bits += float(-np.log2(freqs[c, k] / 65536.0).sum()) + ESCAPE_BITS * int(out.sum())
    return bits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src_arg = ap.add_mutually_exclusive_group(required=True)
    src_arg.add_argument("--from", dest="src",
                         help="a factorised rate point (models/learned_codec/qN)")
    src_arg.add_argument("--ckpt-in", help="or a hyperprior checkpoint of train.py (a joint "
                         "fine-tune of an earlier fit): refit its hyper graphs to its transforms")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=16, help="latent crop (x16 pixels)")
    ap.add_argument("--flips", type=int, default=2, choices=(1, 2, 3, 4))
    ap.add_argument("--held-out", type=int, default=40,
                    help="photos kept out of the fit to measure the rate against the factorised "
                         "tables (the LAST ones; the export still uses all)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    st_in = None
    if a.ckpt_in:
        st_in = torch.load(a.ckpt_in, weights_only=False)
        if st_in["args"].get("arch") != "hyperprior" or "y_means" not in st_in:
            raise SystemExit(f"{a.ckpt_in}: not a hyperprior checkpoint with y_means")
        n_, m_ = st_in["args"]["N"], st_in["args"]["M"]
        model = build(n_, m_, "hyperprior")
        model.load_state_dict(st_in["model"])
        means = st_in["y_means"].view(1, -1, 1, 1)
    else:
        src = Path(a.src)
        codec = json.loads((src / "codec.json").read_text())
        if codec.get("entropy_model") != "factorized":
            raise SystemExit(f"{src}: not a factorised rate point")
        n_, m_ = codec["training"]["N"], codec["training"]["M"]
        model = build(n_, m_, "hyperprior")
        load_transforms_from_onnx(model, src)
        tables = np.load(src / "entropy.npz")
        means = torch.from_numpy(tables["means"].astype(np.float32)).view(1, -1, 1, 1)
    for p in list(model.g_a.parameters()) + list(model.g_s.parameters()):
        p.requires_grad_(False)
    t0 = time.time()
    lat = training_latents(model, a.flips)
    split = len(lat) - a.held_out * a.flips
    fit, held = lat[:split], lat[split:]
    pix = sum(y.shape[1] * y.shape[2] * 256 for y in held)
    print(f"{len(lat)} latent maps in {time.time() - t0:.0f} s; fitting on {len(fit)}",
          flush=True)

    params = [p for nm, p in model.named_parameters()
              if nm.startswith(("h_a.", "h_s.", "entropy_bottleneck.")) and
              not nm.endswith("quantiles")]
    aux_params = [p for nm, p in model.named_parameters() if nm.endswith("quantiles")]
    opt = torch.optim.Adam(params, lr=a.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    log, step, t1 = [], 0, time.time()

    def held_out_bpp() -> tuple[float, float]:
        model.eval()
        by = bz = 0.0
        with torch.no_grad():
            for y in held:
                b_y, b_z = rate(model, y[None], means, train=False)
                by, bz = by + b_y.item(), bz + b_z.item()
        model.train()
        return by / pix, bz / pix

    # the baseline on the held-out maps: the factorised tables, or the hyper graphs as loaded
    base = factorised_bits(tables, held, means) / pix if st_in is None else sum(held_out_bpp())
    print(f"held-out: {'factorised tables' if st_in is None else 'as loaded'} {base:.4f} bpp",
          flush=True)

    while time.time() - t1 < a.minutes * 60:
        lr = scheduled_lr(a.lr, (time.time() - t1) / (a.minutes * 60))
        for g in opt.param_groups:
            g["lr"] = lr
        y = crops(fit, a.batch, a.size, rng)
        b_y, b_z = rate(model, y, means, train=True)
        npix = y.shape[0] * y.shape[2] * y.shape[3] * 256
        loss = (b_y + b_z) / npix
        optimise(loss, params, opt, model, aux_opt)
        step += 1
        if step % 200 == 0:
            hy, hz = held_out_bpp()
            rec = {"step": step, "bpp_train": loss.item(), "held_y": hy, "held_z": hz,
                   "held_bpp": hy + hz, "baseline": base, "lr": lr,
                   "s": round(time.time() - t1, 1)}
            log.append(rec)
            print(json.dumps(rec), flush=True)
    hy, hz = held_out_bpp()
    print(f"done: {step} steps; held-out {hy + hz:.4f} bpp (side {hz:.4f}) vs baseline "
          f"{base:.4f}", flush=True)
    fit_rec = {"steps": step, "minutes": a.minutes, "lr": a.lr, "batch": a.batch,
               "latent_crop": a.size, "flips": a.flips, "held_out_photos": a.held_out,
               "held_out_bpp": hy + hz, "held_out_side_bpp": hz, "log": log}
    if st_in is not None:
        # a refit after a joint fine-tune: the checkpoint as it was, with the new hyper graphs
        out = dict(st_in, model=model.state_dict(), hyper_fit=dict(
            st_in.get("hyper_fit", {}), refit=dict(fit_rec, baseline_bpp=base,
                                                    ckpt_in=str(a.ckpt_in))))
    else:
        tr = codec["training"]
        out = {"model": model.state_dict(), "step": tr.get("steps", 0),
               "log": [tr.get("last_log", {})], "elapsed_s": tr.get("wall_s", 0),
               "init_steps": tr.get("steps_before_fine_tune", 0),
               "init_s": tr.get("wall_s_before_fine_tune", 0), "y_means": means.view(-1),
               "hyper_fit": dict(fit_rec, held_out_factorised_bpp=base, **{"from": str(src)}),
               "args": {"N": n_, "M": m_, "arch": "hyperprior", "lmbda": codec["lambda"],
                        "batch": tr.get("batch"), "crop": tr.get("crop"),
                        "lr": tr.get("last_run", {}).get("lr_peak"),
                        "minutes": tr.get("last_run", {}).get("minutes"),
                        "ste": tr.get("last_run", {}).get("mixed_quantisation", False),
                        "init": tr.get("fine_tuned_from")}}
    tmp = Path(a.ckpt).with_suffix(".tmp")
    Path(a.ckpt).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, tmp)
    os.replace(tmp, a.ckpt)
    print(f"checkpoint {a.ckpt}", flush=True)


if __name__ == "__main__":
    main()
