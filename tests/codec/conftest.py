"""Tiny synthetic clips for the codec tests, made with PyAV in a tmp folder.

Every frame carries its own index as an 8-bit barcode (8 white/black blocks in the top
quarter of the luma plane), so a test can read back which source frame a decoded picture is.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


BAR_BITS = 8


def synthetic_planes(i: int, width: int, height: int, bit_depth: int = 8) -> list[np.ndarray]:
    """Frame ``i``: moving gradient + texture, with the index barcode on top."""
    mx = (1 << bit_depth) - 1
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(1234 + i)
    y = 0.35 + 0.25 * np.sin((xx + 3 * i) / 7.0) * np.cos((yy - 2 * i) / 9.0)
    y = y + 0.05 * rng.standard_normal((height, width))
    bar_h = max(2, height // 4)
    bw = width // BAR_BITS
    for b in range(BAR_BITS):
        y[:bar_h, b * bw:(b + 1) * bw] = 0.92 if (i >> b) & 1 else 0.06
    ch, cw = (height + 1) // 2, (width + 1) // 2
    cy, cx = np.mgrid[0:ch, 0:cw]
    u = 0.5 + 0.2 * np.sin((cx + i) / 5.0)
    v = 0.5 + 0.2 * np.cos((cy - i) / 6.0)
    dt = np.uint16 if bit_depth > 8 else np.uint8
    return [np.clip(np.rint(p * mx), 0, mx).astype(dt) for p in (y, u, v)]


def read_barcode(luma: np.ndarray, bit_depth: int = 8) -> int:
    """Decode the frame index written by :func:`synthetic_planes`."""
    h, w = luma.shape
    bar_h, bw = max(2, h // 4), w // BAR_BITS
    mid = (1 << bit_depth) // 2
    val = 0
    for b in range(BAR_BITS):
        block = luma[bar_h // 4: bar_h - bar_h // 4, b * bw + bw // 4: (b + 1) * bw - bw // 4]
        if block.mean() > mid:
            val |= 1 << b
    return val


def write_clip(path: Path, width: int = 64, height: int = 48, frames: int = 6,
               pix_fmt: str = "yuv420p", codec: str = "libx264", fps: int = 25,
               rotation: int = 0, pts: list[int] | None = None, options: dict | None = None,
               container_options: dict | None = None, audio: bool = False) -> Path:
    """Write a synthetic clip; ``pts`` (in 1/fps/10 ticks... i.e. time_base 1/(10*fps)) makes
    it variable-frame-rate."""
    bit_depth = 10 if "10" in pix_fmt else 8
    enc_fmt = pix_fmt
    with av.open(str(path), "w", options=container_options or {}) as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = width, height, enc_fmt
        tb = Fraction(1, fps * 10) if pts is not None else Fraction(1, fps)
        s.codec_context.time_base = tb
        s.codec_context.options = {"preset": "ultrafast", "crf": "12", **(options or {})} \
            if codec == "libx264" else (options or {})
        if rotation:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=16000)
        from studio.media.video_io import planes_to_frame
        for i in range(frames):
            planes = synthetic_planes(i, width, height, bit_depth)
            if pix_fmt in ("yuv420p", "yuv420p10le"):
                frame = planes_to_frame(planes, pix_fmt)
            else:
                frame = planes_to_frame(planes, "yuv420p").reformat(format=pix_fmt)
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
        if a is not None:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts = 16000, 0
            for pkt in a.encode(af):
                out.mux(pkt)
            for pkt in a.encode(None):
                out.mux(pkt)
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000)
        for k in range(5):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                            layout="mono")
            af.sample_rate, af.pts = 16000, k * 1024
            for pkt in a.encode(af):
                out.mux(pkt)
        for pkt in a.encode(None):
            out.mux(pkt)
    return path


@pytest.fixture
def clip(tmp_path):
    """Factory: clip(name, **write_clip kwargs) -> path of a new synthetic clip."""
    def make(name: str = "clip.mp4", **kw) -> Path:
        return write_clip(tmp_path / name, **kw)
    return make


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """64x48, 6 frames, 8-bit, near-lossless H.264: shared by read-only tests."""
    return write_clip(tmp_path_factory.mktemp("clips") / "small.mp4")


@pytest.fixture
def barcode():
    """read_barcode(luma, bit_depth=8) -> frame index written into a synthetic frame."""
    return read_barcode


@pytest.fixture
def synth():
    """synthetic_planes(i, width, height, bit_depth=8) -> [Y, U, V] of synthetic frame i."""
    return synthetic_planes


@pytest.fixture
def audio_only(tmp_path) -> Path:
    """An AAC file with no video stream."""
    return write_audio_only(tmp_path / "speech.m4a")


@pytest.fixture(scope="session")
def clip_writer():
    """write_clip(path, **kw) itself, for module-scoped fixtures."""
    return write_clip
