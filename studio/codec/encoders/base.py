"""The Encoder seam: what every codec backend of the lab offers, and the shared contracts.

A backend (PyAV's bundled FFmpeg, the FFmpeg executable, later a learned ONNX codec) is an
:class:`Encoder`: it says whether it can run a codec on this machine, checks settings, encodes
a range of reference frames to a file (or a folder of images) and decodes it back frame by
frame. Nothing outside ``encoders/`` knows which backend a codec uses: the sweep asks
``encoder_for(spec)`` and gets an :class:`EncodeResult` whose byte counts are measured the same
way for all of them (see :mod:`studio.codec.encoders.sizes`).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from studio.codec.reference import ReferenceClip, ReferenceInfo

RATE_MODES = ("crf", "bitrate")


@dataclass(frozen=True)
class CodecSpec:
    """How to drive one encoder, whichever backend runs it."""

    key: str                        # short name used in projects and the CLI: x264, vvc, jxl...
    label: str                      # for plots and tables
    encoder: str                    # FFmpeg encoder name
    presets: tuple[str, ...]
    default_preset: str
    crf_ladder: tuple[float, float]  # default fixed ladder (best quality first)
    value_range: tuple[float, float]  # every valid quality value, best first
    backend: str = "pyav"           # pyav | ffmpeg
    intra: bool = False
    image: bool = False             # a still-image codec: one file per frame, rates in bpp
    high_bit_depth: bool = True     # takes yuv420p10le
    only_10bit: bool = False        # takes nothing else (vvenc): 8-bit input is shifted up
    value_name: str = "CRF"         # what the quality number is called (CRF, QP, q, quality...)
    integer_values: bool = True
    rate_modes: tuple[str, ...] = RATE_MODES
    preset_name: str = "preset"     # what a preset is called (preset, cpu-used, speed, effort)
    ext: str = "mp4"                # file extension of the stream (image codecs: per frame)

    @property
    def family(self) -> str:
        return self.key.replace("-intra", "")

    @property
    def crf_max(self) -> float:
        return max(self.value_range)

    @property
    def higher_is_better(self) -> bool:
        """True when a larger quality value means more bits (WebP quality, say)."""
        return self.value_range[0] > self.value_range[1]

    def valid(self, value: float) -> bool:
        lo, hi = sorted(self.value_range)
        return lo <= value <= hi


@dataclass(frozen=True)
class EncodeSettings:
    codec: str
    mode: str          # "crf" (any quality value: CRF, QP, q...) or "bitrate" (kbps)
    value: float
    preset: str
    threads: int = 0   # 0: let the encoder decide


@dataclass
class EncodeResult:
    path: str
    frames: int
    bytes: int                    # elementary stream: coded packets as stored + extradata once
    bitrate_kbps: float           # 8 * bytes / real duration
    encode_s: float
    pix_fmt: str
    frame_bytes: list[int] = field(default_factory=list)   # per frame, presentation order
    keyframes: int = 0
    file_bytes: int = 0           # what is on disk (container overhead included)
    file_kbps: float = 0.0
    extradata_bytes: int = 0
    options: dict[str, str] = field(default_factory=dict)
    command: str = ""
    encoder_version: str = ""


class AlignmentError(RuntimeError):
    """The decoded stream does not line up frame by frame with the reference."""


@dataclass
class DecodedFrame:
    index: int
    planes: list[np.ndarray]   # in the reference's pixel format
    pict_type: str             # I, P, B...


class FrameReader(ABC):
    """Random access to the decoded frames of one encode (for the viewer)."""

    @abstractmethod
    def planes(self, index: int) -> list[np.ndarray]: ...

    def close(self) -> None:  # noqa: B027 - optional
        pass


OnFrame = Callable[[int], None]


class Encoder(ABC):
    """One backend. Stateless: safe to call from worker processes."""

    name = ""

    @abstractmethod
    def available(self, spec: CodecSpec) -> tuple[bool, str]:
        """(usable on this machine, why not)."""

    def outdated(self, spec: CodecSpec, value: float, options: dict[str, str]) -> str:
        """Why a point encoded earlier with these ``options`` would not come out the same
        now (e.g. a learned codec's model retrained since), or "" when it would: a sweep
        re-encodes outdated points instead of skipping them."""
        return ""

    def check(self, spec: CodecSpec, s: EncodeSettings) -> None:
        """Raise ValueError for settings the encoder would refuse."""
        if s.mode not in spec.rate_modes:
            raise ValueError(f"{spec.key}: rate mode {s.mode!r} not supported; use "
                             f"{' or '.join(spec.rate_modes)}")
        if s.preset not in spec.presets:
            raise ValueError(f"{spec.key}: unknown {spec.preset_name} {s.preset!r}; choose from "
                             f"{', '.join(spec.presets)}")
        if s.mode == "crf" and not spec.valid(s.value):
            lo, hi = sorted(spec.value_range)
            raise ValueError(f"{spec.key}: {spec.value_name} {s.value:g} outside {lo:g}..{hi:g}")
        if s.mode == "bitrate" and s.value <= 0:
            raise ValueError(f"{spec.key}: bitrate must be positive, got {s.value:g} kbps")

    @abstractmethod
    def encode(self, spec: CodecSpec, ref: ReferenceClip, s: EncodeSettings,
               out_path: str | os.PathLike, on_frame: OnFrame | None = None,
               check_cancel: Callable[[], None] | None = None) -> EncodeResult:
        """Encode every reference frame to ``out_path`` (a file, or a folder for image
        codecs); the caller owns atomicity (temp path, rename on success)."""

    @abstractmethod
    def decode(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo,
               expected: int | None = None) -> Iterator[DecodedFrame]:
        """Decoded frames in presentation order, in the reference's pixel format; raises
        :class:`AlignmentError` when picture ``i`` is not reference frame ``i``."""

    @abstractmethod
    def reader(self, spec: CodecSpec, path: str | os.PathLike, info: ReferenceInfo) -> FrameReader:
        ...


def to_8bit(planes: list[np.ndarray]) -> list[np.ndarray]:
    """10-bit samples -> 8 bits by exact rounding (no dither), as every comparison expects."""
    return [((p.astype(np.uint32) + 2) >> 2).clip(0, 255).astype(np.uint8) for p in planes]


def to_10bit(planes: list[np.ndarray]) -> list[np.ndarray]:
    """8-bit samples -> 10 bits, exactly (x << 2)."""
    return [p.astype(np.uint16) << 2 for p in planes]


def convert_planes(planes: list[np.ndarray], have: str, want: str) -> list[np.ndarray]:
    if have == want:
        return planes
    if have == "yuv420p10le" and want == "yuv420p":
        return to_8bit(planes)
    if have == "yuv420p" and want == "yuv420p10le":
        return to_10bit(planes)
    raise ValueError(f"cannot convert {have} planes to {want}")
