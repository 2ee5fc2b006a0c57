"""Issue 17: the FFmpeg-executable backend fails one point at a time, cancels and times out
cleanly, and a missing executable leaves the PyAV codecs and PSNR/SSIM working."""

from __future__ import annotations

import stat
import sys
import time

import pytest

from studio.codec import encoders, ffmpeg_tool
from studio.codec.encoders import exe_backend
from studio.codec.project import FAILED, Project
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import Cancelled, JobContext


@pytest.fixture
def fake_ffmpeg(tmp_path, monkeypatch):
    """Install a fake executable that lists libvvenc but behaves as ``body`` when encoding."""
    def make(body: str):
        script = tmp_path / "ffmpeg"
        script.write_text(f"""#!{sys.executable}
import sys, time
a = sys.argv[1:]
if "-version" in a:
    print("ffmpeg version n9.9-fake Copyright"); sys.exit(0)
if "-encoders" in a:
    print(" V....D libvvenc  fake VVC"); sys.exit(0)
if "-filters" in a:
    print(" .. psnr  VV->V fake"); sys.exit(0)
{body}
""")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, str(script))
        ffmpeg_tool.reset()
        return script
    yield make
    ffmpeg_tool.reset()


def _spec(src, codecs, **kw):
    base = dict(points=2, presets={"x264": ["ultrafast"], "vvc": ["faster"]}, max_frames=4,
                workers=0, ms_ssim=False, vmaf=False)
    base.update(kw)
    return SweepSpec(str(src), list(codecs), **base)


def test_a_failing_executable_fails_only_its_points(clip, tmp_path, fake_ffmpeg):
    fake_ffmpeg('sys.stderr.write("vvenc: boom\\n"); sys.exit(3)')
    src = clip("s.mp4", width=64, height=48, frames=4)
    summary = run_sweep(_spec(src, ["x264", "vvc"]), tmp_path / "p", JobContext())
    assert len(summary.done) == 2 and len(summary.failed) == 2
    for pid, err in summary.failed.items():
        assert pid.startswith("vvc") and "exit status 3" in err and "boom" in err
    proj = Project.load(tmp_path / "p")
    assert all(p.status == FAILED for p in proj.points.values() if p.codec == "vvc")
    assert not list((tmp_path / "p" / "streams").glob("vvc*"))   # nothing half-written
    assert not list((tmp_path / "p" / "streams").glob(".*part*"))


def test_a_hanging_encoder_is_killed_at_its_timeout(clip, tmp_path, fake_ffmpeg, monkeypatch):
    fake_ffmpeg("time.sleep(60)")
    monkeypatch.setattr(exe_backend, "TIMEOUT_BASE_S", 1.0)
    monkeypatch.setattr(exe_backend, "TIMEOUT_PER_MPIXEL_FRAME_S", 0.0)
    src = clip("s.mp4", width=64, height=48, frames=4)
    t0 = time.perf_counter()
    summary = run_sweep(_spec(src, ["vvc"], points=1), tmp_path / "p", JobContext())
    assert time.perf_counter() - t0 < 20
    (err,) = summary.failed.values()
    assert "did not finish within" in err


def test_cancel_kills_the_process():
    calls = []

    def cancel():
        calls.append(1)
        if len(calls) > 3:
            raise Cancelled()

    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        ffmpeg_tool.run(["-f", "lavfi", "-i", "testsrc2=s=320x240:d=600", "-f", "null", "-"],
                        check_cancel=cancel, timeout_s=60)
    assert time.perf_counter() - t0 < 10


def test_missing_executable_is_explained_and_pyav_still_works(clip, tmp_path, monkeypatch):
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, "")
    ffmpeg_tool.reset()
    try:
        ok, why = encoders.available_codecs()["vvc"]
        assert not ok and "no FFmpeg executable" in why
        assert encoders.available_codecs()["x264"][0]
        src = clip("s.mp4", width=64, height=48, frames=4)
        summary = run_sweep(_spec(src, ["x264"], vmaf=True), tmp_path / "p", JobContext())
        assert len(summary.done) == 2 and not summary.failed
        assert any("VMAF not computed" in n for n in summary.notes)
        proj = Project.load(tmp_path / "p")
        assert all("psnr_y" in p.metrics and "vmaf" not in p.metrics for p in proj.done_points())
        from studio.jobs import UserError
        with pytest.raises(UserError, match="cannot be used on this machine"):
            run_sweep(_spec(src, ["vvc"]), tmp_path / "q", JobContext())
    finally:
        monkeypatch.delenv(ffmpeg_tool.ENV_OVERRIDE)
        ffmpeg_tool.reset()


def test_encoders_command_lists_what_is_missing(monkeypatch, capsys):
    from studio.cli import main
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, "")
    ffmpeg_tool.reset()
    try:
        assert main(["codec", "encoders"]) == 0
    finally:
        monkeypatch.delenv(ffmpeg_tool.ENV_OVERRIDE)
        ffmpeg_tool.reset()
    out = capsys.readouterr().out
    assert "x264" in out and "vvc" in out and "missing: no FFmpeg executable" in out
