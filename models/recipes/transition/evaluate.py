"""Measure the shipped TransitionNet against the baselines on held-out Bandai windows.

Prints the Markdown table of docs/motion-models.md: L2P, L2Q, NPSS (Harvey et al. 2020 /
LaFAN1 definitions, see studio.motion.learned.transition.window_metrics), MPJPE in cm, and foot sliding
(mean horizontal speed of planted feet over the gap, studio.motion.core.contacts.foot_sliding) for
zero-velocity, linear/SLERP and the model, at 5, 15, 30 (and 45, 60) frame gaps.

    /tmp/mvenv/bin/python models/recipes/transition/evaluate.py [--gaps 5,15,30,45,60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from studio.jobs import UserError  # noqa: E402
from studio.motion.core.contacts import foot_sliding  # noqa: E402
from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import transition as T  # noqa: E402
from studio.runtime import models  # noqa: E402


def sliding(pos: np.ndarray, quat: np.ndarray, c: int, n: int) -> float:
    """Mean foot sliding (cm/s) over the gap frames (with the frames either side)."""
    out = []
    for p, q in zip(pos, quat):
        clip = D.arrays_to_clip(p[c - 1:c + n + 1], q[c - 1:c + n + 1])
        try:
            fs = foot_sliding(clip)
        except UserError:
            continue
        if fs.contact_frames:
            out.append(fs.mean_speed * 100)
    return float(np.mean(out)) if out else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gaps", default="5,15,30,45,60")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    gaps = [int(g) for g in args.gaps.split(",")]
    recs = D.load_corpus()
    train = [r for r in recs if r.split == "train"]
    test = [r for r in recs if r.split == "test"]
    pool = models.pool(T.ROLE, args.model, sessions=1)
    stats = T.position_stats(train)
    table = T.evaluate(test, gaps, pool=pool, pos_stats=stats)
    c = T.CONTEXT
    print("| gap | method | L2P | L2Q | NPSS | MPJPE (cm) | foot sliding (cm/s) | windows |")
    print("|---|---|---|---|---|---|---|---|")
    for n in gaps:
        pos, quat = T.heldout_windows(test, n, c, 20)
        gt_slide = sliding(pos, quat, c, n)
        for m in ("zero_velocity", "linear", "model"):
            pp, pq = T.inbetween(pos[:, :c], quat[:, :c], pos[:, -1], quat[:, -1], n, m, pool=pool)
            full_p = np.concatenate([pos[:, :c], pp, pos[:, -1:]], axis=1)
            full_q = np.concatenate([quat[:, :c], pq, quat[:, -1:]], axis=1)
            r = table[n][m]
            print(f"| {n} | {m} | {r['L2P']:.3f} | {r['L2Q']:.3f} | {r['NPSS']:.4f} | "
                  f"{r['MPJPE_cm']:.1f} | {sliding(full_p, full_q, c, n):.1f} | {r['windows']} |")
        print(f"| {n} | (ground truth) | 0 | 0 | 0 | 0 | {gt_slide:.1f} | {len(pos)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
