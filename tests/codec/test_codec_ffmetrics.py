"""FFmpeg-executable metrics: every column present and sane, VMAF equal to a direct libvmaf run,
XPSNR equal to the xpsnr filter's own stats file, and clear answers without an executable."""

from __future__ import annotations

import json
import math
import re
import stat
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from studio.codec import ffmetrics, ffmpeg_tool
from studio.codec.ffmpeg_tool import FFmpegError
from studio.codec.reference import Y4MWriter
from studio.jobs import Cancelled
from tests.codec.conftest import synthetic_planes as synth

W, H, N = 224, 64, 3      # wide enough for CAMBI (this libvmaf skips pictures under 216 px)


def _have_vmaf() -> tuple[bool, str]:
    ffmetrics.reset()
    return ffmetrics.available_metrics()["vmaf"]


needs_ffmpeg = pytest.mark.skipif(not _have_vmaf()[0], reason=_have_vmaf()[1])


def _write(path: Path, frames: list[list[np.ndarray]], width: int = W, height: int = H) -> Path:
    with open(path, "wb") as fh:
        w = Y4MWriter(fh, width, height, Fraction(25), "yuv420p")
        for planes in frames:
            w.write(planes)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(reference, mildly distorted, strongly distorted) Y4M files, 224x64, 3 frames."""
    tmp = tmp_path_factory.mktemp("ffm")
    rng = np.random.default_rng(7)
    ref = [synth(i, W, H) for i in range(N)]

    def noisy(sigma: float) -> list[list[np.ndarray]]:
        return [[np.clip(p.astype(np.float32) + rng.normal(0, sigma, p.shape), 0, 255)
                 .astype(np.uint8) for p in planes] for planes in ref]
    return (_write(tmp / "ref.y4m", ref), _write(tmp / "mild.y4m", noisy(3)),
            _write(tmp / "strong.y4m", noisy(14)))


@pytest.fixture
def fresh():
    ffmetrics.reset()
    yield
    ffmetrics.reset()


def _direct(args: list[str], cwd: Path) -> str:
    exe = ffmpeg_tool.require()
    proc = subprocess.run([exe, "-hide_banner", "-nostdin", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@needs_ffmpeg
def test_every_metric_present_and_sane(pair):
    ref, mild, strong = pair
    frames_seen: list[int] = []
    a = ffmetrics.compute(ref, mild, "yuv420p", ffmetrics.FF_METRICS, on_frame=frames_seen.append)
    b = ffmetrics.compute(ref, strong, "yuv420p", ["vmaf", "vmaf_neg", "xpsnr", "psnr_hvs",
                                                   "ciede2000", "cambi"])
    expected = set(ffmetrics.FF_METRICS) | {"xpsnr_u", "xpsnr_v", "psnr_hvs_y"}
    assert set(a) == set(b) == expected
    assert all(len(v) == N and all(math.isfinite(x) for x in v) for v in a.values())
    assert frames_seen and frames_seen[-1] == N
    pa, pb = ffmetrics.pool(a), ffmetrics.pool(b)
    for m in ("vmaf", "vmaf_neg"):
        assert 0 <= pb[m] < pa[m] <= 100
    for m in ("xpsnr_y", "xpsnr_u", "xpsnr_v", "psnr_hvs", "psnr_hvs_y", "ciede2000"):
        assert 10 < pb[m] < pa[m] < 80, m          # dB-like: more noise, lower
    assert pa["vmaf_neg"] <= pa["vmaf"] + 1e-9     # NEG never rewards enhancement
    assert all(v >= 0 for v in a["cambi"] + b["cambi"])
    assert pa["vmaf"] == pytest.approx(np.mean(a["vmaf"]))
    assert ffmetrics.model_names() == {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}


@needs_ffmpeg
def test_vmaf_equals_a_direct_libvmaf_run(pair, tmp_path):
    ref, _, strong = pair
    ours = ffmetrics.compute(ref, strong, "yuv420p", ["vmaf", "vmaf_neg", "xpsnr"])
    _direct(["-i", str(strong), "-i", str(ref), "-lavfi",
             "[0:v][1:v]libvmaf=log_fmt=json:log_path=plain.json", "-f", "null", "-"], tmp_path)
    _direct(["-i", str(strong), "-i", str(ref), "-lavfi",
             "[0:v][1:v]libvmaf=log_fmt=json:log_path=neg.json:model=version=vmaf_v0.6.1neg",
             "-f", "null", "-"], tmp_path)
    plain = [f["metrics"]["vmaf"] for f in json.loads((tmp_path / "plain.json").read_text())["frames"]]
    neg = [f["metrics"]["vmaf"] for f in json.loads((tmp_path / "neg.json").read_text())["frames"]]
    assert np.max(np.abs(np.array(ours["vmaf"]) - plain)) <= 1e-6
    assert np.max(np.abs(np.array(ours["vmaf_neg"]) - neg)) <= 1e-6
    assert ours["vmaf"] != ours["vmaf_neg"]


@needs_ffmpeg
def test_xpsnr_equals_the_filters_stats_file(pair, tmp_path):
    ref, mild, _ = pair
    ours = ffmetrics.compute(ref, mild, "yuv420p", ["xpsnr_y"])
    assert set(ours) == {"xpsnr_y", "xpsnr_u", "xpsnr_v"}
    _direct(["-i", str(mild), "-i", str(ref), "-lavfi", "[0:v][1:v]xpsnr=stats_file=x.txt",
             "-f", "null", "-"], tmp_path)
    text = (tmp_path / "x.txt").read_text()
    rows = re.findall(r"XPSNR y: ([\d.]+)\s+XPSNR u: ([\d.]+)\s+XPSNR v: ([\d.]+)", text)
    assert len(rows) == N
    for plane, col in enumerate(("xpsnr_y", "xpsnr_u", "xpsnr_v")):
        # the stats file rounds to 4 decimals; ours (frame metadata) has 6
        assert np.max(np.abs(np.array(ours[col]) - [float(r[plane]) for r in rows])) <= 5.1e-5
    avg = float(re.search(r"XPSNR average, \d+ frames\s+y: ([\d.]+)", text).group(1))
    assert ffmetrics.pool(ours)["xpsnr_y_smr"] == pytest.approx(avg, abs=5.1e-5)


@needs_ffmpeg
def test_cambi_too_small_and_cancel(pair, tmp_path):
    small = [synth(i, 64, 48) for i in range(2)]
    a = _write(tmp_path / "a.y4m", small, 64, 48)
    b = _write(tmp_path / "b.y4m", small, 64, 48)
    ok, why = ffmetrics.available_metrics(64, 48)["cambi"]
    assert not ok and "cambi" in why and "64x48" in why
    assert ffmetrics.available_metrics(64, 48)["vmaf"] == (True, "")
    with pytest.raises(FFmpegError, match="no cambi values .* 64x48"):
        ffmetrics.compute(a, b, "yuv420p", ["vmaf", "cambi"])
    # identical frames: infinite XPSNR is capped like our PSNR
    assert ffmetrics.compute(a, b, "yuv420p", ["xpsnr"])["xpsnr_y"] == [100.0, 100.0]

    def cancel() -> None:
        raise Cancelled()
    with pytest.raises(Cancelled):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["vmaf"], check_cancel=cancel)
    c = _write(tmp_path / "c.y4m", small[:1], 64, 48)
    with pytest.raises(FFmpegError, match="c.y4m: 1 frames, but the reference a.y4m has 2"):
        ffmetrics.compute(a, c, "yuv420p", ["vmaf"])
    with pytest.raises(FFmpegError, match="unknown FFmpeg metric 'ssim'"):
        ffmetrics.compute(a, b, "yuv420p", ["ssim"])


def test_no_executable_says_why(fresh, monkeypatch, pair):
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, "")
    ffmetrics.reset()
    avail = ffmetrics.available_metrics()
    assert set(avail) == set(ffmetrics.FF_METRICS)
    assert all(not ok and "no FFmpeg executable" in why for ok, why in avail.values())
    ok, msg = ffmetrics.vmaf_available()
    assert not ok and msg.startswith("VMAF not available: no FFmpeg executable")
    with pytest.raises(FFmpegError, match="no FFmpeg executable"):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["vmaf"])


def test_broken_executable_and_missing_filter(fresh, monkeypatch, tmp_path, pair):
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, "/bin/false")
    ffmetrics.reset()
    ok, why = ffmetrics.available_metrics()["xpsnr_y"]
    assert not ok and "/bin/false does not answer like FFmpeg" in why
    with pytest.raises(FFmpegError, match="does not answer like FFmpeg"):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["xpsnr"])

    # an FFmpeg that runs but was built without libvmaf or xpsnr
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\ncase \"$*\" in\n  *-version*) echo 'ffmpeg version 9.9.9' ;;\n"
                    "  *-filters*) echo ' TS psnr  VV->V  Calculate the PSNR' ;;\nesac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, str(fake))
    ffmetrics.reset()
    avail = ffmetrics.available_metrics()
    assert avail["vmaf"] == (False, "the FFmpeg executable (9.9.9) was built without the "
                                    "libvmaf filter")
    assert "without the xpsnr filter" in avail["xpsnr_y"][1]
    with pytest.raises(FFmpegError, match="vmaf cannot be computed: .* without the libvmaf"):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["vmaf"])


def test_names_and_pooling():
    assert ffmetrics.normalize(["XPSNR", "vmaf", "xpsnr_y", "ciede"]) == \
        ["xpsnr_y", "vmaf", "ciede2000"]
    with pytest.raises(ValueError, match="choose from vmaf, vmaf_neg, xpsnr_y"):
        ffmetrics.normalize(["vmaf4k"])
    pooled = ffmetrics.pool({"vmaf": [90.0, 80.0, None], "xpsnr_y": [40.0, 20.0],
                             "cambi": [1.0, 3.0], "psnr_y": [1.0]})
    assert pooled["vmaf"] == 85.0 and pooled["cambi"] == 2.0 and "psnr_y" not in pooled
    assert pooled["xpsnr_y"] == 30.0
    assert pooled["xpsnr_y_smr"] == pytest.approx(-20 * math.log10((0.01 + 0.1) / 2))


def test_hanging_ffmpeg_is_stopped_by_cancel_and_timeout(fresh, monkeypatch, tmp_path, pair):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\ncase \"$*\" in\n  *-version*) echo 'ffmpeg version 9.9.9' ;;\n"
                    "  *-filters*) echo ' .. libvmaf  VV->V  VMAF'; echo ' T. xpsnr  VV->V  X' ;;\n"
                    "  *-encoders*) ;;\n  *) exec sleep 30 ;;\nesac\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ffmpeg_tool.ENV_OVERRIDE, str(fake))
    ffmetrics.reset()
    with pytest.raises(ffmpeg_tool.FFmpegTimeout, match="did not finish within 0.3 s"):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["vmaf"], timeout_s=0.3)
    calls = []

    def cancel_soon() -> None:
        calls.append(1)
        if len(calls) > 2:
            raise Cancelled()
    with pytest.raises(Cancelled):
        ffmetrics.compute(pair[0], pair[1], "yuv420p", ["xpsnr"], check_cancel=cancel_soon)
