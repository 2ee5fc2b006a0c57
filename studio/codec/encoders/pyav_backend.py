"""Encoders in PyAV's bundled FFmpeg (x264, x265, SVT-AV1, VP9), and PyAV decoding.

Frames go to the encoder with their own timestamps (the reference's, so a variable-frame-rate
clip stays variable) and the stream's nominal rate (the median interval's inverse: what
SVT-AV1 checks against its 240 fps limit). Packets are muxed into MP4 so the file plays
anywhere; the bytes are then counted from the file (see :mod:`.sizes`). Decoding checks by
timestamp that picture ``i`` of the output is picture ``i`` of the input: a dropped or
duplicated frame fails loudly instead of silently shifting every comparison by one.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from studio.codec.encoders.base import (AlignmentError, CodecSpec, DecodedFrame, EncodeResult,
                                        EncodeSettings, Encoder, FrameReader, OnFrame,
                                        convert_planes, to_8bit)
from studio.codec.encoders.sizes import container_sizes
from studio.codec.reference import ReferenceClip, ReferenceInfo
from studio.media import video_io

# SVT-AV1 prints its banner and per-run info at level 3; keep errors only.
os.environ.setdefault("SVT_LOG", "1")

_PICT_TYPES = {0: "?", 1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}


def pict_type(value) -> str:
    """AVPictureType (an int in PyAV 18, an enum in older releases) -> "I", "P", "B"..."""
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else _PICT_TYPES.get(int(value), str(value))


def pyav_version() -> str:
    libs = getattr(av, "library_versions", {}) or {}
    codec = libs.get("libavcodec")
    lib = ".".join(str(x) for x in codec) if codec else "?"
    return f"PyAV {av.__version__} (libavcodec {lib})"


def _options(spec: CodecSpec, s: EncodeSettings) -> dict[str, str]:
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


def stream_timing(info: ReferenceInfo) -> tuple[Fraction, Fraction, list[int]]:
    """(nominal rate, time base, per-frame pts) to hand an encoder."""
    rate = (1 / info.frame_step()).limit_denominator(1001)
    if info.timed:
        return rate, info.time_base, list(info.pts)
    return rate, 1 / info.fps, list(range(info.frames))


class PyAvEncoder(Encoder):
    name = "pyav"

    def available(self, spec: CodecSpec) -> tuple[bool, str]:
        ok = spec.encoder in av.codecs_available
        return ok, "" if ok else f"{spec.encoder} is not in PyAV's FFmpeg build"

    def encode(self, spec: CodecSpec, ref: ReferenceClip, s: EncodeSettings,
               out_path: str | os.PathLike, on_frame: OnFrame | None = None,
               check_cancel: Callable[[], None] | None = None) -> EncodeResult:
        self.check(spec, s)
        info = ref.info
        pix_fmt = info.pix_fmt if spec.high_bit_depth else "yuv420p"
        rate, tb, pts = stream_timing(info)
        opts = _options(spec, s)
        t0 = time.perf_counter()
        with av.open(str(out_path), "w", format="mp4") as out:
            stream = out.add_stream(spec.encoder, rate=rate)
            stream.width, stream.height, stream.pix_fmt = info.width, info.height, pix_fmt
            cc = stream.codec_context
            cc.time_base = tb
            cc.framerate = rate
            if info.full_range:
                cc.color_range = 2  # AVCOL_RANGE_JPEG
            if spec.intra:
                cc.gop_size = 1
            if s.mode == "bitrate":
                cc.bit_rate = int(s.value * 1000)
            if s.threads:
                cc.thread_count = s.threads
            cc.options = dict(opts)
            if info.rotation:
                stream.set_display_rotation(info.rotation)
            for i in range(info.frames):
                if check_cancel is not None:
                    check_cancel()
                planes = ref.planes(i)
                if pix_fmt != info.pix_fmt:  # 10-bit source, 8-bit-only encoder
                    planes = to_8bit(planes)
                frame = video_io.planes_to_frame(planes, pix_fmt)
                frame.pts, frame.time_base = pts[i], tb
                for pkt in stream.encode(frame):
                    out.mux(pkt)
                if on_frame is not None:
                    on_frame(i + 1)
            for pkt in stream.encode(None):
                out.mux(pkt)
        encode_s = time.perf_counter() - t0
        sz = container_sizes(out_path, info.clock(), info.frames)
        duration = info.duration_s
        if s.mode == "bitrate":
            opts["b"] = f"{int(s.value * 1000)}"
        if spec.intra:
            opts["g"] = "1"
        return EncodeResult(
            path=str(out_path), frames=info.frames, bytes=sz.stream_bytes,
            bitrate_kbps=8.0 * sz.stream_bytes / duration / 1000.0, encode_s=encode_s,
            pix_fmt=pix_fmt, frame_bytes=sz.frame_bytes, keyframes=sz.keyframes,
            file_bytes=sz.file_bytes, file_kbps=8.0 * sz.file_bytes / duration / 1000.0,
            extradata_bytes=sz.extradata_bytes, options=opts,
            encoder_version=encoder_version(out_path, spec) or pyav_version())

    def decode(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo,
               expected: int | None = None) -> Iterator[DecodedFrame]:
        return decode_container(path, info, expected)

    def reader(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo) -> FrameReader:
        return StreamFrameReader(path, info)


def encoder_version(path: str | os.PathLike, spec: CodecSpec) -> str:
    """x264/x265 write their version into the stream (an SEI); read it back when present."""
    if spec.family not in ("x264", "x265"):
        return ""
    try:
        with av.open(str(path), "r") as c:
            vs = c.streams.video[0]
            blob = bytes(vs.codec_context.extradata or b"")
            for pkt in c.demux(vs):
                blob += bytes(pkt)
                break
    except (av.error.FFmpegError, OSError, IndexError):
        return ""
    for tag in (b"x264 - core ", b"x265 (build "):
        i = blob.find(tag)
        if i >= 0:
            end = blob.find(b" - ", i + len(tag))
            text = blob[i:end if end > 0 else i + 40].decode("ascii", "replace")
            return text.replace(" - ", " ").strip()
    return ""


def decode_container(path: str | os.PathLike, info: ReferenceInfo,
                     expected: int | None = None) -> Iterator[DecodedFrame]:
    """Decode a container in presentation order, converted to the reference's pixel format."""
    clock = info.clock()
    n = 0
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        for frame in container.decode(vs):
            if frame.pts is not None and frame.time_base:
                idx = clock.index(float(frame.pts * frame.time_base))
                if idx != n:
                    where = f"frame {idx}" if idx is not None else "no reference frame"
                    raise AlignmentError(f"{Path(path).name}: decoded picture {n} carries the "
                                         f"timestamp of {where}")
            yield DecodedFrame(n, frame_to_pix_fmt(frame, info.pix_fmt), pict_type(frame.pict_type))
            n += 1
    if expected is not None and n != expected:
        raise AlignmentError(f"{Path(path).name}: decoded {n} frames, expected {expected}")


def frame_to_pix_fmt(frame: av.VideoFrame, pix_fmt: str):
    have = frame.format.name
    if have == pix_fmt:
        return video_io.frame_planes(frame)
    if {have, pix_fmt} == {"yuv420p", "yuv420p10le"}:
        return convert_planes(video_io.frame_planes(frame), have, pix_fmt)
    return video_io.frame_planes(frame.reformat(format=pix_fmt))


def decode_sequential(path: str | os.PathLike, info: ReferenceInfo,
                      expected: int | None = None) -> Iterator[DecodedFrame]:
    """Decode in order, counting pictures instead of reading the clock: for stitched files
    whose container shifts every timestamp (MPEG-TS). The count must match."""
    n = 0
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        for frame in container.decode(vs):
            yield DecodedFrame(n, frame_to_pix_fmt(frame, info.pix_fmt), pict_type(frame.pict_type))
            n += 1
    if expected is not None and n != expected:
        raise AlignmentError(f"{Path(path).name}: decoded {n} frames, expected {expected}")


class SequentialFrameReader(FrameReader):
    """Random access by decoding forward (restarting for a step back): stitched files."""

    def __init__(self, path: str | os.PathLike, info: ReferenceInfo) -> None:
        self.path, self.info = Path(path), info
        self._it: Iterator[DecodedFrame] | None = None
        self._last: DecodedFrame | None = None

    def planes(self, index: int):
        if self._last is not None and self._last.index == index:
            return self._last.planes
        if self._it is None or self._last is None or self._last.index > index:
            self._it = decode_sequential(self.path, self.info)
        for df in self._it:
            self._last = df
            if df.index == index:
                return df.planes
        self._it = None
        raise IndexError(f"{self.path.name}: frame {index} not found")


class StreamFrameReader(FrameReader):
    """Frame-accurate random access into an encoded stream, cheap when stepping forward.

    Keeps the file open; a request for the next frames continues decoding, anything else seeks
    to the keyframe before the target and decodes forward to its exact timestamp.
    """

    def __init__(self, path: str | os.PathLike, info: ReferenceInfo) -> None:
        self.path, self.info = Path(path), info
        self.pix_fmt = info.pix_fmt
        self._clock = info.clock()
        self._times = info.times()
        self._container = av.open(str(path), "r")
        self._stream = self._container.streams.video[0]
        self._iter: Iterator[av.VideoFrame] | None = None
        self._last = -1

    def planes(self, index: int):
        if self._iter is None or not (self._last < index <= self._last + 16):
            ts = int(self._times[index] / self._stream.time_base)
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
            self._iter = self._container.decode(self._stream)
            self._last = -1
        for frame in self._iter:
            if frame.pts is None:
                continue
            idx = self._clock.index(float(frame.pts * frame.time_base))
            if idx is None:
                continue
            self._last = idx
            if idx == index:
                return frame_to_pix_fmt(frame, self.pix_fmt)
            if idx > index:
                break
        self._iter = None
        raise IndexError(f"{self.path.name}: frame {index} not found")

    def close(self) -> None:
        self._container.close()
