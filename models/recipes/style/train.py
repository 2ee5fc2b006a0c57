"""Train StyleVAE (motion style codes and style transfer) and export it to models/style_vae.

A window of 60 frames x 82 motion features (studio.motion.learned.dataset.motion_features) goes into

* a content encoder (temporal convs, instance normalisation, keeps time at half rate),
* a style encoder (convs, mean+std pooling over time) -> 256-d mean and log-variance (the VAE
  part),

and a decoder rebuilds the window from a content code and a style code (AdaIN in every block,
after Aberman et al. 2020 "Unpaired Motion Style Transfer").

Losses per batch (x_a, and x_b = the batch shuffled): reconstruction (L1 on normalised
features + L1 on root-relative FK joint positions), KL of the style posterior, style
classification of the style mean (15 Bandai styles + pybullet clip names), and on the transfer
y = D(C(x_a), z_b): the style encoder must find z_b in it (L1 to the mean, and the label of
x_b), the content encoder must find C(x_a) in it, its root velocities must follow x_a's, and
the cycle D(C(y), z_a) must give x_a back.

Data: Bandai-Namco-Research-Motiondataset-1 train split (CC BY-NC 4.0, read in place) and
the pybullet DeepMimic clips, on the DeepMimic humanoid at 30 fps, mirrored at random.

    /tmp/mvenv/bin/python models/recipes/style/train.py --minutes 17 --steps 6000 --threads 1
    (resumes from --work/checkpoint.pt; --export-only re-exports the last checkpoint)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent / "transition"))

from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import style as S  # noqa: E402
from torch_motion import fk, sixd_to_matrix  # noqa: E402

WINDOW = 60
CODE = 256


# -- model ------------------------------------------------------------------------------------------

def inorm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance norm over time (B, C, T), written out so the ONNX graph is plain ops."""
    m = x.mean(dim=-1, keepdim=True)
    v = ((x - m) ** 2).mean(dim=-1, keepdim=True)
    return (x - m) / torch.sqrt(v + eps)


class ContentEncoder(nn.Module):
    def __init__(self, feat: int, h: int = 128, c: int = 64) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(feat, h, 5, padding=2)
        self.c2 = nn.Conv1d(h, h, 4, stride=2, padding=1)
        self.c3 = nn.Conv1d(h, c, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:      # (B, T, F) -> (B, c, T/2)
        h = F.leaky_relu(self.c1(x.transpose(1, 2)), 0.2)
        h = F.leaky_relu(inorm(self.c2(h)), 0.2)
        return inorm(self.c3(h))


class StyleEncoder(nn.Module):
    def __init__(self, feat: int, h: int = 128, code: int = CODE) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(feat, h, 5, padding=2)
        self.c2 = nn.Conv1d(h, h, 4, stride=2, padding=1)
        self.c3 = nn.Conv1d(h, 2 * h, 4, stride=2, padding=1)
        self.fc = nn.Linear(4 * h, 2 * code)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.leaky_relu(self.c1(x.transpose(1, 2)), 0.2)
        h = F.leaky_relu(self.c2(h), 0.2)
        h = F.leaky_relu(self.c3(h), 0.2)
        m = h.mean(dim=-1)
        s = torch.sqrt(((h - m.unsqueeze(-1)) ** 2).mean(dim=-1) + 1e-5)
        mu, logvar = self.fc(torch.cat([m, s], dim=-1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 5.0)


class AdaBlock(nn.Module):
    def __init__(self, h: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(h, h, 5, padding=2)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        y = inorm(self.conv(x)) * (1.0 + gamma.unsqueeze(-1)) + beta.unsqueeze(-1)
        return x + F.leaky_relu(y, 0.2)


class Decoder(nn.Module):
    def __init__(self, feat: int, h: int = 128, c: int = 64, code: int = CODE) -> None:
        super().__init__()
        self.inp = nn.Conv1d(c, h, 3, padding=1)
        self.b1, self.b2, self.b3 = AdaBlock(h), AdaBlock(h), AdaBlock(h)
        self.mlp = nn.Sequential(nn.Linear(code, 256), nn.LeakyReLU(0.2), nn.Linear(256, 6 * h))
        self.up = nn.Conv1d(h, h, 5, padding=2)
        self.out = nn.Conv1d(h, feat, 5, padding=2)
        self.h = h

    def forward(self, content: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        g = self.mlp(z).chunk(6, dim=-1)
        x = F.leaky_relu(self.inp(content), 0.2)
        x = self.b1(x, g[0], g[1])
        x = self.b2(x, g[2], g[3])
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = F.leaky_relu(self.up(x), 0.2)
        x = self.b3(x, g[4], g[5])
        return self.out(x).transpose(1, 2)                   # (B, T, F)


class StyleVAE(nn.Module):
    def __init__(self, feat: int = D.MOTION_DIM, labels: int = 30, h: int = 64, c: int = 32):
        super().__init__()
        self.content = ContentEncoder(feat, h, c)
        self.style = StyleEncoder(feat, h)
        self.decoder = Decoder(feat, h, c)
        self.head = nn.Linear(CODE, labels)


class DecoderGraph(nn.Module):
    """Export wrapper: (content window, style code) -> window."""

    def __init__(self, vae: StyleVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decoder(self.vae.content(x), z)


class EncoderGraph(nn.Module):
    def __init__(self, vae: StyleVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.style(x)


# -- data -------------------------------------------------------------------------------------------

class WindowSampler:
    def __init__(self, records: list[D.MotionRecord], labels: list[str], mean, std, seed=0):
        self.rng = np.random.default_rng(seed)
        self.feats, self.labels = [], []
        for r in records:
            for p, q in ((r.root_pos, r.quats), D.mirror_arrays(r.root_pos, r.quats)):
                f = D.pad_frames(D.motion_features(p, q), WINDOW)
                self.feats.append(((f - mean) / std).astype(np.float32))
                self.labels.append(labels.index(r.label))
        self.lengths = np.array([len(f) for f in self.feats])
        # Sample clips in proportion to sqrt(length) so short pybullet clips are seen too.
        w = np.sqrt(self.lengths - WINDOW + 1.0)
        self.p = w / w.sum()

    def sample(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.rng.choice(len(self.feats), size=b, p=self.p)
        xs = []
        for i in idx:
            s = self.rng.integers(0, self.lengths[i] - WINDOW + 1)
            xs.append(self.feats[i][s:s + WINDOW])
        return torch.from_numpy(np.stack(xs)), torch.tensor([self.labels[i] for i in idx])


def pose_positions(xn: torch.Tensor, mean_t, std_t, every: int = 3) -> torch.Tensor:
    """Root-relative FK joint positions (B, T / every, 18, 3) of normalised windows (root at
    the origin, turned by the heading-free root rotation; every ``every``-th frame, for speed)."""
    f = xn[:, ::every] * std_t + mean_t
    b, t = f.shape[:2]
    m = sixd_to_matrix(f[..., 4:].reshape(b, t, D.N_ROT, 6))
    root = torch.zeros(b, t, 3)
    root[..., 1] = f[..., 2]
    p, _ = fk(root, m)
    return p


# -- export -----------------------------------------------------------------------------------------

def export(vae: StyleVAE, out_dir: Path, mean, std, labels, training: dict) -> None:
    from studio.runtime.manifest import Manifest, TensorSpec

    vae.eval()
    lic = ("Weights: trained on " + D.BANDAI_LICENSE + " - non-commercial use only; and "
           + D.PYBULLET_LICENSE)
    common = {"fps": D.FPS, "window": WINDOW, "stride": WINDOW // 2, "code_dim": CODE,
              "features": "motion features (studio.motion.learned.dataset.motion_features): root "
                          "ground velocity in the heading frame (2, m/frame), root height, "
                          "heading rate (rad/frame), 13 x 6-D rotations (root without heading, "
                          "others local), joints " + ",".join(D.ANIMATED),
              "mean": [float(v) for v in mean], "std": [float(v) for v in std],
              "labels": labels}
    x = torch.zeros(2, WINDOW, D.MOTION_DIM)
    z = torch.zeros(2, CODE)
    enc_dir, dec_dir = out_dir / "encoder", out_dir / "decoder"
    for d in (enc_dir, dec_dir):
        d.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(EncoderGraph(vae), (x,), str(enc_dir / "model.onnx"), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["mu", "logvar"],
                      dynamic_axes={"x": {0: "B"}, "mu": {0: "B"}, "logvar": {0: "B"}})
    torch.onnx.export(DecoderGraph(vae), (x, z), str(dec_dir / "model.onnx"), dynamo=False,
                      opset_version=17, input_names=["x", "z"], output_names=["y"],
                      dynamic_axes={"x": {0: "B"}, "z": {0: "B"}, "y": {0: "B"}})
    win_desc = (f"{WINDOW} frames x {D.MOTION_DIM} motion features at 30 fps, normalised "
                "with constants mean/std")
    Manifest(name="style_vae_encoder", role=S.ENCODER_ROLE, version="1",
             description="StyleVAE style encoder: a motion window -> 256-d style mean and "
                         "log-variance. Trained on Bandai-Namco-Research-Motiondataset-1 "
                         "(CC BY-NC 4.0): NON-COMMERCIAL use only.",
             license=lic,
             inputs=[TensorSpec("x", ("B", WINDOW, D.MOTION_DIM), description=win_desc)],
             outputs=[TensorSpec("mu", ("B", CODE), description="style code mean"),
                      TensorSpec("logvar", ("B", CODE), description="style code log-variance")],
             constants=common, training=training).save(enc_dir / "manifest.json")
    Manifest(name="style_vae_decoder", role=S.DECODER_ROLE, version="1",
             description="StyleVAE content encoder + decoder: the content of a motion window "
                         "re-performed with a style code. Trained on "
                         "Bandai-Namco-Research-Motiondataset-1 (CC BY-NC 4.0): "
                         "NON-COMMERCIAL use only.",
             license=lic,
             inputs=[TensorSpec("x", ("B", WINDOW, D.MOTION_DIM), description="content window: " + win_desc),
                     TensorSpec("z", ("B", CODE), description="style code (an encoder mean)")],
             outputs=[TensorSpec("y", ("B", WINDOW, D.MOTION_DIM), description="normalised window")],
             constants=common, training=training).save(dec_dir / "manifest.json")


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models" / "style_vae"))
    ap.add_argument("--work", default="/tmp/style_work")
    ap.add_argument("--minutes", type=float, default=17.0)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--beta", type=float, default=1e-3, help="KL weight (per-window sum)")
    ap.add_argument("--export-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    t_start = time.time()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ckpt_path = work / "checkpoint.pt"

    records = D.load_corpus()
    train = [r for r in records if r.split == "train"]
    labels = D.label_list(records)
    mean, std = D.feature_stats([r.features() for r in train], min_std=1e-2)
    sampler = WindowSampler(train, labels, mean, std)
    mean_t = torch.tensor(mean, dtype=torch.float32)
    std_t = torch.tensor(std, dtype=torch.float32)
    vae = StyleVAE(labels=len(labels))
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=1e-4)
    state = {"step": 0, "wall_s": 0.0, "log": []}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        vae.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        print(f"resumed at step {state['step']} ({state['wall_s'] / 60:.1f} min trained)")
    nparams = sum(p.numel() for p in vae.parameters())
    print(f"{len(train)} train clips, {len(labels)} labels, {nparams} parameters", flush=True)

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": vae.state_dict(), "opt": opt.state_dict(), "state": state}, tmp)
        tmp.replace(ckpt_path)

    budget = args.minutes * 60.0
    last_save, run_t0, base_wall = time.time(), time.time(), state["wall_s"]
    avg: dict[str, float] = {}
    vae.train()
    while not args.export_only and state["step"] < args.steps and time.time() - t_start < budget:
        step = state["step"]
        lr = args.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = max(lr, 2e-5)
        xa, la = sampler.sample(args.batch)
        perm = torch.randperm(args.batch)
        lb = la[perm]
        ca = vae.content(xa)
        mu_a, lv_a = vae.style(xa)
        za = mu_a + torch.randn_like(mu_a) * torch.exp(0.5 * lv_a)
        rec = vae.decoder(ca, za)
        l_rec = (rec - xa).abs().mean()
        l_pose = (pose_positions(rec, mean_t, std_t) - pose_positions(xa, mean_t, std_t)).abs().mean()
        l_kl = (-0.5 * (1 + lv_a - mu_a ** 2 - lv_a.exp()).sum(-1)).mean()
        l_cls = F.cross_entropy(vae.head(mu_a), la)
        mu_b = mu_a[perm]
        y = vae.decoder(ca, mu_b)
        mu_y, _ = vae.style(y)
        l_sty = (mu_y - mu_b.detach()).abs().mean() + 0.5 * F.cross_entropy(vae.head(mu_y), lb)
        cy = vae.content(y)
        l_con = (cy - ca.detach()).abs().mean()
        l_root = (y[..., [0, 1, 3]] - xa[..., [0, 1, 3]]).abs().mean()
        cyc = vae.decoder(cy, mu_a)
        l_cyc = (cyc - xa).abs().mean()
        loss = (l_rec + 5.0 * l_pose + args.beta * l_kl + 0.5 * l_cls + 0.5 * l_sty
                + 0.5 * l_con + 0.5 * l_root + 0.5 * l_cyc)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        acc = float((vae.head(mu_a).argmax(-1) == la).float().mean())
        parts = {"loss": loss, "rec": l_rec, "pose_m": l_pose, "kl": l_kl, "cls": l_cls,
                 "sty": l_sty, "con": l_con, "root": l_root, "cyc": l_cyc, "acc": acc}
        for k, v in parts.items():
            v = float(v)
            avg[k] = 0.98 * avg.get(k, v) + 0.02 * v
        state["wall_s"] = base_wall + time.time() - run_t0
        if state["step"] % 100 == 0:
            print(f"step {state['step']} " + " ".join(f"{k} {v:.4f}" for k, v in avg.items())
                  + f" ({state['wall_s'] / 60:.1f} min)", flush=True)
            state["log"].append({"step": state["step"], **{k: round(v, 5) for k, v in avg.items()}})
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    if not args.export_only:
        save()

    training = {
        "recipe": "models/recipes/style/train.py",
        "data": [D.BANDAI_LICENSE + " - train split (studio.motion.learned.dataset.bandai_split), "
                 "retargeted to the DeepMimic humanoid, 30 fps; labels: the 15 styles",
                 D.PYBULLET_LICENSE + "; labels: the clip names",
                 "left/right mirror augmentation"],
        "train_clips": len(train), "labels": len(labels), "steps": state["step"],
        "batch": args.batch, "optimizer": f"AdamW lr {args.lr} cosine",
        "losses": "L1 recon (normalised features) + 5 x L1 root-relative FK positions (m) + "
                  f"{args.beta} x KL + 0.5 x style CE (mean code) + 0.5 x transfer style (L1 "
                  "to target code + 0.5 x CE) + 0.5 x content consistency + 0.5 x root "
                  "velocity keep + 0.5 x cycle recon",
        "wall_time_min": round(state["wall_s"] / 60.0, 1), "hardware": "CPU, 1 thread (shared)",
        "parameters": nparams, "torch": torch.__version__, "opset": 17,
        "final_loss": {k: round(v, 5) for k, v in avg.items()},
    }
    export(vae, Path(args.out), mean, std, labels, training)
    print("exported", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
