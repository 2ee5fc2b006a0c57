"""Microphone capture with sounddevice (PortAudio): device list, stream, level meter, 16 kHz out.

The rules are python-sounddevice's own examples: the PortAudio callback never blocks and
barely allocates. It copies the block and ``put_nowait``'s it into a bounded queue; a full
queue counts an overflow instead of waiting. A pump thread drains the queue, keeps the newest
level (RMS / peak) in a size-1 slot for the meter, resamples to 16 kHz with
``soxr.ResampleStream`` and hands each block to the consumer (e.g.
:meth:`studio.talk.live.LiveEngine.push_audio`) with its capture time.

Capture time: PortAudio's ``inputBufferAdcTime`` (the first sample's ADC time, on the stream's
clock) is mapped to ``time.monotonic()`` through the callback's ``currentTime``; where the host
API reports nothing sensible (0, negative or more than a second old, as ALSA's pulse plugin
may) the block is assumed to have just been recorded (now minus its duration). After
resampling, output sample ``k`` is the input instant ``k * in_sr / out_sr`` (soxr withholds
its filter delay rather than shifting the signal), so its time follows from the newest
block's time by the sample clock.

Start-up backlog: through PulseAudio (null-sink monitor, measured 2026-12-02) a new stream
delivers its first ~2 s late and then hands over audio that is already 0.6-0.75 s old, draining
that backlog at about twice real time over the next second, whatever PortAudio's latency
setting, the block size or ``PULSE_LATENCY_MSEC`` (all tried). A live picture of that audio
trails the voice by up to 0.7 s. So blocks whose last sample is older than ``max_start_age_s``
when they arrive are dropped *until the first fresh block* (at most ``max_start_drop_s`` of
audio, so a device with a constant large latency, e.g. Bluetooth, still starts), before the
resampler and the sample counters: the consumer's stream simply starts later, with fresh audio.
After that nothing is ever dropped here (the consumer's sample clock must hold).

Nothing here crashes without audio hardware: :func:`list_input_devices` returns an empty list
and a reason (PortAudio missing - importing sounddevice raises OSError -, or no sound server
and no card), and :class:`MicCapture.start` raises :class:`MicError` with a message to show.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from studio.jobs import UserError

log = logging.getLogger(__name__)

OUT_SR = 16000
_open_streams = 0
_lock = threading.Lock()


class MicError(UserError):
    """The microphone cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int               # max input channels
    default_samplerate: float
    is_default: bool

    def label(self) -> str:
        star = " (default)" if self.is_default else ""
        return f"{self.name} [{self.hostapi}, {self.default_samplerate:.0f} Hz]{star}"


@dataclass(frozen=True)
class Level:
    rms: float
    peak: float
    t: float                    # capture time (time.monotonic) of the block's first sample

    @property
    def dbfs(self) -> float:
        return 20.0 * float(np.log10(max(self.rms, 1e-9)))


@dataclass(frozen=True)
class MicStats:
    device: str
    samplerate: float           # the device's rate (input to the resampler)
    running: bool
    blocks: int
    seconds_in: float           # audio captured, at the device rate
    samples_out: int            # 16 kHz samples handed to the consumer
    overflows: int              # blocks lost because the queue was full
    xruns: int                  # PortAudio input overflows reported by the callback
    first_block_s: float | None  # start() to first callback (PulseAudio: 1.5-2 s)
    stale_blocks: int = 0       # start-up backlog blocks dropped (module doc)
    stale_s: float = 0.0        # ... and their audio, seconds


def _import_sounddevice():
    """(module, "") or (None, reason). Importing sounddevice raises OSError when the PortAudio
    library is missing."""
    try:
        import sounddevice as sd
    except OSError as exc:
        return None, (f"PortAudio is not available ({exc}). Install it: Debian/Ubuntu "
                      "'apt install libportaudio2', Fedora 'dnf install portaudio', macOS "
                      "'brew install portaudio'.")
    except ImportError as exc:
        return None, f"the sounddevice package is missing ({exc}); reinstall the app."
    return sd, ""


NO_DEVICE_REASON = ("no audio input devices found: no sound server (PulseAudio / PipeWire) "
                    "is running and no sound card is visible to PortAudio.")


def list_input_devices(refresh: bool = False) -> tuple[list[InputDevice], str]:
    """Input devices and, when there are none, the reason (else ""). Never raises.

    PortAudio scans devices once when it starts; ``refresh`` restarts it to see a sound
    server or device that appeared since (skipped while a stream is open).
    """
    sd, reason = _import_sounddevice()
    if sd is None:
        return [], reason
    try:
        if refresh:
            with _lock:
                if _open_streams == 0:
                    sd._terminate()
                    sd._initialize()
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        try:
            default_in = int(sd.default.device[0])
        except Exception:  # noqa: BLE001 - no default is fine
            default_in = -1
    except Exception as exc:  # noqa: BLE001 - PortAudio errors must not crash the app
        return [], f"PortAudio could not list devices: {exc}"
    out = []
    for d in devices:
        if int(d.get("max_input_channels", 0)) <= 0:
            continue
        api = hostapis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(hostapis) else "?"
        out.append(InputDevice(int(d["index"]), str(d["name"]), str(api),
                               int(d["max_input_channels"]), float(d["default_samplerate"]),
                               int(d["index"]) == default_in))
    return out, ("" if out else NO_DEVICE_REASON)


def find_input_device(device: int | str | None = None) -> InputDevice:
    """Resolve ``device`` (None: the default input, else the first input; an index; or a
    case-insensitive part of the name) or raise :class:`MicError` with the reason."""
    devices, reason = list_input_devices()
    if not devices:
        raise MicError(f"No microphone: {reason}")
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(device, (int, np.integer)):
        for d in devices:
            if d.index == int(device):
                return d
        raise MicError(f"input device #{device} not found; inputs: "
                       + ", ".join(f"#{d.index} {d.name}" for d in devices))
    key = str(device).lower()
    exact = [d for d in devices if d.name.lower() == key]
    part = exact or [d for d in devices if key in d.name.lower()]
    if not part:
        raise MicError(f"no input device named {device!r}; inputs: "
                       + ", ".join(d.name for d in devices))
    return part[0]


class _Slot:
    """Size-1 slot: keeps only the newest value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = None

    def put(self, v) -> None:
        with self._lock:
            self._value = v

    def get(self):
        with self._lock:
            return self._value


AudioConsumer = Callable[[np.ndarray, float], None]


class MicCapture:
    """An input stream at the device's default rate, resampled to ``out_sr`` (16 kHz) mono.

    ``quality`` is soxr's. "HQ" (default, what ``load_audio`` uses, so live features match
    file features) passes the whole mel range (to 7.6 kHz) but holds back ~26 ms and releases
    output in ~34 ms bursts. "LQ" resamples each block as it comes with ~8 ms of delay, but
    rolls off above ~6 kHz (the top ~6 of the 80 mel bands; -13 dB at 7 kHz at 44.1 kHz in).

    ``on_audio(block_16k, t_capture)`` gets float32 (n,) blocks and the monotonic capture
    time of their first sample, from the pump thread (not the PortAudio callback).
    """

    def __init__(self, on_audio: AudioConsumer | None = None, *, device: int | str | None = None,
                 out_sr: int = OUT_SR, block_s: float = 0.02, queue_blocks: int = 100,
                 quality: str = "HQ", latency: str | float = "low",
                 max_start_age_s: float | None = 0.1, max_start_drop_s: float = 1.5) -> None:
        self.on_audio = on_audio
        self.device_request = device
        self.out_sr = int(out_sr)
        self.block_s = float(block_s)
        self.quality = quality
        self.latency = latency
        self.max_start_age_s = max_start_age_s
        self.max_start_drop_s = float(max_start_drop_s)
        self._q: queue.Queue = queue.Queue(maxsize=int(queue_blocks))
        self._level = _Slot()
        self._stream = None
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        self._first_block = threading.Event()
        self._fresh_block = threading.Event()
        self.device: InputDevice | None = None
        self.samplerate = 0.0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._blocks = self._overflows = self._xruns = 0
        self._n_in = self._n_out = 0
        self._t_start = 0.0
        self._t_first: float | None = None
        self._fresh = self.max_start_age_s is None  # True once a fresh block has arrived
        self._stale_blocks = 0
        self._stale_in = 0  # device-rate samples dropped as start-up backlog

    # -- control -----------------------------------------------------------------------
    def start(self) -> "MicCapture":
        global _open_streams
        if self._stream is not None:
            return self
        sd, reason = _import_sounddevice()
        if sd is None:
            raise MicError(f"No microphone: {reason}")
        dev = find_input_device(self.device_request)
        self.device, self.samplerate = dev, float(dev.default_samplerate)
        self._reset_counters()
        self._first_block.clear()
        self._fresh_block.clear()
        self._stop.clear()
        self._resampler = None
        if int(round(self.samplerate)) != self.out_sr:
            import soxr

            self._resampler = soxr.ResampleStream(self.samplerate, self.out_sr, 1,
                                                  dtype="float32", quality=self.quality)
        try:
            stream = sd.InputStream(samplerate=self.samplerate, device=dev.index, channels=1,
                                    dtype="float32", latency=self.latency,
                                    blocksize=max(1, int(round(self.samplerate * self.block_s))),
                                    callback=self._callback)
        except Exception as exc:  # noqa: BLE001 - PortAudioError and friends
            raise MicError(f"could not open {dev.name} at {self.samplerate:.0f} Hz: {exc}") from None
        self._pump = threading.Thread(target=self._pump_loop, name="mic-pump", daemon=True)
        self._pump.start()
        self._t_start = time.monotonic()
        try:
            stream.start()
        except Exception as exc:  # noqa: BLE001
            self._stop.set()
            self._pump.join()
            stream.close()
            raise MicError(f"could not start {dev.name}: {exc}") from None
        with _lock:
            _open_streams += 1
        self._stream = stream
        return self

    def stop(self) -> None:
        global _open_streams
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - the device may have vanished
                log.exception("closing the input stream failed")
            with _lock:
                _open_streams -= 1
        self._stop.set()
        if self._pump is not None:
            self._pump.join(timeout=2.0)
            self._pump = None

    @property
    def running(self) -> bool:
        return self._stream is not None

    def wait_first_block(self, timeout: float = 5.0) -> bool:
        """Wait for the first callback (PulseAudio takes 1.5-2 s to deliver it)."""
        return self._first_block.wait(timeout)

    def wait_fresh(self, timeout: float = 5.0) -> bool:
        """Wait for the first block the consumer gets (after any start-up backlog)."""
        return self._fresh_block.wait(timeout)

    def __enter__(self) -> "MicCapture":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- readings -----------------------------------------------------------------------
    def level(self) -> Level | None:
        """RMS / peak of the newest block (for a level meter), or None before the first."""
        return self._level.get()

    def stats(self) -> MicStats:
        return MicStats(self.device.name if self.device else "", self.samplerate, self.running,
                        self._blocks, self._n_in / self.samplerate if self.samplerate else 0.0,
                        self._n_out, self._overflows, self._xruns,
                        None if self._t_first is None else self._t_first - self._t_start,
                        self._stale_blocks,
                        self._stale_in / self.samplerate if self.samplerate else 0.0)

    # -- PortAudio thread ------------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        now = time.monotonic()
        if status and status.input_overflow:
            self._xruns += 1
        lag = frames / self.samplerate
        try:
            age = float(time_info.currentTime) - float(time_info.inputBufferAdcTime)
            if time_info.inputBufferAdcTime > 0 and 0.0 <= age < 1.0:
                lag = age
        except Exception:  # noqa: BLE001 - some host APIs give no times
            pass
        try:
            self._q.put_nowait((indata.copy(), now - lag))
        except queue.Full:
            self._overflows += 1

    # -- pump thread ---------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        while True:                      # after stop(): drain what is queued, then exit
            try:
                block, t_first = self._q.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                self._take(block, t_first)
            except Exception:  # noqa: BLE001 - a failing consumer must not kill capture
                log.exception("microphone consumer failed")

    def _take(self, block: np.ndarray, t_first: float) -> None:
        mono = block[:, 0] if block.ndim == 2 and block.shape[1] == 1 else (
            block.mean(axis=1) if block.ndim == 2 else block)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._t_first is None:
            self._t_first = time.monotonic()
            self._first_block.set()
        self._blocks += 1
        if not self._fresh:
            age = time.monotonic() - (t_first + len(mono) / self.samplerate)
            if (age > self.max_start_age_s
                    and (self._stale_in + len(mono)) / self.samplerate <= self.max_start_drop_s):
                self._stale_blocks += 1
                self._stale_in += len(mono)
                return
            self._fresh = True
        self._fresh_block.set()
        if len(mono):
            self._level.put(Level(float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))),
                                  float(np.max(np.abs(mono))), t_first))
        in_start = self._n_in
        self._n_in += len(mono)
        out = mono if self._resampler is None else self._resampler.resample_chunk(mono)
        if len(out) == 0:
            return
        out_start = self._n_out
        self._n_out += len(out)
        # output sample k is the input instant k * in_sr / out_sr (sample clock, no drift)
        t_out = t_first + (out_start * self.samplerate / self.out_sr - in_start) / self.samplerate
        cb = self.on_audio
        if cb is not None:
            cb(np.ascontiguousarray(out, dtype=np.float32), t_out)
