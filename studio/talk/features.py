"""Per-video-frame audio features for the SyncTalk_2D U-Net, from audio-encoder rows.

An audio encoder gives one *row* per video frame. The U-Net's audio input for frame ``i``
is the 16 rows ``i-8 .. i+7`` (zeros where they fall outside the rows), stacked and
reshaped in C order to the mode's target shape. This is SyncTalk_2D's
``get_audio_features(features, i)`` followed by ``audio_feat.reshape(...)``:

- ``ave``: a row is (512,), the AudioEncoder output for one (1, 80, 16) mel window; 25 fps;
  U-Net input (32, 16, 16).
- ``hubert``: a row is (2, 1024), two 50 Hz HuBERT-large frames
  (``make_even_first_dim(h).reshape(-1, 2, 1024)``); 25 fps; U-Net input (32, 32, 32).
  The frames come from a waveform feature extractor (:mod:`studio.talk.waveform`).
- ``wenet``: a row is (16, 512), the WeNet conformer encoder output for a 67-frame fbank chunk
  (chunks hop 5 fbank frames = 50 ms); 20 fps; U-Net input (256, 16, 32).

16 x 512 = 8192 = 32*16*16; 16 x 2 x 1024 = 32768 = 32*32*32; 16 x 16 x 512 = 131072 =
256*16*32.

Row alignment (``FeatureMode.row_delay``): SyncTalk_2D's "ave" pipeline (training data
``aud_ave.npy`` and ``inference.py`` alike) prepends a copy of the first encoder output and
appends a copy of the last, so video frame ``i`` is paired with the encoder output of mel
window ``i - 1`` (frame 0 with window 0). A model trained that way expects this one-frame
delay; :func:`align_rows` applies it. HuBERT and WeNet rows are used as they come (delay 0).

Edges: the reference pads with ``zeros_like(auds[:pad])``, which yields *fewer* than 16 rows
when the clip has fewer rows than the padding needs (under ~0.3 s); here the window is always
16 rows, zero-padded, which equals the reference wherever the reference works.

Offline, "ave" mode::

    n = mel.frame_count(len(audio.samples))               # round(25 * seconds)
    windows = mel.mel_windows(mel.melspectrogram(audio.samples), n)   # (n, 1, 80, 16)
    enc = audio_encoder(windows)                           # (n, 512)
    rows = align_rows(enc, "ave")                          # the one-frame SyncTalk delay
    batch = stack_features(rows, "ave", start, stop)       # (stop-start, 32, 16, 16)

Live mode: :class:`RowRing` keeps the newest rows and builds frame ``i``'s feature from
whatever has arrived; rows not yet computed (the future) count as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureMode:
    name: str
    row_shape: tuple[int, ...]             # one encoder row per video frame
    fps: int                               # video frame rate the rows are aligned to
    target_shape: tuple[int, int, int]     # U-Net audio input per frame (batch dim excluded)
    row_delay: int = 0                     # frame i uses encoder output i - row_delay
    window: int = 16                       # rows per frame
    left: int = 8                          # rows before frame i (i-8 .. i+7)

    def __post_init__(self) -> None:
        if int(np.prod(self.row_shape)) * self.window != int(np.prod(self.target_shape)):
            raise ValueError(f"mode {self.name!r}: {self.window} rows of {self.row_shape} "
                             f"do not reshape to {self.target_shape}")
        if not 0 <= self.left < self.window:
            raise ValueError(f"mode {self.name!r}: left={self.left} outside the window")

    @property
    def right(self) -> int:
        """Future rows a frame needs beyond itself (7 for the default window)."""
        return self.window - self.left - 1

    @property
    def row_size(self) -> int:
        return int(np.prod(self.row_shape))


MODES: dict[str, FeatureMode] = {
    "ave": FeatureMode("ave", (512,), 25, (32, 16, 16), row_delay=1),
    "hubert": FeatureMode("hubert", (2, 1024), 25, (32, 32, 32)),
    "wenet": FeatureMode("wenet", (16, 512), 20, (256, 16, 32)),
}


def get_mode(mode: str | FeatureMode) -> FeatureMode:
    if isinstance(mode, FeatureMode):
        return mode
    try:
        return MODES[mode]
    except KeyError:
        raise ValueError(f"unknown audio feature mode {mode!r}; "
                         f"expected one of {sorted(MODES)}") from None


def _check_rows(rows: np.ndarray, m: FeatureMode) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.shape[1:] != m.row_shape:
        raise ValueError(f"mode {m.name!r} expects encoder rows of shape (N, "
                         f"{', '.join(map(str, m.row_shape))}), got {rows.shape}")
    return rows


def align_rows(encoder_out: np.ndarray, mode: str | FeatureMode = "ave",
               n_frames: int | None = None) -> np.ndarray:
    """Rows per video frame from raw encoder outputs: row ``i`` is output ``i - row_delay``,
    clamped to the available outputs (SyncTalk_2D's first/last-row duplication).

    ``n_frames`` defaults to ``len(encoder_out)``; frames past the outputs repeat the last one.
    """
    m = get_mode(mode)
    enc = _check_rows(encoder_out, m)
    n = len(enc) if n_frames is None else int(n_frames)
    if n <= 0:
        return np.zeros((0, *m.row_shape), np.float32)
    if len(enc) == 0:
        raise ValueError("align_rows needs at least one encoder output")
    src = np.clip(np.arange(n) - m.row_delay, 0, len(enc) - 1)
    return enc[src]


def stack_features(rows: np.ndarray, mode: str | FeatureMode = "ave", start: int = 0,
                   stop: int | None = None) -> np.ndarray:
    """U-Net audio inputs for frames ``start .. stop-1``: (stop-start, *target_shape) float32.

    ``rows`` is (N, *row_shape), one row per video frame (see :func:`align_rows`). Frame ``i``
    stacks rows ``i-8 .. i+7``, zero outside ``0 .. N-1``, then reshapes in C order. Frames
    may lie beyond N (all their rows are then missing/zero). Pass ``start``/``stop`` to build
    a batch at a time: a frame costs 32 KiB (ave) to 512 KiB (wenet).
    """
    m = get_mode(mode)
    rows = _check_rows(rows, m)
    n = len(rows)
    stop = n if stop is None else int(stop)
    start = int(start)
    if start < 0 or stop < start:
        raise ValueError(f"bad frame range {start}..{stop}")
    count = stop - start
    if count == 0:
        return np.zeros((0, *m.target_shape), np.float32)
    # Padded copy of just the rows this range touches: padded[k] = rows[start - left + k].
    lo, hi = start - m.left, stop + m.right            # row span, hi exclusive
    padded = np.zeros((hi - lo, *m.row_shape), np.float32)
    a, b = max(lo, 0), min(hi, n)
    if b > a:
        padded[a - lo:b - lo] = rows[a:b]
    win = np.lib.stride_tricks.sliding_window_view(padded, m.window, axis=0)
    # win: (count, *row_shape, window) -> (count, window, *row_shape), then C-order reshape.
    win = np.moveaxis(win, -1, 1)
    return np.ascontiguousarray(win).reshape(count, *m.target_shape)


def frame_feature(rows: np.ndarray, i: int, mode: str | FeatureMode = "ave") -> np.ndarray:
    """The U-Net audio input of frame ``i`` alone, (*target_shape,) float32.

    Rows ``0 .. len(rows)-1`` are known; anything else (before the start, or not computed yet)
    is zero. For live use: pass the rows that have arrived so far.
    """
    return stack_features(rows, mode, int(i), int(i) + 1)[0]


class RowRing:
    """The newest encoder rows, with their absolute frame indices, for streaming.

    ``push`` appends the row of the next frame (indices count from 0 after ``reset``);
    ``feature(i)`` builds frame ``i``'s U-Net input from the rows held: rows before 0 and rows
    not pushed yet are zeros. A row that was needed but already dropped from the ring raises
    ``LookupError`` (make ``capacity`` at least ``window`` plus the lag you allow).
    """

    def __init__(self, mode: str | FeatureMode = "ave", capacity: int | None = None) -> None:
        self.mode = get_mode(mode)
        self.capacity = int(capacity) if capacity is not None else 2 * self.mode.window
        if self.capacity < self.mode.window:
            raise ValueError(f"capacity {self.capacity} < window {self.mode.window}")
        self._buf = np.zeros((self.capacity, *self.mode.row_shape), np.float32)
        self._next = 0  # absolute index of the next row to push

    def reset(self) -> None:
        self._buf[:] = 0
        self._next = 0

    def __len__(self) -> int:
        """Rows held now."""
        return min(self._next, self.capacity)

    @property
    def next_index(self) -> int:
        """Absolute index the next pushed row gets (= rows pushed since reset)."""
        return self._next

    @property
    def oldest_index(self) -> int:
        return max(0, self._next - self.capacity)

    def push(self, row: np.ndarray) -> int:
        """Append one row (shape ``row_shape``); returns its absolute index."""
        row = np.asarray(row, dtype=np.float32)
        if row.shape != self.mode.row_shape:
            raise ValueError(f"mode {self.mode.name!r} expects a row of shape "
                             f"{self.mode.row_shape}, got {row.shape}")
        idx = self._next
        self._buf[idx % self.capacity] = row
        self._next += 1
        return idx

    def extend(self, rows: np.ndarray) -> None:
        for r in _check_rows(rows, self.mode):
            self.push(r)

    def latest_ready(self) -> int:
        """Newest frame whose whole window has arrived (-1 if none): ``next_index-1-right``."""
        return self._next - 1 - self.mode.right

    def feature(self, i: int) -> np.ndarray:
        """Frame ``i``'s (*target_shape,) input; missing future rows are zero-filled."""
        m = self.mode
        i = int(i)
        lo, hi = i - m.left, i + m.right + 1
        need_lo = max(lo, 0)
        if need_lo < min(hi, self._next) and need_lo < self.oldest_index:
            raise LookupError(f"row {need_lo} for frame {i} was dropped from the ring "
                              f"(oldest held: {self.oldest_index}, capacity {self.capacity})")
        out = np.zeros((m.window, *m.row_shape), np.float32)
        for k in range(max(lo, 0), min(hi, self._next)):
            out[k - lo] = self._buf[k % self.capacity]
        return out.reshape(m.target_shape)
