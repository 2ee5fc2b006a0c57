"""Export a trained checkpoint of train.py as a shipped learned-codec rate point.

    .venv-recipes/bin/python models/recipes/learned_codec/export.py --ckpt /tmp/lc/q1.pt \
        --out models/learned_codec/q1 --quality 1

Writes, into ``--out``:

* ``analysis/model.onnx`` + ``manifest.json`` (role ``codec.analysis``): RGB image
  (1, 3, H, W) in [0, 1], H and W multiples of 16 -> latents (1, M, H/16, W/16);
* ``synthesis/model.onnx`` + ``manifest.json`` (role ``codec.synthesis``): dequantised
  latents -> RGB image (clipping to [0, 1] is the caller's job);
* ``entropy.npz``: the factorised prior as INTEGER tables, so the decoder's entropy model is
  exactly reproducible in any process (no float in the probability path):
  ``freqs`` (M, L) int32, each row a channel's frequencies summing to 2^16 over the symbols
  ``offset[c] .. offset[c] + count[c] - 2`` plus one escape symbol at ``count[c] - 1``;
  ``offset``/``count`` (M,) int32; ``means`` (M,) float32: the quantisation offsets (the
  prior's medians): q = round(y - mean), y_hat = q + mean;
* ``codec.json``: the codec-level manifest (quality, lambda, padding multiple, files,
  licence, training record).

A ``--arch hyperprior`` checkpoint (Balle 2018) also writes ``hyper_analysis/`` (y -> z, the
abs() inside) and ``hyper_synthesis/`` (z_hat -> Gaussian scales of y); ``entropy.npz``
then holds the tables above for z, plus (from fit_hyperprior.py) ``y_means``, y's
quantisation offsets, plus the Gaussian conditional as integer tables, one per
quantised scale: ``scale_table`` (S,) float32 (CompressAI's 64 log-spaced scales 0.11..256),
``g_freqs`` (S, L), ``g_offset``/``g_count`` (S,), each over the +-(1e-9 tail) range plus the
escape symbol. The padding multiple is 64 (two more stride-2 stages on the side).

The table range per channel covers the prior's own 1e-9 tail quantiles AND every quantised
latent of the 300 training photos (checked here, printed); values outside it at run time
take the escape symbol followed by the value itself in a uniform 16-bit code, so no latent
is ever clipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train import build, load_images  # noqa: E402

PRECISION = 16            # frequencies sum to 2^16
PAD = 16                  # 4 stride-2 stages
PAD_HYPER = 64            # + 2 more in h_a
TAIL_MASS = 1e-9
LICENSE = ("Weights: trained on BSDS500 (Berkeley Segmentation Data Set, Arbelaez et al. "
           "2011, train + val, 300 photos), research data: NON-COMMERCIAL use only.")


def pad_to(x: torch.Tensor, m: int = PAD) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def quantise_pmf(probs: np.ndarray, total: int = 1 << PRECISION) -> np.ndarray:
    """Integer frequencies >= 1 summing to exactly ``total``: every symbol gets 1, the rest
    is shared in proportion (floor), and the largest bin takes what rounding left over.
    (Flooring p * total and raising zeros to 1 can overshoot the total on wide tables.)"""
    n = len(probs)
    if n > total // 2:
        raise ValueError(f"{n} symbols do not fit a 2^{PRECISION} table")
    p = np.maximum(np.asarray(probs, np.float64), 0.0)
    f = 1 + np.floor(p / p.sum() * (total - n)).astype(np.int64)
    f[np.argmax(f)] += total - f.sum()
    assert f.min() >= 1 and f.sum() == total
    return f


def coded_by_bottleneck(model, x: torch.Tensor) -> torch.Tensor:
    """What the factorised tables code: y (factorised prior) or z (hyperprior)."""
    y = model.g_a(x)
    return model.h_a(torch.abs(y)) if hasattr(model, "h_a") else y


@torch.no_grad()
def training_latent_range(model, means: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel min/max of round(latent - mean) over every training photo (whole
    images), for the latents the factorised tables code."""
    lo = hi = None
    pad = PAD_HYPER if hasattr(model, "h_a") else PAD
    for im in load_images():
        y = coded_by_bottleneck(model, pad_to(im[None].float() / 255.0, pad))
        q = torch.round(y - means[None, :, None, None])
        qmin = q.amin(dim=(0, 2, 3)).numpy()
        qmax = q.amax(dim=(0, 2, 3)).numpy()
        lo = qmin if lo is None else np.minimum(lo, qmin)
        hi = qmax if hi is None else np.maximum(hi, qmax)
    return lo.astype(np.int64), hi.astype(np.int64)


@torch.no_grad()
def tables(model) -> tuple[dict, dict]:
    eb = model.entropy_bottleneck
    q = eb.quantiles.detach()[:, 0, :]           # (M, 3): lower tail, median, upper tail
    means = q[:, 1].clone()
    lo_p = torch.floor(q[:, 0] - means).long().numpy()
    hi_p = torch.ceil(q[:, 2] - means).long().numpy()
    lo_d, hi_d = training_latent_range(model, means)
    lo = np.minimum(lo_p, lo_d)
    hi = np.maximum(hi_p, hi_d)
    m = len(means)
    counts = (hi - lo + 1) + 1                   # + escape
    L = int(counts.max())
    freqs = np.zeros((m, L), np.int32)
    total = 1 << PRECISION
    for c in range(m):
        k = torch.arange(lo[c], hi[c] + 1, dtype=torch.float32)
        v = k + means[c]
        # the prior's CDF at the bin edges, per channel (CompressAI's _logits_cumulative
        # takes (C, 1, N))
        edges = torch.stack([v - 0.5, v + 0.5])                       # (2, n)
        x = edges.reshape(1, 1, -1).expand(m, 1, -1).contiguous()
        logits = eb._logits_cumulative(x, stop_gradient=True)[c, 0].reshape(2, -1)
        sign = -torch.sign(logits[0] + logits[1])
        p = (torch.sigmoid(sign * logits[1]) - torch.sigmoid(sign * logits[0])).abs()
        p = p.double().numpy()
        f = quantise_pmf(np.append(p, max(0.0, 1.0 - p.sum())), total)
        freqs[c, :len(f)] = f
    stats = {"channels": m, "max_symbols": L,
             "range_from_prior": [int(lo_p.min()), int(hi_p.max())],
             "range_from_training_data": [int(lo_d.min()), int(hi_d.max())],
             "training_data_outside_prior_range": int(((lo_d < lo_p) | (hi_d > hi_p)).sum())}
    return {"freqs": freqs, "offset": lo.astype(np.int32), "count": counts.astype(np.int32),
            "means": means.numpy().astype(np.float32),
            "precision": np.array(PRECISION, np.int32)}, stats


def gaussian_tables() -> dict:
    """The Gaussian conditional's integer tables, one per scale of CompressAI's table."""
    from scipy.special import ndtr, ndtri

    scales = np.exp(np.linspace(np.log(0.11), np.log(256.0), 64)).astype(np.float32)
    mult = -ndtri(TAIL_MASS / 2)
    radius = np.ceil(scales.astype(np.float64) * mult).astype(np.int64)
    L = int(2 * radius.max() + 2)
    freqs = np.zeros((len(scales), L), np.int32)
    total = 1 << PRECISION
    for i, (s, r) in enumerate(zip(scales.astype(np.float64), radius)):
        k = np.arange(-r, r + 1, dtype=np.float64)
        p = ndtr((k + 0.5) / s) - ndtr((k - 0.5) / s)
        f = quantise_pmf(np.append(p, max(0.0, 1.0 - p.sum())), total)
        freqs[i, :len(f)] = f
    return {"scale_table": scales, "g_freqs": freqs, "g_offset": (-radius).astype(np.int32),
            "g_count": (2 * radius + 2).astype(np.int32)}


class HyperAnalysis(torch.nn.Module):
    """h_a(|y|): the abs() is part of the shipped graph, so callers pass y as it comes."""

    def __init__(self, h_a: torch.nn.Module) -> None:
        super().__init__()
        self.h_a = h_a

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.h_a(torch.abs(y))


def export_onnx(module, example, path: Path, in_name: str, out_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, example, str(path), input_names=[in_name], output_names=[out_name],
                      dynamic_axes={in_name: {2: "H", 3: "W"}, out_name: {2: "H", 3: "W"}},
                      opset_version=17, dynamo=False)


def manifest(name: str, role: str, inp: dict, out: dict, desc: str, training: dict) -> dict:
    return {"name": name, "role": role, "inputs": [inp], "outputs": [out], "file": "model.onnx",
            "version": "1", "description": desc, "license": LICENSE,
            "constants": {"pad_multiple": PAD}, "training": training}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quality", type=int, required=True)
    ap.add_argument("--name", default="learned_codec")
    a = ap.parse_args()
    st = torch.load(a.ckpt, weights_only=False)
    args = st["args"]
    arch = args.get("arch", "factorized")
    hyper = arch == "hyperprior"
    model = build(args["N"], args["M"], arch)
    model.load_state_dict(st["model"])
    model.eval()
    out = Path(a.out)
    m, n = args["M"], args["N"]
    pad = PAD_HYPER if hyper else PAD
    ex = torch.rand(1, 3, 128, 192)
    export_onnx(model.g_a, ex, out / "analysis" / "model.onnx", "image", "latents")
    export_onnx(model.g_s, torch.randn(1, m, 8, 12), out / "synthesis" / "model.onnx",
                "latents", "image")
    if hyper:
        export_onnx(HyperAnalysis(model.h_a), torch.randn(1, m, 8, 12),
                    out / "hyper_analysis" / "model.onnx", "latents", "side")
        export_onnx(model.h_s, torch.randn(1, n, 2, 3), out / "hyper_synthesis" / "model.onnx",
                    "side", "scales")
    tab, stats = tables(model)
    if hyper:
        tab.update(gaussian_tables())
        if "y_means" in st:     # fit_hyperprior.py: the factorised model's offsets, kept
            tab["y_means"] = np.asarray(st["y_means"], np.float32).reshape(-1)
    np.savez_compressed(out / "entropy.npz", **tab)
    last = st["log"][-1] if st["log"] else {}
    training = {"recipe": "models/recipes/learned_codec/train.py", "steps": st["step"],
                "wall_s": round(st.get("elapsed_s", 0.0)),
                "steps_before_fine_tune": st.get("init_steps", 0),
                "wall_s_before_fine_tune": round(st.get("init_s", 0.0)), "lambda": args["lmbda"],
                "arch": arch, "N": n, "M": m, "batch": args["batch"], "crop": args["crop"],
                "data": "BSDS500 train+val (300 photos), random crops + flips; Kodak never "
                        "used", "last_log": last, "fine_tuned_from": args.get("init"),
                "last_run": {"lr_peak": args["lr"], "minutes": args["minutes"],
                             "mixed_quantisation": bool(args.get("ste", False))},
                "entropy_tables": stats}
    if "hyper_fit" in st:
        training["hyper_fit"] = dict(st["hyper_fit"], recipe=(
            "models/recipes/learned_codec/fit_hyperprior.py: h_a/h_s/side prior fitted to "
            "the factorised point's frozen g_a/g_s"))
    name = f"{a.name}_q{a.quality}"
    img = {"name": "image", "shape": [1, 3, "H", "W"], "range": [0.0, 1.0],
           "example": [1, 3, 64, 64],
           "description": "RGB in [0, 1]; H and W multiples of 16 (pad by edge replication)"}
    lat = {"name": "latents", "shape": [1, m, "h", "w"], "example": [1, m, 4, 4],
           "description": "h = H/16, w = W/16; analysis: real-valued y; synthesis takes "
                          "y_hat = q + means (entropy.npz)"}
    base = (f"Balle et al. 2018 scale-hyperprior image codec (GDN, N={n}, M={m})" if hyper
            else f"Balle et al. 2017 factorised-prior image codec (GDN, N={n}, M={m})") \
        + f", lambda {args['lmbda']} (quality {a.quality}). "
    (out / "analysis" / "manifest.json").write_text(json.dumps(manifest(
        name + "_analysis", "codec.analysis", img, lat,
        base + "Analysis transform (encoder side).", training), indent=2) + "\n")
    img_out = dict(img, description="RGB, nominally [0, 1] (clip); crop the padding away")
    (out / "synthesis" / "manifest.json").write_text(json.dumps(manifest(
        name + "_synthesis", "codec.synthesis", lat, img_out,
        base + "Synthesis transform (decoder side).", training), indent=2) + "\n")
    files = ["analysis/model.onnx", "synthesis/model.onnx", "entropy.npz"]
    codec = {"name": name, "kind": "learned_codec", "format": 1, "quality": a.quality,
             "lambda": args["lmbda"], "entropy_model": arch,
             "analysis": "analysis/manifest.json", "synthesis": "synthesis/manifest.json",
             "entropy": "entropy.npz", "pad_multiple": pad, "latent_channels": m,
             "color": "rgb", "license": LICENSE, "description": base, "training": training}
    if hyper:
        side = {"name": "side", "shape": [1, n, "h4", "w4"], "example": [1, n, 1, 1],
                "description": "side latents z, at 1/4 of the latents' size"}
        sc = {"name": "scales", "shape": [1, m, "h", "w"], "example": [1, m, 4, 4],
              "description": "Gaussian scale of each latent (>= 0)"}
        lat_in = dict(lat, example=[1, m, 4, 4])
        for kind, role, i, o, what in (
                ("hyper_analysis", "codec.hyper_analysis", lat_in, side,
                 "Hyper-analysis h_a(|y|) (encoder side)."),
                ("hyper_synthesis", "codec.hyper_synthesis", dict(side, example=[1, n, 1, 1]),
                 sc, "Hyper-synthesis h_s: the scales of y (both sides, CPU only).")):
            (out / kind / "manifest.json").write_text(json.dumps(manifest(
                f"{name}_{kind}", role, i, o, base + what, training), indent=2) + "\n")
            codec[kind] = f"{kind}/manifest.json"
            files.append(f"{kind}/model.onnx")
    (out / "codec.json").write_text(json.dumps(codec, indent=2) + "\n")
    h = hashlib.sha256()
    for f in files:
        h.update((out / f).read_bytes())
    print(f"exported {out}: model id {h.hexdigest()[:32]}; tables {stats}")


if __name__ == "__main__":
    main()
