"""Live lip-sync as the user sees it: shown frames against heard audio, both live modes vs offline.

    .venv/bin/python bench/eval_live_lipsync.py [--feed direct|pulse] [--clips N]
        [--lookaheads-ms 0,40,80] [--modes quality,low_latency] [--gap pixels|facemesh|both]
        [--no-clock] [--json OUT]

Real speech (every ``*.wav`` in ../shared/data/speech with a phone alignment, 16 kHz read
speech) is joined into one stream with short pauses and fed to the live engine
(:class:`studio.talk.live.LiveEngine`, the shipped pair, the default avatar: the app's own
``open_lipsync`` and ``AvatarTemplate.load``) at real-time pace in 20 ms blocks, like a
microphone:

* ``--feed direct`` (default): a feeder thread pushes each block when its last sample is
  "captured" (``t0 + k / 16000``), with that capture time;
* ``--feed pulse``: a userspace PulseAudio null sink is the microphone
  (/work/shared/design/TESTING-HEADLESS.md): ``pacat`` plays the stream into the sink, the app's
  :class:`studio.media.mic.MicCapture` records its monitor, and the engine gets what the
  microphone delivered, stamped with the mic's capture times.

A 'UI' thread polls :meth:`LiveEngine.latest_frame` at 60 Hz as the app's timer does; a frame
is on screen from the poll that took it until the next one. Every frame the engine publishes
(its mouth region copied in the frame callback) has its lip gap measured from its pixels
(:func:`studio.talk.eval_sync.mouth_opening_pixels` minus the template frame's own closed-mouth
reading: the measure of the optimise quality gate and of bench/eval_lipsync.py) and, with
``--gap facemesh|both`` (default both), by the face mesh
(:class:`studio.talk.eval_sync.FaceMeshGap`: inner-lip distance over the eye distance, minus
the template frame's own reading; the callback copies the face square, the mesh runs after
the run). Each measure gets its own rows. The audio *heard* at display time T is the sample
captured at T (the user hears their own voice; "monitor": the app's speaker monitor, which
plays it delayed by the look-ahead + 60 ms). For every 40 ms bin of heard audio (25 fps) the
frame shown at the bin's middle is compared with the bin's speech energy (RMS,
:func:`studio.talk.optimise.speech_energy`) and with the phone-implied mouth opening
(:func:`studio.talk.eval_sync.mouth_track`).

Reported per mode: Pearson r at lag 0 and the best lag in frames (search +-15; positive = the
picture trails the sound), "seen" (by display time, what the user perceives, against their own
voice and against the monitor) and "content" (frame ``i`` against audio bin ``i``: the model's
own shift without the display delay, which is also how a LiveRecorder file pairs them); the
engine's mic-to-frame delay (capture of the frame's own last sample -> pixels ready) and
mic-to-screen (-> the poll that showed it), p50 / p95. The offline render of the same stream
(``render_frames``) is the reference (display = content there).

``--no-clock``: no real-time pace and no display; the whole stream is pushed into a
``LiveEngine(drop_late=False)`` and flushed, so every frame is rendered and timing cannot enter:
only the content view (frame i against audio bin i) is reported, per mode and look-ahead.

Timing numbers depend on the machine's load (printed); lags in frames and r do not much.
With ``--feed pulse`` the energy comes from the captured audio; the phone timings are placed
by cross-correlation and dropped ("n/a") when the captured timeline drifted (underruns).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.paths import SHARED_DATA  # noqa: E402
from studio.talk import eval_sync as ev  # noqa: E402
from studio.talk.optimise import speech_energy  # noqa: E402

SR = 16000
FPS = 25
SPF = SR // FPS
MAX_LAG = 15
MONITOR_EXTRA_S = 0.06        # LiveSession: AudioMonitor(delay_s=lookahead + 0.06)


# ---------------------------------------------------------------------------- the stream

def speech_clips(folder: Path):
    """(name, wav path, phones path) for every speech clip with an alignment."""
    for p in sorted(folder.glob("*.phone.json")):
        wav = p.with_name(p.name.replace(".phone.json", ".wav"))
        if wav.exists():
            yield p.name.replace(".phone.json", ""), wav, p
    for p in sorted(folder.glob("*.TextGrid")):
        wav = p.with_name(p.name.split("_")[0].replace(".TextGrid", "") + ".wav")
        if not wav.exists():
            wav = p.with_suffix(".wav")
        if wav.exists():
            yield p.stem, wav, p


def build_stream(folder: Path, n_clips: int = 0, gap_s: float = 0.3):
    """All clips joined (``gap_s`` of silence before each and at the end): (wav, phones, names)."""
    from studio.media.audio_io import load_audio

    parts, phones, names = [], [], []
    at = 0
    gap = np.zeros(int(gap_s * SR), np.float32)
    for k, (name, wav_path, ph_path) in enumerate(speech_clips(folder)):
        if n_clips and k >= n_clips:
            break
        w = load_audio(wav_path, SR).samples.astype(np.float32)
        parts += [gap, w]
        at += len(gap)
        off = at / SR
        phones += [ev.Phone(p.start + off, p.end + off, p.label) for p in ev.load_phones(ph_path)]
        at += len(w)
        names.append(name)
    parts.append(np.zeros(int(0.6 * SR), np.float32))
    return np.concatenate(parts), phones, names


# ---------------------------------------------------------------------------- measures

def lagged_r(measured, expected, max_lag: int = MAX_LAG):
    return ev.lagged_pearson(measured, expected, max_lag)


LipGap = ev.LipGap
GAPS = {"pixels": ev.LipGap, "facemesh": ev.FaceMeshGap}


def gap_measures(avatar, which: str) -> dict:
    """name -> measure (``crop(i, rgb)`` in the frame callback, ``measure(i, crop)`` later)."""
    names = list(GAPS) if which == "both" else [which]
    return {n: GAPS[n](avatar) for n in names}


class _GapSink:
    """A render sink that measures every frame with each measure (no clock offline)."""

    def __init__(self, measures: dict) -> None:
        self.measures = measures
        self.gaps: dict = {n: [] for n in measures}

    def write(self, rgb: np.ndarray) -> None:
        for n, m in self.measures.items():
            self.gaps[n].append(m(len(self.gaps[n]), rgb))


def measure_crops(measures: dict, crops: dict) -> dict:
    """{frame index: {name: crop}} -> {name: {frame index: lip gap}}."""
    return {n: {i: m.measure(i, c[n]) for i, c in crops.items()} for n, m in measures.items()}


def render_offline(ls, avatar, stream: np.ndarray, measures: dict) -> dict:
    """The offline render (``render_frames``) of ``stream``: {name: per-frame lip gaps}."""
    from studio.talk.render import render_frames

    sink = _GapSink(measures)
    render_frames(ls, avatar, stream, sink)
    return {n: np.asarray(g, np.float64) for n, g in sink.gaps.items()}


# ---------------------------------------------------------------------------- PulseAudio

class PulseNullSink:
    """A userspace PulseAudio with a null sink whose monitor is the default source, in a temp
    XDG_RUNTIME_DIR (as tests/talk/test_mic.py's fixture); killed by its own pid on exit."""

    def __enter__(self):
        for tool in ("pulseaudio", "pactl", "pacat"):
            if shutil.which(tool) is None:
                raise SystemExit(f"--feed pulse needs {tool} (Debian: apt install pulseaudio)")
        self.xdg = Path(tempfile.mkdtemp(prefix="studio-pa-"))
        self.old = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(self.xdg))
        self.env.pop("PULSE_SERVER", None)
        self.pid = None
        proc = subprocess.run(
            ["pulseaudio", "-D", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
             "--load=module-null-sink sink_name=studio_null", "--load=module-always-sink"],
            env=self.env, capture_output=True, text=True, timeout=20)
        pidfile = self.xdg / "pulse" / "pid"
        deadline = time.monotonic() + 10
        while not (pidfile.exists() and (self.xdg / "pulse" / "native").exists()):
            if time.monotonic() > deadline:
                raise SystemExit(f"PulseAudio did not start: {proc.stderr.strip()[-300:]}")
            time.sleep(0.05)
        self.pid = int(pidfile.read_text().split()[0])
        subprocess.run(["pactl", "set-default-source", "studio_null.monitor"], env=self.env,
                       check=True, capture_output=True, timeout=10)
        os.environ["XDG_RUNTIME_DIR"] = str(self.xdg)
        os.environ["PULSE_SERVER"] = f"unix:{self.xdg}/pulse/native"
        from studio.media import mic

        devices, reason = mic.list_input_devices(refresh=True)
        if not any(d.name == "pulse" for d in devices):
            self.__exit__()
            names = [d.name for d in devices]
            raise SystemExit(f"PortAudio shows no 'pulse' device: {names} {reason}")
        return self

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.xdg, ignore_errors=True)


# ---------------------------------------------------------------------------- one live run

@dataclass
class LiveRun:
    mode: str
    lookahead_s: float
    feed: str
    audio: np.ndarray                 # what the engine received (16 kHz, sample 0 = its start)
    cap_samples: np.ndarray           # block start samples ...
    cap_times: np.ndarray             # ... and their capture times (monotonic)
    polls: list                       # (poll time, frame index now on screen)
    gaps: dict                        # measure name -> {frame index -> lip gap}
    frames: dict                      # frame index -> (t_ready, delay_s)
    stats: object
    mic_stats: object = None
    load: tuple = ()

    def capture_time(self, s: np.ndarray) -> np.ndarray:
        """Capture time of samples ``s`` (the block's stamp plus the sample clock)."""
        j = np.clip(np.searchsorted(self.cap_samples, s, side="right") - 1, 0, None)
        return self.cap_times[j] + (s - self.cap_samples[j]) / SR


def run_live(ls, avatar, wav: np.ndarray, mode: str, lookahead_s, feed: str = "direct",
             block: int = 320, measures: dict | None = None) -> LiveRun:
    from studio.talk.live import LiveEngine

    measures = measures or {"pixels": LipGap(avatar)}
    frames: dict = {}

    crops: dict = {}

    def on_frame(f):           # every frame the engine publishes (shown or not)
        frames[f.index] = (f.t_ready, f.delay_s)
        crops[f.index] = {n: m.crop(f.index, f.rgb) for n, m in measures.items()}

    eng = LiveEngine(ls, avatar, mode, lookahead_s=lookahead_s, on_frame=on_frame)
    chunks: list = []          # (start sample, block, capture time)
    count = [0]

    def on_audio(b, t):
        chunks.append((count[0], np.asarray(b, np.float32).copy(), t))
        count[0] += len(b)
        eng.push_audio(b, t)

    polls: list = []
    stop = threading.Event()
    shown = [-1]

    def ui():                  # the app's 60 Hz QTimer: take the newest frame, show it
        t_next = time.monotonic()
        while not stop.is_set():
            got = eng.latest_frame()
            now = time.monotonic()
            if got is not None:
                shown[0] = got[0]
            polls.append((now, shown[0]))
            t_next += 1 / 60
            dt = t_next - time.monotonic()
            if dt > 0:
                time.sleep(dt)
            else:
                t_next = time.monotonic()

    eng.start()
    th = threading.Thread(target=ui, daemon=True)
    th.start()
    load0 = os.getloadavg()
    mic_stats = None
    try:
        if feed == "direct":
            t0 = time.monotonic()
            for k, s in enumerate(range(0, len(wav), block)):
                due = t0 + (k + 1) * block / SR
                dt = due - time.monotonic()
                if dt > 0:
                    time.sleep(dt)
                b = wav[s:s + block]
                on_audio(b, due - len(b) / SR)
            time.sleep(0.8)
        else:
            from studio.media.mic import MicCapture

            cap = MicCapture(on_audio, device="pulse")
            player = subprocess.Popen(
                ["pacat", "--playback", "-d", "studio_null", "--latency-msec=100",
                 "--format=float32le", f"--rate={SR}", "--channels=1", "--raw"],
                stdin=subprocess.PIPE)
            try:
                cap.start()
                if not cap.wait_first_block(10):
                    raise SystemExit("no audio callback from PulseAudio within 10 s")
                cap.wait_fresh(5)
                time.sleep(0.3)
                # 20 ms pieces at real-time pace, kept 100 ms ahead of the sound server so a
                # loaded machine does not underrun pacat (an underrun stretches the timeline;
                # the capture times and the captured audio stay right either way)
                t0 = time.monotonic()
                ahead = int(0.1 * SR) // block
                for k, s in enumerate(range(0, len(wav), block)):
                    player.stdin.write(wav[s:s + block].astype(np.float32).tobytes())
                    player.stdin.flush()
                    dt = t0 + (k + 1 - ahead) * block / SR - time.monotonic()
                    if dt > 0:
                        time.sleep(dt)
                time.sleep(1.0)
            finally:
                cap.stop()
                player.stdin.close()
                player.wait(5)
            mic_stats = cap.stats()
        st = eng.stats()
    finally:
        stop.set()
        th.join()
        eng.stop()
    load1 = os.getloadavg()
    gaps = measure_crops(measures, crops)
    audio = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.float32)
    return LiveRun(mode, eng.lookahead_s, feed, audio,
                   np.array([c[0] for c in chunks], np.int64),
                   np.array([c[2] for c in chunks], np.float64), polls, gaps, frames, st,
                   mic_stats, (round(load0[0], 1), round(load1[0], 1)))


def run_content(ls, avatar, wav: np.ndarray, mode: str, lookahead_s,
                measures: dict) -> tuple[dict, float]:
    """No clock: the whole stream pushed into ``LiveEngine(drop_late=False)`` as fast as it
    renders, then flushed, so every frame is rendered (as tests/talk/test_live_lipsync.py
    does). Returns ({name: per-frame lip gaps, NaN for a frame never published}, the
    engine's look-ahead in s)."""
    from studio.talk.live import LiveEngine

    crops: dict = {}
    eng = LiveEngine(ls, avatar, mode, lookahead_s=lookahead_s, drop_late=False,
                     on_frame=lambda f: crops.__setitem__(
                         f.index, {n: m.crop(f.index, f.rgb) for n, m in measures.items()}))
    with eng:
        for s in range(0, len(wav), 320):
            # the engine's audio queue holds ~10 s and loses what does not fit: stay <= 4 s
            # ahead of the frames published (with drop_late=False nothing else waits)
            while s - SPF * len(crops) > 4 * SR and eng.running:
                time.sleep(0.005)
            eng.push_audio(wav[s:s + 320])
        if not eng.flush(600):
            print(f"{mode}: flush timed out", flush=True)
        la = eng.lookahead_s
        lost = eng.stats().audio_overflows
    if lost:
        print(f"{mode}: {lost} audio blocks lost (queue full)", flush=True)
    gaps = measure_crops(measures, crops)
    n = max(crops) + 1 if crops else 0
    return {nm: np.array([g.get(i, np.nan) for i in range(n)]) for nm, g in gaps.items()}, la


def analyse_content(gaps: np.ndarray, stream: np.ndarray, phones, gap: str, mode: str,
                    lookahead_s) -> dict:
    """Frame i against audio bin i (no clock): the content view only."""
    out = analyse_offline(gaps, stream, phones, gap)
    out.update(mode=mode, feed="no clock",
               lookahead_ms=None if lookahead_s is None else round(lookahead_s * 1000),
               frames=int(np.isfinite(gaps).sum()))
    for key in [k for k in out if k.startswith(("seen_", "monitor_"))]:
        del out[key]
    return out


def content_row(o: dict) -> str:
    def cell(t):
        d = o[f"content_{t}"]
        return f"{d['r']:+.3f} / {d['lag']:+d} ({d['r_best']:+.3f})"
    la = "-" if o["lookahead_ms"] is None else f"{o['lookahead_ms']} ms"
    return (f"| {o['mode']} | {la} | {o['gap']} | {cell('energy')} | {cell('phones')} | "
            f"{o.get('frames', o['bins'])} |")


CONTENT_HEADER = (
    "content (frame i vs audio bin i), no clock: r at lag 0 / best lag in frames (r at the best "
    "lag); + = the picture trails\n"
    "| mode | look-ahead | lip gap | vs speech energy | vs phone-implied opening | frames |\n"
    "|---|---|---|---|---|---|")


def offset_of(captured: np.ndarray, original: np.ndarray) -> int:
    """Where ``original`` starts in ``captured`` (samples), by cross-correlating envelopes."""
    def env(x):
        n = len(x) // 80
        return np.sqrt((x[:n * 80].astype(np.float64).reshape(n, 80) ** 2).mean(1))
    a, b = env(captured), env(original)
    a, b = a - a.mean(), b - b.mean()
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    k = int(np.argmax(xc[:len(a)]))
    # refine to the sample around the coarse match
    lo = max(0, k * 80 - 160)
    seg = captured[lo:lo + len(original) + 320].astype(np.float64)
    best, best_v = k * 80, -np.inf
    ref = original[:SR * 4].astype(np.float64)
    for d in range(0, min(320, len(seg) - len(ref)) + 1, 2):
        v = float(np.dot(seg[d:d + len(ref)], ref))
        if v > best_v:
            best, best_v = lo + d, v
    return best


def analyse(run: LiveRun, phones, stream: np.ndarray, gap: str = "pixels") -> dict:
    """Shown frames vs heard audio ("seen": own voice, and through the app's delayed speaker
    monitor) and frame i vs audio bin i ("content": what a recording pairs), with the lip
    gaps of measure ``gap``."""
    gaps = run.gaps[gap]
    audio = run.audio
    nb = len(audio) // SPF
    energy = speech_energy(audio, nb, FPS)
    shift = drift = 0
    if run.feed == "pulse":
        shift = offset_of(audio, stream)          # engine sample of the stream's sample 0
        # pacat under load can underrun: the sink plays silence and the rest arrives later,
        # which shifts the phone timings (not the energy, taken from the captured audio)
        if len(stream) > 10 * SR:
            tail = stream[-6 * SR:]
            drift = offset_of(audio[shift + len(stream) - 8 * SR:], tail) - 2 * SR
    mouth = ev.mouth_track(phones, ev.frame_times(nb) - shift / SR)[:, 0]
    if abs(drift) > SPF // 2:
        mouth[:] = np.nan
    span = np.zeros(nb, bool)                     # bins while the stream plays
    a0, a1 = shift // SPF, (shift + len(stream)) // SPF
    span[max(a0, 0):min(a1, nb)] = True
    pt = np.array([p[0] for p in run.polls])
    pi = np.array([p[1] for p in run.polls])

    def seen_at(delay: float) -> np.ndarray:
        """Lip gap of the frame on screen at the middle of each heard bin."""
        t_mid = run.capture_time(np.arange(nb) * SPF + SPF // 2) + delay
        j = np.searchsorted(pt, t_mid, side="right") - 1
        on = np.where(j >= 0, pi[np.clip(j, 0, None)], -1)
        v = np.array([gaps.get(int(i), np.nan) if i >= 0 else np.nan for i in on])
        v[~span] = np.nan
        return v

    content = np.array([gaps.get(i, np.nan) for i in range(nb)])
    content[~span] = np.nan
    series = {"seen": seen_at(0.0), "monitor": seen_at(run.lookahead_s + MONITOR_EXTRA_S),
              "content": content}
    out = {"mode": run.mode, "lookahead_ms": round(run.lookahead_s * 1000), "feed": run.feed,
           "gap": gap, "load": run.load, "bins": int(span.sum()), "drift_ms": drift * 1000 / SR,
           "shown_bins": int(np.isfinite(series["seen"]).sum()),
           "frames_ready": len(run.frames),
           "frames_shown": len({i for _, i in run.polls if i >= 0}),
           "skipped": run.stats.skipped, "overwritten": run.stats.overwritten}
    for name, m in series.items():
        for tname, tgt in (("energy", energy), ("phones", mouth)):
            r0, lag, rb = lagged_r(m, tgt)
            out[f"{name}_{tname}"] = {"r": r0, "lag": lag, "r_best": rb}
    # timing: engine delay (own last sample captured -> ready) and -> the poll that showed it
    shown_at = {}
    for t, i in run.polls:
        if i >= 0 and i not in shown_at:
            shown_at[i] = t
    d_ready = np.array([d for _, d in run.frames.values()])
    d_screen = np.array([shown_at[i] - run.capture_time(np.array([(i + 1) * SPF - 1]))[0]
                         for i in shown_at])
    pct = lambda x, q: float(np.percentile(x, q) * 1e3) if len(x) else float("nan")  # noqa: E731
    out.update(delay_ms=(pct(d_ready, 50), pct(d_ready, 95)),
               screen_ms=(pct(d_screen, 50), pct(d_screen, 95)))
    if run.mic_stats is not None:
        out["mic"] = {"stale_s": run.mic_stats.stale_s, "overflows": run.mic_stats.overflows}
    return out


def analyse_offline(gaps: np.ndarray, stream: np.ndarray, phones, gap: str = "pixels") -> dict:
    n = len(gaps)
    energy = speech_energy(stream, n, FPS)
    mouth = ev.mouth_track(phones, ev.frame_times(n))[:, 0]
    out = {"mode": "offline", "lookahead_ms": None, "feed": "render_frames", "gap": gap,
           "bins": n}
    for tname, tgt in (("energy", energy), ("phones", mouth)):
        r0, lag, rb = lagged_r(gaps, tgt)
        for name in ("seen", "monitor", "content"):   # the file plays picture and sound together
            out[f"{name}_{tname}"] = {"r": r0, "lag": lag, "r_best": rb}
    return out


def row(o: dict, target: str = "energy") -> str:
    def cell(key):
        d = o[f"{key}_{target}"]
        if not np.isfinite(d["r"]):
            return "n/a (timeline drift)"
        return f"{d['r']:+.2f} / {d['lag']:+d} ({d['r_best']:+.2f})"
    la = "-" if o["lookahead_ms"] is None else f"{o['lookahead_ms']} ms"
    if "delay_ms" in o:
        t = (f" | {o['delay_ms'][0]:.0f} / {o['delay_ms'][1]:.0f} | {o['screen_ms'][0]:.0f} / "
             f"{o['screen_ms'][1]:.0f} | {o['frames_ready']} / {o['skipped']} | "
             f"{o['load'][0]}-{o['load'][1]}")
    else:
        t = f" | - | - | {o['bins']} / - | -"
    return f"| {o['mode']} | {la} | {cell('seen')} | {cell('monitor')} | {cell('content')}{t} |"


def header(target: str, gap: str = "pixels") -> str:
    what = "speech energy" if target == "energy" else "phone-implied opening"
    lip = "lip gap" if gap == "pixels" else "face-mesh lip gap"
    return (f"{lip} vs {what}: r at lag 0 / best lag in frames (r at the best lag); "
            "+ = the picture trails\n"
            "| mode | look-ahead | seen, own voice | seen, speaker monitor | content (recording) | "
            "mic-to-frame p50 / p95 ms | mic-to-screen p50 / p95 ms | frames / skipped | load |\n"
            "|---|---|---|---|---|---|---|---|---|")


def main(argv=None) -> int:
    from studio.settings import EngineSettings
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.eval_sync import measure_render
    from studio.talk.session import DEFAULT_AVATAR, DEFAULT_MODELS, open_lipsync

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(DEFAULT_MODELS))
    ap.add_argument("--avatar", default=str(DEFAULT_AVATAR))
    ap.add_argument("--speech", default=str(SHARED_DATA / "speech"))
    ap.add_argument("--clips", type=int, default=0, help="use the first N clips (0: all)")
    ap.add_argument("--feed", choices=("direct", "pulse"), default="direct")
    ap.add_argument("--modes", default="quality,low_latency")
    ap.add_argument("--lookaheads-ms", default="",
                    help="low-latency look-aheads to try, e.g. 0,40,80 (default: the mode's own)")
    ap.add_argument("--gap", choices=("pixels", "facemesh", "both"), default="both",
                    help="lip-gap measure: pixels (dark/teeth area), facemesh (inner-lip "
                    "distance from the face mesh), or both (default; the mesh adds ~10 ms per "
                    "frame after each run)")
    ap.add_argument("--no-clock", action="store_true",
                    help="content only: push the stream at once, render every frame "
                    "(drop_late=False), no display or timing")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    stream, phones, names = build_stream(Path(a.speech), a.clips)
    print(f"stream: {len(names)} clips, {len(stream) / SR:.1f} s; feed {a.feed}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
          flush=True)
    avatar = AvatarTemplate.load(a.avatar)
    ls = open_lipsync(Path(a.models), EngineSettings())
    measures = gap_measures(avatar, a.gap)
    results = []

    def tag(o):                # which measure a progress row is (the tables below say it)
        return f"[{o['gap']}] " if len(measures) > 1 else ""

    try:
        if list(measures) == ["pixels"]:
            gaps, _, _ = measure_render(ls, avatar, stream)
            offline = {"pixels": np.asarray(gaps)}
        else:
            offline = render_offline(ls, avatar, stream, measures)
        for name, gaps in offline.items():
            results.append(analyse_offline(gaps, stream, phones, name))
            print(content_row(results[-1]) if a.no_clock else tag(results[-1]) + row(results[-1]),
                  flush=True)
        runs = []
        for mode in [m.strip() for m in a.modes.split(",") if m.strip()]:
            if mode == "low_latency" and a.lookaheads_ms:
                runs += [(mode, float(x) / 1000) for x in a.lookaheads_ms.split(",")]
            else:
                runs.append((mode, None))
        ctx = PulseNullSink() if a.feed == "pulse" and not a.no_clock else None
        with ctx if ctx is not None else _null():
            for mode, la in runs:
                if a.no_clock:
                    got, la_s = run_content(ls, avatar, stream, mode, la, measures)
                    for name, gaps in got.items():
                        results.append(analyse_content(gaps, stream, phones, name, mode, la_s))
                        print(content_row(results[-1]), flush=True)
                    continue
                run = run_live(ls, avatar, stream, mode, la, a.feed, measures=measures)
                if run.stats.error:
                    print(f"{mode}: engine error {run.stats.error}")
                for name in measures:
                    results.append(analyse(run, phones, stream, name))
                    print(tag(results[-1]) + row(results[-1]), flush=True)
    finally:
        ls.close()
    if a.no_clock:
        print()
        print(CONTENT_HEADER)
        for name in measures:
            for o in results:
                if o["gap"] == name:
                    print(content_row(o))
    else:
        for name in measures:
            for target in ("energy", "phones"):
                print()
                print(header(target, name))
                for o in results:
                    if o["gap"] == name:
                        print(row(o, target))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
    return 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"({time.time() - t0:.0f} s)")
    raise SystemExit(rc)
