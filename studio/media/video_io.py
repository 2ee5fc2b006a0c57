"""Video reading through PyAV: probe a file, decode its frames, move planes to numpy.

Every failure a user can fix (missing file, damaged or truncated file, a file with no video
stream) becomes a :class:`studio.jobs.UserError` that names the file, so no caller has to
know FFmpeg's error types. Frames come out in presentation order, one per decoded picture:
variable-frame-rate input is read as the sequence of pictures it holds (no frame is dropped or
duplicated to fake a constant rate) and :class:`VideoInfo` says the rate was variable.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from studio.jobs import UserError

# FFmpeg renders any text file as ANSI-art "video" with these; never what a user means.
_TEXT_DEMUXERS = {"tty"}
# How many packets probe() reads to judge whether the frame rate is variable.
_VFR_SCAN_PACKETS = 600


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as far as the codec workbench cares."""

    path: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    chroma: str            # "420", "422", "444", "rgb" or "gray": how the file stores colour
    fps: Fraction          # nominal (average) frame rate
    frames: int | None     # the container's count or an estimate from the duration; None if unknown
    duration_s: float | None
    rotation: int          # display rotation, degrees counter-clockwise (phone videos)
    codec: str
    vfr: bool              # timestamps are not evenly spaced
    has_audio: bool
    colorspace: str        # "bt709", "bt601" or "bt2020": how to turn the planes into RGB
    full_range: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps"] = [self.fps.numerator, self.fps.denominator]
        return d

    @staticmethod
    def from_dict(d: dict) -> "VideoInfo":
        d = dict(d)
        d["fps"] = Fraction(*d["fps"])
        return VideoInfo(**d)


def _user_error(path: str | os.PathLike, exc: BaseException) -> UserError:
    msg = getattr(exc, "strerror", None) or str(exc)
    return UserError(f"{path}: cannot read it as a video ({msg}); the file may be damaged, "
                     f"truncated or not a video")


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading, turning FFmpeg's errors into a UserError naming the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: file not found")
    if p.is_dir():
        raise UserError(f"{p}: is a folder, not a video file")
    if p.stat().st_size == 0:
        raise UserError(f"{p}: file is empty")
    try:
        container = av.open(str(p), "r")
    except (av.error.FFmpegError, OSError) as exc:
        raise _user_error(p, exc) from exc
    if container.format.name in _TEXT_DEMUXERS:
        container.close()
        raise UserError(f"{p}: is a text file, not a video")
    return container


def _video_stream(container: av.container.InputContainer, path: str | os.PathLike):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise UserError(f"{path}: has no video stream (it holds {', '.join(kinds)}); "
                        f"choose a file with video")
    return container.streams.video[0]


def pix_fmt_depth(pix_fmt: str) -> int:
    """Bits per sample of the first component (8 for yuv420p, 10 for yuv420p10le)."""
    return av.VideoFormat(pix_fmt).components[0].bits


def pix_fmt_chroma(pix_fmt: str) -> str:
    fmt = av.VideoFormat(pix_fmt)
    comps = fmt.components
    if len(comps) < 3:
        return "gray"
    if fmt.is_rgb:
        return "rgb"
    # chroma shift of the second component: (1,1) 4:2:0, (1,0) 4:2:2, (0,0) 4:4:4
    w = fmt.chroma_width(1024)
    h = fmt.chroma_height(1024)
    if w == 512 and h == 512:
        return "420"
    if w == 512:
        return "422"
    if w == 1024 and h == 1024:
        return "444"
    return "other"


def _colorspace_name(stream, height: int) -> str:
    cs = stream.codec_context.colorspace
    name = getattr(cs, "name", str(cs)).lower() if cs is not None else ""
    if "709" in name:
        return "bt709"
    if "2020" in name:
        return "bt2020"
    if "601" in name or "170" in name or "470" in name:
        return "bt601"
    # unspecified: what players assume
    return "bt709" if height >= 720 else "bt601"


def _scan_timestamps(container, stream, limit: int) -> tuple[list[int], bool]:
    """Demux (no decoding) up to ``limit`` packets; return their pts and whether it hit an error."""
    pts: list[int] = []
    damaged = False
    try:
        for pkt in container.demux(stream):
            if pkt.pts is not None and pkt.size:
                pts.append(pkt.pts)
            if len(pts) >= limit:
                break
    except av.error.FFmpegError:
        damaged = True
    return pts, damaged


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read the headers (and a few hundred packet timestamps) of ``path``."""
    with open_container(path) as container:
        vs = _video_stream(container, path)
        cc = vs.codec_context
        if not cc.width or not cc.height or cc.format is None:
            raise UserError(f"{path}: the video stream has no picture size or pixel format; "
                            f"the file may be damaged")
        pix_fmt = cc.format.name
        rotation = 0
        duration_s = None
        if vs.duration is not None and vs.time_base is not None:
            duration_s = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration_s = container.duration / 1_000_000
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        frames = vs.frames or None
        pts, _ = _scan_timestamps(container, vs, _VFR_SCAN_PACKETS)
        vfr = False
        if len(pts) >= 3:
            steps = np.diff(np.sort(np.asarray(pts, dtype=np.int64)))
            steps = steps[steps > 0]
            if steps.size >= 2 and (steps.max() - steps.min()) > max(1, 0.02 * np.median(steps)):
                vfr = True
            if steps.size and vs.time_base and not vfr:
                # Headers lie (an MKV's 1000 fps time base for 25 fps frames): trust the
                # timestamps' median interval when the two disagree.
                measured = (1 / (Fraction(int(np.median(steps))) * vs.time_base)) \
                    .limit_denominator(1001)
                if abs(float(measured) - float(rate)) > 0.01 * float(measured):
                    rate = measured
        if frames is None and duration_s:
            frames = max(1, round(duration_s * float(rate)))
        info = VideoInfo(
            path=str(path), width=cc.width, height=cc.height, pix_fmt=pix_fmt,
            bit_depth=pix_fmt_depth(pix_fmt), chroma=pix_fmt_chroma(pix_fmt), fps=Fraction(rate),
            frames=frames, duration_s=duration_s, rotation=rotation, codec=cc.name, vfr=vfr,
            has_audio=bool(container.streams.audio), colorspace=_colorspace_name(vs, cc.height),
            full_range=getattr(cc.color_range, "name", "") in ("JPEG", "jpeg")
            or pix_fmt.startswith("yuvj"))
    # The display matrix travels with the frames (container side data in FFmpeg 8): read one.
    try:
        with open_container(path) as container:
            vs = container.streams.video[0]
            for frame in container.decode(vs):
                rotation = int(round(frame.rotation or 0)) % 360
                break
    except (av.error.FFmpegError, UserError):
        rotation = 0
    if rotation:
        info = replace(info, rotation=rotation)
    return info


@dataclass
class DecodeReport:
    """What went wrong while decoding, without stopping: shown to the user as notes."""

    frames: int = 0
    stopped_early: str = ""   # the error that ended decoding before the end of the file
    notes: list[str] = field(default_factory=list)


def iter_frames(path: str | os.PathLike, max_frames: int | None = None,
                report: DecodeReport | None = None) -> Iterator[av.VideoFrame]:
    """Decode the first video stream of ``path`` in presentation order.

    A damaged tail (truncated download) ends the iteration and is recorded in ``report``
    rather than raised, so the frames before it stay usable; a file that yields no frame
    at all raises UserError.
    """
    report = report if report is not None else DecodeReport()
    with open_container(path) as container:
        vs = _video_stream(container, path)
        vs.thread_type = "AUTO"
        it = container.decode(vs)
        while max_frames is None or report.frames < max_frames:
            try:
                frame = next(it)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                report.stopped_early = str(exc)
                report.notes.append(f"{path}: decoding stopped after {report.frames} frames "
                                    f"({exc}); the file looks truncated or damaged")
                break
            report.frames += 1
            yield frame
    if report.frames == 0:
        why = f" ({report.stopped_early})" if report.stopped_early else ""
        raise UserError(f"{path}: no video frame could be decoded{why}; the file may be "
                        f"truncated or damaged")


def plane_dtype(pix_fmt: str) -> np.dtype:
    return np.dtype("<u2") if pix_fmt_depth(pix_fmt) > 8 else np.dtype(np.uint8)


def frame_planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Copy each plane of a planar frame into a tight (height, width) numpy array."""
    dtype = plane_dtype(frame.format.name)
    out = []
    for plane in frame.planes:
        row = plane.line_size // dtype.itemsize
        arr = np.frombuffer(plane, dtype=dtype).reshape(plane.height, row)
        out.append(arr[:, :plane.width].copy())
    return out


def planes_to_frame(planes: list[np.ndarray], pix_fmt: str) -> av.VideoFrame:
    """Build a frame of ``pix_fmt`` from tight planes (the inverse of :func:`frame_planes`)."""
    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, pix_fmt)
    dtype = plane_dtype(pix_fmt)
    for plane, src in zip(frame.planes, planes):
        row = plane.line_size // dtype.itemsize
        dst = np.frombuffer(plane, dtype=dtype).reshape(plane.height, row)
        dst[:, :plane.width] = src
    return frame


_CS = {"bt709": "ITU709", "bt601": "ITU601", "bt2020": "BT2020"}


def planes_to_rgb(planes: list[np.ndarray], pix_fmt: str, colorspace: str = "bt709",
                  full_range: bool = False) -> np.ndarray:
    """YUV planes -> (H, W, 3) uint8 RGB for display, with the source's colour matrix."""
    frame = planes_to_frame(planes, pix_fmt)
    rgb = frame.reformat(format="rgb24", src_colorspace=_CS.get(colorspace, "ITU709"),
                         src_color_range="JPEG" if full_range else "MPEG",
                         dst_color_range="JPEG")
    return rgb.to_ndarray()


def rotate_for_display(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, as in the display matrix)."""
    k = (int(rotation) // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image
