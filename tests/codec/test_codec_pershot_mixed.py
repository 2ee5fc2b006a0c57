"""Issue 22: the mixed per-shot choice across codec families, and decoder-budget flags."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.codec import metrics, report
from studio.codec.encoders.pyav_backend import decode_sequential
from studio.codec.pershot import OptimiseSpec, run_optimise
from studio.codec.project import MIXED, Project
from studio.codec.score import decode_to_y4m
from studio.jobs import JobContext, UserError
from tests.codec.test_codec_pershot import write_shots

CODECS = ["x264", "x265"]


def _spec(clip: Path, target: float, **kw) -> OptimiseSpec:
    return OptimiseSpec(str(clip), target, codecs=list(CODECS),
                        presets={"x264": ["ultrafast"], "x265": ["ultrafast"]},
                        values={"x264": [20, 24, 28, 32, 36, 40], "x265": [20, 24, 28, 32, 36, 40]},
                        workers=0, curve=False, **kw)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One optimisation over x264 + x265 at a target inside the pooled reachable range."""
    tmp = tmp_path_factory.mktemp("mixed")
    clip = write_shots(tmp / "shots.mp4")
    folder = tmp / "p"
    run_optimise(_spec(clip, 1.0), folder, JobContext())     # learn the range first
    proj = Project.load(folder)
    shot_pts = [p for p in proj.points.values() if p.is_shot]
    assert {p.codec for p in shot_pts} == set(CODECS)
    lo = sum(min(p.bytes for p in shot_pts if p.frame_range == s) for s in proj.shots)
    hi = sum(max(p.bytes for p in shot_pts if p.frame_range == s) for s in proj.shots)
    target = round(8 * (lo + 0.5 * (hi - lo)) / proj.reference.duration_s / 1000, 1)
    proj.close()
    summary = run_optimise(_spec(clip, target), folder, JobContext())
    return clip, folder, target, summary


def test_mixed_choice_meets_the_target_and_reports_every_shot(mixed_run):
    _clip, folder, target, summary = mixed_run
    pid = f"{MIXED}_pershot_{target:g}k"
    assert pid in summary.mixed
    proj = Project.load(folder)          # the project (with a mixed point) loads
    pt = proj.point(pid)
    assert pt.codec == MIXED and pt.mode == "pershot" and len(pt.shots) == len(proj.shots) == 3
    assert abs(pt.bitrate_kbps - target) <= 0.05 * target
    assert {s["codec"] for s in pt.shots} <= set(CODECS)
    # the report: JSON + CSV + HTML, every shot listed with its frames, codec, rate, score
    base = folder / pt.report
    assert pt.report.endswith(".json")
    files = {ext: base.parent / (base.name[:-len(".json")] + ext)
             for ext in (".json", ".csv", ".html")}
    assert all(f.is_file() for f in files.values())
    data = json.loads(base.read_text())
    assert [(r["first_frame"], r["last_frame"] + 1) for r in data["shots"]] == \
        [tuple(s) for s in proj.shots]
    for r in data["shots"]:
        assert r["codec"] in CODECS and r["kbps"] > 0 and r["psnr_y"] > 0 and r["decode_fps"] > 0
    assert data["total_kbps"] == pytest.approx(pt.bitrate_kbps)
    assert data["whole_clip"]["psnr_y"] == pytest.approx(pt.metrics["psnr_y"])
    rows = list(csv.DictReader(files[".csv"].open()))
    assert [r["shot"] for r in rows] == ["0", "1", "2", "total"]
    page = files[".html"].read_text()
    assert page.count("<tr>") == 4 and all(s["codec"] in page for s in pt.shots)
    assert any("best single codec" in n for n in proj.notes)
    # it is a point like the others: a curve, the exports and the viewer take it
    assert any(c.codec == MIXED and c.mode == "pershot" for c in proj.curves("psnr_y"))
    out = report.export_csv(proj, folder / "all.csv", metric="psnr_y_global")
    assert pid in out[0].read_text()
    report.export_json(proj, folder / "all.json", metric="psnr_y_global")
    assert report.rd_svg(proj, "psnr_y")
    assert proj.point_rgb(pid, 20).shape == (64, 96, 3)
    assert len(list(proj.decoded_frames(pid))) == 36
    proj.close()


def test_mixed_whole_clip_score_is_the_concatenated_shots_score(mixed_run, tmp_path):
    _clip, folder, target, _summary = mixed_run
    proj = Project.load(folder)
    pid = f"{MIXED}_pershot_{target:g}k"
    pt = proj.point(pid)
    ref = proj.reference
    clip = proj.reference_clip()
    decoded = []          # each shot's segment decoded on its own, then put together
    for sh in pt.shots:
        n = sh["frames"][1] - sh["frames"][0]
        decoded += [df.planes for df in decode_sequential(folder / sh["stream"], ref, n)]
    assert len(decoded) == ref.frames
    scores = [metrics.score_frame(clip.planes(i), planes, ref.bit_depth, True, False)
              for i, planes in enumerate(decoded)]
    cols = metrics.columns(scores)
    pooled = metrics.pool(cols, ref.bit_depth)
    frames = proj.point_frames(pid)
    assert np.allclose(frames["mse_y"], cols["mse_y"], rtol=0, atol=1e-12)
    for k in ("psnr_y", "psnr_y_global", "ssim_y"):
        assert pt.metrics[k] == pytest.approx(pooled[k], abs=1e-9)
    # and the segments are the chosen shot encodes, unchanged: their own scores agree
    mse = np.concatenate([proj.point_frames(s["point"])["mse_y"] for s in pt.shots])
    assert np.allclose(frames["mse_y"], mse, rtol=1e-9, atol=1e-9)
    # `studio codec score` decodes mixed and stitched points (for VMAF etc.) the same way
    for p in (pt, proj.point(f"x265_pershot_{target:g}k")):
        got = []
        n = decode_to_y4m(folder, p, ref, tmp_path / "d.y4m", lambda i, planes: got.append(i))
        assert n == ref.frames and got == list(range(ref.frames))
    proj.close()


def test_budget_removed_candidates_are_flagged_and_never_chosen(mixed_run, tmp_path):
    clip, folder, target, _summary = mixed_run
    work = tmp_path / "p"
    shutil.copytree(folder, work)
    proj = Project.load(work)
    # keep at least the fastest candidate of every shot, remove everything slower than the
    # slowest shot's fastest one
    floor = min(max(p.decode_fps for p in proj.points.values()
                    if p.is_shot and p.frame_range == s) for s in proj.shots)
    shot_ids = {p.id for p in proj.points.values() if p.is_shot}
    proj.close()
    try:
        summary = run_optimise(_spec(clip, target, min_decode_fps=floor), work, JobContext())
    except UserError as exc:            # should not happen: every shot keeps a candidate
        pytest.fail(str(exc))
    proj = Project.load(work)
    removed = set(proj.decoder_budget["removed"])
    assert removed and removed == set(summary.removed_by_budget) and removed < shot_ids
    for pid in shot_ids:
        p = proj.point(pid)
        assert bool(p.over_budget) == (p.decode_fps < floor) == (pid in removed)
    assert proj.decoder_budget["min_decode_fps"] == floor
    chosen = [s for parts in summary.chosen.values() for s in parts]
    assert chosen and not removed & set(chosen)
    mixed = proj.point(f"{MIXED}_pershot_{target:g}k")
    assert all(proj.point(s["point"]).decode_fps >= floor for s in mixed.shots)
    data = json.loads((work / mixed.report).read_text())
    assert set(data["decoder_budget"]["removed"]) == removed
    proj.close()
    # a later run without the budget clears the flags
    run_optimise(_spec(clip, target), work, JobContext())
    proj = Project.load(work)
    assert not proj.decoder_budget["removed"]
    assert not any(p.over_budget for p in proj.points.values())
    proj.close()


def test_cli_mixed_flags():
    import argparse

    from studio.codec import cli
    root = argparse.ArgumentParser()
    cli.register(root.add_subparsers())
    base = ["codec", "optimise", "in.mp4", "--target-kbps", "100", "--out", "o"]
    assert root.parse_args(base).mixed is None
    assert root.parse_args(base + ["--mixed"]).mixed is True
    assert root.parse_args(base + ["--no-mixed"]).mixed is False
