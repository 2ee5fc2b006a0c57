"""Measure the shipped StyleVAE (and write its style map): reconstruction, style transfer
judged by the style classifier, content kept, and a PCA of the style codes of every clip.

Everything runs through the app's own code (studio.motion.learned.style) on the held-out Bandai clips
(studio.motion.learned.dataset.bandai_split). Writes models/style_vae/style_codes_pca.json (the map the
UI plots), docs/motion-style-pca.png, and the numbers into the encoder's manifest
(training.heldout_metrics); prints a Markdown summary.

    /tmp/mvenv/bin/python models/recipes/style/evaluate.py [--modes plain,residual,keep_root]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from studio.motion.core.contacts import foot_contacts  # noqa: E402
from studio.motion.core.fk import forward_kinematics  # noqa: E402
from studio.motion.learned import dataset as D  # noqa: E402
from studio.motion.learned import style as S  # noqa: E402
from studio.runtime import models as model_factory  # noqa: E402

MODES = {"plain": {}, "residual": {"residual": True}, "keep_root": {"keep_root": True},
         "residual+keep_root": {"residual": True, "keep_root": True}}


def content_metrics(content, out) -> dict[str, float]:
    """Root path error (cm, mean over frames, and relative to the path length) and foot
    contact agreement (fraction of frames x feet with the same flag), plus the agreement
    two independent contact tracks with the same contact rates would have by chance."""
    n = min(content.n_frames, out.n_frames)
    a, b = content.root_pos[:n], out.root_pos[:n]
    err = np.linalg.norm((a - b)[:, [0, 2]], axis=1)
    path = np.linalg.norm(np.diff(a[:, [0, 2]], axis=0), axis=1).sum()
    ca = foot_contacts(content.frames(0, n)).mask
    cb = foot_contacts(out.frames(0, n)).mask
    pa, pb = ca.mean(axis=0), cb.mean(axis=0)
    chance = float(np.mean(pa * pb + (1 - pa) * (1 - pb)))
    return {"root_err_cm": float(err.mean() * 100), "root_err_rel": float(err.mean() / max(path, 0.1)),
            "contact_agree": float((ca == cb).mean()), "contact_chance": chance}


def pose_error_cm(a, b) -> float:
    """Mean root-relative joint position error (cm): pose only, path ignored."""
    n = min(a.n_frames, b.n_frames)
    pa = forward_kinematics(a.frames(0, n)).positions
    pb = forward_kinematics(b.frames(0, n)).positions
    pa = pa - pa[:, :1]
    pb = pb - pb[:, :1]
    return float(np.linalg.norm(pa - pb, axis=-1).mean() * 100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="plain,residual,keep_root")
    ap.add_argument("--png", default=str(ROOT / "docs" / "motion-style-pca.png"))
    ap.add_argument("--limit", type=int, default=0, help="content clips (0: all held out)")
    args = ap.parse_args()
    t0 = time.time()
    models = S.StyleModels(sessions=1)
    clf = model_factory.pool(S.CLASSIFIER_ROLE, sessions=1)
    recs = D.load_corpus()
    test = [r for r in recs if r.split == "test" and r.source == "bandai"]
    if args.limit:
        test = test[:args.limit]
    clips = {r.name: r.clip() for r in recs}
    results: dict = {}

    # Classifier on real held-out clips (its ceiling).
    real_hits = sum(S.classify(clips[r.name], pool=clf)[0] == r.style for r in test)
    results["classifier_real_heldout_acc"] = real_hits / len(test)

    # Reconstruction (strength 0, plain decode).
    rec_feat, rec_pose, rec_content = [], [], []
    for r in test:
        c = clips[r.name]
        out = S.transfer(c, c, 0.0, models=models)
        f_in, f_out = D.motion_features(*D.clip_arrays(c)), D.motion_features(*D.clip_arrays(out))
        rec_feat.append(np.abs((f_in - f_out) / models.std).mean())
        rec_pose.append(pose_error_cm(c, out))
        rec_content.append(content_metrics(c, out))
    results["reconstruction"] = {
        "feature_L1_normalised": float(np.mean(rec_feat)), "pose_error_cm": float(np.mean(rec_pose)),
        **{k: float(np.mean([m[k] for m in rec_content])) for k in rec_content[0]}}

    # Style references: the mean code over all windows of the held-out clips of each style
    # (two contents per style; never a training clip).
    refs: dict[str, list] = {}
    for r in (x for x in recs if x.split == "test" and x.source == "bandai"):
        refs.setdefault(r.style, []).append(r)
    ref_codes = {s: np.concatenate([S.style_codes(clips[r.name], models=models) for r in rs]).mean(0)
                 for s, rs in refs.items()}
    results["style_references"] = {s: [r.name for r in rs] for s, rs in refs.items()}

    for mode in [m for m in args.modes.split(",") if m]:
        kw = MODES[mode]
        hits = leak = total = 0
        cm, pe = [], []
        per_style = {s: [0, 0] for s in refs}
        for r in test:
            c = clips[r.name]
            for s, code in ref_codes.items():
                if s == r.style:
                    continue
                out = S.transfer(c, None, 1.0, style=code, models=models, **kw)
                lab, _ = S.classify(out, pool=clf)
                hits += lab == s
                leak += lab == r.style
                total += 1
                per_style[s][0] += lab == s
                per_style[s][1] += 1
                cm.append(content_metrics(c, out))
                pe.append(pose_error_cm(c, out))
        results[f"transfer_{mode}"] = {
            "pairs": total, "target_style_acc": hits / total, "kept_content_style": leak / total,
            "chance": 1.0 / len(D.BANDAI_STYLES), "pose_change_cm": float(np.mean(pe)),
            **{k: float(np.mean([m[k] for m in cm])) for k in cm[0]},
            "per_style_acc": {s: round(h / max(n, 1), 3) for s, (h, n) in per_style.items()}}
        print(mode, json.dumps(results[f"transfer_{mode}"]), flush=True)

    # Style map: the mean code of every clip, PCA to 2-D.
    names = [r.name for r in recs]
    codes = np.stack([S.style_code(clips[n], models=models) for n in names])
    mean = codes.mean(axis=0)
    u, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    comps = vt[:2]
    xy = (codes - mean) @ comps.T
    var = (s ** 2) / (s ** 2).sum()
    # How well codes separate styles: nearest train centroid of each held-out Bandai clip.
    is_b = np.array([r.source == "bandai" for r in recs])
    tr = np.array([r.split == "train" for r in recs]) & is_b
    cent = {st: codes[tr & np.array([r.style == st for r in recs])].mean(axis=0)
            for st in D.BANDAI_STYLES}
    nc_hits = 0
    for i, r in enumerate(recs):
        if r.split == "test" and r.source == "bandai":
            d = {st: np.linalg.norm(codes[i] - c) for st, c in cent.items()}
            nc_hits += min(d, key=d.get) == r.style
    results["codes_nearest_style_centroid_acc"] = nc_hits / int((~tr & is_b).sum())
    results["pca_explained_variance"] = [float(var[0]), float(var[1])]
    proj = {
        "description": "2-D PCA of StyleVAE style codes (mean over each clip's windows) of "
                       "every corpus clip; x, y = components @ (code - mean). Bandai clips "
                       "(CC BY-NC 4.0) and pybullet DeepMimic clips.",
        "model": "models/style_vae/encoder", "explained_variance": results["pca_explained_variance"],
        "mean": [round(float(v), 6) for v in mean],
        "components": [[round(float(v), 6) for v in c] for c in comps],
        "points": [{"name": r.name, "style": r.style, "content": r.content, "source": r.source,
                    "split": r.split, "x": round(float(p[0]), 4), "y": round(float(p[1]), 4)}
                   for r, p in zip(recs, xy)]}
    from studio.paths import MODELS_DIR

    D.save_json(MODELS_DIR / S.PROJECTION_FILE, proj)
    _plot(proj, Path(args.png))

    from studio.runtime.manifest import Manifest

    man = Manifest.load(models.encoder.manifest.path)
    man.training["heldout_metrics"] = results
    man.save(man.path)
    results["eval_wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(results, indent=1))
    return 0


def _plot(proj: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    cmap = plt.get_cmap("tab20")
    styles = list(D.BANDAI_STYLES)
    loco = {"walk", "run", "dash", "walk-back", "walk-left", "walk-right"}
    for i, st in enumerate(styles):
        for is_loco, marker in ((True, "o"), (False, "^")):
            pts = [p for p in proj["points"] if p["source"] == "bandai" and p["style"] == st
                   and (p["content"] in loco) == is_loco]
            if pts:
                ax.scatter([p["x"] for p in pts], [p["y"] for p in pts], s=28, marker=marker,
                           color=cmap(i), label=st if is_loco else None, alpha=0.85,
                           edgecolors="k" if any(p["split"] == "test" for p in pts) else "none",
                           linewidths=0.3)
    pb = [p for p in proj["points"] if p["source"] == "pybullet"]
    ax.scatter([p["x"] for p in pb], [p["y"] for p in pb], s=30, marker="x", color="0.3",
               label="pybullet clips")
    for p in pb:
        ax.annotate(p["content"], (p["x"], p["y"]), fontsize=6, color="0.3")
    ev = proj["explained_variance"]
    ax.set_xlabel(f"PC1 ({ev[0] * 100:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({ev[1] * 100:.0f}%)")
    ax.set_title("StyleVAE style codes (clip means), PCA. o locomotion, ^ gestures")
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
