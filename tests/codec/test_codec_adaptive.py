"""Issue 17: the content-adaptive ladder spreads points over the asked quality span."""

from __future__ import annotations

import pytest

from studio.codec.adaptive import Target
from studio.codec.project import Project
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import JobContext, UserError


def test_target_parsing():
    t = Target.parse("vmaf:60-97")
    assert (t.metric, t.low, t.high) == ("vmaf", 60, 97) and str(t) == "vmaf:60-97"
    for bad in ("psnr_y:45-30", "ssim:1-2", "psnr_y"):
        with pytest.raises(ValueError):
            Target.parse(bad)


@pytest.mark.parametrize("codec,preset", [("x264", "ultrafast"), ("webp", "0")])
def test_adaptive_points_land_evenly_over_the_target(clip, tmp_path, codec, preset):
    src = clip("s.mp4", width=96, height=64, frames=6)
    spec = SweepSpec(str(src), [codec], points=4, presets={codec: [preset]}, max_frames=6,
                     workers=0, ms_ssim=False, vmaf=False, ladder="adaptive",
                     target="psnr_y:30-42")
    summary = run_sweep(spec, tmp_path / "p", JobContext())
    assert not summary.failed
    proj = Project.load(tmp_path / "p")
    (curve,) = proj.curves("psnr_y")
    q = curve.values("psnr_y")
    assert len(q) >= 3
    assert max(q) == pytest.approx(42, abs=3.5) and min(q) == pytest.approx(30, abs=3.5)
    gaps = [b - a for a, b in zip(q, q[1:])]
    assert all(g > 0.5 for g in gaps)            # no bunching
    assert proj.ladders[f"{codec}/{preset}"]["probes"]
    assert any("adaptive ladder" in n for n in proj.notes)
    # re-running reuses the stored ladder: nothing new to encode
    again = run_sweep(spec, tmp_path / "p", JobContext())
    assert not again.done and len(again.skipped) == len(q)
    proj.close()


def test_adaptive_needs_quality_mode(clip, tmp_path):
    src = clip("s.mp4", width=64, height=48, frames=3)
    with pytest.raises(UserError, match="adaptive"):
        run_sweep(SweepSpec(str(src), ["x264"], mode="bitrate", ladder="adaptive", workers=0),
                  tmp_path / "p", JobContext())
