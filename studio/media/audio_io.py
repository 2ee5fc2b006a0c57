"""Decode any audio (or the audio track of a video) to float32 mono at a fixed rate.

``load_audio`` is the one way audio enters the engine. It reads with soundfile (libsndfile:
WAV, FLAC, OGG, MP3, AIFF...) where it can and falls back to PyAV (FFmpeg: M4A/AAC, Opus,
MP4/MKV/MOV audio tracks, anything else FFmpeg knows). Channels are averaged to mono (as
``librosa.to_mono`` does) and the result is resampled with soxr at "HQ" quality, block by
block, so a long file never has to sit in memory at its original rate and channel count.

The output length is ``ceil(n * sr / orig_sr)``, the same rule as ``librosa.load`` (which the
SyncTalk_2D / Wav2Lip reference code uses); for files soundfile reads, the samples match
``librosa.load(path, sr=16000)`` to ~1e-7. (Inputs of a few samples, which soxr's filter
delay would swallow, are linearly interpolated instead.) Problems a user can fix (missing
file, not audio, corrupt data, no audio track, no samples) raise
:class:`~studio.jobs.UserError` whose message starts with the file name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from studio.jobs import Cancelled, UserError

log = logging.getLogger(__name__)

DEFAULT_SR = 16000
_BLOCK = 1 << 16  # frames per soundfile block


@dataclass(frozen=True)
class AudioInfo:
    """What the source file held, before downmixing and resampling."""

    path: str
    sample_rate: int   # original rate, Hz
    channels: int      # original channel count
    num_samples: int   # original samples per channel
    decoder: str       # "soundfile" or "pyav"
    format: str        # container/codec as the decoder names it, e.g. "WAV", "mp3", "aac"

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: ``samples`` is float32, mono, 1-D, at ``sr`` Hz."""

    samples: np.ndarray
    sr: int
    info: AudioInfo

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sr

    @property
    def num_samples(self) -> int:
        return int(len(self.samples))


def output_length(num_samples: int, orig_sr: int, sr: int) -> int:
    """Samples after resampling ``num_samples`` from ``orig_sr`` to ``sr``: ceil, like librosa."""
    if num_samples <= 0:
        return 0
    return -(-num_samples * sr // orig_sr)  # exact integer ceil


class _MonoResampler:
    """Accumulates blocks of any channel count, downmixes to mono, resamples with soxr."""

    def __init__(self, orig_sr: int, sr: int) -> None:
        self.orig_sr = int(orig_sr)
        self.sr = int(sr)
        self.n_in = 0
        self._parts: list[np.ndarray] = []
        self._stream = None
        self._raw: list[np.ndarray] = []  # inputs kept for the tiny-input fallback
        if self.orig_sr != self.sr:
            import soxr

            self._stream = soxr.ResampleStream(self.orig_sr, self.sr, 1, dtype="float32",
                                               quality="HQ")

    def push(self, block: np.ndarray, channel_axis: int) -> None:
        """``block`` is (frames, ch) with channel_axis=1, or (ch, frames) with channel_axis=0."""
        if block.size == 0:
            return
        if block.shape[channel_axis] == 1:
            mono = np.ascontiguousarray(block.reshape(-1), dtype=np.float32)
        else:
            mono = block.mean(axis=channel_axis, dtype=np.float64).astype(np.float32)
        self.n_in += len(mono)
        if self._stream is None:
            self._parts.append(mono)
            return
        if self.n_in <= 64:
            self._raw.append(mono)
        self._parts.append(self._stream.resample_chunk(mono, last=False))

    def finish(self) -> np.ndarray:
        if self._stream is not None:
            self._parts.append(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        y = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        if self._stream is None:
            return y.astype(np.float32, copy=False)
        want = output_length(self.n_in, self.orig_sr, self.sr)
        if len(y) < want and self.n_in <= 64:
            # soxr's filter delay swallows inputs of a few samples; interpolate instead.
            x = np.concatenate(self._raw)
            t_out = np.arange(want) * (self.orig_sr / self.sr)
            y = np.interp(t_out, np.arange(len(x)), x).astype(np.float32)
        if len(y) >= want:
            return np.ascontiguousarray(y[:want], dtype=np.float32)
        return np.pad(y, (0, want - len(y))).astype(np.float32)


Check = Callable[[], None]


def _no_check() -> None:
    pass


def _read_soundfile(path: Path, sr: int, check: Check) -> tuple[np.ndarray, AudioInfo]:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        orig_sr, channels, fmt = int(f.samplerate), int(f.channels), str(f.format)
        acc = _MonoResampler(orig_sr, sr)
        while True:
            block = f.read(_BLOCK, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            acc.push(block, channel_axis=1)
            check()
    y = acc.finish()
    return y, AudioInfo(str(path), orig_sr, channels, acc.n_in, "soundfile", fmt)


def _read_pyav(path: Path, sr: int, check: Check) -> tuple[np.ndarray, AudioInfo]:
    import av

    with av.open(str(path), mode="r") as container:
        if not container.streams.audio:
            kinds = sorted({s.type for s in container.streams})
            what = f" (it has {', '.join(kinds)} only)" if kinds else ""
            raise UserError(f"{path.name}: has no audio track{what}.")
        stream = container.streams.audio[0]
        fmt = f"{container.format.name}/{stream.codec_context.name}"
        to_float = av.AudioResampler(format="fltp")  # keeps rate and layout
        acc: _MonoResampler | None = None
        orig_sr = int(stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)

        def take(frames) -> None:
            nonlocal acc, orig_sr, channels
            for fr in frames:
                if acc is None:
                    orig_sr = int(fr.sample_rate)
                    channels = int(fr.layout.nb_channels)
                    acc = _MonoResampler(orig_sr, sr)
                # A mid-stream rate change is rare enough to ignore (FFmpeg keeps the first).
                acc.push(fr.to_ndarray(), channel_axis=0)

        for k, frame in enumerate(container.decode(stream)):
            take(to_float.resample(frame))
            if k % 64 == 63:
                check()
        take(to_float.resample(None))
    if acc is None:
        return np.zeros(0, np.float32), AudioInfo(str(path), orig_sr, channels, 0, "pyav", fmt)
    y = acc.finish()
    return y, AudioInfo(str(path), orig_sr, channels, acc.n_in, "pyav", fmt)


def load_audio(path: str | os.PathLike, sr: int = DEFAULT_SR,
               check: Check | None = None) -> Audio:
    """Decode ``path`` to float32 mono at ``sr`` Hz.

    ``check`` (e.g. ``JobContext.check``) is called every block or so while decoding; what it
    raises (``Cancelled``) propagates.

    Raises :class:`UserError` (message starts with the file name) for a missing or unreadable
    file, a file neither decoder understands, a video without an audio track, or a file that
    decodes to zero samples. A file of a single sample, or pure silence, decodes normally.
    """
    p = Path(path)
    check = check or _no_check
    sr = int(sr)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if not p.exists():
        raise UserError(f"{p.name}: file not found ({p}).")
    if not p.is_file():
        raise UserError(f"{p.name}: is not a file.")
    if not os.access(p, os.R_OK):
        raise UserError(f"{p.name}: cannot be read (permission denied).")
    if p.stat().st_size == 0:
        raise UserError(f"{p.name}: the file is empty (0 bytes).")

    import soundfile as sf

    result: tuple[np.ndarray, AudioInfo] | None = None
    try:
        result = _read_soundfile(p, sr, check)
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        log.debug("soundfile could not read %s (%s); trying PyAV", p, exc)
    if result is None or result[1].num_samples == 0:
        # Not something libsndfile reads (M4A, video...), or it read nothing: ask FFmpeg.
        # On failure ``result`` keeps soundfile's answer (None, or a valid empty file).
        try:
            result = _read_pyav(p, sr, check)
        except Cancelled:
            raise
        except UserError:
            if result is None:
                raise
        except Exception as exc:  # noqa: BLE001 - any decoder failure means a bad file
            if result is None:
                detail = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
                raise UserError(f"{p.name}: cannot decode audio: not a recognised audio or video "
                                f"file, or its data is corrupt ({detail}).") from None

    y, info = result
    if info.num_samples == 0 or len(y) == 0:
        raise UserError(f"{p.name}: contains no audio samples.")
    if not np.isfinite(y).all():
        log.warning("%s: replacing non-finite sample values with 0", p)
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    return Audio(samples=y, sr=int(sr), info=info)

