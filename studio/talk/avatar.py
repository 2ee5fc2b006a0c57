"""The avatar template: a talking-face video prepared for lip-sync.

An avatar is a folder (or the same folder as one zip archive with the extension ``.avatar``)::

    avatar.json        what is here (below), format version, fps, frame count and size
    frames.mp4         the template frames, H.264 4:4:4 at ``fps`` (or ``frames/`` with
                       ``000000.png`` ...; see ``frames`` in avatar.json)
    landmarks.npy      (T, 468, 2) float32 MediaPipe face-mesh points per frame, frame pixels,
                       smoothed over time; (0, 0) = top-left corner of the top-left pixel
    boxes.npy          (T, 4) float32 face box per frame (x0, y0, x1, y1: the landmarks' box)
    crop_boxes.npy     (T, 4) int32 the lip-sync U-Net's square crop per frame
                       (x0, y0, x1, y1, x1 exclusive), see :func:`crop_boxes_from_landmarks`
    models/            optional: the lip-sync model pair for this avatar
      audio_encoder/   model.onnx + manifest.json
      unet/            model.onnx + manifest.json

Loading (:meth:`AvatarTemplate.load`) checks everything and raises a :class:`UserError`
naming the file and the problem (missing file, mismatched frame counts, bad shapes).
Output frame ``i`` of a render uses template frame :func:`frame_index` ``(i, T)``: forward,
then backward, then forward again (ping-pong), so a short template never jumps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from studio.jobs import UserError

AVATAR_FORMAT = "neural-media-studio.avatar"
AVATAR_VERSION = 1
AVATAR_SUFFIX = ".avatar"
DEFAULT_FPS = 25
MODEL_PARTS = ("audio_encoder", "unet")

# Landmarks of the MediaPipe mesh used by the crop rule.
JAW_LEFT, JAW_RIGHT = 234, 454     # face-oval points at the cheekbones/ears, image left/right
NOSE_BRIDGE = 197                  # middle of the nose bridge
CHIN = 152                         # bottom of the chin
CHIN_MARGIN = 0.05                 # of the box side, kept below the chin

CROP_RULE = (
    "SyncTalk_2D-style lower-face square from the MediaPipe mesh: x0 = x of landmark 234 "
    "(image-left face edge), x1 = x of landmark 454 (image-right face edge), y0 = y of "
    "landmark 197 (middle of the nose bridge); side = max(x1 - x0, (chin 152 y - y0) * 1.05) "
    "so the chin is always inside; the square keeps the x-centre, starts at y0, is rounded to "
    "whole pixels and shifted (not shrunk) to stay inside the frame when it fits.")


def frame_index(i: int, n: int) -> int:
    """Ping-pong: output frame ``i`` -> template frame 0, 1, .., n-1, n-2, .., 1, 0, 1, ..."""
    if n <= 0:
        raise ValueError("frame_index: the template has no frames")
    if n == 1:
        return 0
    period = 2 * (n - 1)
    m = int(i) % period
    return m if m < n else period - m


def crop_boxes_from_landmarks(landmarks: np.ndarray, frame_size: tuple[int, int] | None = None
                              ) -> np.ndarray:
    """Square lower-face crop per frame for the lip-sync U-Net; rule in :data:`CROP_RULE`.

    ``landmarks`` (T, 468, 2) (or (468, 2)); ``frame_size`` (width, height) to keep the box
    inside the frame. Returns int32 (T, 4) x0, y0, x1, y1 (exclusive) with x1-x0 == y1-y0.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    single = lm.ndim == 2
    if single:
        lm = lm[None]
    x0 = lm[:, JAW_LEFT, 0]
    x1 = lm[:, JAW_RIGHT, 0]
    y0 = lm[:, NOSE_BRIDGE, 1]
    chin = lm[:, CHIN, 1]
    lo, hi = np.minimum(x0, x1), np.maximum(x0, x1)
    side = np.maximum(hi - lo, (chin - y0) * (1.0 + CHIN_MARGIN))
    side = np.maximum(np.round(side), 8).astype(np.int64)
    cx = (lo + hi) / 2.0
    bx0 = np.round(cx - side / 2.0).astype(np.int64)
    by0 = np.round(y0).astype(np.int64)
    if frame_size is not None:
        w, h = int(frame_size[0]), int(frame_size[1])
        fits_x = side <= w
        fits_y = side <= h
        bx0 = np.where(fits_x, np.clip(bx0, 0, np.maximum(w - side, 0)), bx0)
        by0 = np.where(fits_y, np.clip(by0, 0, np.maximum(h - side, 0)), by0)
    out = np.stack([bx0, by0, bx0 + side, by0 + side], axis=1).astype(np.int32)
    return out[0] if single else out


# --- frames on disk --------------------------------------------------------------------------

class FramesWriter:
    """Write template frames as ``frames.mp4`` (H.264 4:4:4, near-lossless) or a PNG folder."""

    def __init__(self, folder: str | os.PathLike, fps: int = DEFAULT_FPS, kind: str = "mp4",
                 crf: int = 14) -> None:
        if kind not in ("mp4", "png"):
            raise ValueError(f"frames kind must be 'mp4' or 'png', not {kind!r}")
        self.folder = Path(folder)
        self.kind = kind
        self.fps = int(fps)
        self.crf = int(crf)
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._container = None
        self._stream = None

    @property
    def name(self) -> str:
        return "frames.mp4" if self.kind == "mp4" else "frames"

    def write(self, frame: np.ndarray) -> None:
        import av

        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (w, h)
            if self.kind == "mp4":
                self._container = av.open(str(self.folder / "frames.mp4"), "w")
                s = self._container.add_stream("libx264", rate=self.fps)
                s.width, s.height, s.pix_fmt = w, h, "yuv444p"
                s.options = {"crf": str(self.crf), "preset": "veryfast"}
                self._stream = s
            else:
                (self.folder / "frames").mkdir(parents=True, exist_ok=True)
        elif self.size != (w, h):
            raise ValueError(f"frame {self.count} is {w}x{h}, earlier frames were "
                             f"{self.size[0]}x{self.size[1]}")
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        if self.kind == "mp4":
            for p in self._stream.encode(vf):
                self._container.mux(p)
        else:
            _write_png(vf, self.folder / "frames" / f"{self.count:06d}.png")
        self.count += 1

    def close(self) -> None:
        if self._container is not None:
            for p in self._stream.encode():
                self._container.mux(p)
            self._container.close()
            self._container = None


def _write_png(vf, path: Path) -> None:
    import av

    with av.open(str(path), "w", format="image2") as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = vf.width, vf.height, "rgb24"
        for p in s.encode(vf):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


def _read_image(path: Path) -> np.ndarray:
    import av

    try:
        with av.open(str(path)) as c:
            return next(c.decode(video=0)).to_ndarray(format="rgb24")
    except (av.error.FFmpegError, StopIteration, OSError) as exc:
        raise UserError(f"{path}: cannot read this template frame ({exc})") from None


def _count_mp4_frames(path: Path) -> int:
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for p in c.demux(video=0) if p.size)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise UserError(f"{path}: cannot read the template frames video ({exc})") from None


# --- the template --------------------------------------------------------------------------

def _load_npy(path: Path, shape_tail: tuple, what: str) -> np.ndarray:
    if not path.exists():
        raise UserError(f"{path}: missing ({what})")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.ndim != 1 + len(shape_tail) or tuple(arr.shape[1:]) != shape_tail:
        want = "(T, " + ", ".join(str(s) for s in shape_tail) + ")"
        raise UserError(f"{path}: {what} must have shape {want}, found {tuple(arr.shape)}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{path}: {what} contains NaN or infinite values")
    return arr


@dataclass
class AvatarTemplate:
    """A loaded, validated avatar template (see the module docstring for the layout)."""

    path: Path                   # the folder (a .avatar archive is unpacked to a cache folder)
    fps: int
    num_frames: int
    width: int
    height: int
    frames: str                  # "frames.mp4" or "frames" (PNG folder)
    landmarks: np.ndarray        # (T, 468, 2) float32
    boxes: np.ndarray            # (T, 4) float32
    crop_boxes: np.ndarray       # (T, 4) int32
    meta: dict = field(default_factory=dict)
    archive: Path | None = None  # the .avatar file this came from, if any
    _frames: np.ndarray | None = field(default=None, repr=False, compare=False)

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, check_frames: bool = True) -> "AvatarTemplate":
        """Load and validate a template folder or ``.avatar`` archive."""
        src = Path(path)
        if not src.exists():
            raise UserError(f"{src}: avatar template not found")
        archive = None
        if src.is_file():
            if not zipfile.is_zipfile(src):
                raise UserError(f"{src}: not an avatar template (expected a folder with "
                                f"avatar.json or a {AVATAR_SUFFIX} zip archive)")
            archive = src
            src = unpack_avatar(src)
        meta_path = src / "avatar.json"
        if not meta_path.exists():
            raise UserError(f"{meta_path}: missing; {archive or src} is not an avatar template")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{meta_path}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != AVATAR_FORMAT:
            raise UserError(f"{meta_path}: not an avatar description (format must be "
                            f"'{AVATAR_FORMAT}')")
        try:
            if int(meta.get("version", 0)) > AVATAR_VERSION:
                raise UserError(f"{meta_path}: avatar format version {meta.get('version')} is "
                                f"newer than this app reads ({AVATAR_VERSION})")
            fps = int(meta["fps"])
            n = int(meta["num_frames"])
            width, height = int(meta["width"]), int(meta["height"])
            frames = str(meta.get("frames", "frames.mp4"))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{meta_path}: missing or bad field {exc}") from None
        if n <= 0 or fps <= 0 or width <= 0 or height <= 0:
            raise UserError(f"{meta_path}: num_frames, fps, width and height must be positive")
        files = meta.get("files", {})
        lms = _load_npy(src / files.get("landmarks", "landmarks.npy"), (468, 2), "landmarks")
        boxes = _load_npy(src / files.get("boxes", "boxes.npy"), (4,), "face boxes")
        crops = _load_npy(src / files.get("crop_boxes", "crop_boxes.npy"), (4,), "crop boxes")
        for arr, name in ((lms, files.get("landmarks", "landmarks.npy")),
                          (boxes, files.get("boxes", "boxes.npy")),
                          (crops, files.get("crop_boxes", "crop_boxes.npy"))):
            if len(arr) != n:
                raise UserError(f"{src / name}: has {len(arr)} frames but {meta_path} says "
                                f"{n}; the template is inconsistent")
        tpl = cls(src, fps, n, width, height, frames, lms.astype(np.float32),
                  boxes.astype(np.float32), crops.astype(np.int32), meta, archive)
        tpl._check_frames(count=check_frames)
        tpl._check_models()
        return tpl

    def _check_frames(self, count: bool) -> None:
        fp = self.path / self.frames
        if not fp.exists():
            raise UserError(f"{fp}: template frames missing")
        if fp.is_dir():
            found = len(list(fp.glob("*.png")))
        elif count:
            found = _count_mp4_frames(fp)
        else:
            return
        if found != self.num_frames:
            raise UserError(f"{fp}: holds {found} frames but avatar.json says "
                            f"{self.num_frames}; the template is inconsistent")

    def _check_models(self) -> None:
        from studio.runtime.manifest import Manifest

        folder = self.path / "models"
        if not folder.exists():
            return
        present = [p for p in MODEL_PARTS if (folder / p).exists()]
        if not present:
            return
        missing = [p for p in MODEL_PARTS if p not in present]
        if missing:
            raise UserError(f"{folder}: has {', '.join(present)} but not "
                            f"{', '.join(missing)}; the lip-sync pair needs both")
        for p in MODEL_PARTS:
            m = Manifest.load(folder / p / "manifest.json")
            if not m.model_path.exists():
                raise UserError(f"{m.model_path}: model file missing (named by {m.path})")

    # -- models -----------------------------------------------------------------------------
    @property
    def has_models(self) -> bool:
        return all((self.path / "models" / p / "manifest.json").exists() for p in MODEL_PARTS)

    def model_dir(self, part: str) -> Path | None:
        """``models/audio_encoder`` or ``models/unet`` of this template, or None if absent."""
        if part not in MODEL_PARTS:
            raise ValueError(f"unknown model part {part!r}; expected one of {MODEL_PARTS}")
        d = self.path / "models" / part
        return d if (d / "manifest.json").exists() else None

    # -- frames -----------------------------------------------------------------------------
    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Template frames ``start..stop-1`` as (H, W, 3) uint8 RGB, in order."""
        stop = self.num_frames if stop is None else min(stop, self.num_frames)
        fp = self.path / self.frames
        if fp.is_dir():
            for i in range(start, stop):
                yield _read_image(fp / f"{i:06d}.png")
            return
        import av

        try:
            with av.open(str(fp)) as c:
                for i, f in enumerate(c.decode(video=0)):
                    if i >= stop:
                        break
                    if i >= start:
                        yield f.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise UserError(f"{fp}: cannot decode the template frames ({exc})") from None

    def load_frames(self) -> np.ndarray:
        """All frames at once, (T, H, W, 3) uint8 (mind the memory on long templates)."""
        arr = np.stack(list(self.iter_frames()))
        if len(arr) != self.num_frames:
            raise UserError(f"{self.path / self.frames}: decoded {len(arr)} frames, expected "
                            f"{self.num_frames}")
        return arr

    def frame_index(self, i: int) -> int:
        return frame_index(i, self.num_frames)

    # -- the render protocol (studio.talk.render.Template) ------------------------------------
    @property
    def n_frames(self) -> int:
        return self.num_frames

    def frame(self, k: int) -> np.ndarray:
        """Template frame ``k`` (RGB uint8). All frames are decoded once, on first use, and
        kept in memory (a 10 s 720p template is about 700 MB)."""
        if self._frames is None:
            self._frames = self.load_frames()
        return self._frames[k]

    def crop_box(self, k: int) -> np.ndarray:
        """The lip-sync crop of frame ``k``: x0, y0, x1, y1 (x1, y1 exclusive)."""
        return self.crop_boxes[k]

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps


def write_template_meta(folder: str | os.PathLike, *, fps: int, num_frames: int,
                        width: int, height: int, frames: str, landmarks: np.ndarray,
                        boxes: np.ndarray, crop_boxes: np.ndarray,
                        extra: dict | None = None) -> dict:
    """Write avatar.json and the .npy arrays into ``folder`` (frames written separately)."""
    folder = Path(folder)
    np.save(folder / "landmarks.npy", np.asarray(landmarks, dtype=np.float32))
    np.save(folder / "boxes.npy", np.asarray(boxes, dtype=np.float32))
    np.save(folder / "crop_boxes.npy", np.asarray(crop_boxes, dtype=np.int32))
    meta = {
        "format": AVATAR_FORMAT, "version": AVATAR_VERSION,
        "fps": int(fps), "num_frames": int(num_frames), "width": int(width),
        "height": int(height), "frames": frames,
        "files": {"landmarks": "landmarks.npy", "boxes": "boxes.npy",
                  "crop_boxes": "crop_boxes.npy"},
        "landmarks": "MediaPipe face mesh, 468 points, frame pixels, Savitzky-Golay smoothed",
        "crop_rule": CROP_RULE,
        "frame_order": "ping-pong (0..T-1, T-2..1, 0..)",
    }
    meta.update(extra or {})
    (folder / "avatar.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def copy_models(src: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Copy a lip-sync model pair (``src/audio_encoder``, ``src/unet``) into
    ``folder/models``; checks both manifests first."""
    from studio.runtime.manifest import Manifest

    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: model folder not found (expected audio_encoder/ and unet/)")
    for p in MODEL_PARTS:
        m = Manifest.load(src / p / "manifest.json")
        if not m.model_path.exists():
            raise UserError(f"{m.model_path}: model file missing (named by {m.path})")
    for p in MODEL_PARTS:
        shutil.copytree(src / p, Path(folder) / "models" / p)


# --- archives ------------------------------------------------------------------------------

def pack_avatar(folder: str | os.PathLike, archive: str | os.PathLike) -> Path:
    """Zip a template folder into one ``.avatar`` file (media stored, arrays deflated)."""
    folder, archive = Path(folder), Path(archive)
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                compress = (zipfile.ZIP_STORED if p.suffix in (".mp4", ".png", ".onnx")
                            else zipfile.ZIP_DEFLATED)
                z.write(p, p.relative_to(folder).as_posix(), compress_type=compress)
    return archive


def _cache_root() -> Path:
    from studio.paths import user_cache_dir

    return user_cache_dir() / "avatars"


def unpack_avatar(archive: str | os.PathLike, dest: str | os.PathLike | None = None) -> Path:
    """Unpack a ``.avatar`` archive (once: reused while the archive is unchanged) and return
    the folder. Refuses entries that would land outside the folder."""
    archive = Path(archive)
    st = archive.stat()
    key = hashlib.sha1(f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    target = Path(dest) if dest else _cache_root() / f"{archive.stem}-{key[:12]}"
    if (target / "avatar.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                name = Path(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise UserError(f"{archive}: unsafe path in archive: {info.filename}")
            z.extractall(tmp)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"{archive}: damaged avatar archive ({exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
