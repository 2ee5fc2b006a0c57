"""Every codec the lab can run, behind one :class:`Encoder` seam.

``CODECS`` is the catalogue (key -> :class:`CodecSpec`); ``encoder_for(key)`` gives the backend
that runs it (PyAV's bundled FFmpeg, or the FFmpeg executable), and nothing else in the app
needs to know which one it is. A learned codec becomes a third backend here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from studio.codec.encoders.base import (RATE_MODES, AlignmentError, CodecSpec, DecodedFrame,
                                        EncodeResult, EncodeSettings, Encoder, FrameReader)
from studio.codec.encoders.exe_backend import FFmpegExeEncoder
from studio.codec.encoders.learned_backend import (USER_PREFIX, LearnedEncoder, is_user_learned,
                                                  learned_spec, user_codec_key,
                                                  user_learned_spec)
from studio.codec.encoders.pyav_backend import PyAvEncoder, StreamFrameReader
from studio.codec.reference import ReferenceClip, ReferenceInfo
from studio.jobs import UserError

__all__ = ["RATE_MODES", "AlignmentError", "CodecSpec", "DecodedFrame", "EncodeResult",
           "EncodeSettings", "Encoder", "FrameReader", "CODECS", "codec_spec", "encoder_for",
           "available_codecs", "ladder", "encode_clip", "decode_points", "StreamFrameReader",
           "check_settings", "resolve_codec", "register_user_codec", "user_codec_record",
           "register_user_codecs", "user_codecs_dir", "is_user_learned", "USER_PREFIX"]

_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")
_SVT_PRESETS = tuple(str(i) for i in range(14))
_VPX_PRESETS = tuple(str(i) for i in range(9))   # libvpx cpu-used with deadline=good
_AOM_PRESETS = tuple(str(i) for i in range(9))   # libaom cpu-used
_RAV1E_PRESETS = tuple(str(i) for i in range(11))
_VVENC_PRESETS = ("faster", "fast", "medium", "slow", "slower")

_VIDEO = [
    CodecSpec("x264", "H.264 (x264)", "libx264", _X26X_PRESETS, "medium", (22, 38), (0, 51)),
    CodecSpec("x265", "HEVC (x265)", "libx265", _X26X_PRESETS, "medium", (22, 38), (0, 51)),
    CodecSpec("av1", "AV1 (SVT-AV1)", "libsvtav1", _SVT_PRESETS, "8", (24, 63), (0, 63)),
    CodecSpec("vp9", "VP9 (libvpx)", "libvpx-vp9", _VPX_PRESETS, "4", (20, 63), (0, 63),
              high_bit_depth=False, preset_name="cpu-used"),
    CodecSpec("vvc", "VVC (vvenc)", "libvvenc", _VVENC_PRESETS, "faster", (22, 42), (0, 63),
              backend="ffmpeg", only_10bit=True, value_name="QP"),
    CodecSpec("aom", "AV1 (libaom)", "libaom-av1", _AOM_PRESETS, "6", (24, 60), (0, 63),
              backend="ffmpeg", preset_name="cpu-used"),
    CodecSpec("rav1e", "AV1 (rav1e)", "librav1e", _RAV1E_PRESETS, "6", (60, 200), (0, 255),
              backend="ffmpeg", value_name="QP", preset_name="speed"),
]
_IMAGE = [
    CodecSpec("jpeg", "JPEG", "mjpeg", ("default",), "default", (2, 24), (1, 31),
              backend="ffmpeg", image=True, intra=True, high_bit_depth=False, value_name="q",
              rate_modes=("crf",), ext="jpg"),
    CodecSpec("webp", "WebP", "libwebp", tuple(str(i) for i in range(7)), "4", (95, 20),
              (100, 0), backend="ffmpeg", image=True, intra=True, high_bit_depth=False,
              value_name="quality", rate_modes=("crf",), preset_name="method", ext="webp"),
    CodecSpec("avif", "AVIF (libaom)", "libaom-av1", _AOM_PRESETS, "6", (10, 55), (0, 63),
              backend="ffmpeg", image=True, intra=True, rate_modes=("crf",),
              preset_name="cpu-used", ext="avif"),
    CodecSpec("jxl", "JPEG XL", "libjxl", tuple(str(i) for i in range(1, 10)), "7", (0.5, 6.0),
              (0.0, 25.0), backend="ffmpeg", image=True, intra=True, value_name="distance",
              integer_values=False, rate_modes=("crf",), preset_name="effort", ext="jxl"),
    CodecSpec("j2k", "JPEG 2000 (OpenJPEG)", "libopenjpeg", ("default",), "default", (4, 64),
              (1, 400), backend="ffmpeg", image=True, intra=True, value_name="ratio",
              rate_modes=("crf",), ext="j2k"),
]

CODECS: dict[str, CodecSpec] = {}
for _spec in _VIDEO:
    CODECS[_spec.key] = _spec
    if _spec.family != "rav1e":
        CODECS[_spec.key + "-intra"] = CodecSpec(
            **{**_spec.__dict__, "key": _spec.key + "-intra",
               "label": _spec.label.replace(")", ", all-intra)"), "intra": True})
for _spec in _IMAGE:
    CODECS[_spec.key] = _spec
CODECS["learned"] = learned_spec()   # the shipped learned codec (models/learned_codec)
CODECS["learned-p"] = learned_spec("learned-p", temporal=True)   # its temporal mode
_BUILTIN = frozenset(CODECS)

_BACKENDS: dict[str, Encoder] = {"pyav": PyAvEncoder(), "ffmpeg": FFmpegExeEncoder(),
                                 "learned": LearnedEncoder()}


# --- users' learned codecs ----------------------------------------------------------------
# A user's learned codec is a folder of rate points laid out like models/learned_codec (q1..qN,
# each with codec.json, analysis/, synthesis/, entropy.npz). ``resolve_codec`` turns a path
# (or a name: a folder under <user data>/codecs/) into a key ``learned:<folder name>`` and adds
# it to CODECS for this process; projects store key -> folder (``user_codecs`` in
# project.json) and register it again when they are opened, and sweep workers get it in their
# task, so the key means the same folder everywhere.

def user_codecs_dir() -> Path:
    """Where named learned codecs live: ``<user data dir>/codecs/<name>/``."""
    from studio import paths

    return paths.user_data_dir() / "codecs"


def register_user_codec(folder: str | os.PathLike, key: str | None = None, label: str = "",
                        qualities: list[int] | None = None, replace: bool = False) -> str:
    """Add a user's learned codec to CODECS (the folder is not checked here) -> its key. The
    same key for another folder is refused unless ``replace`` (a project being opened)."""
    key = key or user_codec_key(Path(folder).expanduser())   # a link's name, not its target's
    folder = Path(folder).expanduser().resolve()
    if key in _BUILTIN:
        raise UserError(f"{key}: a built-in codec's key; rename the folder {folder}")
    old = CODECS.get(key)
    if old is not None and Path(old.encoder) != folder and not replace \
            and Path(old.encoder).exists():   # (a folder that moved takes its new place)
        raise UserError(f"two learned codecs named {key}: {old.encoder} and {folder}; rename "
                        f"one of the folders")
    if old is None or Path(old.encoder) != folder or replace:
        CODECS[key] = user_learned_spec(folder, key, label, qualities)
    return key


def register_user_codecs(records: dict[str, dict], replace: bool = True) -> None:
    """Register the ``user_codecs`` of a project (key -> {path, label, qualities})."""
    for key, rec in (records or {}).items():
        if key in CODECS and Path(CODECS[key].encoder) == Path(rec.get("path", "")):
            continue
        register_user_codec(rec["path"], key, str(rec.get("label", "")),
                            [int(q) for q in rec.get("qualities") or []] or None, replace)


def user_codec_record(key: str) -> dict:
    """What a project stores of a user's codec, so reopening it needs nothing else."""
    spec = codec_spec(key)
    lo, hi = sorted(spec.value_range)
    from studio.codec.learned.model import rate_points_by_quality

    qualities = sorted(rate_points_by_quality(spec.encoder)) or list(range(int(lo), int(hi) + 1))
    return {"path": spec.encoder, "label": spec.label, "qualities": qualities}


def resolve_codec(name: str) -> str:
    """A codec as the user names it -> its key in CODECS: a key (x264, learned...), a path to
    a learned codec's folder, or the name of one under <user data>/codecs/ (bare or as
    ``learned:NAME``). A folder that is not a learned codec is a UserError naming what is
    missing."""
    from studio.codec.learned.model import LearnedModelError, check_family

    name = name.strip()
    if name in CODECS:
        return name
    bare = name[len(USER_PREFIX):] if name.startswith(USER_PREFIX) else name
    path = Path(name).expanduser()
    looks_like_path = os.sep in name or "/" in name or name.startswith(".") or path.exists()
    if not looks_like_path:
        named = user_codecs_dir() / bare
        if not named.exists():
            raise UserError(f"unknown codec {name!r}: not a codec key ({', '.join(CODECS)}), "
                            f"nor a learned codec's folder, nor one named {bare!r} in "
                            f"{user_codecs_dir()}")
        path = named
    try:
        check_family(path)
    except LearnedModelError as exc:
        raise UserError(f"--codecs {name}: {exc}") from None
    return register_user_codec(path)


def codec_spec(key: str) -> CodecSpec:
    try:
        return CODECS[key]
    except KeyError:
        raise ValueError(f"unknown codec {key!r}; choose from {', '.join(CODECS)}") from None


def encoder_for(key: str | CodecSpec) -> Encoder:
    spec = codec_spec(key) if isinstance(key, str) else key
    return _BACKENDS[spec.backend]


def available_codecs() -> dict[str, tuple[bool, str]]:
    """Which codecs this machine can encode, with a reason when it cannot."""
    return {k: encoder_for(s).available(s) for k, s in CODECS.items()}


def check_settings(s: EncodeSettings) -> None:
    spec = codec_spec(s.codec)
    encoder_for(spec).check(spec, s)


def ladder(key: str, mode: str, points: int, width: int, height: int, fps: float) -> list[float]:
    """The fixed ladder: an even spread over the codec's default quality range, or bitrates
    (kbps) spread evenly in log scale between 0.02 and 0.25 bits per pixel (x3 for all-intra).

    The CRF ranges are set so the video codecs land on overlapping PSNR ranges on a GRID
    talking-head clip (x264 CRF 22-38, SVT-AV1 24-63 and VP9 20-63 span about 35-45 dB); the
    content-adaptive ladder (studio.codec.adaptive) fits the range to each clip instead."""
    spec = codec_spec(key)
    if points < 1:
        raise ValueError("points must be >= 1")
    if mode == "crf":
        lo, hi = spec.crf_ladder
        vals = np.linspace(lo, hi, points) if points > 1 else np.array([(lo + hi) / 2])
        return round_values(spec, vals)
    if mode == "bitrate":
        if "bitrate" not in spec.rate_modes:
            raise ValueError(f"{key}: no bitrate mode; use a quality ladder")
        pps = width * height * fps
        scale = 3.0 if spec.intra else 1.0
        bpp = np.geomspace(0.25, 0.02, points) if points > 1 else np.array([0.08])
        return [float(max(1, round(b * pps * scale / 1000.0))) for b in bpp]
    raise ValueError(f"unknown rate mode {mode!r}; use crf or bitrate")


def round_values(spec: CodecSpec, vals) -> list[float]:
    """Valid, distinct ladder values in best-quality-first order."""
    lo, hi = sorted(spec.value_range)
    out = []
    for v in vals:
        v = float(np.clip(v, lo, hi))
        v = float(round(v)) if spec.integer_values else round(v, 2)
        if v not in out:
            out.append(v)
    return sorted(out, reverse=spec.higher_is_better)


# --- conveniences over the seam (tests, tools) -------------------------------------------------

def encode_clip(ref: ReferenceClip, settings: EncodeSettings, out_path: str | os.PathLike,
                on_frame=None, check_cancel=None) -> EncodeResult:
    spec = codec_spec(settings.codec)
    return encoder_for(spec).encode(spec, ref, settings, out_path, on_frame, check_cancel)


def decode_points(path: str | os.PathLike, info: ReferenceInfo, expected: int | None = None,
                  codec: str = "x264") -> Iterator[DecodedFrame]:
    spec = codec_spec(codec)
    return encoder_for(spec).decode(spec, path, info, expected)
