"""Train the shipped DeepPhase model (models/deepphase) on CPU: a Periodic Autoencoder.

    python3 -m venv /tmp/dpvenv
    /tmp/dpvenv/bin/pip install torch==2.13.0 numpy scipy onnx onnxruntime pybullet
    /tmp/dpvenv/bin/pip install --no-deps -e .
    /tmp/dpvenv/bin/python models/recipes/deepphase/train.py [--steps 3000] [--out models/deepphase]

Starke, Mason, Komura, "DeepPhase: Periodic Autoencoders for Learning Motion Phase
Manifolds", SIGGRAPH 2022. As in the paper (and its reference PAE.py):

* input: a window of W = 61 frames (2 s at 30 fps, centred on the frame) of C = 54 joint
  velocity channels (``studio.motion.learned.phase.velocity_features``: the 18 humanoid joints'
  root-relative positions in the heading frame, differentiated; the root's own velocity),
  normalised per channel;
* encoder: Conv1d(C -> C/3, k) -> BatchNorm -> ELU -> Conv1d(C/3 -> K, k): K latent curves;
* per latent channel a differentiable DFT over the window (a fixed cos/sin matrix, so the
  ONNX graph is two MatMuls): frequency = power-weighted mean of the non-DC bins (Hz),
  amplitude = 2 sqrt(sum power) / W, offset = DC / W;
* phase: a per-channel linear layer on the latent curve gives (sx, sy); phase =
  atan2(sy, sx) / 2 pi (cycles);
* the latent is rebuilt as a * sin(2 pi (f t + phase)) + b (t in seconds from the window
  centre) and decoded by the mirrored convolutions back to the velocity window; loss: MSE.

Differences from the paper, on purpose: BatchNorm instead of its per-sample layer norm over
time (which divides every window by its own spread, so an idle window would get the same
amplitude as a sprint); the DFT bins use the true bin spacing fps / W; the kernels are 31
frames, not the full window, to keep inference cheap.

Data: the 15 DeepMimic humanoid clips in pybullet_data (``studio.motion.io.library``), each
time-scaled by 0.6 ... 1.4 (so cadences in between are covered) and mirrored left/right.
Looping clips give one window per frame of one loop (cycled at the ends); other clips are
padded with zero velocity, exactly as ``studio.motion.learned.phase`` does at inference. The walk and
run windows are drawn 4x as often as the others (they are 6% of the windows, and gait is what
the app uses phase for).

After export the recipe checks the model on the training walk and run, time-scaled x0.6 ...
x1.5 and cycled to 8 s: the phase regularity of the stride-rate channel and its rate against
the foot-contact cadence (printed and stored in the manifest as ``training.validation``). The
held-out evaluation is ``evaluate.py``.

Exported: the encoder, (B, 54, 61) normalised velocities -> phase_xy (B, K, 2), frequency
(B, K) Hz, amplitude (B, K), offset (B, K); plus manifest.json with the normalisation and
the training record.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from studio.motion.io.deepmimic import HUMANOID  # noqa: E402
from studio.motion.io.library import builtin_clips, load_builtin  # noqa: E402
from studio.motion.learned.phase import ROLE, clip_features, mirror_features, windows  # noqa: E402

torch.set_num_threads(2)
FPS = 30.0
WINDOW = 61
SPEEDS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4)
LOCOMOTION = ("walk", "run")  # sampled LOCO_WEIGHT x as often: gait is what phase is for
LOCO_WEIGHT = 4.0
WORK = Path("/tmp/deepphase_work")


# --- data ---------------------------------------------------------------------------------------

def build_dataset() -> tuple[np.ndarray, np.ndarray, dict]:
    """All training windows (N, C, W), raw (not normalised), their sampling weights (N,) and
    a summary."""
    pad = WINDOW // 2
    parts, weights, summary = [], [], {}
    for name in builtin_clips():
        clip = load_builtin(name)
        count = 0
        for s in SPEEDS:
            fast = clip.copy(fps=clip.fps * s)
            feats, n = clip_features(fast, FPS, pad)
            if clip.loop:
                n = max(n - 1, 1)  # the last frame of a loop is the next loop's first
            for f in (feats, mirror_features(feats, HUMANOID.names)):
                parts.append(np.ascontiguousarray(windows(f, WINDOW)[:n]))
                weights.append(np.full(n, LOCO_WEIGHT if name in LOCOMOTION else 1.0))
                count += n
        summary[name] = {"frames_30fps": int(clip.duration * FPS) + 1, "loop": bool(clip.loop),
                         "windows": count}
    w = np.concatenate(weights)
    return np.concatenate(parts, axis=0).astype(np.float32), w / w.sum(), summary


# --- model --------------------------------------------------------------------------------------

class PAE(nn.Module):
    def __init__(self, channels: int, latent: int, window: int, fps: float, kernel: int = 31,
                 hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels // 3
        self.latent, self.window = latent, window
        pad = kernel // 2
        self.enc = nn.Sequential(nn.Conv1d(channels, hidden, kernel, padding=pad),
                                 nn.BatchNorm1d(hidden), nn.ELU(),
                                 nn.Conv1d(hidden, latent, kernel, padding=pad))
        self.dec = nn.Sequential(nn.Conv1d(latent, hidden, kernel, padding=pad),
                                 nn.BatchNorm1d(hidden), nn.ELU(),
                                 nn.Conv1d(hidden, channels, kernel, padding=pad))
        n = np.arange(window)
        bins = np.arange(window // 2 + 1)
        ang = 2 * np.pi * np.outer(n, bins) / window  # (W, F)
        self.register_buffer("dft_cos", torch.tensor(np.cos(ang), dtype=torch.float32))
        self.register_buffer("dft_sin", torch.tensor(-np.sin(ang), dtype=torch.float32))
        self.register_buffer("freqs", torch.tensor(bins[1:] * fps / window, dtype=torch.float32))
        self.register_buffer("t", torch.tensor((n - window // 2) / fps, dtype=torch.float32))
        # Per-channel linear phase heads, as one (K, W, 2) weight.
        self.phase_w = nn.Parameter(torch.randn(latent, window, 2) / math.sqrt(window))
        self.phase_b = nn.Parameter(torch.zeros(latent, 2))

    def encode(self, x: torch.Tensor):
        z = self.enc(x)                                   # (B, K, W)
        re = z @ self.dft_cos                             # (B, K, F)
        im = z @ self.dft_sin
        power = re[..., 1:] ** 2 + im[..., 1:] ** 2
        total = power.sum(-1)
        freq = (power * self.freqs).sum(-1) / (total + 1e-8)
        amp = 2.0 * torch.sqrt(total + 1e-8) / self.window
        offset = re[..., 0] / self.window
        xy = (z.unsqueeze(2) @ self.phase_w.unsqueeze(0)).squeeze(2) + self.phase_b  # (B,K,2)
        return z, xy, freq, amp, offset

    def forward(self, x: torch.Tensor):
        z, xy, freq, amp, offset = self.encode(x)
        p = torch.atan2(xy[..., 1], xy[..., 0] + 1e-9) / (2 * math.pi)
        arg = 2 * math.pi * (freq[..., None] * self.t + p[..., None])
        curve = amp[..., None] * torch.sin(arg) + offset[..., None]
        return self.dec(curve), z, curve


class Encoder(nn.Module):
    """The exported part: window -> (phase_xy, frequency, amplitude, offset)."""

    def __init__(self, pae: PAE) -> None:
        super().__init__()
        self.pae = pae

    def forward(self, x: torch.Tensor):
        _, xy, freq, amp, offset = self.pae.encode(x)
        return xy, freq, amp, offset


# --- training -------------------------------------------------------------------------------------

def train(args) -> None:
    t_start = time.time()
    load_start = os.getloadavg()[0]  # the machine may be shared: record how busy it was
    WORK.mkdir(parents=True, exist_ok=True)
    data, sample_p, summary = build_dataset()
    n, c, w = data.shape
    # Normalise per channel over all windows (only the centre frame of each, so each frame
    # counts about once).
    centre = data[:, :, w // 2]
    mean = centre.mean(axis=0)
    std = centre.std(axis=0)
    std = np.where(std < 1e-3, 1.0, std).astype(np.float32)
    x_all = torch.tensor((data - mean[None, :, None]) / std[None, :, None])
    print(f"data: {n} windows of {c} x {w} from {len(summary)} clips "
          f"({time.time() - t_start:.1f} s)", flush=True)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = PAE(c, args.latent, w, FPS, kernel=args.kernel)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.1)
    print(f"model: {params} parameters, K={args.latent}, kernel {args.kernel}", flush=True)
    losses = []
    t_train = time.time()
    model.train()
    for step in range(1, args.steps + 1):
        idx = torch.from_numpy(rng.choice(n, args.batch, p=sample_p))
        x = x_all[idx]
        y, _, _ = model(x)
        loss = F.mse_loss(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 200 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {np.mean(losses[-200:]):.4f} "
                  f"({time.time() - t_train:.0f} s)", flush=True)
    train_s = time.time() - t_train
    model.eval()
    with torch.no_grad():
        full = float(np.mean([F.mse_loss(model(x_all[i:i + 512])[0], x_all[i:i + 512]).item()
                              for i in range(0, n, 512)]))
    torch.save(model.state_dict(), WORK / "pae.pt")
    print(f"final MSE over all windows (normalised units): {full:.4f}", flush=True)
    export(model, args, mean, std, {
        "data": "the 15 DeepMimic humanoid clips in pybullet_data (pybullet 3.2.7), resampled "
                "to 30 fps, time-scaled x" + "/".join(str(s) for s in SPEEDS)
                + ", mirrored left/right; windows of " + "/".join(LOCOMOTION)
                + f" sampled {LOCO_WEIGHT:g}x as often",
        "clips": summary, "windows": int(n), "steps": args.steps, "batch": args.batch,
        "optimiser": f"AdamW lr {args.lr} one-cycle, weight decay 1e-4",
        "loss": "MSE of the reconstructed normalised velocity window",
        "final_mse": round(full, 5), "parameters_total": int(params),
        "train_wall_s": round(train_s, 1), "total_wall_s": round(time.time() - t_start, 1),
        "process_cpu_s": round(time.process_time(), 1),
        "load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "threads": 2, "torch": torch.__version__, "seed": args.seed,
        "recipe": "models/recipes/deepphase/train.py",
        "evaluation": "models/recipes/deepphase/evaluate.py; results in docs/motion.md",
    })


def export(model: PAE, args, mean: np.ndarray, std: np.ndarray, training: dict) -> None:
    import onnx
    import onnxruntime as ort

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    enc = Encoder(model).eval()
    x = torch.randn(4, mean.shape[0], WINDOW)
    onnx_path = out / "model.onnx"
    torch.onnx.export(enc, (x,), str(onnx_path), dynamo=False, opset_version=17,
                      input_names=["velocities"],
                      output_names=["phase_xy", "frequency", "amplitude", "offset"],
                      dynamic_axes={k: {0: "B"} for k in ("velocities", "phase_xy", "frequency",
                                                          "amplitude", "offset")})
    m = onnx.load(str(onnx_path))
    onnx.checker.check_model(m)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        ref = [t.numpy() for t in enc(x)]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(got, ref))
    print(f"ONNX export: {onnx_path} ({onnx_path.stat().st_size / 1024:.0f} KiB), "
          f"max |onnx - torch| = {diff:.2e}", flush=True)
    k = args.latent
    training = dict(training, onnx_max_abs_diff=diff, opset=17,
                    encoder_parameters=int(sum(p.numel() for p in model.enc.parameters())
                                           + model.phase_w.numel() + model.phase_b.numel()))
    manifest = {
        "name": "deepphase",
        "role": ROLE,
        "version": "1",
        "description": "DeepPhase Periodic Autoencoder encoder (Starke et al. 2022) for the "
                       "DeepMimic humanoid: a 2 s window of joint velocities -> per latent "
                       "channel phase (as a 2-D vector), frequency, amplitude, offset.",
        "license": "trained by this project's recipe on the DeepMimic clips shipped in "
                   "pybullet_data (pybullet, zlib licence)",
        "inputs": [{"name": "velocities", "shape": ["B", int(mean.shape[0]), WINDOW],
                    "dtype": "float32",
                    "description": "per channel (v - mean) / std of "
                                   "studio.motion.learned.phase.velocity_features, frames t-30..t+30"}],
        "outputs": [
            {"name": "phase_xy", "shape": ["B", k, 2], "dtype": "float32",
             "description": "per channel (sx, sy); phase = atan2(sy, sx) / 2 pi cycles at the "
                            "window centre"},
            {"name": "frequency", "shape": ["B", k], "dtype": "float32",
             "description": "Hz, power-weighted mean DFT frequency of the latent curve"},
            {"name": "amplitude", "shape": ["B", k], "dtype": "float32",
             "description": "latent sinusoid amplitude"},
            {"name": "offset", "shape": ["B", k], "dtype": "float32",
             "description": "latent curve mean (DC)"},
        ],
        "constants": {
            "fps": FPS, "window": WINDOW, "latent_channels": k, "channels": int(mean.shape[0]),
            "features": "velocity_features: joint-major (x, y, z) in the heading frame "
                        "(+Z forward, +Y up), m/s; joint 0 = root velocity",
            "joints": list(HUMANOID.names),
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in std],
        },
        "training": training,
        "file": "model.onnx",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    manifest["training"]["validation"] = validate(out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'manifest.json'}", flush=True)


def validate(model_dir: Path) -> dict:
    """Stride-channel phase regularity and cadence error on the training walk/run, scaled."""
    from studio.motion.core.sampling import sample_clip
    from studio.motion.learned.blend import choose_channel
    from studio.motion.learned.phase import compute_phase, contact_cadence, regularity

    rows = []
    for name in LOCOMOTION:
        base = load_builtin(name)
        for s in (0.6, 0.8, 1.0, 1.25, 1.5):
            clip = sample_clip(base.copy(fps=base.fps * s), np.arange(241) / FPS, FPS)
            tr = compute_phase(clip, model=model_dir)
            k = choose_channel([tr], [compute_phase(clip, model=model_dir, mirror=True)])
            reg = regularity(tr, k, trim=30)
            cad = contact_cadence(clip)
            rows.append({"clip": f"{name} x{s:g}", "channel": k, "cv": round(reg.cv, 3),
                         "rate_err_pct": round(100 * (reg.rate - cad) / cad, 1),
                         "freq_err_pct": round(float(100 * (tr.freq[30:-30, k].mean() - cad) / cad), 1)})
            print(f"validation {rows[-1]}", flush=True)
    return {"clips": rows, "mean_cv": round(float(np.mean([r["cv"] for r in rows])), 3),
            "max_cv": round(float(np.max([r["cv"] for r in rows])), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--latent", type=int, default=5)
    ap.add_argument("--kernel", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "models" / "deepphase"))
    train(ap.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
