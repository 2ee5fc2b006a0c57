"""Train TransitionNet (motion in-betweening) and export it to models/transition.

After Harvey et al. 2020, "Robust Motion In-betweening": given 10 context frames and a target
keyframe, fill the N (5..60) frames between, with a time-to-arrival embedding added to every
frame's latent. Instead of their frame-by-frame LSTM this is a small non-autoregressive
transformer over the whole window (context + gap + target): it exports as one ONNX graph with
free batch and length axes and runs in one call per transition. Gap frames enter as the
linear/SLERP in-between and the network adds a correction (delta to interpolation, as in
Oreshkin et al. 2022), so it starts from the interpolation baseline.

Data (studio.motion.learned.dataset): Bandai-Namco-Research-Motiondataset-1 (train split, CC BY-NC
4.0, read in place from shared/data) retargeted to the DeepMimic humanoid at 30 fps, plus the
pybullet DeepMimic clips; left/right mirroring doubles it. Losses: L1 on normalised placement
features of the gap frames, L1 on FK joint positions (metres) and on global rotation matrices.

    /tmp/mvenv/bin/python models/recipes/transition/train.py --minutes 18 --steps 7000 --threads 1
    (resumes from --work/checkpoint.pt; --export-only re-exports the last checkpoint)

CPU only; the whole run is bounded by --minutes (wall clock), checkpointing every 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import transition as T  # noqa: E402
from studio.runtime import models  # noqa: E402
from torch_motion import placement_fk  # noqa: E402

CONTEXT = T.CONTEXT
MIN_GAP, MAX_GAP = 5, 60


# -- model ------------------------------------------------------------------------------------------

def sinusoid(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, T, 1) -> (B, T, dim) sinusoidal embedding (Vaswani et al.; Harvey's z_tta)."""
    i = torch.arange(dim // 2, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * 2.0 * i / dim)
    a = t * freq
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.h = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.n1(x))
        return x + self.ff(self.n2(x))


class TransitionNet(nn.Module):
    """x (B, T, F) normalised placement features (gap frames = interpolation), known (B, T, 1),
    tta (B, T, 1) frames to the target -> (B, T, F): x plus a correction on unknown frames."""

    def __init__(self, feat: int = D.PLACEMENT_DIM, d: int = 128, layers: int = 4,
                 heads: int = 4, ff: int = 256, context: int = CONTEXT) -> None:
        super().__init__()
        self.d, self.context = d, context
        self.inp = nn.Linear(feat + 1, d)
        self.time = nn.Linear(2 * d, d)
        self.blocks = nn.ModuleList(Block(d, heads, ff) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, feat)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, known: torch.Tensor, tta: torch.Tensor) -> torch.Tensor:
        # Frames since the last context frame, from tta: (T - 1 - tta) - (context - 1).
        last = tta[:, :1, :]                       # tta of frame 0 = T - 1
        since = last - tta - (self.context - 1)
        z_tta = sinusoid(tta, self.d)              # Harvey's time-to-arrival embedding
        z_pos = sinusoid(since, self.d)
        h = self.inp(torch.cat([x, known], dim=-1)) + z_tta + self.time(torch.cat([z_tta, z_pos], -1))
        for blk in self.blocks:
            h = blk(h)
        return x + (1.0 - known) * self.out(self.norm(h))


# -- data -------------------------------------------------------------------------------------------

class Windows:
    """Random training windows (context + gap + target) from the train split, mirrored at
    random; numpy preprocessing through studio.motion.learned.transition.model_inputs (the app's
    own code)."""

    def __init__(self, records: list[D.MotionRecord], seed: int = 0) -> None:
        self.recs = records
        self.rng = np.random.default_rng(seed)
        self.mirrored = [D.mirror_arrays(r.root_pos, r.quats) for r in records]
        self.lengths = np.array([r.n_frames for r in records])

    def sample(self, b: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        length = CONTEXT + n + 1
        ok = np.flatnonzero(self.lengths >= length)
        w = self.lengths[ok] - length + 1
        picks = self.rng.choice(ok, size=b, p=w / w.sum())
        ps, qs = [], []
        for i in picks:
            s = self.rng.integers(0, self.lengths[i] - length + 1)
            if self.rng.random() < 0.5:
                p, q = self.recs[i].root_pos, self.recs[i].quats
            else:
                p, q = self.mirrored[i]
            ps.append(p[s:s + length])
            qs.append(q[s:s + length])
        return np.stack(ps), np.stack(qs)


def batch_tensors(win, n: int, mean: np.ndarray, std: np.ndarray):
    pos, quat = win
    x, known, tta, ref_pos, ref_h = T.model_inputs(pos[:, :CONTEXT], quat[:, :CONTEXT], pos[:, -1],
                                                   quat[:, -1], n, mean, std)
    gt = D.placement_features(pos, quat, ref_pos, ref_h)
    y = ((gt - mean) / std).astype(np.float32)
    return (torch.from_numpy(x), torch.from_numpy(known), torch.from_numpy(tta),
            torch.from_numpy(y))


def compute_stats(win: Windows, samples: int = 400) -> tuple[np.ndarray, np.ndarray]:
    feats = []
    rng = np.random.default_rng(1)
    for _ in range(samples // 8):
        n = int(rng.integers(MIN_GAP, MAX_GAP + 1))
        pos, quat = win.sample(8, n)
        ref_pos, ref_h = D.ground_frame(pos[:, CONTEXT - 1], quat[:, CONTEXT - 1, 0])
        feats.append(D.placement_features(pos, quat, ref_pos, ref_h).reshape(-1, D.PLACEMENT_DIM))
    mean, std = D.feature_stats(feats, min_std=1e-2)
    return mean, std


def _feet() -> list[int]:
    from studio.motion.io.deepmimic import HUMANOID

    return [HUMANOID.index(n) for n in ("left_ankle", "left_toe", "right_ankle", "right_toe")]


def loss_fn(pred: torch.Tensor, y: torch.Tensor, n: int, mean_t: torch.Tensor,
            std_t: torch.Tensor, foot_weight: float = 10.0) -> tuple[torch.Tensor, dict[str, float]]:
    """L1 features + FK positions + global rotations on the gap frames; with ``foot_weight``
    also joint velocities and planted-foot sliding over the gap and its two seams."""
    sl = slice(CONTEXT, CONTEXT + n)
    p, g = pred[:, sl], y[:, sl]
    l_feat = (p - g).abs().mean()
    # FK over the gap plus the frame either side (known frames pass through unchanged).
    wide = slice(CONTEXT - 1, CONTEXT + n + 1)
    pp, pr = placement_fk(pred[:, wide] * std_t + mean_t)
    gp, gr = placement_fk(y[:, wide] * std_t + mean_t)
    l_pos = (pp[:, 1:-1] - gp[:, 1:-1]).abs().mean()
    l_rot = (pr[:, 1:-1] - gr[:, 1:-1]).abs().mean()
    loss = l_feat + 10.0 * l_pos + 1.0 * l_rot
    parts = {"feat": float(l_feat), "pos_m": float(l_pos), "rot": float(l_rot)}
    if foot_weight > 0:
        pv, gv = pp[:, 1:] - pp[:, :-1], gp[:, 1:] - gp[:, :-1]
        l_vel = (pv - gv).abs().mean()
        feet = _feet()
        fv_p, fv_g = pv[:, :, feet], gv[:, :, feet]
        planted = (fv_g.norm(dim=-1) < 0.01).float()          # < 0.3 m/s in the ground truth
        slide = fv_p[..., [0, 2]].norm(dim=-1)
        l_foot = (slide * planted).sum() / planted.sum().clamp_min(1.0)
        loss = loss + foot_weight * (l_vel + l_foot)
        parts.update(vel=float(l_vel), foot_m=float(l_foot))
    return loss, parts


# -- export ----------------------------------------------------------------------------------------

def export(model: TransitionNet, out_dir: Path, mean, std, cfg: dict, training: dict) -> Path:
    from studio.runtime.manifest import Manifest, TensorSpec

    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    t = CONTEXT + 20 + 1
    x = torch.zeros(2, t, D.PLACEMENT_DIM)
    known = torch.zeros(2, t, 1)
    known[:, :CONTEXT] = 1
    known[:, -1] = 1
    tta = (t - 1 - torch.arange(t, dtype=torch.float32)).reshape(1, t, 1).repeat(2, 1, 1)
    onnx_path = out_dir / "model.onnx"
    torch.onnx.export(model, (x, known, tta), str(onnx_path), dynamo=False, opset_version=17,
                      input_names=["x", "known", "tta"], output_names=["y"],
                      dynamic_axes={"x": {0: "B", 1: "T"}, "known": {0: "B", 1: "T"},
                                    "tta": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}})
    man = Manifest(
        name="transition", role=T.ROLE, version="1",
        description=("TransitionNet: motion in-betweening on the DeepMimic humanoid at 30 fps "
                     "(after Harvey et al. 2020, non-autoregressive transformer with a "
                     "time-to-arrival embedding, correcting the linear/SLERP in-between). "
                     "Trained on Bandai-Namco-Research-Motiondataset-1: NON-COMMERCIAL use only."),
        license=("Weights: CC BY-NC 4.0 terms of the training data apply - trained on "
                 + D.BANDAI_LICENSE + "; and " + D.PYBULLET_LICENSE + ". Non-commercial."),
        inputs=[TensorSpec("x", ("B", "T", D.PLACEMENT_DIM),
                           description="T = context + gap + 1 frames of placement features "
                           "(studio.motion.learned.dataset), normalised with constants mean/std, relative "
                           "to the last context frame's ground frame; gap frames hold the "
                           "linear/SLERP in-between"),
                TensorSpec("known", ("B", "T", 1), range=(0.0, 1.0),
                           description="1 for context frames and the target (last frame), 0 in the gap"),
                TensorSpec("tta", ("B", "T", 1),
                           description="frames to the target: T-1 for the first frame .. 0 for the target")],
        outputs=[TensorSpec("y", ("B", "T", D.PLACEMENT_DIM),
                            description="normalised placement features; known frames are "
                            "passed through, gap frames are the in-between")],
        constants={"fps": D.FPS, "context": CONTEXT, "min_gap": MIN_GAP, "max_gap": MAX_GAP,
                   "features": "placement: root pos (3) + 13 x 6-D rotations (root in the "
                               "reference ground frame, others local), joints "
                               + ",".join(D.ANIMATED),
                   "mean": [float(v) for v in mean], "std": [float(v) for v in std], **cfg},
        training=training)
    man.save(out_dir / "manifest.json")
    return out_dir / "manifest.json"


# -- main --------------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models" / "transition"))
    ap.add_argument("--work", default="/tmp/transition_work")
    ap.add_argument("--minutes", type=float, default=18.0, help="wall-clock budget of this run")
    ap.add_argument("--steps", type=int, default=7000, help="total steps (over resumes)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ff", type=int, default=256)
    ap.add_argument("--foot-weight", type=float, default=10.0,
                    help="weight of the joint-velocity + planted-foot sliding losses (0: off)")
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
    test = [r for r in records if r.split == "test"]
    win = Windows(train)
    cfg = {"d": args.d, "layers": args.layers, "heads": 4, "ff": args.ff}
    model = TransitionNet(d=args.d, layers=args.layers, ff=args.ff)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    state = {"step": 0, "wall_s": 0.0, "log": []}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        mean, std = ck["mean"], ck["std"]
        print(f"resumed at step {state['step']} ({state['wall_s'] / 60:.1f} min trained)")
    else:
        mean, std = compute_stats(win)
    mean_t = torch.tensor(mean, dtype=torch.float32)
    std_t = torch.tensor(std, dtype=torch.float32)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"{len(train)} train clips ({sum(r.n_frames for r in train)} frames), "
          f"{len(test)} held out; {nparams} parameters")

    def save() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                    "mean": mean, "std": std, "cfg": cfg}, tmp)
        tmp.replace(ckpt_path)

    budget = args.minutes * 60.0
    last_save = time.time()
    run_t0 = time.time()
    base_wall = state["wall_s"]
    rng = np.random.default_rng(state["step"] + 7)
    avg: dict[str, float] = {}
    model.train()
    while not args.export_only and state["step"] < args.steps:
        if time.time() - t_start > budget:
            break
        step = state["step"]
        lr = args.lr * min(1.0, (step + 1) / 300) * (0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for g in opt.param_groups:
            g["lr"] = max(lr, 2e-5)
        n = int(rng.integers(MIN_GAP, MAX_GAP + 1))
        x, known, tta, y = batch_tensors(win.sample(args.batch, n), n, mean, std)
        pred = model(x, known, tta)
        loss, parts = loss_fn(pred, y, n, mean_t, std_t, args.foot_weight)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state["step"] += 1
        for k, v in {"loss": float(loss), **parts}.items():
            avg[k] = 0.98 * avg.get(k, v) + 0.02 * v
        state["wall_s"] = base_wall + time.time() - run_t0
        if state["step"] % 100 == 0:
            msg = " ".join(f"{k} {v:.4f}" for k, v in avg.items())
            print(f"step {state['step']} {msg} lr {lr:.2e} ({state['wall_s'] / 60:.1f} min)",
                  flush=True)
            state["log"].append({"step": state["step"], **{k: round(v, 5) for k, v in avg.items()}})
        if time.time() - last_save > 120:
            save()
            last_save = time.time()
    if not args.export_only:
        save()

    # Export, then measure the exported model through the app's own code path.
    training = {
        "recipe": "models/recipes/transition/train.py",
        "data": [D.BANDAI_LICENSE + " - train split (studio.motion.learned.dataset.bandai_split), "
                 "retargeted to the DeepMimic humanoid, 30 fps",
                 D.PYBULLET_LICENSE + " (looping clips cycled)",
                 "left/right mirror augmentation"],
        "train_clips": len(train), "train_frames": int(sum(r.n_frames for r in train)),
        "heldout_clips": len(test),
        "steps": state["step"], "batch": args.batch, "optimizer": f"AdamW lr {args.lr} cosine",
        "losses": "L1 normalised placement features + 10 x L1 FK positions (m) + L1 global "
                  "rotation matrices, on gap frames" + (
                      f" + {args.foot_weight} x (L1 FK joint velocities + horizontal speed of "
                      "feet planted in the ground truth), over the gap and its seams"
                      if args.foot_weight > 0 else "") + "; gap 5..60 uniform",
        "wall_time_min": round(state["wall_s"] / 60.0, 1),
        "hardware": f"CPU, {args.threads} thread(s) (shared)", "parameters": nparams,
        "torch": torch.__version__, "opset": 17,
        "final_loss": {k: round(v, 5) for k, v in avg.items()} or (state["log"][-1] if state["log"] else {}),
    }
    man_path = export(model, Path(args.out), mean, std, cfg, training)
    print("exported", man_path)
    from studio.runtime.manifest import Manifest

    pool = models.pool(T.ROLE, man_path, sessions=1)
    stats = T.position_stats(train)
    table = T.evaluate(test, pool=pool, pos_stats=stats)
    man = Manifest.load(man_path)
    man.training["heldout_metrics"] = {str(n): {m: {k: round(v, 4) for k, v in r.items()}
                                                for m, r in d.items()} for n, d in table.items()}
    man.training["heldout_metrics_note"] = (
        "held-out Bandai clips (test split), windows every 20 frames: 10 context frames, gap, "
        "target; L2P on LaFAN1-style standardised global positions of 18 joints in the last "
        "context frame's ground frame, L2Q on 13 global quaternions, NPSS on the same")
    man.save(man_path)
    print(json.dumps(man.training["heldout_metrics"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
