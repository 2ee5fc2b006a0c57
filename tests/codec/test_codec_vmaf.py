"""VMAF is optional: without imageio-ffmpeg the app says so and the sweep goes on."""

from __future__ import annotations

import sys

import pytest

from studio.codec import vmaf
from studio.codec.project import Project
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import JobContext


@pytest.fixture
def no_imageio(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)   # import now raises ImportError
    vmaf._ffmpeg_with_vmaf.cache_clear()
    yield
    vmaf._ffmpeg_with_vmaf.cache_clear()


def test_unavailable_is_reported_clearly(no_imageio):
    ok, msg = vmaf.vmaf_available()
    assert not ok and msg == "VMAF not available: the imageio-ffmpeg package is not installed"


def test_sweep_without_vmaf_notes_it_and_finishes(no_imageio, clip, tmp_path):
    src = clip("v.mp4", frames=3)
    s = run_sweep(SweepSpec(str(src), ["x264"], points=1, workers=0, vmaf=True,
                            presets={"x264": ["ultrafast"]}), tmp_path / "p", JobContext())
    assert len(s.done) == 1 and any("VMAF not available" in n for n in s.notes)
    proj = Project.load(tmp_path / "p")
    assert "vmaf" not in proj.done_points()[0].metrics
    assert any("VMAF not available" in n for n in proj.notes)


def test_vmaf_when_available(clip, tmp_path):
    ok, msg = vmaf.vmaf_available()
    if not ok:
        pytest.skip(msg)
    src = clip("v.mp4", width=128, height=96, frames=3)
    s = run_sweep(SweepSpec(str(src), ["x264"], points=2, workers=0, vmaf=True,
                            presets={"x264": ["ultrafast"]}, values={"x264": [18, 45]}),
                  tmp_path / "p", JobContext())
    proj = Project.load(tmp_path / "p")
    good, bad = (proj.point(pid) for pid in sorted(s.done, key=lambda p: float(p.split("crf")[1])))
    assert len(proj.point_frames(good.id)["vmaf"]) == 3
    assert 0 <= bad.metrics["vmaf"] < good.metrics["vmaf"] <= 100
