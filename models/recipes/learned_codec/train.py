"""Train the shipped learned image codec (models/learned_codec/q1..qN) on CPU.

    python3 -m venv .venv-recipes
    .venv-recipes/bin/pip install torch==2.13.0 compressai onnx
    # one model at a middle lambda, then short fine-tunes of copies for the other rates
    nohup nice -n 10 .venv-recipes/bin/python models/recipes/learned_codec/train.py \
        --lmbda 0.0067 --minutes 45 --ckpt /tmp/lc/q3.pt &
    .venv-recipes/bin/python models/recipes/learned_codec/train.py --lmbda 0.0018 \
        --init /tmp/lc/q3.pt --minutes 10 --ckpt /tmp/lc/q1.pt
    # ... --resume continues a checkpoint where it stopped (same --ckpt)
    .venv-recipes/bin/python models/recipes/learned_codec/export.py --ckpt /tmp/lc/q1.pt \
        --out models/learned_codec/q1

Balle, Laparra, Simoncelli, "End-to-end optimized image compression", ICLR 2017: GDN
analysis/synthesis transforms (4 stride-2 convolutions each way) and a factorised
(per-channel, non-parametric) prior on the quantised latents, as CompressAI's
``FactorizedPrior`` implements it (N filters, M latent channels). Loss: lambda * 255^2 * MSE
+ bits per pixel, with additive uniform noise as the training proxy for rounding, and
CompressAI's auxiliary loss that fits the prior's quantiles (used only for the range check
at export).

Data: BSDS500 train + val (300 photos, 481x321; research data, NON-COMMERCIAL), random
128x128 crops with horizontal and vertical flips. Kodak is never read here: it is the
evaluation set (evaluate.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image



def _stub_torchvision() -> None:
    """CompressAI imports torchvision.transforms only to fill a registry of dataset
    transforms this recipe never uses; the torchvision wheel that pip pairs with the CPU
    torch build here fails to load its C ops ("operator torchvision::nms does not exist"),
    so a broken torchvision is replaced by an empty stand-in before CompressAI loads."""
    import types

    try:
        import torchvision.transforms  # noqa: F401
    except Exception:  # noqa: BLE001 - any load failure: the registry is all that needs it
        tv = types.ModuleType("torchvision")
        tv.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"] = tv
        sys.modules["torchvision.transforms"] = tv.transforms


_stub_torchvision()
from compressai.models import FactorizedPrior, ScaleHyperprior  # noqa: E402

torch.set_num_threads(int(os.environ.get("LC_THREADS", "2")))
DATA = Path(os.environ.get("LC_DATA", "/work/shared/data/bsds500"))
SPLITS = ("train", "val")


def load_images() -> list[torch.Tensor]:
    """Every training photo as a uint8 (3, H, W) tensor (300 x 481x321 fits in memory)."""
    files = sorted(f for s in SPLITS for f in (DATA / s).iterdir()
                   if f.suffix.lower() in (".jpg", ".png"))
    if any("kodak" in str(f).lower() for f in files):
        raise SystemExit("refusing to train on Kodak: it is the evaluation set")
    if not files:
        raise SystemExit(f"no images under {DATA}/{{train,val}}")
    return [torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1)
            for f in files]


def batch(images: list[torch.Tensor], n: int, size: int, rng: random.Random) -> torch.Tensor:
    out = []
    for _ in range(n):
        im = images[rng.randrange(len(images))]
        _, h, w = im.shape
        y, x = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
        c = im[:, y:y + size, x:x + size]
        if rng.random() < 0.5:
            c = c.flip(2)
        if rng.random() < 0.5:
            c = c.flip(1)
        out.append(c)
    return torch.stack(out).float() / 255.0


def distortion(x_hat: torch.Tensor, x: torch.Tensor, luma_weight: float) -> torch.Tensor:
    """RGB MSE, or (luma_weight > 0) a YCbCr (BT.601) MSE weighted w:1:1 over Y, Cb, Cr.

    Why the weighting: the workbench scores every codec on 4:2:0 YUV planes (PSNR-Y,
    MS-SSIM on Y) and the classical codecs spend most of their bits on luma; an RGB loss
    spends the learned codec's on chroma detail nobody scores (6:1:1 is the usual
    PSNR-YUV weighting of the video standards' test conditions)."""
    d = x_hat - x
    if luma_weight <= 0:
        return torch.mean(d ** 2)
    kr, kb = 0.299, 0.114
    dy = kr * d[:, 0] + (1 - kr - kb) * d[:, 1] + kb * d[:, 2]
    dcb = (d[:, 2] - dy) / (2 * (1 - kb))
    dcr = (d[:, 0] - dy) / (2 * (1 - kr))
    return (luma_weight * dy.pow(2).mean() + dcb.pow(2).mean() + dcr.pow(2).mean()) \
        / (luma_weight + 2)


ARCHS = {"factorized": FactorizedPrior, "hyperprior": ScaleHyperprior}


def ste_round(v: torch.Tensor, mean) -> torch.Tensor:
    """round(v - mean) + mean forward, identity backward (straight-through)."""
    return v + (torch.round(v - mean) + mean - v).detach()


def _medians(eb) -> torch.Tensor:
    """The entropy bottleneck's per-channel medians, (1, C, 1, 1): the app's offsets."""
    return eb.quantiles[:, 0, 1].detach().view(1, -1, 1, 1)


def forward_mixed(model, x: torch.Tensor, y_means=None) -> dict:
    """The rate from additive noise, the distortion from the latents the app decodes.

    Why: the noise proxy trains g_s on y + U(-1/2, 1/2), yet the app feeds it round(y - median)
    + median; decoding the rounded latents in training (a straight-through gradient for g_a)
    removes that mismatch, which costs most at high rates (Minnen & Singh 2020 call this
    "mixed" quantisation). The likelihoods, and so the rate term, keep the noise proxy.
    ``y_means``: a hyperprior's quantisation offsets of y (fit_hyperprior.py keeps the
    factorised model's), (1, M, 1, 1); None: zero."""
    y = model.g_a(x)
    if isinstance(model, ScaleHyperprior):
        z = model.h_a(torch.abs(y))
        _, z_lk = model.entropy_bottleneck(z)
        scales = model.h_s(ste_round(z, _medians(model.entropy_bottleneck)))
        ym = 0.0 if y_means is None else y_means
        _, y_lk = model.gaussian_conditional(y, scales, means=y_means)
        return {"x_hat": model.g_s(ste_round(y, ym)), "likelihoods": {"y": y_lk, "z": z_lk}}
    _, y_lk = model.entropy_bottleneck(y)
    return {"x_hat": model.g_s(ste_round(y, _medians(model.entropy_bottleneck))),
            "likelihoods": {"y": y_lk}}


def scheduled_lr(peak: float, frac: float) -> float:
    """A step decay over the wall-time budget (needs no knowledge of the step count): the
    full rate for 70 %, a third of it to 90 %, a tenth for the last 10 %."""
    return peak if frac < 0.7 else peak / 3 if frac < 0.9 else peak / 10


def optimise(loss: torch.Tensor, params: list, opt, model, aux_opt) -> torch.Tensor:
    """One step: the loss (gradients clipped to norm 1), then CompressAI's auxiliary loss
    that fits the entropy bottleneck's quantiles; returns the auxiliary loss."""
    opt.zero_grad()
    aux_opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    aux = model.aux_loss()
    aux.backward()
    aux_opt.step()
    return aux


def build(n: int, m: int, arch: str = "factorized"):
    """FactorizedPrior (Balle 2017) or ScaleHyperprior (Balle 2018: the same g_a/g_s, plus
    h_a/h_s that send per-latent Gaussian scales as side information)."""
    return ARCHS[arch](N=n, M=m)


def load_transforms_from_onnx(model, rate_point: Path) -> None:
    """Load g_a/g_s from a shipped rate point's ONNX files (analysis/, synthesis/).

    Why: checkpoints live outside the repository and are lost with the machine; the ONNX
    graphs keep every transform parameter under its state-dict name (raw GDN parameters and
    reparametrisation buffers included; fp16_storage.py adds an ``_fp16`` suffix), so
    training can continue from what was shipped instead of from scratch. The entropy
    bottleneck is not in the graphs (only its integer tables are): --eb-warmup refits it."""
    import onnx
    from onnx import numpy_helper

    for part, prefix in (("analysis", "g_a."), ("synthesis", "g_s.")):
        g = onnx.load(str(rate_point / part / "model.onnx")).graph
        arrays = {i.name.removesuffix("_fp16"): numpy_helper.to_array(i) for i in g.initializer}
        # parameters only: the reparametrisation buffers are constants of the GDN layers
        # (the exporter keeps one copy of equal ones)
        sd = dict(getattr(model, prefix[:-1]).named_parameters())
        sd = {k: v.detach() for k, v in sd.items()}
        missing = [k for k in sd if k not in arrays]
        if missing:
            raise SystemExit(f"{rate_point / part / 'model.onnx'}: no initializer for {missing}")
        for k, v in sd.items():
            a = np.asarray(arrays[k], dtype=np.float32)
            if tuple(a.shape) != tuple(v.shape):
                raise SystemExit(f"{rate_point / part}: {k} has shape {a.shape}, "
                                 f"the model wants {tuple(v.shape)} (other N/M?)")
            sd[k] = torch.from_numpy(a.copy())
        getattr(model, prefix[:-1]).load_state_dict(sd, strict=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lmbda", type=float, required=True)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="factorized")
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--M", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--minutes", type=float, default=45.0, help="wall-time budget of this run")
    ap.add_argument("--steps", type=int, default=10 ** 9)
    ap.add_argument("--ckpt", required=True, help="checkpoint to write (and --resume)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="start from this checkpoint's weights (fine-tune)")
    ap.add_argument("--init-onnx", help="start from a shipped rate point's transforms "
                    "(e.g. models/learned_codec/q3), see load_transforms_from_onnx()")
    ap.add_argument("--eb-warmup", type=int, default=400,
                    help="with --init-onnx: steps that fit only the entropy model (the "
                         "bottleneck, and h_a/h_s for the hyperprior) with g_a frozen")
    ap.add_argument("--every-min", type=float, default=3.0, help="checkpoint period")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--luma-weight", type=float, default=0.0,
                    help="0: RGB MSE; w > 0: YCbCr MSE weighted w:1:1 (see distortion())")
    ap.add_argument("--ste", action="store_true",
                    help="decode rounded latents in training (see forward_mixed())")
    a = ap.parse_args()

    ckpt = Path(a.ckpt)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    model = build(a.N, a.M, a.arch)
    params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt = torch.optim.Adam(params, lr=a.lr)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    step, log, elapsed0, init_steps, init_s = 0, [], 0.0, 0, 0.0
    carried = {}        # a fitted hyperprior's offsets and record, kept in every checkpoint
    if a.resume and ckpt.exists():
        st = torch.load(ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        carried = {k: st[k] for k in ("y_means", "hyper_fit") if k in st}
        opt.load_state_dict(st["opt"])
        aux_opt.load_state_dict(st["aux_opt"])
        step, log, elapsed0 = st["step"], st["log"], st.get("elapsed_s", 0.0)
        init_steps, init_s = st.get("init_steps", 0), st.get("init_s", 0.0)
        rng.setstate(st["rng"])
        print(f"resumed {ckpt} at step {step}", flush=True)
    elif a.init:
        st = torch.load(a.init, weights_only=False)
        model.load_state_dict(st["model"])
        carried = {k: st[k] for k in ("y_means", "hyper_fit") if k in st}
        log = [dict(r, init=a.init) for r in st["log"][-1:]]
        init_steps = st["step"] + st.get("init_steps", 0)
        init_s = st.get("elapsed_s", 0.0) + st.get("init_s", 0.0)
        print(f"fine-tuning from {a.init} (step {st['step']})", flush=True)
    elif a.init_onnx:
        load_transforms_from_onnx(model, Path(a.init_onnx))
        shipped = json.loads((Path(a.init_onnx) / "codec.json").read_text()).get("training", {})
        init_steps = shipped.get("steps", 0) + shipped.get("steps_before_fine_tune", 0)
        init_s = shipped.get("wall_s", 0) + shipped.get("wall_s_before_fine_tune", 0)
        print(f"transforms from {a.init_onnx} ({init_steps} steps shipped)", flush=True)

    y_means = carried["y_means"].view(1, -1, 1, 1) if "y_means" in carried else None
    if y_means is not None and not a.ste:
        raise SystemExit("a fitted hyperprior (y_means) trains with --ste only")
    images = load_images()
    print(f"{len(images)} training photos; lambda {a.lmbda}, N={a.N} M={a.M}", flush=True)
    model.train()
    if a.init_onnx and step == 0:
        eb_params = [p for n, p in model.named_parameters()
                     if not n.endswith("quantiles") and not n.startswith(("g_a.", "g_s."))]
        eb_opt = torch.optim.Adam(eb_params, lr=5e-3 if a.arch == "factorized" else 1e-3)
        for p in model.g_a.parameters():
            p.requires_grad_(False)
        for i in range(a.eb_warmup):
            x = batch(images, a.batch, a.crop, rng)
            out = model(x)
            bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) \
                / (-math.log(2) * x.shape[0] * x.shape[2] * x.shape[3])
            eb_opt.zero_grad()
            aux_opt.zero_grad()
            bpp.backward()
            eb_opt.step()
            aux = model.aux_loss()
            aux.backward()
            aux_opt.step()
            if (i + 1) % 100 == 0:
                print(f"entropy-model warm-up {i + 1}/{a.eb_warmup}: {bpp.item():.3f} bpp",
                      flush=True)
        for p in model.g_a.parameters():
            p.requires_grad_(True)
    t0 = time.time()
    last_ck = t0
    acc = {"loss": 0.0, "mse": 0.0, "bpp": 0.0, "n": 0}

    def save() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                    "aux_opt": aux_opt.state_dict(), "step": step, "log": log,
                    "rng": rng.getstate(), "elapsed_s": elapsed0 + time.time() - t0,
                    "init_steps": init_steps, "init_s": init_s,
                    "args": vars(a), **carried}, tmp)
        os.replace(tmp, ckpt)

    while step < a.steps and time.time() - t0 < a.minutes * 60:
        lr = scheduled_lr(a.lr, (time.time() - t0) / (a.minutes * 60))
        for g in opt.param_groups:
            g["lr"] = lr
        x = batch(images, a.batch, a.crop, rng)
        out = forward_mixed(model, x, y_means) if a.ste else model(x)
        npix = x.shape[0] * x.shape[2] * x.shape[3]
        bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) / (-math.log(2) * npix)
        mse = torch.mean((out["x_hat"] - x) ** 2)
        dist = distortion(out["x_hat"], x, a.luma_weight) if a.luma_weight > 0 else mse
        loss = a.lmbda * 255.0 ** 2 * dist + bpp
        aux = optimise(loss, params, opt, model, aux_opt)
        step += 1
        acc["loss"] += loss.item()
        acc["mse"] += mse.item()
        acc["bpp"] += bpp.item()
        acc["n"] += 1
        if step % 25 == 0:
            n = acc["n"]
            psnr = 10 * math.log10(1.0 / max(acc["mse"] / n, 1e-12))
            rec = {"step": step, "loss": acc["loss"] / n, "bpp": acc["bpp"] / n,
                   "psnr": psnr, "aux": aux.item(), "lr": lr,
                   "s": round(elapsed0 + time.time() - t0, 1), "lmbda": a.lmbda}
            log.append(rec)
            print(json.dumps(rec), flush=True)
            acc = {"loss": 0.0, "mse": 0.0, "bpp": 0.0, "n": 0}
        if time.time() - last_ck > a.every_min * 60:
            save()
            last_ck = time.time()
    save()
    print(f"done: step {step}, {time.time() - t0:.0f} s, checkpoint {ckpt}", flush=True)


if __name__ == "__main__":
    main()
