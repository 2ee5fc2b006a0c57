"""Train the motion style classifier (15 Bandai styles) and export it to models/style_classifier.

It is the judge of style transfer (models/recipes/style/evaluate.py), so it is trained on real
clips only - the Bandai-Namco-Research-Motiondataset-1 train split (CC BY-NC 4.0, read in
place) on the DeepMimic humanoid, mirrored at random - and never sees a transferred clip. Input:
a 60-frame window of motion features (studio.motion.learned.dataset.motion_features); a clip's label is
the arg-max of its windows' mean logits (studio.motion.learned.style.classify).

    /tmp/mvenv/bin/python models/recipes/style/train_classifier.py --minutes 6 --threads 1
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

from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import style as S  # noqa: E402
from studio.runtime import models  # noqa: E402

WINDOW = 60


class StyleClassifier(nn.Module):
    def __init__(self, feat: int = D.MOTION_DIM, labels: int = 15, h: int = 64) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(feat, h, 5, padding=2)
        self.c2 = nn.Conv1d(h, h, 4, stride=2, padding=1)
        self.c3 = nn.Conv1d(h, 2 * h, 4, stride=2, padding=1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(4 * h, labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.c1(x.transpose(1, 2)), 0.2)
        h = F.leaky_relu(self.c2(h), 0.2)
        h = F.leaky_relu(self.c3(h), 0.2)
        m = h.mean(dim=-1)
        s = torch.sqrt(((h - m.unsqueeze(-1)) ** 2).mean(dim=-1) + 1e-5)
        return self.fc(self.drop(torch.cat([m, s], dim=-1)))


def windows(records, mean, std, labels, mirror=True):
    out = []
    for r in records:
        arrays = [(r.root_pos, r.quats)] + ([D.mirror_arrays(r.root_pos, r.quats)] if mirror else [])
        for p, q in arrays:
            f = D.pad_frames(D.motion_features(p, q), WINDOW)
            out.append((((f - mean) / std).astype(np.float32), labels.index(r.style)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "models" / "style_classifier"))
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t0 = time.time()
    recs = [r for r in D.load_corpus(pybullet=False)]
    train = [r for r in recs if r.split == "train"]
    test = [r for r in recs if r.split == "test"]
    labels = list(D.BANDAI_STYLES)
    mean, std = D.feature_stats([r.features() for r in train], min_std=1e-2)
    data = windows(train, mean, std, labels)
    lengths = np.array([len(f) for f, _ in data])
    p = (lengths - WINDOW + 1.0) / (lengths - WINDOW + 1.0).sum()
    model = StyleClassifier(labels=len(labels))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-3)
    step, avg = 0, {}
    model.train()
    while step < args.steps and time.time() - t0 < args.minutes * 60:
        lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.choice(len(data), size=args.batch, p=p)
        xs, ys = [], []
        for i in idx:
            f, y = data[i]
            s = rng.integers(0, len(f) - WINDOW + 1)
            xs.append(f[s:s + WINDOW])
            ys.append(y)
        x = torch.from_numpy(np.stack(xs))
        x = x + 0.05 * torch.randn_like(x)
        y = torch.tensor(ys)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        for k, v in (("loss", float(loss)), ("acc", float((logits.argmax(-1) == y).float().mean()))):
            avg[k] = 0.98 * avg.get(k, v) + 0.02 * v
        if step % 200 == 0:
            print(f"step {step} loss {avg['loss']:.3f} acc {avg['acc']:.3f} "
                  f"({(time.time() - t0) / 60:.1f} min)", flush=True)
    wall = time.time() - t0

    # Export.
    from studio.runtime.manifest import Manifest, TensorSpec

    model.eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(2, WINDOW, D.MOTION_DIM),), str(out / "model.onnx"),
                      dynamo=False, opset_version=17, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "B"}, "logits": {0: "B"}})
    man = Manifest(
        name="style_classifier", role=S.CLASSIFIER_ROLE, version="1",
        description="Motion style classifier (15 Bandai-Namco styles) on 60-frame windows of "
                    "humanoid motion features; the judge of StyleVAE transfers. Trained on real "
                    "Bandai-Namco-Research-Motiondataset-1 clips (CC BY-NC 4.0): "
                    "NON-COMMERCIAL use only.",
        license="Weights: trained on " + D.BANDAI_LICENSE + " - non-commercial use only",
        inputs=[TensorSpec("x", ("B", WINDOW, D.MOTION_DIM),
                           description="60 frames x 82 motion features at 30 fps, normalised "
                                       "with constants mean/std")],
        outputs=[TensorSpec("logits", ("B", len(labels)), description="one per label")],
        constants={"fps": D.FPS, "window": WINDOW, "stride": WINDOW // 2, "labels": labels,
                   "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        training={"recipe": "models/recipes/style/train_classifier.py",
                  "data": [D.BANDAI_LICENSE + " - train split only (real clips; never "
                           "transferred ones), mirrored"],
                  "train_clips": len(train), "steps": step, "batch": args.batch,
                  "losses": "cross-entropy (label smoothing 0.1), feature noise 0.05",
                  "wall_time_min": round(wall / 60, 1), "hardware": "CPU, 1 thread (shared)",
                  "parameters": sum(q.numel() for q in model.parameters()),
                  "torch": torch.__version__, "opset": 17,
                  "final_loss": {k: round(v, 4) for k, v in avg.items()}})
    man.save(out / "manifest.json")

    # Held-out accuracy of the exported model through the app's code path.
    pool = models.pool(S.CLASSIFIER_ROLE, out / "manifest.json")
    hits = 0
    for r in test:
        lab, _ = S.classify(r.clip(), pool=pool)
        hits += lab == r.style
    acc = hits / len(test)
    man = Manifest.load(out / "manifest.json")
    man.training["heldout_clip_accuracy"] = round(acc, 4)
    man.training["heldout_clips"] = len(test)
    man.save(out / "manifest.json")
    print(f"held-out clip accuracy {acc:.3f} over {len(test)} clips (chance {1 / len(labels):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
