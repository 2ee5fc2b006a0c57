"""Re-scoring a finished project: new per-frame columns and pooled values without re-encoding,
then a BD table on them; skips, force, cancel, bad names, no executable, and the CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.codec import cli, ffmetrics, ffmpeg_tool, report, score
from studio.codec.project import Project
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import JobContext, JobStatus, UserError

FAST = {"x264": ["ultrafast"], "x265": ["ultrafast"]}


def _have_vmaf() -> tuple[bool, str]:
    ffmetrics.reset()
    return ffmetrics.available_metrics()["vmaf"]


needs_ffmpeg = pytest.mark.skipif(not _have_vmaf()[0], reason=_have_vmaf()[1])


@pytest.fixture(scope="module")
def made(tmp_path_factory, clip_writer) -> Path:
    """A finished sweep without VMAF or MS-SSIM: x264 and x265, 3 CRF points, 64x48, 4 frames."""
    tmp = tmp_path_factory.mktemp("rescore")
    src = clip_writer(tmp / "src.mp4", width=64, height=48, frames=4)
    s = run_sweep(SweepSpec(str(src), ["x264", "x265"], points=3, presets=FAST, max_frames=4,
                            workers=0, ms_ssim=False, vmaf=False), tmp / "proj", JobContext())
    assert len(s.done) == 6, s.failed
    return tmp / "proj"


@pytest.fixture
def proj_dir(made, tmp_path) -> Path:
    out = tmp_path / "proj"
    shutil.copytree(made, out)
    return out


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in (folder / "streams").iterdir()}


@needs_ffmpeg
def test_rescore_adds_columns_then_bd_rate_on_vmaf_works(proj_dir):
    before = Project.load(proj_dir)
    with pytest.raises(UserError):               # the old dead end: no curve has VMAF
        report.bd_table(before, "x264", "vmaf")
    old_psnr = {p.id: p.metrics["psnr_y"] for p in before.done_points()}
    streams = _snapshot(proj_dir)
    seen = []
    res = score.rescore_job(proj_dir, ["vmaf", "xpsnr", "ms_ssim"], workers=2).run(seen.append)
    assert res.ok, res.error
    assert sorted(res.value.done) == sorted(old_psnr) and not res.value.failed
    assert seen[-1].fraction == 1.0 and [p.done for p in seen] == sorted(p.done for p in seen)
    assert _snapshot(proj_dir) == streams            # nothing re-encoded

    proj = Project.load(proj_dir)
    for p in proj.done_points():
        frames = proj.point_frames(p.id)
        for col in ("vmaf", "xpsnr_y", "xpsnr_u", "xpsnr_v", "ms_ssim", "psnr_y", "frame_bytes"):
            assert len(frames[col]) == 4, col
        assert p.metrics["vmaf"] == pytest.approx(np.mean(frames["vmaf"]))
        assert p.metrics["xpsnr_y"] == pytest.approx(np.mean(frames["xpsnr_y"]))
        assert 0 < p.metrics["ms_ssim"] <= 1 and 0 <= p.metrics["vmaf"] <= 100
        assert p.metrics["psnr_y"] == old_psnr[p.id]     # untouched columns stay
    for c in proj.curves("vmaf"):
        assert c.values("vmaf") == sorted(c.values("vmaf"))   # more bits, more VMAF
    rows = report.bd_table(proj, "x264", "vmaf")
    assert len(rows) == 1 and rows[0].bd_rate is not None
    proj.close()


@needs_ffmpeg
def test_skips_what_is_done_unless_forced_and_keeps_finished_points_on_cancel(proj_dir):
    res = score.rescore_job(proj_dir, ["vmaf"], workers=0).run()
    assert res.ok and len(res.value.done) == 6
    first = {p.id: p.metrics["vmaf"] for p in Project.load(proj_dir).done_points()}
    again = score.rescore_job(proj_dir, ["VMAF"], workers=0).run()
    assert again.ok and not again.value.done and len(again.value.skipped) == 6
    forced = score.rescore_job(proj_dir, ["vmaf"], workers=0, force=True).run()
    assert len(forced.value.done) == 6
    assert {p.id: p.metrics["vmaf"] for p in Project.load(proj_dir).done_points()} == first

    job = score.rescore_job(proj_dir, ["xpsnr_y"], workers=0)
    stored = []

    def on_progress(p) -> None:
        if p.message.startswith("finished"):
            stored.append(p.message)
            job.cancel()                         # cancel once the first point is stored
    res = job.run(on_progress)
    assert res.status is JobStatus.CANCELLED
    proj = Project.load(proj_dir)                # still a valid project...
    has = [p.id for p in proj.done_points() if "xpsnr_y" in p.metrics]
    assert len(has) == 1 and stored == [f"finished {has[0]}"]   # ...with the finished point
    assert "xpsnr_y" in proj.point_frames(has[0])
    assert not list(proj_dir.glob(".rescore-*"))  # no temp files left
    rest = score.rescore_job(proj_dir, ["xpsnr"], workers=0).run()
    assert rest.ok and len(rest.value.done) == 5 and rest.value.skipped == has


def test_bad_names_and_no_executable(proj_dir, monkeypatch):
    res = score.rescore_job(proj_dir, ["vmaf", "butteraugli"]).run()
    assert res.status is JobStatus.FAILED
    assert "unknown metric 'butteraugli'; choose from psnr_y" in res.error
    assert "vmaf, vmaf_neg, xpsnr_y, psnr_hvs, ciede2000, cambi" in res.error
    res = score.rescore_job(proj_dir, ["cambi"]).run()   # 64x48: too small for CAMBI
    assert res.status is JobStatus.FAILED and "cannot compute cambi" in res.error
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, "")
    ffmetrics.reset()
    try:
        res = score.rescore_job(proj_dir, ["xpsnr"]).run()
        assert res.status is JobStatus.FAILED
        assert "cannot compute xpsnr_y (no FFmpeg executable" in res.error
        assert "PSNR, SSIM and MS-SSIM can still be re-scored" in res.error
        res = score.rescore_job(proj_dir, ["ms_ssim"], workers=0).run()   # ours still work
        assert res.ok and len(res.value.done) == 6
    finally:
        monkeypatch.delenv(ffmpeg_tool.ENV_OVERRIDE)
        ffmetrics.reset()
    assert all(0 < p.metrics["ms_ssim"] <= 1 for p in Project.load(proj_dir).done_points())


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@needs_ffmpeg
def test_cli_score(proj_dir, capsys):
    assert _cli(["codec", "score", str(proj_dir), "--metrics", "vmaf,xpsnr", "--workers",
                 "0"]) == 0
    out = capsys.readouterr().out
    assert "6 points scored with vmaf, xpsnr_y, 0 already had them, 0 failed" in out
    data = json.loads((proj_dir / "project.json").read_text())
    assert all("xpsnr_y" in p["metrics"] for p in data["points"] if p["status"] == "done")
    assert _cli(["codec", "score", str(proj_dir), "--metrics", "psnr,nope"]) == 1
    assert "unknown metric 'nope'" in capsys.readouterr().err
    assert _cli(["codec", "score", str(proj_dir.parent / "none"), "--metrics", "vmaf"]) == 1
    assert "no codec project here" in capsys.readouterr().err
