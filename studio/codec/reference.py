"""The reference clip: the exact frames every encode of a sweep starts from and is scored against.

The source is decoded once, normalised, and stored in the project folder as a Y4M file (raw
planar YUV with a one-line header; any player and FFmpeg read it). Doing this once instead of
in every worker means all encoders see identical frames, frame ``i`` can be fetched in O(1)
(memory map, no seeking in a compressed file) for the metrics and the side-by-side viewer, and
the project keeps working if the source file moves.

Normalisation choices (recorded in ``ReferenceInfo.notes`` when they apply):

* pixel format: 4:2:0 planar, ``yuv420p`` for 8-bit sources and ``yuv420p10le`` for deeper ones,
  because every encoder here accepts it; 4:2:2/4:4:4/RGB sources are converted (swscale) and
  the metrics then score the 4:2:0 version.
* odd sizes: cropped to even by dropping the last column/row. A 4:2:0 frame of odd size
  already has ceil(w/2) chroma columns, so the crop keeps the surviving samples bit-exact;
  padding would instead add synthetic pixels that the encoders spend bits on and that flatter
  the metrics.
* frame timing: every decoded picture becomes one reference frame (none dropped or repeated)
  and keeps its own timestamp. Rates come from the timestamps, never from a stream header
  (an MKV may declare 1000 fps for frames 40 ms apart); the encodes carry the same timing and
  bitrates divide by the real duration, so variable-frame-rate clips are rated fairly.
* rotation (display matrix): frames stay in coded orientation (metrics do not depend on it);
  the rotation is kept so viewers and encodes display it the right way up.
"""

from __future__ import annotations

import math
import mmap
import os
import shutil
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from studio.jobs import UserError, atomic_path
from studio.media import video_io

Y4M_MAGIC = b"YUV4MPEG2 "
FRAME_TAG = b"FRAME\n"


@dataclass
class ReferenceInfo:
    """How the reference clip was made from the source."""

    file: str                 # file name inside the project folder
    width: int
    height: int
    pix_fmt: str              # yuv420p or yuv420p10le
    bit_depth: int
    frames: int
    fps: Fraction
    rotation: int = 0
    colorspace: str = "bt709"
    full_range: bool = False
    cropped: tuple[int, int] = (0, 0)   # columns, rows removed at the right/bottom
    source: dict = field(default_factory=dict)  # VideoInfo.to_dict() of the source
    notes: list[str] = field(default_factory=list)
    # Presentation time of each frame in ``time_base`` units, the first at 0. Empty (projects
    # made before timing was kept): frames are 1/fps apart.
    pts: list[int] = field(default_factory=list)
    time_base: Fraction = Fraction(0)

    @property
    def timed(self) -> bool:
        return len(self.pts) == self.frames and self.time_base > 0

    def frame_step(self) -> Fraction:
        """The typical (median) frame interval in seconds: the nominal rate's inverse."""
        if self.timed and self.frames > 1:
            steps = sorted(b - a for a, b in zip(self.pts, self.pts[1:]))
            return steps[len(steps) // 2] * self.time_base
        return 1 / self.fps

    def times(self) -> list[Fraction]:
        """Presentation time of every frame (seconds, exact)."""
        if self.timed:
            return [p * self.time_base for p in self.pts]
        return [Fraction(i) / self.fps for i in range(self.frames)]

    @property
    def duration_s(self) -> float:
        """The real duration: the last frame lasts as long as the interval before it."""
        if self.timed:
            last = (self.pts[-1] - self.pts[-2]) * self.time_base if self.frames > 1 \
                else 1 / self.fps
            return float((self.pts[-1] - self.pts[0]) * self.time_base + last)
        return self.frames / float(self.fps)

    @property
    def vfr(self) -> bool:
        if not self.timed or self.frames < 3:
            return False
        steps = [b - a for a, b in zip(self.pts, self.pts[1:])]
        return max(steps) - min(steps) > max(1, 0.02 * sorted(steps)[len(steps) // 2])

    def clock(self) -> "FrameClock":
        return FrameClock(self.times())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps"] = [self.fps.numerator, self.fps.denominator]
        d["time_base"] = [self.time_base.numerator, self.time_base.denominator]
        d["cropped"] = list(self.cropped)
        return d

    @staticmethod
    def from_dict(d: dict) -> "ReferenceInfo":
        d = dict(d)
        d["fps"] = Fraction(*d["fps"])
        d["time_base"] = Fraction(*d["time_base"]) if d.get("time_base") else Fraction(0)
        d["cropped"] = tuple(d.get("cropped", (0, 0)))
        return ReferenceInfo(**d)


class FrameClock:
    """Maps a decoded picture's timestamp back to the reference frame it must be.

    A timestamp within half the shortest frame interval of frame ``i`` is frame ``i``;
    anything else is no frame at all (the caller reports it as misalignment)."""

    def __init__(self, times: list[Fraction]) -> None:
        self.times = np.array([float(t) for t in times], dtype=np.float64)
        steps = np.diff(self.times)
        self.tolerance = float(steps.min()) / 2 if steps.size else 0.5

    def index(self, seconds: float) -> int | None:
        if not self.times.size:
            return None
        i = int(np.searchsorted(self.times, seconds))
        best = min((j for j in (i - 1, i) if 0 <= j < self.times.size),
                   key=lambda j: abs(self.times[j] - seconds))
        return best if abs(self.times[best] - seconds) <= self.tolerance else None


def plane_shapes(width: int, height: int) -> list[tuple[int, int]]:
    """(rows, cols) of the Y, U, V planes of a 4:2:0 frame."""
    cw, ch = (width + 1) // 2, (height + 1) // 2
    return [(height, width), (ch, cw), (ch, cw)]


class Y4MWriter:
    """Write 4:2:0 planes (8 or 10 bit) as a Y4M stream."""

    def __init__(self, fh, width: int, height: int, fps: Fraction, pix_fmt: str,
                 full_range: bool = False) -> None:
        colour = {"yuv420p": "420jpeg", "yuv420p10le": "420p10"}[pix_fmt]
        rng = "FULL" if full_range else "LIMITED"
        self._fields = (width, height, colour, rng)
        self._fh = fh
        self._shapes = plane_shapes(width, height)
        self._dtype = video_io.plane_dtype(pix_fmt)
        self.frames = 0
        self._start = fh.tell()
        fh.write(self._header(fps))

    _HEADER_LEN = 128   # fixed, padded with an X comment: set_rate() rewrites it in place

    def _header(self, fps: Fraction) -> bytes:
        width, height, colour, rng = self._fields
        text = (f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A1:1 "
                f"C{colour} XCOLORRANGE={rng} X")
        pad = self._HEADER_LEN - len(text) - 1
        if pad < 0:
            raise ValueError("Y4M header too long")
        return (text + "-" * pad + "\n").encode("ascii")

    def set_rate(self, fps: Fraction) -> None:
        """Correct the header's frame rate once the frames' timestamps are known."""
        here = self._fh.tell()
        self._fh.seek(self._start)
        self._fh.write(self._header(fps))
        self._fh.seek(here)

    def write(self, planes: list[np.ndarray]) -> None:
        self._fh.write(FRAME_TAG)
        for arr, shape in zip(planes, self._shapes):
            if arr.shape != shape:
                raise ValueError(f"plane shape {arr.shape} != {shape}")
            self._fh.write(np.ascontiguousarray(arr, dtype=self._dtype).tobytes())
        self.frames += 1


class Y4MReader:
    """Random access to the frames of a Y4M file written by :class:`Y4MWriter` (memory map)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:
            fh = open(self.path, "rb")
        except OSError as exc:
            raise UserError(f"{self.path}: cannot open the reference clip ({exc.strerror})") from exc
        with fh:
            header = fh.readline(4096)
            if not header.startswith(Y4M_MAGIC) or not header.endswith(b"\n"):
                raise UserError(f"{self.path}: not a Y4M file")
            tags = dict((t[:1], t[1:]) for t in header[len(Y4M_MAGIC):].decode("ascii").split())
            self.width, self.height = int(tags["W"]), int(tags["H"])
            num, den = tags.get("F", "25:1").split(":")
            self.fps = Fraction(int(num), int(den))
            colour = tags.get("C", "420jpeg")
            if colour.startswith("420p10"):
                self.pix_fmt = "yuv420p10le"
            elif colour.startswith("420"):
                self.pix_fmt = "yuv420p"
            else:
                raise UserError(f"{self.path}: unsupported Y4M colour format C{colour}")
            self._offset = len(header)
            size = self.path.stat().st_size
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        self._dtype = video_io.plane_dtype(self.pix_fmt)
        self._shapes = plane_shapes(self.width, self.height)
        self._plane_bytes = [r * c * self._dtype.itemsize for r, c in self._shapes]
        self._frame_bytes = len(FRAME_TAG) + sum(self._plane_bytes)
        self.frames = (size - self._offset) // self._frame_bytes

    def __len__(self) -> int:
        return self.frames

    def planes(self, index: int) -> list[np.ndarray]:
        """Read-only views of the Y, U, V planes of frame ``index``."""
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} out of range 0..{self.frames - 1}")
        pos = self._offset + index * self._frame_bytes
        if self._map[pos:pos + len(FRAME_TAG)] != FRAME_TAG:
            raise UserError(f"{self.path}: frame {index} is damaged (no FRAME marker)")
        pos += len(FRAME_TAG)
        out = []
        for shape, nbytes in zip(self._shapes, self._plane_bytes):
            out.append(np.frombuffer(self._map, dtype=self._dtype, count=shape[0] * shape[1],
                                     offset=pos).reshape(shape))
            pos += nbytes
        return out

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # views still alive; the GC closes it with them
                pass
            self._map = None


class ReferenceClip:
    """The reference of a project: planes for metrics, RGB for viewers."""

    def __init__(self, path: str | os.PathLike, info: ReferenceInfo) -> None:
        self.info = info
        self.reader = Y4MReader(path)
        if (self.reader.width, self.reader.height) != (info.width, info.height) or \
                self.reader.frames < info.frames:
            raise UserError(f"{path}: the reference clip does not match the project "
                            f"({self.reader.width}x{self.reader.height}, {self.reader.frames} "
                            f"frames; expected {info.width}x{info.height}, {info.frames})")

    def __len__(self) -> int:
        return self.info.frames

    def planes(self, index: int) -> list[np.ndarray]:
        return self.reader.planes(index)

    def subclip(self, first: int, end: int, path: str | os.PathLike) -> "ReferenceClip":
        """Frames [first, end) as a reference of their own (a Y4M at ``path``), with their
        timestamps rebased to 0: how a shot is encoded as an ordinary point."""
        info = self.info
        if not 0 <= first < end <= info.frames:
            raise ValueError(f"frame range {first}..{end} outside 0..{info.frames}")
        times = info.times()
        with open(path, "wb") as fh:
            w = Y4MWriter(fh, info.width, info.height, info.fps, info.pix_fmt, info.full_range)
            for i in range(first, end):
                w.write(self.planes(i))
        if info.timed:
            pts = [p - info.pts[first] for p in info.pts[first:end]]
            tb = info.time_base
        else:
            tb = 1 / info.fps
            pts = [round((t - times[first]) / tb) for t in times[first:end]]
        sub = ReferenceInfo(**{**info.__dict__, "file": Path(path).name, "frames": end - first,
                               "pts": pts, "time_base": tb, "notes": []})
        return ReferenceClip(path, sub)

    def rgb(self, index: int, rotate: bool = True) -> np.ndarray:
        img = video_io.planes_to_rgb(self.planes(index), self.info.pix_fmt,
                                     self.info.colorspace, self.info.full_range)
        return video_io.rotate_for_display(img, self.info.rotation) if rotate else img

    def close(self) -> None:
        self.reader.close()


def _same_layout(src_fmt: str, target: str) -> bool:
    """True when the source planes can be copied without swscale (range flag aside)."""
    aliases = {"yuvj420p": "yuv420p"}
    return aliases.get(src_fmt, src_fmt) == target


def frame_limit(info: video_io.VideoInfo, max_frames: int | None,
                max_seconds: float | None) -> int | None:
    limits = []
    if max_frames:
        limits.append(int(max_frames))
    if max_seconds:
        limits.append(max(1, math.ceil(max_seconds * float(info.fps))))
    return min(limits) if limits else None


def prepare_reference(source: str | os.PathLike, out_path: str | os.PathLike,
                      max_frames: int | None = None, max_seconds: float | None = None,
                      on_frame: Callable[[int, int | None], None] | None = None) -> ReferenceInfo:
    """Decode ``source`` once into the normalised Y4M reference at ``out_path`` (atomic write).

    ``on_frame(done, expected)`` is called per frame; it may raise (e.g. Cancelled) to stop.
    """
    info = video_io.probe(source)
    limit = frame_limit(info, max_frames, max_seconds)
    target = "yuv420p10le" if info.bit_depth > 8 else "yuv420p"
    width, height = info.width - info.width % 2, info.height - info.height % 2
    if width < 2 or height < 2:
        raise UserError(f"{source}: picture too small ({info.width}x{info.height})")
    notes: list[str] = []
    if (width, height) != (info.width, info.height):
        notes.append(f"odd size {info.width}x{info.height} cropped to {width}x{height} for 4:2:0 "
                     f"encoders (last column/row dropped; remaining samples unchanged)")
    if info.chroma != "420":
        notes.append(f"source is {info.pix_fmt} ({info.chroma}); compared after conversion to "
                     f"{target}")
    elif info.bit_depth > 10:
        notes.append(f"{info.bit_depth}-bit source compared at 10 bits")
    if info.rotation:
        notes.append(f"display rotation {info.rotation} deg: frames kept in coded orientation, "
                     f"rotated only for display")
    expected = min(x for x in (limit, info.frames) if x) if (limit or info.frames) else None
    frame_size = sum(r * c for r, c in plane_shapes(width, height)) * (2 if info.bit_depth > 8 else 1)
    if expected:
        need = expected * (frame_size + len(FRAME_TAG))
        free = shutil.disk_usage(Path(out_path).parent if Path(out_path).parent.exists()
                                 else Path.cwd()).free
        if need > free * 0.9:
            raise UserError(f"{out_path}: the reference clip needs {need / 1e9:.1f} GB "
                            f"({expected} frames) but only {free / 1e9:.1f} GB are free; "
                            f"limit the frames or free some space")
    report = video_io.DecodeReport()
    full = info.full_range
    if info.chroma == "rgb":
        rng_src, rng_dst, full = "JPEG", "MPEG", False
    else:
        rng_src = rng_dst = "JPEG" if full else "MPEG"
    cs = {"bt709": "ITU709", "bt601": "ITU601", "bt2020": "BT2020"}[info.colorspace]
    raw_pts: list[int | None] = []
    time_base: Fraction | None = None
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:
            writer = Y4MWriter(fh, width, height, info.fps, target, full)
            for frame in video_io.iter_frames(source, limit, report):
                if time_base is None and frame.time_base:
                    time_base = Fraction(frame.time_base)
                raw_pts.append(frame.pts if frame.time_base == time_base else None)
                if (frame.width, frame.height) != (info.width, info.height):
                    frame = frame.reformat(width=info.width, height=info.height)
                if not _same_layout(frame.format.name, target):
                    frame = frame.reformat(format=target, src_colorspace=cs, dst_colorspace=cs,
                                           src_color_range=rng_src, dst_color_range=rng_dst)
                y, u, v = video_io.frame_planes(frame)[:3]
                writer.write([y[:height, :width], u[:height // 2, :width // 2],
                              v[:height // 2, :width // 2]])
                if on_frame is not None:
                    on_frame(writer.frames, expected)
            frames = writer.frames
            pts, tb, fps, timing_notes = frame_timing(raw_pts, time_base, info.fps)
            writer.set_rate(fps)
    notes.extend(report.notes)
    if report.stopped_early and limit and frames < limit:
        notes.append(f"only {frames} frames could be used")
    notes.extend(timing_notes)
    return ReferenceInfo(file=Path(out_path).name, width=width, height=height, pix_fmt=target,
                         bit_depth=video_io.pix_fmt_depth(target), frames=frames, fps=fps,
                         pts=pts, time_base=tb,
                         rotation=info.rotation, colorspace=info.colorspace, full_range=full,
                         cropped=(info.width - width, info.height - height),
                         source=info.to_dict(), notes=notes)


def frame_timing(raw_pts: list[int | None], time_base: Fraction | None,
                 header_fps: Fraction) -> tuple[list[int], Fraction, Fraction, list[str]]:
    """Timestamps of the decoded pictures -> (pts from 0, time base, nominal fps, notes).

    The nominal rate is the median frame interval's inverse, because stream headers lie (an
    MKV's 1000 fps time base, a phone's 'average' over a VFR clip). Missing or non-increasing
    timestamps fall back to even spacing at the header's rate, with a note."""
    n = len(raw_pts)
    notes: list[str] = []
    ok = n > 0 and time_base is not None and time_base > 0 and all(p is not None for p in raw_pts)
    if ok:
        ints = [int(p) for p in raw_pts]  # type: ignore[arg-type]
        ok = all(b > a for a, b in zip(ints, ints[1:]))
    if not ok:
        if n > 1:
            notes.append(f"the source's timestamps are missing or out of order: frames are "
                         f"taken as evenly spaced at {float(header_fps):.3f} fps")
        tb = 1 / header_fps
        return list(range(n)), tb, header_fps, notes
    assert time_base is not None
    pts = [p - ints[0] for p in ints]
    if n == 1:
        return pts, time_base, header_fps, notes
    steps = sorted(b - a for a, b in zip(pts, pts[1:]))
    median = steps[len(steps) // 2] * time_base
    fps = (1 / median).limit_denominator(1001)
    if abs(float(fps) - float(header_fps)) > 0.01 * float(fps):
        notes.append(f"frame rate {float(fps):.3f} fps measured from the timestamps (the "
                     f"stream header says {float(header_fps):.3f} fps)")
    if steps[-1] - steps[0] > max(1, 0.02 * steps[len(steps) // 2]):
        duration = float((2 * pts[-1] - pts[-2]) * time_base)
        notes.append(f"variable frame rate: frame intervals from {float(steps[0] * time_base) * 1000:.1f} "
                     f"to {float(steps[-1] * time_base) * 1000:.1f} ms; every picture is one frame, "
                     f"the encodes keep each frame's timestamp, and bitrates use the real "
                     f"duration {duration:.3f} s (average {(n / duration):.3f} fps)")
    return pts, time_base, fps, notes
