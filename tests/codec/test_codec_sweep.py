"""The sweep job and its project: results, reopening, extending, failures, cancel, exports."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from studio.codec import report, sweep
from studio.codec.project import DONE, FAILED, PENDING, Project
from studio.codec.sweep import SweepSpec, run_sweep, sweep_job
from studio.jobs import CancelToken, Cancelled, JobContext, JobStatus, UserError

FAST = {"x264": ["ultrafast"], "x265": ["ultrafast"], "av1": ["12"], "vp9": ["8"]}


def _spec(src, codecs=("x264", "x265"), **kw) -> SweepSpec:
    base = dict(points=3, presets=FAST, max_frames=6, workers=0, ms_ssim=False, vmaf=False)
    base.update(kw)
    return SweepSpec(str(src), list(codecs), **base)


@pytest.fixture
def src(clip):
    return clip("src.mp4", width=64, height=48, frames=6)


def test_sweep_measures_and_stores_every_point(src, tmp_path):
    out = tmp_path / "proj"
    seen = []
    summary = run_sweep(_spec(src, ms_ssim=True), out, JobContext(seen.append))
    assert len(summary.done) == 6 and not summary.failed
    assert seen[-1].fraction == 1.0
    proj = Project.load(out)
    curves = proj.curves("psnr_y")
    assert [c.codec for c in curves] == ["x264", "x265"]
    for c in curves:
        assert len(c.points) == 3
        # sorted by measured bitrate; more bits -> better quality on every metric
        rates, psnrs = c.rates(), c.values("psnr_y")
        assert rates == sorted(rates) and psnrs == sorted(psnrs)
        assert c.values("ssim_y") == sorted(c.values("ssim_y"))
        for p in c.points:
            assert p.status == DONE and (out / p.stream).exists()
            frames = proj.point_frames(p.id)
            assert len(frames["psnr_y"]) == 6 and len(frames["frame_bytes"]) == 6
            assert frames["pict_type"][0] == "I"
            stream = sum(frames["frame_bytes"]) + p.extradata_bytes
            assert p.bitrate_kbps == pytest.approx(8 * stream / (6 / 25) / 1000)
            assert p.file_bytes == (out / p.stream).stat().st_size > p.bytes
            assert p.options["crf"] == f"{p.value:g}" and p.backend == "pyav"
            assert p.metrics["psnr_y"] == pytest.approx(np.mean(frames["psnr_y"]))
            assert 0 < p.metrics["ms_ssim"] <= 1
    # the viewer API: same frame of the source and of a point, as RGB
    pid = curves[0].points[-1].id
    a, b = proj.reference_rgb(4), proj.point_rgb(pid, 4)
    assert a.shape == b.shape == (48, 64, 3) and a.dtype == np.uint8
    diff = np.abs(a.astype(int) - b).mean()
    assert 0 < diff < 20          # the decoded point is close to, but not, the source
    assert np.abs(a.astype(int) - proj.reference_rgb(0)).mean() > diff   # and it is frame 4
    proj.close()


def test_reopen_and_extend_skips_done_points(src, tmp_path):
    out = tmp_path / "proj"
    run_sweep(_spec(src, codecs=["x264"]), out, JobContext())
    before = {p.id: (out / p.stream).stat().st_mtime_ns for p in Project.load(out).done_points()}
    summary = run_sweep(_spec(src, codecs=["x264", "av1"]), out, JobContext())
    assert sorted(summary.skipped) == sorted(before)
    assert len(summary.done) == 3 and all(pid.startswith("av1") for pid in summary.done)
    proj = Project.load(out)
    assert len(proj.done_points()) == 6
    assert {p.id: (out / p.stream).stat().st_mtime_ns for p in proj.done_points()
            if p.codec == "x264"} == before
    rows = report.bd_table(proj, "x264")
    assert len(rows) == 1 and rows[0].bd_rate is not None and -90 < rows[0].bd_rate < 300


def test_one_failing_point_keeps_the_rest(src, tmp_path, monkeypatch):
    from studio.codec.encoders.pyav_backend import PyAvEncoder
    real = PyAvEncoder.encode

    def flaky(self, spec, ref, settings, out, on_frame=None, check_cancel=None):
        if settings.codec == "x265" and settings.value == 30:
            raise RuntimeError("encoder exploded")
        return real(self, spec, ref, settings, out, on_frame, check_cancel)

    monkeypatch.setattr(PyAvEncoder, "encode", flaky)
    out = tmp_path / "proj"
    summary = run_sweep(_spec(src), out, JobContext())
    assert list(summary.failed) == ["x265_ultrafast_crf30"]
    assert "encoder exploded" in summary.failed["x265_ultrafast_crf30"]
    assert len(summary.done) == 5
    proj = Project.load(out)
    bad = proj.point("x265_ultrafast_crf30")
    assert bad.status == FAILED and "encoder exploded" in bad.error
    assert not (out / "streams" / "x265_ultrafast_crf30.mp4").exists()
    # a later run retries only the failed point
    monkeypatch.setattr(PyAvEncoder, "encode", real)
    again = run_sweep(_spec(src), out, JobContext())
    assert again.done == ["x265_ultrafast_crf30"] and len(again.skipped) == 5


def test_real_encoder_error_is_reported(src, tmp_path):
    # SVT-AV1 refuses rate control on pictures this small ("Adaptive quantization can not be
    # turned OFF when RC ON"): a genuine FFmpeg error, isolated to the AV1 points.
    out = tmp_path / "proj"
    summary = run_sweep(_spec(src, codecs=["x264", "av1"], mode="bitrate", points=2), out,
                        JobContext())
    assert len(summary.done) == 2 and all(p.startswith("x264") for p in summary.done)
    assert len(summary.failed) == 2
    assert all("avcodec_open2" in e or "Invalid argument" in e for e in summary.failed.values())


@pytest.mark.parametrize("workers", [0, 2])
def test_cancel_keeps_finished_points(src, tmp_path, workers):
    out = tmp_path / "proj"
    token = CancelToken()

    def on_progress(p):
        if p.message.startswith("finished"):
            token.cancel()

    with pytest.raises(Cancelled):
        run_sweep(_spec(src, workers=workers), out, JobContext(on_progress, token))
    proj = Project.load(out)
    states = sorted(p.status for p in proj.points.values())
    done = states.count(DONE)
    assert 1 <= done <= 2 and states.count(PENDING) == 6 - done   # 2 workers: one may finish
    assert not list((out / "streams").glob(".*part*"))   # no half-written stream left
    summary = run_sweep(_spec(src), out, JobContext())
    assert len(summary.skipped) == done and len(summary.done) == 6 - done


def test_worker_crash_costs_only_its_points(src, tmp_path, monkeypatch):
    monkeypatch.setenv(sweep.CRASH_ENV, "x265")
    out = tmp_path / "proj"
    summary = run_sweep(_spec(src, points=2, workers=2), out, JobContext())
    assert sorted(summary.done) == ["x264_ultrafast_crf22", "x264_ultrafast_crf38"]
    assert sorted(summary.failed) == ["x265_ultrafast_crf22", "x265_ultrafast_crf38"]
    assert all("crashed" in e for e in summary.failed.values())
    proj = Project.load(out)
    assert len(proj.done_points()) == 2


def test_odd_size_ten_bit_sweep_and_notes(clip, tmp_path):
    src = clip("odd.mkv", width=1279, height=719, frames=3, codec="ffv1", pix_fmt="yuv420p10le")
    out = tmp_path / "proj"
    summary = run_sweep(_spec(src, codecs=["x264", "vp9"], points=1, max_frames=3), out,
                        JobContext())
    assert len(summary.done) == 2, summary.failed
    proj = Project.load(out)
    assert (proj.reference.width, proj.reference.height) == (1278, 718)
    assert proj.reference.pix_fmt == "yuv420p10le"
    assert any("cropped" in n for n in proj.notes)
    pix = {p.codec: p.pix_fmt for p in proj.done_points()}
    assert pix == {"x264": "yuv420p10le", "vp9": "yuv420p"}
    for p in proj.done_points():
        assert 25 < p.metrics["psnr_y"] < 60


def test_single_frame_rotated_source(clip, tmp_path):
    src = clip("phone.mp4", frames=1, rotation=270)
    out = tmp_path / "proj"
    summary = run_sweep(_spec(src, codecs=["x264"], points=2), out, JobContext())
    assert len(summary.done) == 2
    proj = Project.load(out)
    assert proj.reference.frames == 1 and proj.reference.rotation == 270
    pid = summary.done[0]
    assert proj.point_rgb(pid, 0).shape == (64, 48, 3)     # shown upright
    assert proj.point_rgb(pid, 0, rotate=False).shape == (48, 64, 3)
    import av
    with av.open(str(out / proj.point(pid).stream)) as c:   # the stream keeps the rotation
        assert next(c.decode(video=0)).rotation in (270, -90)


def test_bad_inputs_and_folders_are_user_errors(src, audio_only, tmp_path):
    job = sweep_job(_spec(audio_only), tmp_path / "a")
    res = job.run()
    assert res.status is JobStatus.FAILED and "speech.m4a" in res.error
    assert "Traceback" not in res.error
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.docx").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        run_sweep(_spec(src), busy, JobContext())
    out = tmp_path / "proj"
    run_sweep(_spec(src, codecs=["x264"], points=1), out, JobContext())
    other = tmp_path / "other.mp4"
    other.write_bytes(src.read_bytes())
    with pytest.raises(UserError, match="this project compares"):
        run_sweep(_spec(other, codecs=["x264"], points=1), out, JobContext())
    with pytest.raises(UserError, match="unknown codec"):
        run_sweep(_spec(src, codecs=["h266"]), out, JobContext())


def test_damaged_project_file_is_reported_and_kept(src, tmp_path):
    out = tmp_path / "proj"
    run_sweep(_spec(src, codecs=["x264"], points=1), out, JobContext())
    (out / "project.json").write_text('{"format": "neural-media-studio/codec-project", "poi')
    with pytest.raises(UserError, match="project.json: codec project is unreadable"):
        Project.load(out)
    with pytest.raises(UserError, match="project.json"):
        run_sweep(_spec(src, codecs=["x264"], points=1), out, JobContext())
    assert (out / "project.json").read_text().endswith('"poi')   # not overwritten


def test_exports(src, tmp_path):
    out = tmp_path / "proj"
    run_sweep(_spec(src), out, JobContext())
    proj = Project.load(out)
    report.export_csv(proj, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert len(rows) == 6 and all(float(r["psnr_y"]) > 20 for r in rows)
    report.export_json(proj, tmp_path / "r.json", anchor="x264")
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data["points"]) == 6 and data["bd"][0]["curve"] == "x265/ultrafast/crf"
    report.export_svg(proj, tmp_path / "r.svg", "psnr_y")
    svg = ET.parse(tmp_path / "r.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}polyline")) == 2 and len(svg.findall(f"{ns}circle")) == 6
    text = report.format_bd_table(report.bd_table(proj, "x264"))
    assert "x265/ultrafast/crf" in text and "%" in text


def test_moved_source_can_still_extend(src, tmp_path):
    out = tmp_path / "proj"
    run_sweep(_spec(src, codecs=["x264"], points=1), out, JobContext())
    moved = tmp_path / "elsewhere" / src.name
    moved.parent.mkdir()
    src.rename(moved)
    s = run_sweep(_spec(moved, codecs=["x264", "x265"], points=1), out, JobContext())
    assert len(s.skipped) == 1 and len(s.done) == 1
    assert Project.load(out).source == str(moved.resolve())


@pytest.mark.slow
def test_real_clip_all_codecs_default_presets(shared_data, tmp_path):
    """A real talking-head clip, 4 codecs at their default presets: every newer codec should
    beat x264 medium on BD-rate (PSNR-Y), as every published comparison finds."""
    spec = SweepSpec(str(shared_data / "grid" / "bbaf2n.mpg"), ["x264", "x265", "av1", "vp9"], points=4, max_frames=25,
                     workers=2)
    s = run_sweep(spec, tmp_path / "proj", JobContext())
    assert len(s.done) == 16, s.failed
    rows = report.bd_table(Project.load(tmp_path / "proj"), "x264")
    assert len(rows) == 3
    for r in rows:
        assert r.bd_rate is not None and r.bd_rate < 0, report.format_bd_table(rows)
