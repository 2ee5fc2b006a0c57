"""The SyncTalk_2D / Wav2Lip mel front-end, in numpy only, and the per-video-frame mel windows.

This reproduces Wav2Lip's ``audio.melspectrogram`` with its ``hparams`` as SyncTalk_2D uses
them (``utils.melspectrogram``), step by step:

1. pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` (``scipy.signal.lfilter([1, -0.97], [1], x)``),
   computed in float64 like the reference;
2. STFT with n_fft = win = 800, hop = 200, a periodic Hann window, centred frames with
   *zero* padding of n_fft/2 on both sides (``librosa.stft`` defaults; librosa >= 0.10 pads
   with ``"constant"``, SyncTalk_2D pins librosa 0.10.1): ``1 + n // 200`` frames, 80 per
   second at 16 kHz;
3. magnitude, then an 80-band Slaney mel filterbank, 55-7600 Hz, Slaney area normalisation
   (``librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)``: htk=False,
   norm="slaney"), stored as float32 like librosa's;
4. ``20*log10(max(1e-5, S)) - 20`` (ref_level_db = 20);
5. symmetric normalisation to [-4, 4]: ``clip(8 * (S + 100) / 100 - 4, -4, 4)``
   (min_level_db = -100, max_abs_value = 4).

The result is (80, T) float32. Digital silence maps to -4 everywhere.

Video frame ``i`` at ``fps`` frames per second sees the 16 mel frames starting at
``int(80 * i / fps)`` (SyncTalk_2D ``AudDataset.crop_audio_window``), as a (1, 80, 16) window.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB = 20.0
MIN_LEVEL_DB = -100.0
MAX_ABS_VALUE = 4.0
AMP_FLOOR = 1e-5                       # exp(-5 ln 10), Wav2Lip's min_level
MEL_FPS = SAMPLE_RATE // HOP           # 80 mel frames per second
WINDOW = 16                            # mel frames per video frame (0.2 s)
SILENCE = -MAX_ABS_VALUE               # the normalised value of digital silence
PAD_MODES = ("edge", "silence", "clamp")

_CHUNK_FRAMES = 4096                   # STFT frames per block (bounds peak memory)


# ---------------------------------------------------------------------------- filterbank

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's auditory toolbox mel scale (librosa htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = f >= min_log_hz
    return np.where(log_part, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep,
                    mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=8)
def _mel_filterbank_cached(sr: int, n_fft: int, n_mels: int, fmin: float,
                           fmax: float) -> np.ndarray:
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)                          # (n_fft//2+1,)
    mel_pts = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)                                              # (n_mels+2,)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]                              # (n_mels+2, F)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    enorm = 2.0 / (hz_pts[2:n_mels + 2] - hz_pts[:n_mels])                   # Slaney area norm
    weights *= enorm[:, None]        # in float32, as librosa does
    weights.setflags(write=False)
    return weights


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """Slaney-style mel filterbank, (n_mels, n_fft//2 + 1) float32, read-only (cached)."""
    return _mel_filterbank_cached(int(sr), int(n_fft), int(n_mels), float(fmin), float(fmax))


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (scipy.signal.get_window('hann', n, fftbins=True))."""
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    w.setflags(write=False)
    return w


# ---------------------------------------------------------------------------- spectrogram

def mel_frame_count(num_samples: int, hop: int = HOP) -> int:
    """Frames of a centred STFT over ``num_samples`` samples: ``1 + num_samples // hop``."""
    return 1 + int(num_samples) // hop


def preemphasis(wav: np.ndarray, k: float = PREEMPHASIS) -> np.ndarray:
    """``lfilter([1, -k], [1], wav)`` in float64."""
    x = np.asarray(wav, dtype=np.float64)
    y = x.copy()
    y[1:] -= k * x[:-1]
    return y


def _stft_blocks(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP):
    """Yield (first_frame, |STFT| block of shape (frames, n_fft//2 + 1), float64) pieces of a
    centred, zero-padded, Hann-windowed STFT, a few thousand frames at a time."""
    y = np.asarray(y, dtype=np.float64)
    pad = n_fft // 2
    padded = np.pad(y, (pad, pad), mode="constant")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = _hann(n_fft)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        yield s, np.abs(np.fft.rfft(frames[s:s + _CHUNK_FRAMES] * window, axis=1))


def stft_magnitude(y: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT| of ``y`` as (n_fft//2 + 1, T) float64: centred frames, zero padding, Hann window
    (``np.abs(librosa.stft(y, n_fft, hop, n_fft))`` with librosa >= 0.10 defaults)."""
    return np.concatenate([blk for _, blk in _stft_blocks(y, n_fft, hop)], axis=0).T


def _amp_to_normalized(s: np.ndarray) -> np.ndarray:
    db = 20.0 * np.log10(np.maximum(AMP_FLOOR, s)) - REF_LEVEL_DB
    norm = (2.0 * MAX_ABS_VALUE) * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(norm, -MAX_ABS_VALUE, MAX_ABS_VALUE)


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Normalised log-mel spectrogram of 16 kHz mono audio: (80, 1 + len(wav) // 200) float32.

    Values lie in [-4, 4]; -4 is silence. Raises ValueError for empty or non-1-D input.
    Works block-wise, so memory stays at the output plus a few MB.
    """
    wav = np.asarray(wav)
    if wav.ndim != 1:
        raise ValueError(f"melspectrogram expects mono 1-D audio, got shape {wav.shape}")
    if wav.size == 0:
        raise ValueError("melspectrogram needs at least one sample")
    fb = mel_filterbank()
    out = np.empty((N_MELS, mel_frame_count(len(wav))), dtype=np.float32)
    for s, mag in _stft_blocks(preemphasis(wav)):
        # float32 weights x float64 magnitudes -> float64, as np.dot does in the reference
        out[:, s:s + len(mag)] = _amp_to_normalized(fb @ mag.T)
    return out


# ---------------------------------------------------------------------------- video frames

def frame_count(num_samples: int, sr: int = SAMPLE_RATE, fps: int = 25) -> int:
    """Video frames for ``num_samples`` of audio: ``round(fps * seconds)``, halves rounded up,
    computed in integers so it is exact (16000 samples at 25 fps -> 25 frames)."""
    if num_samples <= 0:
        return 0
    return (2 * fps * int(num_samples) + sr) // (2 * sr)


def window_starts(n_frames: int, fps: int = 25, mel_fps: int = MEL_FPS) -> np.ndarray:
    """First mel frame of each video frame's window: ``int(mel_fps * i / fps)`` (int64)."""
    i = np.arange(int(n_frames), dtype=np.int64)
    return (mel_fps * i) // fps     # equals the reference's int(80. * (i / 25.)) exactly


def mel_windows(mel: np.ndarray, n_frames: int, fps: int = 25, pad: str = "edge",
                window: int = WINDOW, *, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Per-video-frame mel windows: (n_frames, 1, 80, window) float32.

    Frame ``i`` takes mel frames ``int(80 i / fps)`` onwards. Where a window runs past the end
    of ``mel``, ``pad`` decides what fills it:

    - ``"edge"`` (default): repeat the last mel frame. The window keeps its timing, and the
      mouth holds the last sound rather than snapping shut.
    - ``"silence"``: fill with -4, the value digital silence produces (audio ends = silence).
      (Plain zeros would be a mid-level sound in this normalised scale, so they are not offered.)
    - ``"clamp"``: shift the window back so it ends at the last mel frame; this is exactly
      SyncTalk_2D's ``crop_audio_window``. If ``mel`` is shorter than the window it is
      edge-padded on the right.

    ``start``/``stop`` (default ``0``/``n_frames``) return only frames ``start .. stop-1``, for
    batching long clips (a window is 5 KiB). Windows are copies; the function is vectorised.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[1] == 0:
        raise ValueError(f"mel must be (n_mels, T) with T >= 1, got shape {mel.shape}")
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    stop = max(int(n_frames), 0) if stop is None else int(stop)
    start = int(start)
    if start < 0 or stop < start:
        raise ValueError(f"bad frame range {start}..{stop}")
    n_mels, t = mel.shape
    starts = window_starts(stop, fps)[start:]
    if pad == "clamp":
        starts = np.minimum(starts, max(t - window, 0))
    idx = starts[:, None] + np.arange(window)[None, :]           # (frames, window)
    out = mel[:, np.minimum(idx, t - 1)].transpose(1, 0, 2)       # (frames, n_mels, window)
    if pad == "silence":
        out = np.where((idx >= t)[:, None, :], np.float32(SILENCE), out)
    return np.ascontiguousarray(out, dtype=np.float32)[:, None]
