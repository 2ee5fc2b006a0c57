"""The sweep store: one folder per comparison, reopened and extended over time.

Layout of a project folder::

    project.json          what was asked and what came out (written atomically, always valid)
    reference.y4m         the exact frames every encode started from (see reference.py)
    streams/<point>.mp4   each encoded stream, for the side-by-side viewer
    frames/<point>.json   per-frame metrics, bytes and picture types of each point

``project.json`` is rewritten whole (temp file + rename) after every finished point, so a
crash, a cancel or a full disk never leaves a half-written or emptier file behind: the worst
case is losing the point that was being finished.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from studio.codec import encoders
from studio.codec.reference import ReferenceClip, ReferenceInfo
from studio.jobs import UserError, atomic_path
from studio.media import video_io

PROJECT_FILE = "project.json"
FORMAT = "neural-media-studio/codec-project"
VERSION = 1

DONE, FAILED, PENDING = "done", "failed", "pending"

# codec key of a per-shot point whose shots use different codec families: not one stream but
# one segment file per shot (``streams/<id>/``), decoded in order (see mixed_frames)
MIXED = "mixed"


def point_id(codec: str, preset: str, mode: str, value: float,
             frame_range: list[int] | tuple[int, int] | None = None) -> str:
    """Stable, file-name-safe id: the same settings always map to the same point."""
    raw = f"{codec}_{preset}_{mode}{value:g}"
    if frame_range:
        raw += f"_f{frame_range[0]}-{frame_range[1]}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", raw)


@dataclass
class Point:
    """One encode of the reference at one setting, and what it measured."""

    id: str
    codec: str
    preset: str
    mode: str
    value: float
    status: str = PENDING
    error: str = ""
    stream: str = ""          # path relative to the project folder
    frames_file: str = ""
    frames: int = 0
    bytes: int = 0             # the elementary stream as a decoder receives it: every coded
                               # packet as stored + out-of-band parameter sets (extradata) once
    bitrate_kbps: float = 0.0  # 8 * bytes / the clip's real duration (from its timestamps)
    file_bytes: int = 0        # the container file(s) on disk
    file_kbps: float = 0.0     # 8 * file_bytes / duration: what a download would cost
    extradata_bytes: int = 0   # part of ``bytes`` carried out of band (avcC/hvcC/av1C...)
    bpp: float = 0.0           # bits per pixel per frame (the rate unit of still images)
    encode_s: float = 0.0
    score_s: float = 0.0
    keyframes: int = 0
    pix_fmt: str = ""
    metrics: dict[str, float] = field(default_factory=dict)   # pooled over frames
    finished: str = ""
    backend: str = ""          # which Encoder ran it: pyav, ffmpeg (executable), learned...
    encoder: str = ""          # FFmpeg encoder name (libx264...)
    encoder_version: str = ""  # library version string where the backend can tell
    options: dict[str, str] = field(default_factory=dict)   # exact encoder options used
    command: str = ""          # the full command line, for executable backends
    frame_range: list[int] = field(default_factory=list)    # [first, end) of the reference;
                                                            # empty: the whole clip

    decode_fps: float = 0.0    # measured decoder speed at the clip's resolution
    shots: list[dict] = field(default_factory=list)   # per-shot choice of a stitched point
    over_budget: str = ""      # a shot candidate the decoder budget removed: why ("" = kept)
    report: str = ""           # a mixed per-shot point's report (.json; .csv/.html beside it)

    @property
    def label(self) -> str:
        unit = {"bitrate": "kbps", "pershot": "kbps per-shot"}.get(self.mode, self.mode.upper())
        text = " ".join(x for x in (self.codec, self.preset, unit, f"{self.value:g}") if x)
        if self.frame_range:
            text += f" (frames {self.frame_range[0]}-{self.frame_range[1] - 1})"
        return text

    @property
    def is_shot(self) -> bool:
        """An encode of one shot only: a building block of per-shot points, not a curve."""
        return bool(self.frame_range)

    @staticmethod
    def from_dict(d: dict) -> "Point":
        names = {f.name for f in fields(Point)}
        return Point(**{k: v for k, v in d.items() if k in names})


@dataclass
class Curve:
    """Finished points of one codec/preset/rate mode, sorted by measured bitrate."""

    codec: str
    preset: str
    mode: str
    points: list[Point]

    @property
    def key(self) -> str:
        return f"{self.codec}/{self.preset}/{self.mode}"

    @property
    def label(self) -> str:
        """Names what the bare preset value is ("AV1 (SVT-AV1) preset 8", "VP9 (libvpx)
        cpu-used 4"); a codec spec's ``preset_name`` wins over the built-in knob names."""
        knobs = {"vp9": "cpu-used", "aom": "cpu-used", "rav1e": "speed", "jxl": "effort",
                 "webp": "method", "avif": "cpu-used"}
        spec = encoders.CODECS.get(self.codec)
        name = spec.label if spec else ("mixed codecs" if self.codec == MIXED else self.codec)
        family = getattr(spec, "family", self.codec.replace("-intra", ""))
        knob = getattr(spec, "preset_name", "") or knobs.get(family, "preset")
        only = bool(spec) and len(getattr(spec, "presets", ())) <= 1   # nothing to tell apart
        text = f"{name} {knob} {self.preset}" if self.preset and not only else name
        return text + {"bitrate": " (ABR)", "pershot": " (per-shot)"}.get(self.mode, "")

    def rates(self) -> list[float]:
        return [p.bitrate_kbps for p in self.points]

    def values(self, metric: str) -> list[float | None]:
        return [p.metrics.get(metric) for p in self.points]


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (temp file beside it, then rename)."""
    text = json.dumps(_finite(data), indent=1, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: {what} is unreadable ({exc})") from exc


class Project:
    """A codec comparison on disk. The UI's entry point: open, list curves, fetch frames."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.source: str = ""
        self.max_frames: int | None = None
        self.max_seconds: float | None = None
        self.reference: ReferenceInfo | None = None
        self.points: dict[str, Point] = {}
        self.notes: list[str] = []
        self.ladders: dict[str, dict] = {}   # codec/preset -> adaptive ladder and its probes
        self.shots: list[list[int]] = []     # [first, end) frame ranges of the detected shots
        # the per-shot optimiser's decoder budget: {"min_decode_fps", "max_kmac_per_pixel",
        # "removed": {point id: why}}; the removed points also carry Point.over_budget
        self.decoder_budget: dict = {}
        # users' learned codecs compared here: key (learned:<name>) -> {"path": folder,
        # "label", "qualities"}; registered in encoders.CODECS when the project is opened
        self.user_codecs: dict[str, dict] = {}
        self.created = time.strftime("%Y-%m-%dT%H:%M:%S")
        self._clip: ReferenceClip | None = None
        self._readers: dict[str, encoders.FrameReader] = {}   # viewer cache, 4 newest

    # --- persistence --------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self.folder / PROJECT_FILE

    @staticmethod
    def resolve_folder(path: str | os.PathLike) -> Path:
        p = Path(path)
        return p.parent if p.name == PROJECT_FILE else p

    @classmethod
    def exists(cls, path: str | os.PathLike) -> bool:
        return (cls.resolve_folder(path) / PROJECT_FILE).exists()

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        """Open a project folder (or its project.json)."""
        folder = cls.resolve_folder(path)
        file = folder / PROJECT_FILE
        if not file.exists():
            raise UserError(f"{folder}: no codec project here ({PROJECT_FILE} missing)")
        data = read_json(file, "codec project")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{file}: not a codec project file")
        if int(data.get("version", 0)) > VERSION:
            raise UserError(f"{file}: made by a newer version of the app (format "
                            f"{data.get('version')}); update the app to open it")
        proj = cls(folder)
        try:
            proj.source = data.get("source", "")
            proj.max_frames = data.get("max_frames")
            proj.max_seconds = data.get("max_seconds")
            proj.created = data.get("created", proj.created)
            proj.notes = list(data.get("notes", []))
            proj.ladders = dict(data.get("ladders", {}))
            proj.shots = [list(s) for s in data.get("shots", [])]
            proj.decoder_budget = dict(data.get("decoder_budget") or {})
            proj.user_codecs = {str(k): dict(v) for k, v in
                                (data.get("user_codecs") or {}).items()}
            # known again by key; the folder is read only when encoding (it may have moved)
            encoders.register_user_codecs(proj.user_codecs)
            if data.get("reference"):
                proj.reference = ReferenceInfo.from_dict(data["reference"])
            for d in data.get("points", []):
                pt = Point.from_dict(d)
                proj.points[pt.id] = pt
        except (TypeError, KeyError, ValueError) as exc:
            raise UserError(f"{file}: damaged codec project ({exc})") from exc
        return proj

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "source": self.source, "max_frames": self.max_frames, "max_seconds": self.max_seconds,
            "reference": self.reference.to_dict() if self.reference else None,
            "notes": self.notes,
            "ladders": self.ladders,
            "shots": self.shots,
            "decoder_budget": self.decoder_budget,
            "user_codecs": self.user_codecs,
            "points": [asdict(p) for p in self.points.values()],
        }

    def save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(self.path, self.to_dict())

    # --- queries for the UI and reports -------------------------------------------------------
    def done_points(self) -> list[Point]:
        return [p for p in self.points.values() if p.status == DONE]

    def viewable_points(self) -> list[Point]:
        """Finished points that cover the whole clip (not the per-shot building blocks)."""
        return [p for p in self.done_points() if not p.is_shot]

    def curves(self, metric: str | None = None) -> list[Curve]:
        """Finished points grouped by codec/preset/mode; with ``metric``, only points that
        have it. Order: codecs in the order they were first added."""
        groups: dict[tuple[str, str, str], list[Point]] = {}
        for p in self.points.values():
            if p.status != DONE or p.is_shot or (metric and p.metrics.get(metric) is None):
                continue
            groups.setdefault((p.codec, p.preset, p.mode), []).append(p)
        return [Curve(c, pr, m, sorted(pts, key=lambda p: p.bitrate_kbps))
                for (c, pr, m), pts in groups.items()]

    def point(self, pid: str) -> Point:
        try:
            return self.points[pid]
        except KeyError:
            raise KeyError(f"no point {pid!r} in {self.folder}") from None

    def point_frames(self, pid: str) -> dict[str, list]:
        """Per-frame data of a finished point: psnr_y, psnr_u, psnr_v, psnr_yuv, ssim_y,
        ms_ssim, mse_*, (vmaf), frame_bytes and pict_type, each a list over frames."""
        pt = self.point(pid)
        if pt.status != DONE or not pt.frames_file:
            raise UserError(f"{self.folder}: point {pid} has no results ({pt.status})")
        return read_json(self.folder / pt.frames_file, f"per-frame metrics of {pid}")

    def reference_clip(self) -> ReferenceClip:
        if self.reference is None:
            raise UserError(f"{self.folder}: the project has no reference clip yet")
        if self._clip is None:
            self._clip = ReferenceClip(self.folder / self.reference.file, self.reference)
        return self._clip

    @property
    def frame_count(self) -> int:
        return self.reference.frames if self.reference else 0

    def reference_rgb(self, index: int, rotate: bool = True) -> np.ndarray:
        """Frame ``index`` of the reference as (H, W, 3) uint8 RGB, display-rotated."""
        return self.reference_clip().rgb(index, rotate)

    def point_planes(self, pid: str, index: int) -> list[np.ndarray]:
        pt = self.point(pid)
        if pt.status != DONE or not pt.stream:
            raise UserError(f"{self.folder}: point {pid} has no stream ({pt.status})")
        ref = self.reference
        assert ref is not None
        reader = self._readers.pop(pid, None)
        if reader is None and pt.codec == MIXED:
            reader = MixedFrameReader(self.folder, pt, ref)
        if reader is None:
            spec = encoders.codec_spec(pt.codec)
            if pt.mode == "pershot" and not spec.image:
                from studio.codec.encoders.pyav_backend import SequentialFrameReader
                reader = SequentialFrameReader(self.folder / pt.stream, ref)
            else:
                reader = encoders.encoder_for(spec).reader(spec, self.folder / pt.stream, ref)
        self._readers[pid] = reader            # most recently used last
        while len(self._readers) > 4:
            self._readers.pop(next(iter(self._readers))).close()
        return reader.planes(index)

    def decoded_frames(self, pid: str) -> Iterator[encoders.DecodedFrame]:
        """Every decoded frame of a finished point, in order, through its own backend."""
        pt = self.point(pid)
        if pt.status != DONE or not pt.stream:
            raise UserError(f"{self.folder}: point {pid} has no stream ({pt.status})")
        ref = self.reference
        assert ref is not None
        if pt.codec == MIXED:
            return mixed_frames(self.folder, pt, ref)
        spec = encoders.codec_spec(pt.codec)
        if pt.mode == "pershot" and not spec.image:
            from studio.codec.encoders.pyav_backend import decode_sequential
            return decode_sequential(self.folder / pt.stream, ref, ref.frames)
        return encoders.encoder_for(spec).decode(spec, self.folder / pt.stream, ref, ref.frames)

    def point_rgb(self, pid: str, index: int, rotate: bool = True) -> np.ndarray:
        """Frame ``index`` of an encoded point, decoded, as (H, W, 3) uint8 RGB."""
        ref = self.reference
        assert ref is not None
        img = video_io.planes_to_rgb(self.point_planes(pid, index), ref.pix_fmt, ref.colorspace,
                                     ref.full_range)
        return video_io.rotate_for_display(img, ref.rotation) if rotate else img

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        if self._clip is not None:
            self._clip.close()
            self._clip = None


def _segment_frames(folder: Path, shot: dict, ref: ReferenceInfo,
                    ) -> Iterator[encoders.DecodedFrame]:
    """Decoded frames of one segment of a mixed point, numbered within its shot."""
    spec = encoders.codec_spec(shot["codec"])
    a, b = shot["frames"]
    path = folder / shot["stream"]
    if spec.image or path.is_dir():
        return encoders.encoder_for(spec).decode(spec, path, ref, b - a)
    from studio.codec.encoders.pyav_backend import decode_sequential
    return decode_sequential(path, ref, b - a)


def mixed_frames(folder: str | os.PathLike, pt: Point, ref: ReferenceInfo,
                 ) -> Iterator[encoders.DecodedFrame]:
    """Every frame of a mixed per-shot point: each shot's segment decoded by its own codec,
    in order, numbered as frames of the whole clip."""
    folder = Path(folder)
    for shot in pt.shots:
        first = int(shot["frames"][0])
        for df in _segment_frames(folder, shot, ref):
            yield encoders.DecodedFrame(first + df.index, df.planes, df.pict_type)


class MixedFrameReader(encoders.FrameReader):
    """Random access into a mixed point for the viewer: one segment reader at a time."""

    def __init__(self, folder: Path, pt: Point, ref: ReferenceInfo) -> None:
        self.folder, self.pt, self.ref = folder, pt, ref
        self._k = -1
        self._reader: encoders.FrameReader | None = None

    def planes(self, index: int):
        for k, shot in enumerate(self.pt.shots):
            a, b = shot["frames"]
            if a <= index < b:
                break
        else:
            raise IndexError(f"{self.pt.id}: frame {index} is in no shot")
        if k != self._k or self._reader is None:
            self.close()
            spec = encoders.codec_spec(shot["codec"])
            path = self.folder / shot["stream"]
            if spec.image or path.is_dir():
                self._reader = encoders.encoder_for(spec).reader(spec, path, self.ref)
            else:
                from studio.codec.encoders.pyav_backend import SequentialFrameReader
                self._reader = SequentialFrameReader(path, self.ref)
            self._k = k
        return self._reader.planes(index - a)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader, self._k = None, -1


def load_project(path: str | os.PathLike) -> Project:
    return Project.load(path)
