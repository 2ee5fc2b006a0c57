"""Encoders that only the FFmpeg executable has: VVC (vvenc), libaom and rav1e AV1, and still
images (JPEG, WebP, AVIF, JPEG XL, JPEG 2000), run as subprocesses.

The executable reads the project's reference Y4M directly, so every backend starts from the
same frames. Still-image codecs code each frame as its own file in a folder (rates then count
every file, and are shown in bits per pixel). Progress comes from ``-progress``, cancel kills
the process, a timeout stops an encoder that hangs, and a crash or non-zero exit fails only
that point. VVC's encoder takes 10-bit input only: an 8-bit reference is shifted to 10 bits
exactly (x << 2, no swscale) in a temporary file, and decoded pictures are rounded back.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

from studio.codec import ffmpeg_tool
from studio.codec.encoders.base import (CodecSpec, DecodedFrame, EncodeResult, EncodeSettings,
                                        Encoder, FrameReader, OnFrame, convert_planes, to_10bit)
from studio.codec.encoders.pyav_backend import StreamFrameReader, decode_container, stream_timing
from studio.codec.encoders.sizes import container_sizes, folder_sizes
from studio.codec.reference import ReferenceClip, ReferenceInfo, Y4MReader, Y4MWriter

# Seconds per frame and pixel budget before an encode counts as hung (generous: vvenc slower
# at 1080p runs ~1 s/frame here), plus a fixed start-up allowance.
TIMEOUT_PER_MPIXEL_FRAME_S = 30.0
TIMEOUT_BASE_S = 120.0


def _video_args(spec: CodecSpec, s: EncodeSettings) -> list[str]:
    v = f"{s.value:g}"
    rate = ["-b:v", f"{int(s.value)}k"] if s.mode == "bitrate" else []
    fam = spec.family
    if fam == "vvc":
        q = [] if rate else ["-qp", v]
        return ["-c:v", "libvvenc", "-preset", s.preset, *q, *rate] + \
            (["-vvenc-params", "IntraPeriod=1"] if spec.intra else [])
    if fam == "aom":
        q = ["-b:v", "0", "-crf", v] if not rate else rate
        return ["-c:v", "libaom-av1", "-cpu-used", s.preset, "-row-mt", "1", *q] + \
            (["-g", "1"] if spec.intra else [])
    if fam == "rav1e":
        q = ["-qp", v] if not rate else rate
        return ["-c:v", "librav1e", "-speed", s.preset, *q] + (["-g", "1"] if spec.intra else [])
    raise ValueError(f"{spec.key}: not a video codec of the executable backend")


def _matrix(info: ReferenceInfo) -> str:
    return {"bt601": "bt601", "bt2020": "bt2020"}.get(info.colorspace, "bt709")


def _range(info: ReferenceInfo) -> str:
    return "pc" if info.full_range else "tv"


def _image_args(spec: CodecSpec, s: EncodeSettings, info: ReferenceInfo) -> list[str]:
    v = f"{s.value:g}"
    fam = spec.family
    if fam == "jpeg":
        # JPEG is full range: the samples go in untouched and are relabelled, so the codec
        # is charged for its own loss only (no range conversion in between).
        return ["-vf", "setrange=full", "-c:v", "mjpeg", "-q:v", v, "-qmin", "1",
                "-huffman", "optimal", "-color_range", "pc"]
    if fam == "webp":
        return ["-c:v", "libwebp", "-quality", v, "-compression_level", s.preset,
                "-preset", "photo"]
    if fam == "avif":
        return ["-c:v", "libaom-av1", "-still-picture", "1", "-b:v", "0", "-crf", v,
                "-cpu-used", s.preset, "-row-mt", "1"]
    if fam == "jxl":   # libjxl codes RGB only: convert with the reference's own matrix
        return ["-vf", f"scale=in_color_matrix={_matrix(info)}:in_range={_range(info)},"
                       f"format=rgb24", "-c:v", "libjxl", "-distance", v, "-effort", s.preset]
    if fam == "j2k":
        return ["-c:v", "libopenjpeg", "-compression_level", v, "-format", "j2k"]
    raise ValueError(f"{spec.key}: not an image codec of the executable backend")


def _timeout(info: ReferenceInfo) -> float:
    mpix = info.width * info.height / 1e6
    return TIMEOUT_BASE_S + TIMEOUT_PER_MPIXEL_FRAME_S * max(0.05, mpix) * info.frames


def ffmpeg_version() -> str:
    caps = ffmpeg_tool.capabilities()
    lav = caps.encoder_versions.get("libavcodec", "?")
    return f"FFmpeg {caps.version} executable (libavcodec {lav})" if caps.ok else ""


class FFmpegExeEncoder(Encoder):
    name = "ffmpeg"

    def available(self, spec: CodecSpec) -> tuple[bool, str]:
        caps = ffmpeg_tool.capabilities()
        why = caps.why_not_encoder(spec.encoder)
        return not why, why

    # --- encoding ------------------------------------------------------------------------
    def encode(self, spec: CodecSpec, ref: ReferenceClip, s: EncodeSettings,
               out_path: str | os.PathLike, on_frame: OnFrame | None = None,
               check_cancel: Callable[[], None] | None = None) -> EncodeResult:
        self.check(spec, s)
        info = ref.info
        out_path = Path(out_path)
        threads = ["-threads", str(s.threads)] if s.threads else []
        with tempfile.TemporaryDirectory(prefix="studio-enc-") as tmp:
            source = ref.reader.path
            pix_fmt = info.pix_fmt
            if spec.only_10bit and info.pix_fmt != "yuv420p10le":
                source = Path(tmp) / "ref10.y4m"
                self._write_10bit(ref, source, check_cancel)
                pix_fmt = "yuv420p10le"
            enc_pix = pix_fmt if (spec.high_bit_depth or pix_fmt == "yuv420p") else "yuv420p"
            inp = ["-i", ffmpeg_tool.path_arg(source)]
            if spec.image:
                args = _image_args(spec, s, info)
                out_path.mkdir(parents=True, exist_ok=True)
                fmt = ["-pix_fmt", enc_pix] if spec.family not in ("jpeg", "jxl") else []
                if spec.family == "avif":   # the avif muxer holds one picture: a run per frame
                    cmds = [[*inp, *threads, "-vf", f"select=eq(n\\,{i})", "-frames:v", "1",
                             "-fps_mode", "passthrough", *args, *fmt, "-f", "avif",
                             ffmpeg_tool.path_arg(out_path / f"{i:05d}.avif")]
                            for i in range(info.frames)]
                else:
                    cmds = [[*inp, *threads, *args, *fmt, "-f", "image2", "-start_number", "0",
                             ffmpeg_tool.path_arg(out_path / f"%05d.{spec.ext}")]]
            else:
                args = _video_args(spec, s)
                cmds = [[*inp, *threads, *args, "-pix_fmt", enc_pix, "-an", "-f", "mp4",
                         ffmpeg_tool.path_arg(out_path)]]
            t0 = time.perf_counter()
            done = 0
            for k, cmd in enumerate(cmds):
                base = done

                def progress(n: int, base: int = base) -> None:
                    if on_frame is not None:
                        on_frame(min(info.frames, base + n))

                ffmpeg_tool.run(["-y", *cmd], on_frame=progress, check_cancel=check_cancel,
                                timeout_s=_timeout(info), what=f"{spec.label} encoder")
                done = k + 1 if len(cmds) > 1 else info.frames
            encode_s = time.perf_counter() - t0
        if not spec.image and info.vfr:
            _retime(out_path, info)
        duration = info.duration_s
        if spec.image:
            files = image_files(out_path, spec)
            if len(files) != info.frames:
                raise RuntimeError(f"{spec.label}: wrote {len(files)} images for {info.frames} "
                                   f"frames")
            sz = folder_sizes(files)
        else:
            sz = container_sizes(out_path, info.clock(), info.frames)
        shown = cmds[0] if len(cmds) == 1 else cmds[0][:-1] + ["<frame>.avif"]
        return EncodeResult(
            path=str(out_path), frames=info.frames, bytes=sz.stream_bytes,
            bitrate_kbps=8.0 * sz.stream_bytes / duration / 1000.0, encode_s=encode_s,
            pix_fmt=enc_pix, frame_bytes=sz.frame_bytes, keyframes=sz.keyframes,
            file_bytes=sz.file_bytes, file_kbps=8.0 * sz.file_bytes / duration / 1000.0,
            extradata_bytes=sz.extradata_bytes,
            options=_option_dict(args), command="ffmpeg " + shlex.join(shown),
            encoder_version=ffmpeg_version())

    @staticmethod
    def _write_10bit(ref: ReferenceClip, path: Path, check_cancel) -> None:
        info = ref.info
        with open(path, "wb") as fh:
            w = Y4MWriter(fh, info.width, info.height, Fraction(ref.reader.fps), "yuv420p10le",
                          info.full_range)
            for i in range(info.frames):
                if check_cancel is not None:
                    check_cancel()
                w.write(to_10bit(ref.planes(i)))

    # --- decoding ------------------------------------------------------------------------
    def decode(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo,
               expected: int | None = None) -> Iterator[DecodedFrame]:
        if not spec.image:
            yield from decode_container(path, info, expected)
            return
        files = image_files(Path(path), spec)
        if expected is not None and len(files) != expected:
            from studio.codec.encoders.base import AlignmentError
            raise AlignmentError(f"{Path(path).name}: {len(files)} images, expected {expected}")
        for i, f in enumerate(files):
            yield DecodedFrame(i, decode_image(f, spec, info), "I")

    def reader(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo) -> FrameReader:
        if not spec.image:
            return StreamFrameReader(path, info)
        return _ImageReader(Path(path), spec, info)


def image_files(folder: Path, spec: CodecSpec) -> list[Path]:
    return sorted(folder.glob(f"*.{spec.ext}"))


def decode_image(path: Path, spec: CodecSpec, info: ReferenceInfo):
    """One coded picture -> planes in the reference's format (decoded by the executable:
    PyAV's build lacks JPEG XL, and one decoder for every image format keeps them comparable).
    JPEG samples come back untouched (as full range, the way they went in); JPEG XL's RGB
    goes back through the reference's matrix and range."""
    pix_fmt = info.pix_fmt
    dec_fmt = "yuv420p10le" if spec.only_10bit else pix_fmt
    vf: list[str] = []
    if spec.family == "jpeg":
        dec_fmt = "yuvj420p"
    elif spec.family == "jxl":
        vf = ["-vf", f"scale=out_color_matrix={_matrix(info)}:out_range={_range(info)}"]
    with tempfile.TemporaryDirectory(prefix="studio-dec-") as tmp:
        out = Path(tmp) / "frame.y4m"
        ffmpeg_tool.run(["-y", "-i", ffmpeg_tool.path_arg(path), "-frames:v", "1", *vf,
                         "-pix_fmt", dec_fmt, "-strict", "-1", "-f", "yuv4mpegpipe",
                         ffmpeg_tool.path_arg(out)], timeout_s=120,
                        what=f"{spec.label} decoder ({path.name})")
        reader = Y4MReader(out)
        try:
            planes = [p.copy() for p in reader.planes(0)]
        finally:
            reader.close()
    return convert_planes(planes, reader.pix_fmt, pix_fmt)


class _ImageReader(FrameReader):
    def __init__(self, folder: Path, spec: CodecSpec, info: ReferenceInfo) -> None:
        self.files, self.spec, self.info = image_files(folder, spec), spec, info

    def planes(self, index: int):
        if not 0 <= index < len(self.files):
            raise IndexError(f"frame {index} not found")
        return decode_image(self.files[index], self.spec, self.info)


def _option_dict(args: list[str]) -> dict[str, str]:
    out = {}
    it = iter(args)
    for a in it:
        if a.startswith("-"):
            out[a.lstrip("-")] = next(it, "")
    return out


def _retime(path: Path, info: ReferenceInfo) -> None:
    """Give the packets of a constant-rate encode the reference's own timestamps (VFR), by
    remuxing (no re-encode): the executable only saw the Y4M's nominal rate."""
    import av

    rate, tb, pts = stream_timing(info)
    times = [p * tb for p in pts]
    step = info.frame_step()
    tmp = path.with_name(path.stem + ".retime.mp4")

    def remap(ts: int | None, src_tb) -> int | None:
        if ts is None:
            return None
        k = round(float(ts * src_tb * rate))
        t = times[k] if 0 <= k < len(times) else (times[0] + k * step if k < 0
                                                  else times[-1] + (k - len(times) + 1) * step)
        return int(round(t / tb))

    with av.open(str(path), "r") as src, av.open(str(tmp), "w", format="mp4") as dst:
        ins = src.streams.video[0]
        outs = dst.add_stream_from_template(ins)
        outs.time_base = tb
        for pkt in src.demux(ins):
            if pkt.dts is None and pkt.pts is None:
                continue
            src_tb = pkt.time_base
            pkt.pts, pkt.dts = remap(pkt.pts, src_tb), remap(pkt.dts, src_tb)
            pkt.time_base = tb
            pkt.stream = outs
            dst.mux(pkt)
    os.replace(tmp, path)
