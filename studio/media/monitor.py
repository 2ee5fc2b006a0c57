"""Hear what the live avatar hears, delayed so the sound lines up with the picture.

Blocks pushed from the live engine go into a bounded buffer; the output stream starts
playing once ``delay_s`` of audio is buffered (the picture's delay: look-ahead plus frame
latency), and from then on plays continuously. The output callback never blocks: on an
underrun it plays silence and counts it.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from studio.jobs import UserError


class AudioMonitor:
    def __init__(self, delay_s: float, sr: int = 16000, max_s: float = 3.0) -> None:
        self.sr = int(sr)
        self.delay = int(delay_s * self.sr)
        self.max = int(max_s * self.sr)
        self._buf: collections.deque[np.ndarray] = collections.deque()
        self._held = 0
        self._lock = threading.Lock()
        self._started = False
        self.underruns = 0
        self.dropped = 0
        self._stream = None

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float32).reshape(-1)
        with self._lock:
            self._buf.append(block)
            self._held += len(block)
            while self._held > self.max:  # never let the delay grow without bound
                self._held -= len(self._buf.popleft())
                self.dropped += 1

    def pull(self, n: int) -> np.ndarray:
        """``n`` samples for the speaker (silence until the delay is reached)."""
        out = np.zeros(n, np.float32)
        with self._lock:
            if not self._started:
                if self._held < self.delay:
                    return out
                self._started = True
            k = 0
            while k < n and self._buf:
                b = self._buf[0]
                take = min(n - k, len(b))
                out[k:k + take] = b[:take]
                k += take
                self._held -= take
                if take == len(b):
                    self._buf.popleft()
                else:
                    self._buf[0] = b[take:]
            if k < n:
                self.underruns += 1
        return out

    def start(self, device=None) -> "AudioMonitor":
        try:
            import sounddevice as sd
        except OSError as exc:
            raise UserError(f"No audio output: PortAudio is not available ({exc})") from None

        def callback(outdata, frames, _time, _status):
            outdata[:, 0] = self.pull(frames)

        try:
            self._stream = sd.OutputStream(samplerate=self.sr, channels=1, dtype="float32",
                                           device=device, callback=callback, latency="low")
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError: no output device
            self._stream = None
            raise UserError(f"No audio output device to monitor on: {exc}") from None
        return self

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
