"""What kind of file is this, and which workbench handles it (drag-and-drop routing)."""

from __future__ import annotations

import json
import zipfile
from enum import Enum
from pathlib import Path

AUDIO_EXT = {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus", ".aiff", ".aif"}
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m4v", ".y4m",
             ".ivf", ".264", ".h264", ".265", ".hevc", ".ts", ".mts"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
AVATAR_EXT = {".avatar"}  # a zipped avatar template
AVATAR_MARKER = "avatar.json"  # a template folder holds this file


class FileKind(str, Enum):
    AUDIO = "audio"
    VIDEO = "video"
    IMAGE = "image"
    BVH = "bvh"
    DEEPMIMIC = "deepmimic clip"
    AVATAR = "avatar template"
    STUDIO_PROJECT = "codec project"
    UNKNOWN = "unknown"


class Workbench(str, Enum):
    TALK = "Talk"
    MOTION = "Motion"
    CODEC = "Codec"


def _is_deepmimic(path: Path) -> bool:
    """DeepMimic clips are JSON with a 'Frames' list, usually named *.txt or *.json."""
    try:
        if path.stat().st_size > 50_000_000:
            return False
        with path.open("r", encoding="utf-8") as fh:
            head = fh.read(4096)
        if '"Frames"' not in head and "'Frames'" not in head:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
        return isinstance(data, dict) and isinstance(data.get("Frames"), list)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def classify(path: str | Path) -> FileKind:
    p = Path(path)
    ext = p.suffix.lower()
    if p.is_dir():
        if (p / AVATAR_MARKER).exists():
            return FileKind.AVATAR
        return FileKind.STUDIO_PROJECT if (p / "project.json").exists() else FileKind.UNKNOWN
    if ext in AUDIO_EXT:
        return FileKind.AUDIO
    if ext in VIDEO_EXT:
        return FileKind.VIDEO
    if ext in IMAGE_EXT:
        return FileKind.IMAGE
    if ext == ".bvh":
        return FileKind.BVH
    if ext in AVATAR_EXT or (ext == ".zip" and _zip_has_avatar(p)):
        return FileKind.AVATAR
    if p.name == "project.json" or ext == ".nmsproj":
        return FileKind.STUDIO_PROJECT
    if ext in (".txt", ".json") and _is_deepmimic(p):
        return FileKind.DEEPMIMIC
    return FileKind.UNKNOWN


def _zip_has_avatar(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as zf:
            return any(n.endswith(AVATAR_MARKER) for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def route(path: str | Path, active: Workbench | None = None) -> tuple[Workbench | None, FileKind]:
    """The workbench a dropped file goes to. A video goes to Codec, unless the Talk
    workbench is active: then it is a talking-face clip to use as an avatar template."""
    kind = classify(path)
    if kind in (FileKind.AUDIO, FileKind.AVATAR):
        return Workbench.TALK, kind
    if kind in (FileKind.BVH, FileKind.DEEPMIMIC):
        return Workbench.MOTION, kind
    if kind is FileKind.VIDEO:
        return (Workbench.TALK if active is Workbench.TALK else Workbench.CODEC), kind
    if kind in (FileKind.STUDIO_PROJECT, FileKind.IMAGE):   # images: still-image codecs
        return Workbench.CODEC, kind
    return None, kind


def unsupported_message(path: str | Path) -> str:
    p = Path(path)
    return (f"{p.name}: no workbench opens this type of file ({p.suffix or 'no extension'}). "
            "Talk takes audio (WAV, MP3, FLAC, M4A) and avatar templates; Motion takes BVH and "
            "DeepMimic clips; Codec takes video (MP4, MKV, MOV, WebM, Y4M...) and images (PNG, "
            "JPEG...).")
