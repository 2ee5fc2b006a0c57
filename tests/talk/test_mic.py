"""Microphone capture: device listing without hardware, the callback/pump/resampler logic on a
fake PortAudio stream, and (marker ``audio``) a real capture through a userspace PulseAudio
null sink, fed into the live talk engine with tiny test-fixture models."""

import builtins
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from studio.media import mic


# ------------------------------------------------------------------------ device list

def test_list_input_devices_never_raises_and_explains_empty():
    devices, reason = mic.list_input_devices()
    assert isinstance(devices, list)
    assert (reason == "") == bool(devices)
    if not devices:
        assert "no audio input devices" in reason or "PortAudio" in reason


def test_missing_portaudio_is_a_reason_not_a_crash(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *a, **k)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    devices, reason = mic.list_input_devices(refresh=True)
    assert devices == [] and "libportaudio2" in reason
    with pytest.raises(mic.MicError, match="PortAudio"):
        mic.MicCapture().start()


# ------------------------------------------------------------------------ fake PortAudio

class FakeTime:
    def __init__(self, adc, now):
        self.inputBufferAdcTime, self.currentTime = adc, now


class FakeStream:
    """Calls the callback from a thread with 44.1 kHz blocks of a sine, paced in real time
    like PortAudio."""

    sr = 44100
    freq = 440.0
    amp = 0.5
    total_blocks = 50

    def __init__(self, samplerate, device, channels, dtype, latency, blocksize, callback):
        assert samplerate == self.sr and channels == 1 and dtype == "float32"
        self.blocksize, self.callback = blocksize, callback
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        t0 = time.monotonic()
        for k in range(self.total_blocks):
            if self._stop.is_set():
                return
            time.sleep(max(0.0, t0 + (k + 1) * self.blocksize / self.sr - time.monotonic()))
            t = (n + np.arange(self.blocksize)) / self.sr
            block = (self.amp * np.sin(2 * np.pi * self.freq * t)).astype(np.float32)[:, None]
            clock = 1000.0 + (n + self.blocksize) / self.sr
            self.callback(block, self.blocksize, FakeTime(clock - self.blocksize / self.sr, clock),
                          types.SimpleNamespace(input_overflow=False))
            n += self.blocksize

    def start(self):
        self._th.start()

    def stop(self):
        self._stop.set()
        self._th.join()

    def close(self):
        pass


def fake_sounddevice(devices):
    sd = types.ModuleType("sounddevice")
    sd.query_devices = lambda: devices
    sd.query_hostapis = lambda: [{"name": "FakeAPI"}]
    sd.default = types.SimpleNamespace(device=[0 if devices else -1, -1])
    sd.InputStream = FakeStream
    sd._terminate = sd._initialize = lambda: None
    return sd


ONE_MIC = [{"index": 0, "name": "Fake Mic", "hostapi": 0, "max_input_channels": 1,
            "default_samplerate": 44100.0},
           {"index": 1, "name": "Fake Speaker", "hostapi": 0, "max_input_channels": 0,
            "default_samplerate": 48000.0}]


def test_capture_resamples_meters_and_timestamps(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(ONE_MIC))
    devices, reason = mic.list_input_devices()
    assert [d.name for d in devices] == ["Fake Mic"] and devices[0].is_default and reason == ""
    blocks, times = [], []
    cap = mic.MicCapture(lambda b, t: (blocks.append(b), times.append(t)))
    cap.start()
    assert cap.wait_first_block(2)
    deadline = time.monotonic() + 5
    while cap.stats().blocks < FakeStream.total_blocks and time.monotonic() < deadline:
        time.sleep(0.01)
    cap.stop()
    st = cap.stats()
    assert st.device == "Fake Mic" and st.samplerate == 44100 and st.blocks == 50
    assert st.overflows == 0 and not st.running
    y = np.concatenate(blocks)
    n_in = 50 * 882                                     # 20 ms blocks at 44.1 kHz
    assert abs(len(y) - n_in * 16000 / 44100) < 600      # soxr holds back its filter delay
    seg = y[1000:1000 + 12800]
    spec = np.abs(np.fft.rfft(seg))
    assert abs(np.argmax(spec) * 16000 / len(seg) - 440) <= 2.5   # the tone survives
    lev = cap.level()
    assert lev.rms == pytest.approx(0.5 / np.sqrt(2), rel=0.02) and lev.peak == pytest.approx(0.5, abs=0.01)
    # output timestamps follow the sample clock: t(k) = t(0) + k / 16000
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]])
    resid = np.array(times) - times[0] - starts / 16000
    assert np.abs(resid).max() < 0.03


class BackloggedStream(FakeStream):
    """Like PulseAudio at stream start: the first blocks are ``ages[k]`` seconds old (the ADC
    times say so), then fresh (age one block). Block k carries the value k (to see which
    blocks came through)."""

    sr = 16000  # no resampling: the values come through as they are
    ages: list = []
    total_blocks = 40

    def _run(self):
        t0 = time.monotonic()
        for k in range(self.total_blocks):
            if self._stop.is_set():
                return
            time.sleep(max(0.0, t0 + (k + 1) * 0.002 - time.monotonic()))  # faster than real time
            block = np.full((self.blocksize, 1), float(k), np.float32)
            age = self.ages[k] if k < len(self.ages) else self.blocksize / self.sr
            clock = 1000.0 + k
            self.callback(block, self.blocksize, FakeTime(clock - age, clock),
                          types.SimpleNamespace(input_overflow=False))


def _capture_backlog(monkeypatch, ages, **kw):
    BackloggedStream.ages = ages
    sd = fake_sounddevice([dict(ONE_MIC[0], default_samplerate=16000.0)])
    sd.InputStream = BackloggedStream
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    got = []
    cap = mic.MicCapture(lambda b, t: got.append(b), **kw)
    cap.start()
    deadline = time.monotonic() + 5
    while cap.stats().blocks < BackloggedStream.total_blocks and time.monotonic() < deadline:
        time.sleep(0.01)
    cap.stop()
    y = np.concatenate(got) if got else np.zeros(0, np.float32)
    return cap.stats(), y


def test_start_up_backlog_is_dropped_until_fresh(monkeypatch):
    """PulseAudio's start-up backlog (0.65 s old blocks, draining) never reaches the consumer;
    from the first fresh block on, everything does (even an old block later: the clock
    holds)."""
    ages = [0.65] * 10 + [0.5, 0.35, 0.2, 0.12] + [0.02] * 10 + [0.4] + [0.02] * 15
    st, y = _capture_backlog(monkeypatch, ages)
    assert st.stale_blocks == 14 and st.stale_s == pytest.approx(14 * 0.02, rel=0.01)
    vals = np.unique(y)
    assert vals.min() == 14 and 24 in vals and 39 in vals  # fresh from block 14; 24 kept
    assert len(y) == 26 * 320
    assert st.overflows == 0


def test_constant_latency_device_still_starts(monkeypatch):
    """A device whose every block is 0.3 s old (e.g. Bluetooth): at most max_start_drop_s of
    audio is dropped, then it runs."""
    st, y = _capture_backlog(monkeypatch, [0.3] * 40, max_start_drop_s=0.2)
    assert st.stale_blocks == 10 and st.stale_s == pytest.approx(0.2, rel=0.01)
    assert np.unique(y).min() == 10
    st, y = _capture_backlog(monkeypatch, [0.65] * 5, max_start_age_s=None)
    assert st.stale_blocks == 0 and np.unique(y).min() == 0 and len(y) == 40 * 320


def test_full_queue_counts_overflows(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(ONE_MIC))
    gate = threading.Event()
    cap = mic.MicCapture(lambda b, t: gate.wait(5), queue_blocks=3)
    cap.start()
    deadline = time.monotonic() + 5
    while cap.stats().overflows == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    cap.stop()
    assert cap.stats().overflows > 0


def test_no_input_device_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice([]))
    assert mic.list_input_devices() == ([], mic.NO_DEVICE_REASON)
    with pytest.raises(mic.MicError, match="no sound server"):
        mic.MicCapture().start()
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(ONE_MIC))
    with pytest.raises(mic.MicError, match="Fake Mic"):
        mic.find_input_device("usb headset")
    assert mic.find_input_device("fake").index == 0


# ------------------------------------------------------------------------ real PulseAudio

TOOLS = ("pulseaudio", "pactl", "paplay", "espeak-ng")


@pytest.fixture
def pulse_null_sink(monkeypatch):
    """A userspace PulseAudio with a null sink whose monitor is the default source
    (TESTING-HEADLESS.md), in a temp XDG_RUNTIME_DIR; killed by its pid afterwards."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: apt install pulseaudio espeak-ng)")
    sd, reason = mic._import_sounddevice()
    if sd is None:
        pytest.skip(reason)
    xdg = Path(tempfile.mkdtemp(prefix="studio-pa-"))    # short path: unix socket limit
    env = dict(os.environ, XDG_RUNTIME_DIR=str(xdg))
    env.pop("PULSE_SERVER", None)
    pidfile = xdg / "pulse" / "pid"
    pid = None
    try:
        proc = subprocess.run(
            ["pulseaudio", "-D", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
             "--load=module-null-sink sink_name=studio_null", "--load=module-always-sink"],
            env=env, capture_output=True, text=True, timeout=20)
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and (xdg / "pulse" / "native").exists()):
            if time.monotonic() > deadline:
                pytest.skip(f"PulseAudio did not start: {proc.stderr.strip()[-300:]}")
            time.sleep(0.05)
        pid = int(pidfile.read_text().split()[0])
        subprocess.run(["pactl", "set-default-source", "studio_null.monitor"], env=env,
                       check=True, capture_output=True, timeout=10)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
        monkeypatch.setenv("PULSE_SERVER", f"unix:{xdg}/pulse/native")
        devices, reason = mic.list_input_devices(refresh=True)
        if not any(d.name == "pulse" for d in devices):
            pytest.skip(f"PortAudio shows no 'pulse' device (ALSA pulse plugin missing?): "
                        f"{[d.name for d in devices]} {reason}")
        yield env, xdg
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        monkeypatch.undo()
        mic.list_input_devices(refresh=True)       # forget the server for later tests
        shutil.rmtree(xdg, ignore_errors=True)


def best_ncc(captured, played):
    """Peak normalised cross-correlation of ``played`` inside ``captured`` (and the lag)."""
    from scipy.signal import fftconvolve

    c = fftconvolve(captured, played[::-1], mode="valid")
    energy = np.convolve(captured ** 2, np.ones(len(played)), mode="valid")
    ncc = c / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(played))
    k = int(np.argmax(ncc))
    return float(ncc[k]), k


@pytest.mark.audio
def test_real_capture_matches_playback_and_drives_the_live_engine(pulse_null_sink, tmp_path):
    from studio.media.audio_io import load_audio
    from studio.runtime.pool import SessionPool
    from studio.talk.lipsync import LipSync
    from studio.talk.live import LiveEngine
    from studio.talk.render import ArrayTemplate
    from tests.fixtures.tiny_models import talk_pair

    env, _ = pulse_null_sink
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello, this is the studio microphone test."],
                   check=True, capture_output=True, timeout=20)
    played = load_audio(wav, 16000).samples

    enc, unet = talk_pair(tmp_path / "models", size=64)
    ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=2))
    rng = np.random.default_rng(5)
    still = ArrayTemplate([rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)],
                          np.array([[32, 16, 96, 80]], np.float32))
    frames = []
    eng = LiveEngine(ls, still, "low_latency", on_frame=frames.append).start()
    chunks = []

    def on_audio(block, t):
        chunks.append(block)
        eng.push_audio(block, t)

    cap = mic.MicCapture(on_audio, device="pulse")
    try:
        cap.start()
        assert cap.wait_first_block(8), "no audio callback within 8 s"
        assert cap.wait_fresh(3), "the start-up backlog never drained"
        time.sleep(0.8)                                    # silence first
        subprocess.run(["paplay", "-d", "studio_null", str(wav)], env=env, check=True,
                       capture_output=True, timeout=30)
        time.sleep(0.6)                                    # and a silent tail
    finally:
        cap.stop()
        time.sleep(0.2)
        eng.stop()
    captured = np.concatenate(chunks)
    st, est = cap.stats(), eng.stats()
    assert st.overflows == 0 and est.audio_overflows == 0 and est.error is None
    ncc, lag = best_ncc(captured, played)
    assert ncc > 0.8, f"captured audio does not match playback (NCC {ncc:.3f})"
    # the stream start burst (below) and a busy machine make the engine skip a few frames
    due = len(captured) / 640
    assert 0.5 * due <= est.frames <= est.frames + est.skipped <= due
    # PulseAudio hands over its first ~0.5 s as one burst when a stream starts (the ADC times
    # say so): judge the latency after the first second
    steady = [f.latency_s for f in frames if f.index >= 25]
    assert np.percentile(steady, 95) < 0.2, np.percentile(steady, [50, 95])

    # mouth: frames whose rows saw only silence are identical; speech frames move
    x0, y0, x1, y1 = 32, 16, 96, 80
    # the part of the box the paste takes wholly from the prediction (inside its feather)
    from studio.talk.lipsync import blend_weights
    c = ls.contract
    full = blend_weights(y1 - y0, x1 - x0, c.painted_region(), c.feather)[0] > 0.99
    by_index = {f.index: f.rgb[y0:y1, x0:x1][full].astype(np.int16) for f in frames}

    def rms(a, b):
        seg = captured[max(a, 0):max(b, 0)]
        return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0

    silent = [i for i in by_index if i >= 8 and rms((i - 7) * 640 - 4000, (i + 1) * 640) == 0.0]
    speech = [i for i in by_index if rms((i + 1) * 640 - 3200, (i + 1) * 640) > 0.02]
    assert len(silent) >= 3 and len(speech) >= 15, (len(silent), len(speech))
    rest = by_index[silent[0]]
    assert all(np.array_equal(rest, by_index[i]) for i in silent)
    moved = [np.abs(by_index[i] - rest).mean() for i in speech]
    assert np.mean(np.array(moved) > 1.0) > 0.8
    assert np.stack([by_index[i] for i in speech]).std(axis=0).mean() > 0.5
    ls.close()
