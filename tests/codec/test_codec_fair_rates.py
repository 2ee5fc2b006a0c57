"""Issue 17, fair numbers: every byte a decoder needs is counted, once, for every codec and
backend; frame timing comes from the timestamps (VFR, lying headers)."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from studio.codec import encoders
from studio.codec.reference import ReferenceClip, prepare_reference
from studio.codec.sweep import SweepSpec, run_sweep
from studio.jobs import JobContext

# the fastest preset and a middling quality value of each codec
FAST = {"x264": "ultrafast", "x265": "ultrafast", "av1": "12", "vp9": "8", "vvc": "faster",
        "aom": "8", "rav1e": "10", "jpeg": "default", "webp": "0", "avif": "8", "jxl": "1",
        "j2k": "default"}


@pytest.fixture(scope="module")
def ref(tmp_path_factory, clip_writer) -> ReferenceClip:
    folder = tmp_path_factory.mktemp("fair")
    src = clip_writer(folder / "src.mp4", width=64, height=48, frames=5)
    info = prepare_reference(src, folder / "ref.y4m")
    return ReferenceClip(folder / "ref.y4m", info)


def _usable(key: str) -> bool:
    spec = encoders.CODECS[key]
    return encoders.encoder_for(spec).available(spec)[0]


@pytest.mark.parametrize("codec", list(FAST))
def test_stream_bytes_against_the_files_on_disk(ref, tmp_path, codec):
    if not _usable(codec):
        pytest.skip(f"{codec} not available here")
    spec = encoders.CODECS[codec]
    value = spec.crf_ladder[0] + (spec.crf_ladder[1] - spec.crf_ladder[0]) / 2
    s = encoders.EncodeSettings(codec, "crf", float(round(value)), FAST[codec], 1)
    out = tmp_path / (codec if spec.image else f"{codec}.{spec.ext}")
    res = encoders.encode_clip(ref, s, out)
    n = len(ref)
    on_disk = sum(f.stat().st_size for f in out.iterdir()) if spec.image else out.stat().st_size
    assert res.file_bytes == on_disk
    assert res.bytes == sum(res.frame_bytes) + res.extradata_bytes
    assert all(b > 0 for b in res.frame_bytes)
    if spec.image:                       # each file is what a decoder needs
        assert res.bytes == on_disk and len(list(out.iterdir())) == n
    else:                                # the container adds its own boxes on top
        assert 0 < on_disk - res.bytes < 2000 + 64 * n
    assert res.bitrate_kbps == pytest.approx(8 * res.bytes / ref.info.duration_s / 1000)
    decoded = list(encoders.encoder_for(spec).decode(spec, out, ref.info, n))
    assert len(decoded) == n


def test_x265_parameter_sets_are_counted_once(ref, tmp_path):
    s = encoders.EncodeSettings("x265", "crf", 30, "ultrafast", 1)
    res = encoders.encode_clip(ref, s, tmp_path / "x.mp4")
    assert res.extradata_bytes > 1000          # VPS/SPS/PPS + the x265 info SEI, in hvcC
    with av.open(str(tmp_path / "x.mp4")) as c:
        packets = sum(p.size for p in c.demux(c.streams.video[0]) if p.size)
    assert res.bytes == packets + res.extradata_bytes


def test_av1_is_not_charged_for_temporal_delimiters(ref, tmp_path):
    """The MP4 drops SVT-AV1's 2-byte temporal delimiters: so must the count."""
    s = encoders.EncodeSettings("av1", "crf", 40, "12", 1)
    res = encoders.encode_clip(ref, s, tmp_path / "a.mp4")
    raw = 0
    with av.open(str(tmp_path / "a.mp4")) as c:
        for p in c.demux(c.streams.video[0]):
            if p.size:
                raw += p.size
                assert bytes(p)[:2] != b"\x12\x00"   # no TD OBU inside the samples
    assert res.bytes == raw + res.extradata_bytes


def _vfr_clip(path, clip_writer):
    # 30 frames at 30 fps, then 20 at 10 fps (time base 1/300)
    pts = [10 * i for i in range(30)] + [290 + 30 * (j + 1) for j in range(20)]
    return clip_writer(path, width=64, height=48, frames=50, fps=30, pts=pts)


def test_vfr_rates_use_the_real_duration_and_encodes_keep_the_timing(tmp_path, clip_writer):
    src = _vfr_clip(tmp_path / "vfr.mp4", clip_writer)
    out = tmp_path / "proj"
    run_sweep(SweepSpec(str(src), ["x264"], points=1, presets={"x264": ["ultrafast"]},
                        max_frames=None, workers=0, ms_ssim=False, vmaf=False), out, JobContext())
    from studio.codec.project import Project
    proj = Project.load(out)
    ref = proj.reference
    real = 890 / 300 + 0.1                       # last timestamp + the last interval
    assert ref.duration_s == pytest.approx(real, abs=1e-6)
    assert any("variable frame rate" in n for n in proj.notes)
    pt = proj.done_points()[0]
    assert pt.bitrate_kbps == pytest.approx(8 * pt.bytes / real / 1000)
    with av.open(str(out / pt.stream)) as c:
        vs = c.streams.video[0]
        times = sorted(float(f.pts * f.time_base) for f in c.decode(vs))
    assert times[29] == pytest.approx(29 / 30, abs=2e-3)
    assert times[-1] == pytest.approx(890 / 300, abs=2e-3)
    proj.close()


def test_a_lying_1000_fps_header_is_measured_and_svt_av1_runs(tmp_path):
    path = tmp_path / "lies.mkv"
    from studio.media.video_io import planes_to_frame

    from tests.codec.conftest import synthetic_planes
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=1000)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.codec_context.options = {"preset": "ultrafast"}
        for i in range(8):
            f = planes_to_frame(synthetic_planes(i, 64, 48), "yuv420p")
            f.pts, f.time_base = 40 * i, Fraction(1, 1000)
            for pkt in s.encode(f):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    proj_dir = tmp_path / "proj"
    summary = run_sweep(SweepSpec(str(path), ["av1"], points=1, presets={"av1": ["12"]},
                                  max_frames=None, workers=0, ms_ssim=False, vmaf=False),
                        proj_dir, JobContext())
    assert not summary.failed and len(summary.done) == 1
    from studio.codec.project import Project
    proj = Project.load(proj_dir)
    assert proj.reference.fps == 25
    assert proj.reference.duration_s == pytest.approx(8 * 0.04)
    proj.close()
