"""Encoder ladders through PyAV's bundled FFmpeg, and decoding the results back.

One :class:`CodecSpec` per codec says how FFmpeg's wrapper spells presets, rate control and
all-intra coding. :func:`encode_clip` feeds the reference frames to the encoder, muxes the
packets into MP4 (so the file plays elsewhere and keeps timestamps), and measures the real
bitrate from the packet sizes (container overhead excluded; the requested rate is only a
request). :func:`decode_points` decodes a stream back and checks, by timestamp, that picture
``i`` of the output is picture ``i`` of the input: a dropped or duplicated frame fails loudly
instead of silently shifting every comparison by one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from studio.codec.reference import ReferenceClip
from studio.media import video_io

# SVT-AV1 prints its banner and per-run info at level 3; keep errors only.
os.environ.setdefault("SVT_LOG", "1")


@dataclass(frozen=True)
class CodecSpec:
    """How to drive one FFmpeg encoder."""

    key: str                       # short name used in projects and the CLI: x264, av1-intra...
    label: str                     # for plots and tables
    encoder: str                   # FFmpeg encoder name
    presets: tuple[str, ...]
    default_preset: str
    crf_ladder: tuple[float, float]  # default CRF/QP range (best quality first)
    crf_max: int
    intra: bool = False
    high_bit_depth: bool = True    # accepts yuv420p10le in this FFmpeg build

    @property
    def family(self) -> str:
        return self.key.replace("-intra", "")


_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
_SVT_PRESETS = tuple(str(i) for i in range(14))
_VPX_PRESETS = tuple(str(i) for i in range(9))   # libvpx cpu-used with deadline=good

_BASE = [
    CodecSpec("x264", "H.264 (x264)", "libx264", _X26X_PRESETS, "medium", (22, 38), 51),
    CodecSpec("x265", "HEVC (x265)", "libx265", _X26X_PRESETS, "medium", (22, 38), 51),
    CodecSpec("av1", "AV1 (SVT-AV1)", "libsvtav1", _SVT_PRESETS, "8", (24, 63), 63),
    CodecSpec("vp9", "VP9 (libvpx)", "libvpx-vp9", _VPX_PRESETS, "4", (20, 63), 63,
              high_bit_depth=False),
]
CODECS: dict[str, CodecSpec] = {}
for _spec in _BASE:
    CODECS[_spec.key] = _spec
    CODECS[_spec.key + "-intra"] = CodecSpec(
        _spec.key + "-intra", _spec.label.replace(")", ", all-intra)"), _spec.encoder,
        _spec.presets, _spec.default_preset, _spec.crf_ladder, _spec.crf_max, intra=True,
        high_bit_depth=_spec.high_bit_depth)

RATE_MODES = ("crf", "bitrate")


def codec_spec(key: str) -> CodecSpec:
    try:
        return CODECS[key]
    except KeyError:
        raise ValueError(f"unknown codec {key!r}; choose from {', '.join(CODECS)}") from None


def available_codecs() -> dict[str, tuple[bool, str]]:
    """Which codecs this FFmpeg build can encode, with a reason when it cannot."""
    have = av.codecs_available
    return {k: (s.encoder in have, "" if s.encoder in have else f"{s.encoder} not in this FFmpeg")
            for k, s in CODECS.items()}


def ladder(key: str, mode: str, points: int, width: int, height: int, fps: float) -> list[float]:
    """Default rate points: an even CRF spread, or bitrates (kbps) spread evenly in log scale
    between 0.02 and 0.25 bits per pixel (x3 for all-intra, which needs more bits).

    The CRF ranges are set so the four codecs land on overlapping PSNR ranges (checked on a
    GRID talking-head clip: x264 CRF 22-38, SVT-AV1 24-63 and VP9 20-63 all span about
    35-45 dB), which BD-rate needs; x264/x265 22-38 also covers the JCT-VC QPs 22-37."""
    spec = codec_spec(key)
    if points < 1:
        raise ValueError("points must be >= 1")
    if mode == "crf":
        lo, hi = spec.crf_ladder
        if points == 1:
            return [float(round((lo + hi) / 2))]
        vals = sorted({float(round(v)) for v in np.linspace(lo, hi, points)})
        return vals
    if mode == "bitrate":
        pps = width * height * fps
        scale = 3.0 if spec.intra else 1.0
        bpp = np.geomspace(0.25, 0.02, points) if points > 1 else np.array([0.08])
        return [float(max(1, round(b * pps * scale / 1000.0))) for b in bpp]
    raise ValueError(f"unknown rate mode {mode!r}; use crf or bitrate")


@dataclass(frozen=True)
class EncodeSettings:
    codec: str
    mode: str          # "crf" or "bitrate"
    value: float       # CRF/QP, or target kbps
    preset: str
    threads: int = 0   # 0: let the encoder decide


@dataclass
class EncodeResult:
    path: str
    frames: int
    bytes: int
    bitrate_kbps: float           # measured: 8 * bytes / duration
    encode_s: float
    pix_fmt: str
    frame_bytes: list[int] = field(default_factory=list)   # per frame, presentation order
    keyframes: int = 0


def _options(spec: CodecSpec, s: EncodeSettings) -> dict[str, str]:
    if s.preset not in spec.presets:
        raise ValueError(f"{spec.key}: unknown preset {s.preset!r}; choose from "
                         f"{', '.join(spec.presets)}")
    v = f"{s.value:g}"
    opts: dict[str, str] = {}
    if spec.family in ("x264", "x265"):
        opts["preset"] = s.preset
        if s.mode == "crf":
            opts["crf"] = v
        if spec.family == "x265":
            params = ["log-level=error"]
            if s.threads:
                params.append(f"pools={s.threads}")
            if spec.intra:
                params.append("keyint=1")
            opts["x265-params"] = ":".join(params)
    elif spec.family == "av1":
        opts["preset"] = s.preset
        if s.mode == "crf":
            opts["crf"] = v
    elif spec.family == "vp9":
        opts.update({"deadline": "good", "cpu-used": s.preset, "row-mt": "1"})
        if s.mode == "crf":
            opts.update({"crf": v, "b": "0"})
    return opts


def _check_value(spec: CodecSpec, s: EncodeSettings) -> None:
    if s.mode == "crf" and not 0 <= s.value <= spec.crf_max:
        raise ValueError(f"{spec.key}: CRF {s.value:g} outside 0..{spec.crf_max}")
    if s.mode == "bitrate" and s.value <= 0:
        raise ValueError(f"{spec.key}: bitrate must be positive, got {s.value:g} kbps")
    if s.mode not in RATE_MODES:
        raise ValueError(f"unknown rate mode {s.mode!r}")


def encode_clip(ref: ReferenceClip, settings: EncodeSettings, out_path: str | os.PathLike,
                on_frame: Callable[[int], None] | None = None) -> EncodeResult:
    """Encode every reference frame to ``out_path`` (MP4). ``on_frame(i)`` may raise to stop.

    The caller owns atomicity (write to a temp path, rename on success).
    """
    spec = codec_spec(settings.codec)
    _check_value(spec, settings)
    info = ref.info
    pix_fmt = info.pix_fmt if spec.high_bit_depth else "yuv420p"
    fps = info.fps
    tb = Fraction(1, 1) / fps
    t0 = time.perf_counter()
    sizes: dict[int, int] = {}
    keyframes = 0
    with av.open(str(out_path), "w", format="mp4") as out:
        stream = out.add_stream(spec.encoder, rate=fps)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, pix_fmt
        cc = stream.codec_context
        cc.time_base = tb
        if info.full_range:
            cc.color_range = 2  # AVCOL_RANGE_JPEG
        if spec.intra:
            cc.gop_size = 1
        if settings.mode == "bitrate":
            cc.bit_rate = int(settings.value * 1000)
        if settings.threads:
            cc.thread_count = settings.threads
        cc.options = _options(spec, settings)
        if info.rotation:
            stream.set_display_rotation(info.rotation)

        def mux(packets) -> None:
            nonlocal keyframes
            for pkt in packets:
                if pkt.size:
                    idx = int(round(float(pkt.pts * pkt.time_base * fps))) if pkt.pts is not None \
                        else len(sizes)
                    sizes[idx] = sizes.get(idx, 0) + pkt.size
                    keyframes += bool(pkt.is_keyframe)
                out.mux(pkt)

        for i in range(info.frames):
            planes = ref.planes(i)
            if pix_fmt != info.pix_fmt:  # 10-bit source, 8-bit-only encoder: round to 8 bits
                planes = [((p.astype(np.uint32) + 2) >> 2).clip(0, 255).astype(np.uint8)
                          for p in planes]
            frame = video_io.planes_to_frame(planes, pix_fmt)
            frame.pts, frame.time_base = i, tb
            mux(stream.encode(frame))
            if on_frame is not None:
                on_frame(i + 1)
        mux(stream.encode(None))
    total = sum(sizes.values())
    duration = info.frames / float(fps)
    return EncodeResult(path=str(out_path), frames=info.frames, bytes=total,
                        bitrate_kbps=8.0 * total / duration / 1000.0,
                        encode_s=time.perf_counter() - t0, pix_fmt=pix_fmt,
                        frame_bytes=[sizes.get(i, 0) for i in range(info.frames)],
                        keyframes=keyframes)


_PICT_TYPES = {0: "?", 1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}


def _pict_type(value) -> str:
    """AVPictureType (an int in PyAV 18, an enum in older releases) -> "I", "P", "B"..."""
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else _PICT_TYPES.get(int(value), str(value))


class AlignmentError(RuntimeError):
    """The decoded stream does not line up frame by frame with the reference."""


@dataclass
class DecodedFrame:
    index: int
    planes: list[np.ndarray]   # in the reference's pixel format
    pict_type: str             # I, P, B...


def decode_points(path: str | os.PathLike, ref_pix_fmt: str, fps: Fraction,
                  expected: int | None = None) -> Iterator[DecodedFrame]:
    """Decode an encoded stream in presentation order, converted to ``ref_pix_fmt``.

    Raises :class:`AlignmentError` when a frame's timestamp is not its position (dropped,
    duplicated or reordered pictures) or when the count differs from ``expected``.
    """
    n = 0
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        for frame in container.decode(vs):
            if frame.pts is not None:
                idx = int(round(float(frame.pts * frame.time_base * fps)))
                if idx != n:
                    raise AlignmentError(f"{Path(path).name}: decoded picture {n} carries the "
                                         f"timestamp of frame {idx}")
            yield DecodedFrame(n, _to_pix_fmt(frame, ref_pix_fmt), _pict_type(frame.pict_type))
            n += 1
    if expected is not None and n != expected:
        raise AlignmentError(f"{Path(path).name}: decoded {n} frames, expected {expected}")


def _to_pix_fmt(frame: av.VideoFrame, pix_fmt: str) -> list[np.ndarray]:
    if frame.format.name == pix_fmt:
        return video_io.frame_planes(frame)
    if frame.format.name == "yuv420p" and pix_fmt == "yuv420p10le":
        return [p.astype(np.uint16) << 2 for p in video_io.frame_planes(frame)]
    return video_io.frame_planes(frame.reformat(format=pix_fmt))


class StreamFrameReader:
    """Frame-accurate random access into an encoded stream, cheap when stepping forward.

    Keeps the file open; a request for the next frames continues decoding, anything else seeks
    to the keyframe before the target and decodes forward to its exact timestamp.
    """

    def __init__(self, path: str | os.PathLike, fps: Fraction, pix_fmt: str) -> None:
        self.path, self.fps, self.pix_fmt = Path(path), fps, pix_fmt
        self._container = av.open(str(path), "r")
        self._stream = self._container.streams.video[0]
        self._iter: Iterator[av.VideoFrame] | None = None
        self._last = -1

    def _index(self, frame: av.VideoFrame) -> int:
        return int(round(float(frame.pts * frame.time_base * self.fps)))

    def planes(self, index: int) -> list[np.ndarray]:
        if self._iter is None or not (self._last < index <= self._last + 16):
            ts = int((Fraction(index) / self.fps) / self._stream.time_base)
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
            self._iter = self._container.decode(self._stream)
            self._last = -1
        for frame in self._iter:
            if frame.pts is None:
                continue
            idx = self._index(frame)
            self._last = idx
            if idx == index:
                return _to_pix_fmt(frame, self.pix_fmt)
            if idx > index:
                break
        self._iter = None
        raise IndexError(f"{self.path.name}: frame {index} not found")

    def close(self) -> None:
        self._container.close()


def read_stream_frame(path: str | os.PathLike, index: int, fps: Fraction,
                      pix_fmt: str) -> list[np.ndarray]:
    """Planes of frame ``index`` of an encoded stream (one-off; see StreamFrameReader)."""
    reader = StreamFrameReader(path, fps, pix_fmt)
    try:
        return reader.planes(index)
    finally:
        reader.close()
