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
LICENSE = ("Weights: trained on BSDS500 (Berkeley Segmentation Data Set, Arbelaez et al. "
           "2011, train + val, 300 photos), research data: NON-COMMERCIAL use only.")


def pad_to(x: torch.Tensor, m: int = PAD) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


@torch.no_grad()
def training_latent_range(model, means: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel min/max of round(y - mean) over every training photo (whole images)."""
    lo = hi = None
    for im in load_images():
        y = model.g_a(pad_to(im[None].float() / 255.0))
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
        tail = max(0.0, 1.0 - p.sum())
        probs = np.append(p, tail)
        f = np.maximum(1, np.floor(probs * total).astype(np.int64))
        f[np.argmax(f)] += total - f.sum()   # exact sum; the largest bin absorbs the rest
        assert f.min() >= 1 and f.sum() == total, (c, f)
        freqs[c, :len(f)] = f
    stats = {"channels": m, "max_symbols": L,
             "range_from_prior": [int(lo_p.min()), int(hi_p.max())],
             "range_from_training_data": [int(lo_d.min()), int(hi_d.max())],
             "training_data_outside_prior_range": int(((lo_d < lo_p) | (hi_d > hi_p)).sum())}
    return {"freqs": freqs, "offset": lo.astype(np.int32), "count": counts.astype(np.int32),
            "means": means.numpy().astype(np.float32),
            "precision": np.array(PRECISION, np.int32)}, stats


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
    model = build(args["N"], args["M"])
    model.load_state_dict(st["model"])
    model.eval()
    out = Path(a.out)
    m = args["M"]
    ex = torch.rand(1, 3, 64, 96)
    export_onnx(model.g_a, ex, out / "analysis" / "model.onnx", "image", "latents")
    export_onnx(model.g_s, torch.randn(1, m, 4, 6), out / "synthesis" / "model.onnx",
                "latents", "image")
    tab, stats = tables(model)
    np.savez(out / "entropy.npz", **tab)
    last = st["log"][-1] if st["log"] else {}
    training = {"recipe": "models/recipes/learned_codec/train.py", "steps": st["step"],
                "wall_s": round(st.get("elapsed_s", 0.0)),
                "steps_before_fine_tune": st.get("init_steps", 0),
                "wall_s_before_fine_tune": round(st.get("init_s", 0.0)), "lambda": args["lmbda"],
                "N": args["N"], "M": m, "batch": args["batch"], "crop": args["crop"],
                "data": "BSDS500 train+val (300 photos), random crops + flips; Kodak never "
                        "used", "last_log": last, "fine_tuned_from": args.get("init"),
                "entropy_tables": stats}
    name = f"{a.name}_q{a.quality}"
    img = {"name": "image", "shape": [1, 3, "H", "W"], "range": [0.0, 1.0],
           "example": [1, 3, 64, 64],
           "description": "RGB in [0, 1]; H and W multiples of 16 (pad by edge replication)"}
    lat = {"name": "latents", "shape": [1, m, "h", "w"], "example": [1, m, 4, 4],
           "description": "h = H/16, w = W/16; analysis: real-valued y; synthesis takes "
                          "y_hat = q + means (entropy.npz)"}
    base = (f"Balle et al. 2017 factorised-prior image codec (GDN, N={args['N']}, M={m}), "
            f"lambda {args['lmbda']} (quality {a.quality}). ")
    (out / "analysis" / "manifest.json").write_text(json.dumps(manifest(
        name + "_analysis", "codec.analysis", img, lat,
        base + "Analysis transform (encoder side).", training), indent=2) + "\n")
    img_out = dict(img, description="RGB, nominally [0, 1] (clip); crop the padding away")
    (out / "synthesis" / "manifest.json").write_text(json.dumps(manifest(
        name + "_synthesis", "codec.synthesis", lat, img_out,
        base + "Synthesis transform (decoder side).", training), indent=2) + "\n")
    codec = {"name": name, "kind": "learned_codec", "format": 1, "quality": a.quality,
             "lambda": args["lmbda"], "entropy_model": "factorized",
             "analysis": "analysis/manifest.json", "synthesis": "synthesis/manifest.json",
             "entropy": "entropy.npz", "pad_multiple": PAD, "color": "rgb",
             "license": LICENSE, "description": base, "training": training}
    (out / "codec.json").write_text(json.dumps(codec, indent=2) + "\n")
    h = hashlib.sha256()
    for f in ("analysis/model.onnx", "synthesis/model.onnx", "entropy.npz"):
        h.update((out / f).read_bytes())
    print(f"exported {out}: model id {h.hexdigest()[:32]}; tables {stats}")


if __name__ == "__main__":
    main()
