"""Our PSNR/SSIM against FFmpeg's own psnr/ssim filters, and MS-SSIM against a plain
(slow, obviously-correct) implementation of Wang et al.'s definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from studio.codec import metrics as M


def _distorted(planes, bit_depth, strength, seed):
    rng = np.random.default_rng(seed)
    mx = (1 << bit_depth) - 1
    out = []
    for p in planes:
        noise = rng.normal(0, strength, p.shape)
        blur = (p.astype(float) + np.roll(p, 1, axis=1)) / 2   # some structure loss too
        out.append(np.clip(np.rint(blur + noise), 0, mx).astype(p.dtype))
    return out


@pytest.mark.parametrize("width,height,bit_depth", [
    (64, 48, 8), (1279, 719, 8), (66, 50, 10), (33, 17, 8)])
def test_psnr_and_ssim_match_ffmpeg_filters(synth, width, height, bit_depth):
    pix_fmt = "yuv420p10le" if bit_depth > 8 else "yuv420p"
    pairs = []
    for i in range(3):
        ref = synth(i, width, height, bit_depth)
        pairs.append((ref, _distorted(ref, bit_depth, 2.0 + 3 * i, i)))
    ff_psnr = M.ffmpeg_filter_scores(pairs, pix_fmt, "psnr")
    ff_ssim = M.ffmpeg_filter_scores(pairs, pix_fmt, "ssim")
    assert len(ff_psnr) == len(ff_ssim) == 3
    for (ref, dist), fp, fs in zip(pairs, ff_psnr, ff_ssim):
        s = M.score_frame(ref, dist, bit_depth, want_ms_ssim=False)
        assert 20 < s.psnr_y < 60
        assert s.psnr_y == pytest.approx(fp["psnr.y"], abs=0.01)
        assert s.psnr_u == pytest.approx(fp["psnr.u"], abs=0.01)
        assert s.psnr_v == pytest.approx(fp["psnr.v"], abs=0.01)
        assert s.mse_y == pytest.approx(fp["mse.y"], rel=1e-5)
        assert s.ssim_y == pytest.approx(fs["Y"], abs=1e-4)
        assert s.ssim_y < 0.9999  # the distortion is visible to SSIM


def test_identical_planes_give_capped_psnr_and_unit_ssim(synth):
    ref = synth(0, 64, 48)
    s = M.score_frame(ref, [p.copy() for p in ref], 8)
    assert s.psnr_y == M.PSNR_CAP and s.psnr_yuv == M.PSNR_CAP
    assert s.ssim_y == pytest.approx(1.0, abs=1e-12)
    assert s.ms_ssim == pytest.approx(1.0, abs=1e-6)


def test_psnr_yuv_is_611_weighted():
    assert M.psnr_yuv(40.0, 48.0, 32.0) == pytest.approx((6 * 40 + 48 + 32) / 8)


def test_psnr_known_value():
    a = np.zeros((8, 8), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # MSE = 256/64 = 4
    assert M.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 4))
    assert M.psnr(a.astype(np.uint16), b.astype(np.uint16) * 4, 10) == pytest.approx(
        10 * math.log10(1023 ** 2 / 64))


def _ssim_maps_reference(x, y, peak):
    """Wang et al. SSIM maps with an explicit 11x11 Gaussian window (valid convolution)."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    f = lambda z: convolve2d(z, w, mode="valid")  # noqa: E731
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def _ms_ssim_reference(x, y, peak, levels):
    w = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])[:levels]
    w = w / w.sum()
    x, y = x.astype(float), y.astype(float)
    out = 1.0
    for lev in range(levels):
        ssim_map, cs_map = _ssim_maps_reference(x, y, peak)
        val = ssim_map.mean() if lev == levels - 1 else cs_map.mean()
        out *= max(val, 0) ** w[lev]
        h, wd = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
        x = (x[:h:2, :wd:2] + x[1:h:2, :wd:2] + x[:h:2, 1:wd:2] + x[1:h:2, 1:wd:2]) / 4
        y = (y[:h:2, :wd:2] + y[1:h:2, :wd:2] + y[:h:2, 1:wd:2] + y[1:h:2, 1:wd:2]) / 4
    return out


@pytest.mark.parametrize("width,height,bit_depth", [(200, 180, 8), (64, 48, 8), (96, 90, 10)])
def test_ms_ssim_matches_plain_reference(synth, width, height, bit_depth):
    ref = synth(1, width, height, bit_depth)
    dist = _distorted(ref, bit_depth, 6.0, 7)
    levels = M.ms_ssim_scales(height, width)
    assert levels == (5 if min(width, height) >= 176 else levels)
    ours = M.ms_ssim(ref[0], dist[0], bit_depth)
    expect = _ms_ssim_reference(ref[0], dist[0], (1 << bit_depth) - 1, levels)
    assert 0.3 < ours < 0.999
    assert ours == pytest.approx(expect, abs=2e-5)


def test_ms_ssim_falls_with_distortion(synth):
    ref = synth(2, 192, 192)
    vals = [M.ms_ssim(ref[0], _distorted(ref, 8, s, 3)[0]) for s in (1, 5, 20)]
    assert vals[0] > vals[1] > vals[2]


def test_pool_means_and_global_psnr():
    cols = {"psnr_y": [30.0, 40.0], "mse_y": [10.0, 30.0], "ssim_y": [0.9, 0.8],
            "ms_ssim": [None, 0.5]}
    pooled = M.pool(cols, 8)
    assert pooled["psnr_y"] == 35.0
    assert pooled["psnr_y_global"] == pytest.approx(10 * math.log10(255 ** 2 / 20.0))
    assert pooled["ssim_y"] == pytest.approx(0.85)
    assert pooled["ms_ssim"] == 0.5


def test_ssim_rejects_tiny_planes():
    with pytest.raises(ValueError):
        M.ssim(np.zeros((6, 6), np.uint8), np.zeros((6, 6), np.uint8))
