"""Evaluate the learned codec on Kodak (all 24, evaluation only: never trained on) against
JPEG, WebP, AVIF and x265 all-intra, through the app's own sweep (same YUV 4:2:0 reference,
same metrics, rates from the files' sizes), and measure its cost.

Runs in the APP venv (it drives ``studio codec sweep``; no torch):

    .venv/bin/python models/recipes/learned_codec/evaluate.py sweep --out /tmp/lc_eval \
        --codecs jpeg,webp,avif,x265-intra      # the anchors (once)
    .venv/bin/python models/recipes/learned_codec/evaluate.py sweep --out /tmp/lc_eval \
        --codecs learned                        # after each export (extends the projects)
    .venv/bin/python models/recipes/learned_codec/evaluate.py summary --out /tmp/lc_eval \
        --json models/learned_codec/evaluation.json
    .venv/bin/python models/recipes/learned_codec/evaluate.py cost   # MACs/px, 720p frames/s

The summary averages bits per pixel and PSNR-Y / MS-SSIM over the 24 images per setting
(the usual Kodak convention) and gives BD-rate against JPEG (and the others) on the
averaged curves, PSNR-Y and MS-SSIM (as dB, -10 log10(1 - MS-SSIM)).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
KODAK = Path(os.environ.get("LC_KODAK", "/work/shared/data/kodak"))
STUDIO = [str(Path(sys.executable).with_name("studio"))]   # the app venv's entry point
VALUES = {
    "jpeg": "2,4,6,9,14,22,31",
    "webp": "92,80,65,50,35,20,5",
    "avif": "14,22,30,38,46,54,62",
    "x265-intra": "17,22,27,32,37,42,47",
}
PRESETS = {"x265-intra": "medium", "avif": "6", "webp": "4"}


GRID = Path(os.environ.get("LC_CLIPS", "/work/shared/data/grid"))


def images(limit: int | None, clips: bool = False) -> list[Path]:
    """Kodak's 24 images, or (``clips``) the GRID talking-face clips: video never seen in
    training (BSDS500 is stills), 360x288 4:2:0, coded frame by frame by the image codecs."""
    files = sorted(GRID.glob("*.mpg")) if clips else sorted(KODAK.glob("kodim*.png"))
    return files[:limit] if limit else files


def values(codec: str) -> str:
    """The settings swept: every rate point of the shipped learned family, or the anchor's."""
    if codec in ("learned", "learned-p"):
        from studio.codec.learned.model import rate_points_by_quality, shipped_dir

        return ",".join(str(q) for q in rate_points_by_quality(shipped_dir()))
    return VALUES[codec]


def cmd_sweep(a) -> None:
    out = Path(a.out)
    codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    vals = [f"{c}={a.values or values(c)}" for c in codecs]
    for im in images(a.images, a.clips):
        proj = out / im.stem
        cmd = [*STUDIO, "codec", "sweep", str(im), "--codecs", ",".join(codecs),
               "--out", str(proj), "--workers", "0", "--frames", str(a.frames or 1),
               "--anchor", codecs[0]]
        if not a.vmaf:
            cmd.append("--no-vmaf")
        for v in vals:
            cmd += ["--values", v]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
        tail = (r.stdout + r.stderr).strip().splitlines()
        print(f"{im.stem}: rc {r.returncode} in {time.time() - t0:.0f} s; "
              f"{tail[-1] if tail else ''}", flush=True)
        if r.returncode not in (0, 3):
            print("\n".join(tail[-10:]), flush=True)


def _rows(out: Path | str) -> list[dict]:
    """Finished points of every project under ``out`` (a comma list of folders: the anchors'
    sweep and the learned codec's may live apart)."""
    rows = []
    reps = [r for o in str(out).split(",") for r in sorted(Path(o).glob("*/report.csv"))]
    for rep in reps:
        with open(rep, newline="") as fh:
            for r in csv.DictReader(fh):
                if r["status"] == "done":
                    r["image"] = rep.parent.name
                    rows.append(r)
    return rows


def _msssim_db(v: float) -> float:
    return -10.0 * math.log10(max(1e-10, 1.0 - v))


def curves(out: Path | str, n_images: int) -> dict[str, list[dict]]:
    """Per codec: one point per setting done on every image, averaged over the images."""
    by: dict[tuple[str, float], list[dict]] = {}
    for r in _rows(out):
        by.setdefault((r["codec"], float(r["value"])), []).append(r)
    res: dict[str, list[dict]] = {}
    for (codec, value), rs in sorted(by.items()):
        if len({r["image"] for r in rs}) < n_images:
            continue
        ms = [float(r["ms_ssim"]) for r in rs if r.get("ms_ssim")]
        res.setdefault(codec, []).append({
            "value": value, "bpp": float(np.mean([float(r["bpp"]) for r in rs])),
            "psnr_y": float(np.mean([float(r["psnr_y"]) for r in rs])),
            "psnr_yuv": float(np.mean([float(r["psnr_yuv"]) for r in rs])),
            "ms_ssim": float(np.mean(ms)) if len(ms) == len(rs) else None,
            "ms_ssim_db": float(np.mean([_msssim_db(m) for m in ms])) if len(ms) == len(rs)
            else None,
            "vmaf": float(np.mean([float(r["vmaf"]) for r in rs]))
            if all(r.get("vmaf") for r in rs) else None,
            "encode_s": float(np.mean([float(r["encode_s"]) for r in rs])), "images": len(rs)})
    for pts in res.values():
        pts.sort(key=lambda p: p["bpp"])
    return res


def cmd_summary(a) -> None:
    n = len(images(a.images, a.clips))
    cs = curves(a.out, n)
    if a.anchors_from:
        # the anchors' curves from an earlier summary of the same sweep code and images
        # (a classical sweep of 24 Kodak images costs ~20 CPU-minutes; they do not change)
        old = json.loads(Path(a.anchors_from).read_text())
        for k, v in old["curves"].items():
            if k in ANCHORS and k not in cs:
                cs[k] = v
        if a.previous_as and "learned" in old["curves"]:
            # the rate points this export replaced, measured by the same sweep earlier
            cs[a.previous_as] = old["curves"]["learned"]
    learned = [c for c in cs if c not in ANCHORS]
    table = {}
    for codec in learned:
        table[codec] = _bd_table(cs, codec)
    what = (f"GRID clips ({n}, 360x288, first {a.frames} frames each, coded frame by frame)"
            if a.clips else f"Kodak ({n} images, 768x512)")
    result = {"dataset": f"{what}, YUV 4:2:0 8-bit reference made by "
                         "the sweep; bpp = 8 * file bytes / pixels, averaged per setting",
              "curves": cs,
              "learned_vs": table.get("learned", next(iter(table.values()), {})),
              "by_codec": table}
    if a.anchors_from:
        result["anchors_from"] = str(a.anchors_from)
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))


# the image codecs, and (clips only, where swept) x265/x264 with their own inter prediction:
# what the temporal mode is up against
ANCHORS = ("jpeg", "webp", "avif", "x265-intra", "x265", "x264")


def _bd_table(cs: dict, codec: str) -> dict:
    from studio.codec import bdrate

    table = {}
    for anchor in ANCHORS:
        if anchor not in cs:
            continue
        A, L = cs[anchor], cs[codec]
        row = {}
        for metric in ("psnr_y", "ms_ssim_db", "vmaf"):
            if any(p.get(metric) is None for p in A + L):
                continue
            try:
                row[metric] = {
                    "bd_rate_pct": bdrate.bd_rate([p["bpp"] for p in A], [p[metric] for p in A],
                                                  [p["bpp"] for p in L], [p[metric] for p in L]),
                    "bd_quality": bdrate.bd_quality([p["bpp"] for p in A],
                                                    [p[metric] for p in A],
                                                    [p["bpp"] for p in L],
                                                    [p[metric] for p in L])}
            except Exception as exc:  # noqa: BLE001 - no overlap: say so
                row[metric] = {"error": str(exc)}
        table[anchor] = row
    return table


def markdown(result: dict) -> str:
    """The RD points and the BD table as Markdown, for docs/models.md."""
    lines = ["| codec | setting | bpp | PSNR-Y (dB) | MS-SSIM (Y) | VMAF |",
             "|---|---|---|---|---|---|"]
    for codec, pts in result["curves"].items():
        for p in pts:
            ms = f"{p['ms_ssim']:.4f}" if p.get("ms_ssim") is not None else "-"
            vm = f"{p['vmaf']:.1f}" if p.get("vmaf") is not None else "-"
            lines.append(f"| {codec} | {p['value']:g} | {p['bpp']:.3f} | {p['psnr_y']:.2f} | "
                         f"{ms} | {vm} |")
    lines += ["", "| codec | vs | BD-rate PSNR-Y | BD-PSNR-Y | BD-rate MS-SSIM (dB) | "
                  "BD-rate VMAF |", "|---|---|---|---|---|---|"]
    for codec, anchor, row in ((c, an, r) for c, t in result.get(
            "by_codec", {"learned": result["learned_vs"]}).items() for an, r in t.items()):
        def cell(metric: str, key: str, unit: str) -> str:
            r = row.get(metric, {})
            return f"{r[key]:+.1f}{unit}" if key in r else r.get("error", "-")
        lines.append(f"| {codec} | {anchor} | {cell('psnr_y', 'bd_rate_pct', ' %')} | "
                     f"{cell('psnr_y', 'bd_quality', ' dB')} | "
                     f"{cell('ms_ssim_db', 'bd_rate_pct', ' %')} | "
                     f"{cell('vmaf', 'bd_rate_pct', ' %')} |")
    return "\n".join(lines)


def cmd_cost(a) -> None:
    """MACs per pixel of each graph and 720p encode/decode frames/s through the pool."""
    from studio.codec.learned import load_model, rate_points, shipped_dir
    from studio.codec.learned.macs import macs_per_pixel

    fam = Path(a.family) if a.family else shipped_dir()
    points = rate_points(fam)
    if len(points) > 1:
        # one process per rate point: measured together in one process, q2..q4 decoded at
        # 0.5 frames/s instead of 1.3 (sixteen sessions and their thread pools at once)
        for p in points:
            cmd = [sys.executable, __file__, "cost", "--family", str(p),
                   "--repeat", str(a.repeat)] + (["--write"] if a.write else [])
            subprocess.run(cmd, check=True)
        return
    rng = np.random.default_rng(0)
    rgb = np.clip(rng.random((720, 1280, 3)) * 0.3 + np.linspace(0, 0.7, 1280)[None, :, None],
                  0, 1).astype(np.float32)
    for p in points:
        m = load_model(p)
        lat = m.latent_channels or m.tables.channels
        macs = {"analysis": macs_per_pixel(m.folder / "analysis" / "model.onnx",
                                           "codec.analysis"),
                "synthesis": macs_per_pixel(m.folder / "synthesis" / "model.onnx",
                                            "codec.synthesis", latent_channels=lat, pad=16)}
        if m.hyperprior:
            macs["hyper_analysis"] = macs_per_pixel(
                m.hyper_analysis_manifest.parent / "model.onnx", "codec.hyper_analysis",
                latent_channels=lat, pad=16)
            macs["hyper_synthesis"] = macs_per_pixel(
                m.hyper_synthesis_manifest.parent / "model.onnx", "codec.hyper_synthesis",
                latent_channels=m.tables.channels, pad=64)
        m.encode_rgb(rgb[:64, :64])                   # warm the pools
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.repeat):
            payload = m.encode_rgb(rgb)
        enc, enc_cpu = (a.repeat / (time.perf_counter() - t0),
                        a.repeat / (time.process_time() - c0))
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.repeat):
            m.decode_rgb(payload, 1280, 720)
        dec, dec_cpu = (a.repeat / (time.perf_counter() - t0),
                        a.repeat / (time.process_time() - c0))
        # wall-clock rates on a loaded shared machine mostly measure the other jobs; the
        # rate per CPU-second of this process (1 ORT thread) is the reproducible number
        cost = {**{f"{k}_macs_per_pixel": round(v) for k, v in macs.items()},
                "encoder_macs_per_pixel": round(sum(v for k, v in macs.items()
                                                    if k != "synthesis")),
                "decoder_macs_per_pixel": round(macs["synthesis"]
                                                + macs.get("hyper_synthesis", 0.0)),
                "encode_fps_720p_cpu": round(enc_cpu, 3), "decode_fps_720p_cpu": round(dec_cpu, 3),
                "encode_fps_720p_wall": round(enc, 3), "decode_fps_720p_wall": round(dec, 3),
                "measured_on": f"{os.cpu_count()}-core CPU, 1-minute load average "
                               f"{os.getloadavg()[0]:.1f} at the end; *_cpu = "
                               "frames per CPU-second of one core (1 session x 1 thread per "
                               "network, entropy coding included), *_wall = wall clock"}
        print(p.name, json.dumps(cost), flush=True)
        if a.write:
            cj = p / "codec.json"
            meta = json.loads(cj.read_text())
            meta["cost"] = cost
            cj.write_text(json.dumps(meta, indent=2) + "\n")
            for kind, mac in macs.items():
                mf = p / kind / "manifest.json"
                man = json.loads(mf.read_text())
                man.setdefault("constants", {})["macs_per_pixel"] = round(mac)
                side = "decode" if kind.endswith("synthesis") else "encode"
                man["constants"][f"{side}_fps_720p_cpu"] = cost[f"{side}_fps_720p_cpu"]
                mf.write_text(json.dumps(man, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("--out", required=True)
    s.add_argument("--codecs", required=True)
    s.add_argument("--values", default=None, help="override the values (one codec only)")
    s.add_argument("--images", type=int, default=None, help="first N images only (smoke)")
    s.add_argument("--clips", action="store_true", help="the GRID clips instead of Kodak")
    s.add_argument("--frames", type=int, default=None, help="frames per clip (default 1)")
    s.add_argument("--vmaf", action="store_true", help="score VMAF too (slower)")
    s.set_defaults(func=cmd_sweep)
    m = sub.add_parser("summary")
    m.add_argument("--out", required=True, help="project folder(s), comma-separated")
    m.add_argument("--json", default=None)
    m.add_argument("--images", type=int, default=None)
    m.add_argument("--anchors-from", default=None,
                   help="take the anchors' curves from this earlier evaluation.json")
    m.add_argument("--previous-as", default=None,
                   help="with --anchors-from: add its 'learned' curve under this name")
    m.add_argument("--clips", action="store_true")
    m.add_argument("--frames", type=int, default=None)
    m.set_defaults(func=cmd_summary)
    c = sub.add_parser("cost")
    c.add_argument("--family", default=None)
    c.add_argument("--repeat", type=int, default=3)
    c.add_argument("--write", action="store_true", help="store into codec.json and manifests")
    c.set_defaults(func=cmd_cost)
    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
