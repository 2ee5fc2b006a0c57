"""Live talking head: a continuous 16 kHz audio stream in, the newest video frame out.

The shape is silero-vad's streaming wrapper: one stateful object, fed chunk by chunk,
that keeps its own state and can be reset. The audio thread calls :meth:`LiveEngine.push_audio`
(it copies the block and ``put_nowait``'s it into a bounded queue: it never blocks); a worker
thread turns audio into mel frames incrementally, runs the audio encoder for each new window
and hands each due frame to the U-Net pool; finished frames go into a size-1 slot that the UI
polls with :meth:`LiveEngine.latest_frame` (older, unread frames are overwritten and counted,
never queued up). The same :class:`~studio.talk.lipsync.LipSync` core as the offline render
does the crop / U-Net / paste.

Timing is driven by the audio clock only: frame ``i`` (at ``fps`` frames per second, ``spf =
16000 / fps`` samples per frame, 640 at 25 fps) is *due* when ``(i + 1) * spf + lookahead``
samples have arrived. There is no wall clock in the schedule, so frames cannot drift from the
audio; a late worker skips frames (counted) instead of falling behind.

Which audio a frame uses (25 fps, "ave" rows, sample ``k`` is the k-th sample since start/reset):

``quality`` (default look-ahead 6600 samples = 0.4125 s, the full SyncTalk_2D window)
    Exactly the offline render (:func:`studio.talk.render.render_frames`): frame ``i`` stacks
    rows ``i-8 .. i+7``; row ``r`` is the encoder output for the 16 mel frames starting at
    ``int(80 * max(r - 1, 0) / 25)`` (SyncTalk's one-row delay); mel frame ``t`` covers samples
    ``[200t - 400, 200t + 400)`` after pre-emphasis. Frame ``i`` needs samples up to
    ``200 * (int(3.2 (i + 6)) + 15) + 400 <= (i + 1) * 640 + 6600``. With a smaller look-ahead
    (configurable, ``0 .. 0.4125 s``) the future rows whose window has not fully arrived by the
    frame's due time are zero, as :class:`~studio.talk.features.RowRing` does. Fed a whole file
    with ``drop_late=False`` and :meth:`LiveEngine.flush`-ed, quality mode reproduces
    ``render_frames`` bit for bit, whatever the block sizes (tested): the incremental mel equals
    the whole-file mel exactly and the stream end is padded the way the offline render pads
    the file end. (The one assumption: the encoder gives the same row for a window whether it
    runs in a batch of 32, as offline, or of 1-2, as live; true for the test fixtures on CPU.)

``low_latency`` (causal; default look-ahead 0)
    Row ``r`` is the encoder output for the 16 mel frames *ending* at the newest complete mel
    frame when frame ``r`` is due: ``e_r = ((r + 1) * 640 + lookahead - 400) // 200``, window
    ``e_r - 15 .. e_r`` (mel frames before the stream start count as silence, -4). That is
    the last ~0.2 s of audio before the due time (samples ``[200 e_r - 3400, 200 e_r + 400)``).
    Frame ``i`` stacks rows ``i-8 .. i`` in slots 0..8 and zeros in slots 9..15 (no future rows;
    no extra row delay), so it depends on samples ``[0, (i + 1) * 640 + lookahead)`` only.
    The model was trained with future context; the mouth is less precise and trails the sound
    by about half a window (~0.1 s), but the frame is ready as soon as its audio is. Measured
    on the shipped pair (which reads rows ``i-2 .. i``) with real speech: the mouth trails its
    audio by 3 frames at look-ahead 0, 2 at 40 ms, 1 at 80 ms, 0 at 120 ms (row ``i``'s window
    then nearly matches quality mode's, which ends 132 ms after the frame). The engine's default
    stays 0; :class:`LiveSession` (the app) uses :data:`LOW_LATENCY_LOOKAHEAD_S` (80 ms).

Latency (in :meth:`LiveEngine.stats`) is measured from the capture time of the last sample a
frame depends on by this schedule (sample ``due - 1``) to the moment its pixels are ready;
``delay`` adds the look-ahead: capture of the frame's own last sample (``(i+1)*spf - 1``) to
ready, i.e. how far the picture trails the sound.

Memory is bounded: the audio queue, the audio and mel rings, the row ring and every statistics
buffer have fixed capacities. :class:`LiveRecorder` taps frames + audio into an MP4.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from studio.jobs import atomic_path
from studio.runtime.manifest import ModelError
from studio.talk import mel as melmod
from studio.talk.features import RowRing
from studio.talk.lipsync import LipSync
from studio.talk.render import Template, pingpong

log = logging.getLogger(__name__)

SR = melmod.SAMPLE_RATE
LIVE_MODES = ("quality", "low_latency")
# The look-ahead LiveSession gives low-latency mode (the engine's own default stays 0, the pure
# causal rule). Measured on the shipped pair with real speech (bench/eval_live_lipsync.py,
# docs/benchmarks.md): at 0 the mouth trails its audio by 3 frames and the lip gap vs speech
# energy r at lag 0 is 0.28 against 0.52 offline; 80 ms gives +1 frame and 0.47 (within 0.1 of
# offline) for 80 ms more mic-to-frame delay; 40 ms gives +2 frames and 0.37.
LOW_LATENCY_LOOKAHEAD_S = 0.08
_HALF = melmod.N_FFT // 2          # a mel frame t covers samples [200t - 400, 200t + 400)
_PIECE = 3200                      # ingest audio in pieces of at most this many samples
_MEL_CAP = 1024                    # mel frames kept (12.8 s); far more than any window needs
_AUDIO_CAP = 8192                  # samples kept for the incremental STFT (piece + overlap)


# ---------------------------------------------------------------------------- schedule

@dataclass(frozen=True)
class Schedule:
    """Pure arithmetic of the live schedule (all positions in 16 kHz samples / indices)."""

    mode: str                 # "quality" or "low_latency"
    fps: int
    lookahead: int            # samples
    row_delay: int            # quality: frame rows are encoder outputs shifted by this
    left: int                 # rows before frame i in its stack (8)
    right: int                # rows after frame i (7)
    window: int = melmod.WINDOW

    @property
    def spf(self) -> int:
        return SR // self.fps

    def due(self, i: int) -> int:
        """Samples that must have arrived before frame ``i`` is computed."""
        return (int(i) + 1) * self.spf + self.lookahead

    def frames_due(self, n_samples: int) -> int:
        """How many frames (0 .. k-1) are due once ``n_samples`` have arrived."""
        return max(0, (int(n_samples) - self.lookahead) // self.spf)

    def window_start(self, r: int, last_mel: int | None = None) -> int:
        """First mel frame of row ``r``'s encoder window (may be negative in low_latency)."""
        if self.mode == "quality":
            return (melmod.MEL_FPS * max(int(r) - self.row_delay, 0)) // self.fps
        e = (self.due(r) - _HALF) // melmod.HOP
        if last_mel is not None:
            e = min(e, last_mel)
        return e - self.window + 1

    def row_need(self, r: int) -> int:
        """Samples that must have arrived before row ``r`` can be computed."""
        if self.mode == "quality":
            return melmod.HOP * (self.window_start(r) + self.window - 1) + _HALF
        return self.due(r)

    def last_row(self, i: int) -> int:
        """Newest row frame ``i`` uses while the stream runs (rows after it count as zero)."""
        if self.mode == "low_latency":
            return int(i)
        r = int(i) + self.right
        while r >= 0 and self.row_need(r) > self.due(i):
            r -= 1
        return r


def full_lookahead(fps: int = 25, row_delay: int = 1, right: int = 7,
                   window: int = melmod.WINDOW) -> int:
    """Samples of look-ahead quality mode needs so every frame has all its rows (6600 at 25 fps,
    "ave" rows)."""
    s = Schedule("quality", fps, 0, row_delay, 0, right, window)
    worst = 0
    for i in range(4 * max(fps, melmod.MEL_FPS)):
        worst = max(worst, s.row_need(i + right) - s.due(i))
    return worst


# ---------------------------------------------------------------------------- results

@dataclass
class LiveFrame:
    """One finished frame, as the slot and ``on_frame`` see it."""

    index: int                # frame number since start/reset (audio time = index / fps)
    rgb: np.ndarray           # (H, W, 3) uint8
    t_ready: float            # time.monotonic() when the pixels were ready
    latency_s: float          # ready - capture of the last sample it depends on (sample due-1)
    delay_s: float            # ready - capture of its own last sample ((index+1)*spf - 1)
    audio_samples: int        # samples received when the frame was scheduled
    final: bool = False       # rendered by flush() at the end of the stream


@dataclass(frozen=True)
class LiveStats:
    mode: str
    lookahead_s: float
    running: bool
    frames: int               # frames published since start/reset
    fps: float                # sustained rate over the last ~50 frames
    latency_p50_s: float
    latency_p95_s: float
    delay_p50_s: float
    delay_p95_s: float
    skipped: int              # due frames never rendered because the worker was behind
    overwritten: int          # published frames replaced before latest_frame() took them
    audio_s: float            # seconds of audio received
    audio_overflows: int      # blocks lost because the audio queue was full
    gap_samples: int          # silence inserted in their place (keeps the clock)
    lag_frames: int           # newest due frame minus newest published frame
    buffers: dict = field(default_factory=dict)   # current sizes / capacities, for checks
    error: str | None = None

    @property
    def dropped(self) -> int:
        return self.skipped + self.overwritten


def _pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else 0.0


# ---------------------------------------------------------------------------- engine

class LiveEngine:
    """Streaming lip-sync: ``push_audio`` from the audio thread, ``latest_frame`` from the UI.

    ``mode``: "quality" or "low_latency" (module docstring). ``lookahead_s``: None for the
    mode's default; quality clamps to ``0 .. full``, low_latency to ``0 .. 1 s``.
    ``drop_late`` (default): when the U-Net cannot keep up, render the newest due frames and
    skip older ones; False renders every frame in order and lets the audio queue apply
    back-pressure (blocks beyond ``queue_blocks`` are lost and counted), for tests and
    recordings. ``max_inflight``: frames computed concurrently (default: the U-Net pool size).
    ``on_frame(LiveFrame)`` is called in frame order from a pool thread and must be quick;
    ``on_audio(start_sample, block)`` is called from the worker with every ingested block
    (silence for lost blocks), so a tap sees gap-free audio on the same clock as the frames.
    """

    def __init__(self, lipsync: LipSync, template: Template, mode: str = "low_latency", *,
                 lookahead_s: float | None = None, drop_late: bool = True,
                 max_inflight: int | None = None, queue_blocks: int = 512,
                 on_frame: Callable[[LiveFrame], None] | None = None,
                 on_audio: Callable[[int, np.ndarray], None] | None = None,
                 start_frame: int = 0) -> None:
        if mode not in LIVE_MODES:
            raise ValueError(f"live mode must be one of {LIVE_MODES}, got {mode!r}")
        if template.n_frames < 1:
            raise ValueError("the avatar template has no frames")
        if getattr(lipsync, "encoder_input", "mel") != "mel":
            raise ModelError(f"{lipsync.encoder.manifest.path}: live mode needs a mel-window "
                             "audio encoder ('ave'); this pair's feature extractor (HuBERT) "
                             "reads whole utterances: render the audio offline instead")
        self.lipsync, self.template, self.mode = lipsync, template, mode
        fmode = lipsync.mode
        if SR % fmode.fps:
            raise ValueError(f"live mode needs {SR} % fps == 0, got fps={fmode.fps}")
        full = full_lookahead(fmode.fps, fmode.row_delay, fmode.right)
        if mode == "quality":
            la = full if lookahead_s is None else int(round(float(lookahead_s) * SR))
            la = min(max(la, 0), full)
        else:
            la = 0 if lookahead_s is None else int(round(float(lookahead_s) * SR))
            la = min(max(la, 0), SR)
        self.schedule = Schedule(mode, fmode.fps, la, fmode.row_delay, fmode.left, fmode.right)
        self.full_lookahead_s = full / SR
        self.drop_late = bool(drop_late)
        self.max_inflight = int(max_inflight or lipsync.unet.size)
        self.on_frame, self.on_audio = on_frame, on_audio
        self.start_frame = int(start_frame)

        # audio thread -> worker
        self._q: queue.Queue = queue.Queue(maxsize=int(queue_blocks))
        self._wake = threading.Event()
        self._gen = 0                      # bumped by reset(); stale items are discarded
        self._push_gen = 0                 # audio-thread side
        self._pushed = 0
        self._overflows = 0
        # worker state (touched by the worker thread only)
        self._wgen = -1
        self._abuf = np.zeros(_AUDIO_CAP, np.float32)
        self._mel = np.zeros((melmod.N_MELS, _MEL_CAP), np.float32)
        self._ring = RowRing(fmode, capacity=2 * fmode.window)
        self._times: collections.deque = collections.deque(maxlen=256)
        self._clear_worker_state()
        # publication (under _pub_lock)
        self._pub_lock = threading.Lock()
        self._inflight: collections.deque = collections.deque()
        self._done: dict[int, LiveFrame | None] = {}
        self._slot: LiveFrame | None = None
        self._lat: collections.deque = collections.deque(maxlen=500)
        self._delay: collections.deque = collections.deque(maxlen=500)
        self._ready_t: collections.deque = collections.deque(maxlen=50)
        self._published = 0
        self._last_index = -1
        self._overwritten = 0
        self._skipped = 0
        self._ended = False
        self._error: str | None = None
        # threads
        self._sem = threading.Semaphore(self.max_inflight)
        self._stop = threading.Event()
        self._flush_req = threading.Event()
        self._flushed = threading.Event()
        self._worker: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- properties ------------------------------------------------------------------
    @property
    def fps(self) -> int:
        return self.schedule.fps

    @property
    def lookahead_s(self) -> float:
        return self.schedule.lookahead / SR

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    # -- audio thread ------------------------------------------------------------------
    def push_audio(self, block: np.ndarray, t_capture: float | None = None) -> None:
        """Queue a block of 16 kHz mono float audio; never blocks.

        ``t_capture``: ``time.monotonic()`` at which the block's *first* sample was captured
        (default: now minus the block's duration, i.e. the block was just recorded). A full
        queue loses the block; it is counted and replaced by silence so the clock holds.
        """
        a = np.array(block, dtype=np.float32, copy=True)
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"push_audio expects mono (n,) or (n, 1) audio, got {a.shape}")
        n = len(a)
        if n == 0:
            return
        if t_capture is None:
            t_capture = time.monotonic() - n / SR
        gen = self._gen
        if gen != self._push_gen:
            self._push_gen, self._pushed = gen, 0
        start = self._pushed
        self._pushed += n
        try:
            self._q.put_nowait((gen, start, a, float(t_capture)))
        except queue.Full:
            self._overflows += 1
        self._wake.set()

    # -- UI side -------------------------------------------------------------------------
    def latest_frame(self, peek: bool = False) -> tuple[int, np.ndarray, float] | None:
        """``(frame_index, rgb, latency_s)`` of the newest frame not taken yet, else None.
        ``peek`` leaves it in the slot."""
        with self._pub_lock:
            f = self._slot
            if f is None:
                return None
            if not peek:
                self._slot = None
        return f.index, f.rgb, f.latency_s

    def stats(self) -> LiveStats:
        with self._pub_lock:
            lat, dl, rt = list(self._lat), list(self._delay), list(self._ready_t)
            published, last, skipped, over = (self._published, self._last_index, self._skipped,
                                              self._overwritten)
            inflight, reorder = len(self._inflight), len(self._done)
            err = self._error
        fps = (len(rt) - 1) / (rt[-1] - rt[0]) if len(rt) > 1 and rt[-1] > rt[0] else 0.0
        n = self._n
        due = self.schedule.frames_due(n) - 1
        buffers = {"queue": self._q.qsize(), "queue_cap": self._q.maxsize,
                   "audio_cap": len(self._abuf), "audio_held": self._alen,
                   "mel_cap": self._mel.shape[1], "rows_cap": self._ring.capacity,
                   "capture_times": len(self._times), "inflight": inflight, "reorder": reorder,
                   "latency_samples": len(lat)}
        return LiveStats(self.mode, self.lookahead_s, self.running, published, fps,
                         _pct(lat, 50), _pct(lat, 95), _pct(dl, 50), _pct(dl, 95), skipped,
                         over, n / SR, self._overflows, self._gap_samples,
                         max(0, due - last), buffers, err)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "LiveEngine":
        if self.running:
            return self
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.max_inflight,
                                        thread_name_prefix="live-unet")
        self._worker = threading.Thread(target=self._run, name="live-engine", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; frames in flight finish (and are published) first."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout)
            self._worker = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def reset(self) -> None:
        """Start a new stream: frame and sample counters restart at 0, queued audio and
        frames in flight are discarded, statistics cleared. Never blocks on the worker."""
        with self._pub_lock:
            self._gen += 1
            self._inflight.clear()
            self._done.clear()
            self._slot = None
            self._lat.clear(), self._delay.clear(), self._ready_t.clear()
            self._published = self._overwritten = self._skipped = 0
            self._last_index = -1
            self._ended = False
            self._error = None
            self._overflows = 0
        self._flush_req.clear()
        self._flushed.clear()
        self._wake.set()

    def flush(self, timeout: float | None = 30.0) -> bool:
        """End of stream: ingest what is queued, render every remaining frame (``round(fps *
        seconds)`` in all, padding the end like the offline render) and wait for them.
        Returns False on timeout. Call :meth:`reset` before streaming again."""
        if not self.running:
            raise RuntimeError("flush() needs a started engine")
        self._flush_req.set()
        self._wake.set()
        return self._flushed.wait(timeout)

    def __enter__(self) -> "LiveEngine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- worker ------------------------------------------------------------------------------
    def _clear_worker_state(self) -> None:
        self._abase = 0          # absolute sample index of _abuf[0]
        self._alen = 0
        self._n = 0              # samples ingested
        self._mel_next = 0       # next mel frame to compute
        self._frame_next = 0     # next frame to schedule
        self._expected = 0       # next sample index the queue should deliver
        self._gap_samples = 0
        self._final_n: int | None = None
        self._ring.reset()
        self._times.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - report in stats, keep the app alive
                log.exception("live engine worker failed")
                with self._pub_lock:
                    self._error = f"{type(exc).__name__}: {exc}"
                self._flushed.set()
                return

    def _step(self) -> None:
        gen = self._gen
        if gen != self._wgen:
            self._clear_worker_state()
            self._wgen = gen
        # read the flag before draining: everything pushed before flush() is then drained now
        flush = self._flush_req.is_set()
        items = []
        while True:
            try:
                items.append(self._q.get_nowait())
            except queue.Empty:
                break
        for g, start, block, t in items:
            if g != gen or self._final_n is not None:
                continue
            if start > self._expected:          # lost blocks: silence keeps the clock
                gap = start - self._expected
                self._gap_samples += gap
                self._ingest_split(np.zeros(gap, np.float32), None, gen)
            elif start < self._expected:        # cannot happen with one producer; be safe
                block = block[self._expected - start:]
                t += (self._expected - start) / SR
            if len(block):
                self._ingest_split(block, t, gen)
            if gen != self._gen:
                return
        if self._final_n is None:
            self._schedule(gen)
            if flush:
                self._finish(gen)

    def _ingest_split(self, block: np.ndarray, t: float | None, gen: int) -> None:
        for s in range(0, len(block), _PIECE):
            piece = block[s:s + _PIECE]
            self._ingest(piece, None if t is None else t + s / SR)
            if not self.drop_late:
                self._schedule(gen)

    def _ingest(self, piece: np.ndarray, t: float | None) -> None:
        start = self._n
        if t is not None:
            self._times.append((start, t))
        keep_from = max(self._mel_next * melmod.HOP - _HALF - melmod.HOP, 0)
        if self._alen + len(piece) > len(self._abuf) or keep_from - self._abase > len(self._abuf) // 2:
            drop = max(keep_from - self._abase, 0)
            self._abuf[:self._alen - drop] = self._abuf[drop:self._alen]
            self._abase += drop
            self._alen -= drop
        if self._alen + len(piece) > len(self._abuf):
            raise RuntimeError("live audio ring overflow")   # a bug: pieces are small
        self._abuf[self._alen:self._alen + len(piece)] = piece
        self._alen += len(piece)
        self._n += len(piece)
        self._expected = self._n
        self._compute_mel(final=False)
        if self.on_audio is not None:
            self.on_audio(start, piece)

    def _audio(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) as float32, zeros before 0 and at/after the end of what arrived."""
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, self._n)
        if hi > lo:
            if lo < self._abase:
                raise RuntimeError(f"live audio sample {lo} no longer held")
            out[lo - a:hi - a] = self._abuf[lo - self._abase:hi - self._abase]
        return out

    def _compute_mel(self, final: bool) -> None:
        """Mel frames that became complete (all of them, zero-padded, when ``final``).

        Uses :func:`studio.talk.mel.melspectrogram` on a segment starting 3 hops before the
        first new frame: its zero padding and pre-emphasis start then touch only frames it
        throws away, so the kept frames are bit-identical to the whole-file spectrogram.
        """
        n = self._n
        last = n // melmod.HOP if final else (n - _HALF) // melmod.HOP
        t0, t1 = self._mel_next, last + 1
        if t1 <= t0:
            return
        a = t0 * melmod.HOP - _HALF - melmod.HOP                 # 3 hops before frame t0
        b = n if final else (t1 - 1) * melmod.HOP + _HALF
        seg = self._audio(a, b)
        m = melmod.melspectrogram(seg)[:, 3:3 + (t1 - t0)]
        assert m.shape[1] == t1 - t0, (m.shape, t0, t1)
        cols = np.arange(t0, t1) % _MEL_CAP
        self._mel[:, cols] = m
        self._mel_next = t1

    def _window(self, r: int, last_mel: int | None) -> np.ndarray:
        ws = self.schedule.window_start(r, last_mel)
        idx = np.arange(ws, ws + self.schedule.window)
        hi = self._mel_next - 1
        if idx[-1] > hi:
            if last_mel is None:
                raise RuntimeError(f"row {r} needs mel frame {idx[-1]}, newest is {hi}")
            idx = np.minimum(idx, hi)            # end of stream: edge padding, as offline
        if idx[0] >= 0 and idx[0] < self._mel_next - _MEL_CAP:
            raise RuntimeError(f"row {r} needs mel frame {idx[0]}, already dropped")
        w = self._mel[:, np.maximum(idx, 0) % _MEL_CAP]
        if idx[0] < 0:
            w = np.where((idx < 0)[None, :], np.float32(melmod.SILENCE), w)
        return w

    def _push_rows(self, upto: int, first_needed: int, last_mel: int | None) -> None:
        r0 = self._ring.next_index
        if upto < r0:
            return
        start = min(max(r0, first_needed), upto + 1)
        zero = np.zeros(self._ring.mode.row_shape, np.float32)
        for _ in range(start - r0):              # rows no frame will use (skipped frames)
            self._ring.push(zero)
        rs = range(start, upto + 1)
        if len(rs):
            windows = np.stack([self._window(r, last_mel) for r in rs])[:, None]
            # run_batched: one call, or row by row for an encoder exported with batch 1
            rows = self.lipsync.encoder.run_batched(np.ascontiguousarray(windows, np.float32),
                                                    batch=len(rs))[0]
            for row in rows.reshape(len(rs), *self._ring.mode.row_shape):
                self._ring.push(row)

    def _capture_time(self, sample: int) -> float:
        for start, t in reversed(self._times):
            if start <= sample:
                return t + (sample - start) / SR
        if self._times:
            start, t = self._times[0]
            return t + (sample - start) / SR
        return time.monotonic()

    def _acquire(self, gen: int, block: bool) -> bool:
        if not block:
            return self._sem.acquire(blocking=False)
        while not self._sem.acquire(timeout=0.05):
            if self._stop.is_set() or gen != self._gen:
                return False
        return True

    def _schedule(self, gen: int) -> None:
        k = self.schedule.frames_due(self._n)
        if k <= self._frame_next:
            return
        if self.drop_late:
            want = min(k - self._frame_next, self.max_inflight)
            got = 0
            while got < want and self._acquire(gen, block=False):
                got += 1
            if got == 0:
                return                            # all busy: a completion wakes us again
            first = k - got
            with self._pub_lock:
                self._skipped += first - self._frame_next
            for i in range(first, k):
                self._submit(i, gen, final=False)
            self._frame_next = k
        else:
            for i in range(self._frame_next, k):
                if not self._acquire(gen, block=True):
                    return
                self._submit(i, gen, final=False)
                self._frame_next = i + 1

    def _finish(self, gen: int) -> None:
        self._compute_mel(final=True)
        n = melmod.frame_count(self._n, fps=self.fps)
        self._final_n = n
        for i in range(self._frame_next, n):
            if not self._acquire(gen, block=True):
                return
            self._submit(i, gen, final=True)
            self._frame_next = i + 1
        with self._pub_lock:
            if gen == self._gen:
                self._ended = True
                if not self._inflight:
                    self._flushed.set()

    def _submit(self, i: int, gen: int, final: bool) -> None:
        """Build frame ``i``'s audio feature (worker thread) and queue its U-Net call."""
        s = self.schedule
        try:
            if final:
                last_mel = self._mel_next - 1
                upto = i if s.mode == "low_latency" else min(i + s.right, self._final_n - 1)
            else:
                last_mel, upto = None, s.last_row(i)
            self._push_rows(upto, i - s.left, last_mel)
            feat = self._ring.feature(i)
            n = self._n
            t_dep = self._capture_time(min(s.due(i), n) - 1)
            t_own = self._capture_time(min((i + 1) * s.spf, n) - 1)
            with self._pub_lock:
                self._inflight.append(i)
            self._pool.submit(self._job, gen, i, feat, t_dep, t_own, n, final)
        except BaseException:
            self._sem.release()
            raise

    def _job(self, gen, i, feat, t_dep, t_own, n, final) -> None:
        lf = None
        try:
            k = pingpong(self.start_frame + i, self.template.n_frames)
            frame = self.template.frame(k)
            image6, box = self.lipsync.crop(frame, self.template.crop_box(k))
            rgb = self.lipsync.paste(frame, self.lipsync.predict(image6, feat), box)
            t = time.monotonic()
            lf = LiveFrame(i, rgb, t, t - t_dep, t - t_own, n, final)
        except Exception as exc:  # noqa: BLE001 - shown in stats; the stream goes on
            log.exception("live frame %d failed", i)
            with self._pub_lock:
                self._error = f"frame {i}: {type(exc).__name__}: {exc}"
        finally:
            self._sem.release()
            self._complete(gen, i, lf)
            self._wake.set()

    def _complete(self, gen: int, i: int, lf: LiveFrame | None) -> None:
        with self._pub_lock:
            if gen != self._gen:
                return
            self._done[i] = lf
            while self._inflight and self._inflight[0] in self._done:
                f = self._done.pop(self._inflight.popleft())
                if f is not None:
                    self._publish(f)
            if self._ended and not self._inflight:
                self._flushed.set()

    def _publish(self, f: LiveFrame) -> None:  # under _pub_lock
        if self._slot is not None:
            self._overwritten += 1
        self._slot = f
        self._published += 1
        self._last_index = f.index
        self._lat.append(f.latency_s)
        self._delay.append(f.delay_s)
        self._ready_t.append(f.t_ready)
        cb = self.on_frame
        if cb is not None:
            try:
                cb(f)
            except Exception:  # noqa: BLE001 - a broken tap must not stop the preview
                log.exception("live on_frame callback failed")


# ---------------------------------------------------------------------------- recorder

@dataclass
class RecordingResult:
    path: str
    frames: int               # frames in the file
    repeated: int             # frames filled in by repeating the previous one (skipped/dropped)
    seconds: float
    truncated: bool           # stopped at max_seconds


class LiveRecorder:
    """Record what the live engine shows, with the audio it heard, to an MP4.

    ``attach(engine)`` taps ``on_frame`` and ``on_audio``. Frames go through a bounded queue
    to a writer thread (a full queue drops the frame; the gap is filled by repeating the
    previous frame so the video keeps the audio's clock). Audio is kept from the first
    recorded frame's start (16 kHz float32, 64 KB/s) up to ``max_seconds``. ``close()``
    finishes the file and renames it into place (``studio.jobs.atomic_path``); ``abort()``
    leaves nothing behind.
    """

    def __init__(self, path: str | Path, fps: int = 25, *, crf: int = 20, max_seconds: float = 1200.0,
                 queue_frames: int = 64) -> None:
        self.path = Path(path)
        self.fps = int(fps)
        self.spf = SR // self.fps
        self.crf = int(crf)
        self.max_samples = int(max_seconds * SR)
        self._q: queue.Queue = queue.Queue(maxsize=int(queue_frames))
        self._audio: list[tuple[int, np.ndarray]] = []
        self._audio_lock = threading.Lock()
        self._audio_held = 0
        self._first: int | None = None      # first recorded frame index
        self._written = 0
        self._repeated = 0
        self._queue_drops = 0
        self._truncated = False
        self._closed = False
        self._engine: LiveEngine | None = None
        self._stack = contextlib.ExitStack()
        self._tmp: Path = self._stack.enter_context(atomic_path(self.path))
        self._writer = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="live-recorder", daemon=True)
        self._thread.start()

    # taps
    def attach(self, engine: LiveEngine) -> "LiveRecorder":
        if engine.fps != self.fps:
            raise ValueError(f"recorder fps {self.fps} != engine fps {engine.fps}")
        self._engine = engine
        engine.on_audio = self.on_audio
        engine.on_frame = self.on_frame
        return self

    def detach(self) -> None:
        if self._engine is not None:
            if self._engine.on_frame == self.on_frame:
                self._engine.on_frame = None
            if self._engine.on_audio == self.on_audio:
                self._engine.on_audio = None
            self._engine = None

    def on_audio(self, start: int, block: np.ndarray) -> None:
        if self._closed or self._truncated:
            return
        with self._audio_lock:
            if self._audio_held + len(block) > self.max_samples:
                self._truncated = True
                return
            self._audio.append((int(start), np.array(block, np.float32)))
            self._audio_held += len(block)

    def on_frame(self, f: LiveFrame) -> None:
        if self._closed or self._truncated:
            return
        try:
            self._q.put_nowait((f.index, f.rgb))
        except queue.Full:
            self._queue_drops += 1

    # writer thread
    def _write_loop(self) -> None:
        from studio.media.video_writer import VideoWriter

        last = None
        while True:
            item = self._q.get()
            if item is None:
                return
            if self._error is not None:
                continue
            index, rgb = item
            try:
                if self._writer is None:
                    h, w = rgb.shape[:2]
                    self._first = index
                    # The audio track is handed over at close() (the writer muxes it then).
                    self._writer = VideoWriter(self._tmp, self.fps, w, h,
                                               audio=np.zeros(0, np.float32), audio_sr=48000,
                                               crf=self.crf, container_format="mp4")
                    last = rgb
                target = index - self._first
                if target < self._written:
                    continue                       # out of order / duplicate: ignore
                while self._written < target:      # skipped frames: repeat the previous one
                    self._writer.write(last)
                    self._written += 1
                    self._repeated += 1
                self._writer.write(rgb)
                self._written += 1
                last = rgb
            except BaseException as exc:  # noqa: BLE001 - surfaced by close()
                self._error = exc

    def _assemble_audio(self) -> np.ndarray:
        a0 = self._first * self.spf
        n = self._written * self.spf
        out = np.zeros(n, np.float32)
        with self._audio_lock:
            for start, block in self._audio:
                lo, hi = max(start, a0), min(start + len(block), a0 + n)
                if hi > lo:
                    out[lo - a0:hi - a0] = block[lo - start:hi - start]
        return out

    def close(self) -> RecordingResult:
        """Finish the file (frames so far + their audio) and move it to ``path``."""
        if self._closed:
            raise RuntimeError("recorder already closed")
        self.detach()
        self._closed = True
        self._q.put(None)
        self._thread.join()
        try:
            if self._error is not None:
                raise self._error
            if self._writer is None:
                raise RuntimeError("nothing was recorded (no frames arrived)")
            import soxr

            audio = self._assemble_audio()
            self._writer.audio = soxr.resample(audio, SR, 48000).astype(np.float32)
            self._writer.close()
        except BaseException as exc:
            if self._writer is not None:
                self._writer.abort()
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack.close()
        return RecordingResult(str(self.path), self._written, self._repeated,
                               self._written / self.fps, self._truncated)

    def abort(self) -> None:
        """Stop and delete the partial file."""
        if self._closed:
            return
        self.detach()
        self._closed = True
        self._q.put(None)
        self._thread.join()
        if self._writer is not None:
            self._writer.abort()
        err = RuntimeError("recording aborted")
        self._stack.__exit__(RuntimeError, err, None)


# ---------------------------------------------------------------------------- assembly

class LiveSession:
    """The live pipeline put together: microphone -> :class:`LiveEngine` -> optional
    speaker monitor (delayed to match the picture) and :class:`LiveRecorder`.

    ``lookahead_s``: None for the mode's choice here: quality mode's full window, low-latency
    mode :data:`LOW_LATENCY_LOOKAHEAD_S` (not the engine's bare 0).

    ``start()`` starts it (on a :class:`~studio.jobs.UserError` everything built is stopped,
    a partial recording deleted, and the error re-raised); the UI then polls
    :meth:`latest_frame`, :meth:`level` and :meth:`stats`; ``stop()`` stops it and finishes the
    recording, if any (its :class:`RecordingResult`; a failed recording raises after the rest
    has stopped).
    """

    def __init__(self, lipsync: LipSync, template: Template, mode: str = "low_latency", *,
                 device: int | str | None = None, record_to: str | Path | None = None,
                 monitor: bool = False, lookahead_s: float | None = None) -> None:
        from studio.media.mic import MicCapture
        from studio.media.monitor import AudioMonitor

        if lookahead_s is None and mode == "low_latency":
            lookahead_s = LOW_LATENCY_LOOKAHEAD_S
        self.engine = engine = LiveEngine(lipsync, template, mode, lookahead_s=lookahead_s)
        self.recorder = LiveRecorder(record_to, fps=engine.fps).attach(engine) if record_to else None
        self.monitor = None
        if monitor:
            self.monitor = mon = AudioMonitor(delay_s=engine.lookahead_s + 0.06)
            tap = engine.on_audio

            def fan_out(start, block, tap=tap):
                mon.push(block)
                if tap is not None:
                    tap(start, block)

            engine.on_audio = fan_out
        self.mic = MicCapture(on_audio=engine.push_audio, device=device)

    def start(self) -> "LiveSession":
        from studio.jobs import UserError

        try:
            self.engine.start()
            self.mic.start()
            if self.monitor is not None:
                self.monitor.start()
        except UserError:
            self.mic.stop()
            self.engine.stop()
            if self.recorder is not None:
                self.recorder.abort()
            raise
        return self

    @property
    def device_name(self) -> str:
        return self.mic.device.name if self.mic.device is not None else ""

    def latest_frame(self) -> tuple[int, np.ndarray, float] | None:
        return self.engine.latest_frame()

    def level(self):
        """The newest input level (:class:`studio.media.mic.Level`), or None."""
        return self.mic.level()

    def stats(self) -> LiveStats:
        return self.engine.stats()

    def stop(self) -> RecordingResult | None:
        self.mic.stop()
        if self.monitor is not None:
            self.monitor.stop()
        self.engine.stop()
        return self.recorder.close() if self.recorder is not None else None
