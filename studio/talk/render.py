"""Offline render: audio file + avatar template -> MP4 with the audio muxed in (or PNGs).

The template is consumed through a small protocol (frame count, frames, crop boxes), so
the same loop renders a prepared avatar folder, an archive, or frames built in a test.
Work is pipelined: the session pool runs U-Net calls ahead while this thread crops,
composites and encodes, so the whole pipeline runs near the bare model's speed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import cv2
import numpy as np

from studio.jobs import JobContext, UserError
from studio.media.audio_io import Audio, AudioInfo, load_audio
from studio.media.video_writer import VideoWriter
from studio.talk.avatar import frame_index as pingpong
from studio.talk.lipsync import LipSync

MODEL_SR = 16000  # the audio encoder's rate
MUX_SR = 48000  # the MP4's AAC track


class Template(Protocol):
    @property
    def n_frames(self) -> int: ...

    def frame(self, k: int) -> np.ndarray: ...  # RGB uint8 (H, W, 3)

    def crop_box(self, k: int) -> Sequence[float]: ...  # x0, y0, x1, y1


@dataclass
class ArrayTemplate:
    """A template held in memory (frames + boxes)."""

    frames: list[np.ndarray]
    boxes: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def frame(self, k: int) -> np.ndarray:
        return self.frames[k]

    def crop_box(self, k: int):
        return self.boxes[k]


@dataclass
class RenderStats:
    frames: int = 0
    seconds: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    output: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        parts = ", ".join(f"{k} {1000 * v / max(self.frames, 1):.1f} ms/frame" for k, v in self.stage_s.items())
        return f"{self.frames} frames in {self.seconds:.2f} s ({self.fps:.1f} fps); {parts}"


class _Sink(Protocol):
    def write(self, rgb: np.ndarray) -> None: ...


class PngSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0

    def write(self, rgb: np.ndarray) -> None:
        cv2.imwrite(str(self.folder / f"{self.n:06d}.png"), rgb[..., ::-1])
        self.n += 1


def render_frames(lipsync: LipSync, template: Template, wav16k: np.ndarray, sink: _Sink,
                  ctx: JobContext | None = None, start_frame: int = 0,
                  tap: Callable[[int, np.ndarray], None] | None = None) -> RenderStats:
    """Render one frame per 1/fps of audio into ``sink``; returns timings per stage."""
    ctx = ctx or JobContext()
    stats = RenderStats()
    t_all = time.perf_counter()
    n = lipsync.frame_count(len(wav16k))
    if n == 0:
        raise UserError("the audio is shorter than one video frame (40 ms); nothing to render")
    t0 = time.perf_counter()
    ctx.progress(0, n, "encoding audio", force=True)
    rows = lipsync.audio_rows(wav16k, n)
    stats.stage_s["audio"] = time.perf_counter() - t0
    lock = threading.Lock()
    timing = {"crop": 0.0, "composite": 0.0}

    def items():
        for i in range(n):
            ctx.check()
            yield i

    def prepare(i: int):
        # helper thread: crop and audio window of frame i, ahead of the model
        t = time.perf_counter()
        k = pingpong(start_frame + i, template.n_frames)
        frame = template.frame(k)
        image6, box = lipsync.crop(frame, template.crop_box(k))
        feat = lipsync.audio_features(rows, i, i + 1)
        with lock:
            timing["crop"] += time.perf_counter() - t
        return (image6, feat), (frame, box)

    def composite(carry, outputs) -> np.ndarray:
        # helper thread: paste the prediction back while the sessions run the next frames
        t = time.perf_counter()
        frame, box = carry
        out = lipsync.paste(frame, outputs[0], box)
        with lock:
            timing["composite"] += time.perf_counter() - t
        return out

    t_write = 0.0
    for i, frame in enumerate(lipsync.unet.imap_staged(items(), prepare, composite)):
        t = time.perf_counter()
        sink.write(frame)
        if tap is not None:
            tap(i, frame)
        t_write += time.perf_counter() - t
        stats.frames += 1
        ctx.progress(i + 1, n, f"frame {i + 1}/{n}")
    t_crop, t_paste = timing["crop"], timing["composite"]
    stats.stage_s.update(crop=t_crop, composite=t_paste, write=t_write)
    st = lipsync.unet.stats()
    stats.stage_s["unet (per call)"] = st.mean_ms / 1000.0 * stats.frames
    stats.seconds = time.perf_counter() - t_all
    return stats


def render_to_file(lipsync: LipSync, template: Template, audio: str | Path | RenderAudio,
                   out: str | Path, ctx: JobContext, fmt: str = "mp4", crf: int = 18,
                   tap: Callable[[int, np.ndarray], None] | None = None) -> RenderStats:
    """``audio``: a file, or a :class:`RenderAudio` already decoded (nothing is decoded
    again). ``fmt``: "mp4" (H.264 + AAC), "silent" (H.264 only) or "png" (a folder of
    frames). Output is written atomically: a cancelled or failed render leaves nothing."""
    out = Path(out)
    if fmt not in ("png", "mp4", "silent"):
        raise UserError(f"unknown output format {fmt!r}: use mp4, silent or png")
    if isinstance(audio, RenderAudio):
        wav16k, mux = audio.model, (audio.mux if fmt == "mp4" else None)
    else:
        wav16k, mux = decode_for_render(Path(audio), fmt == "mp4", ctx.check)
    if fmt == "png":
        with ctx.atomic_dir(out) as tmp:
            stats = render_frames(lipsync, template, wav16k, PngSink(tmp), ctx, tap=tap)
    else:
        h, w = template.frame(0).shape[:2]
        with ctx.atomic_output(out) as tmp:
            with VideoWriter(tmp, lipsync.fps, w, h, audio=mux, audio_sr=MUX_SR, crf=crf,
                             container_format="mp4") as writer:
                stats = render_frames(lipsync, template, wav16k, writer, ctx, tap=tap)
        if writer.encode_cpu_s is not None:  # x264 + mux in the encoder process (CPU time)
            stats.stage_s["encoder process cpu"] = writer.encode_cpu_s
    stats.output = str(out)
    return stats


def _source_rate(path: Path) -> int | None:
    """The file's own sample rate from its header (no decoding), or None if unknown."""
    try:
        import soundfile as sf

        return int(sf.info(str(path)).samplerate)
    except Exception:  # noqa: BLE001 - not a libsndfile format: ask FFmpeg
        pass
    try:
        import av

        with av.open(str(path)) as c:
            return int(c.streams.audio[0].rate) if c.streams.audio else None
    except Exception:  # noqa: BLE001 - load_audio below reports unreadable files properly
        return None


def _resample(y: np.ndarray, sr: int, to: int) -> np.ndarray:
    if sr == to:
        return y
    import soxr

    from studio.media.audio_io import output_length

    out = soxr.resample(y, sr, to, quality="HQ").astype(np.float32, copy=False)
    want = output_length(len(y), sr, to)
    return out[:want] if len(out) >= want else np.pad(out, (0, want - len(out)))


@dataclass(frozen=True, eq=False)
class RenderAudio:
    """One decode of an audio file at the two rates a render needs: hand it to
    :func:`render_to_file` in place of the path (the talk panel decodes on load, shows and
    plays ``mux``, and renders from the same samples: no second decode)."""

    path: Path
    model: np.ndarray  # 16 kHz mono float32, for the audio encoder
    mux: np.ndarray  # 48 kHz mono float32, for the MP4's AAC track (and playback)
    info: AudioInfo

    @property
    def duration_s(self) -> float:
        return len(self.model) / MODEL_SR

    def at_mux_rate(self) -> Audio:
        """The 48 kHz samples as a studio.media.audio_io clip (what a panel shows)."""
        return Audio(samples=self.mux, sr=MUX_SR, info=self.info)


def decode_audio(audio_path: str | Path, check: Callable[[], None] | None = None) -> RenderAudio:
    """Decode once at the file's own rate; both rates are resampled from those samples, so a
    16 kHz file reaches the model untouched and a 48 kHz file reaches the mux untouched."""
    rate = _source_rate(Path(audio_path))
    audio = load_audio(audio_path, rate or MUX_SR, check=check)
    return RenderAudio(Path(audio_path), _resample(audio.samples, audio.sr, MODEL_SR),
                       _resample(audio.samples, audio.sr, MUX_SR), audio.info)


def decode_for_render(audio_path: str | Path, mux: bool,
                      check: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(16 kHz samples for the model, 48 kHz samples for the MP4's audio or None): one decode.
    Why: the render used to decode the file once per rate (and the panel a third time)."""
    if not mux:
        return load_audio(audio_path, MODEL_SR, check=check).samples, None
    d = decode_audio(audio_path, check)
    return d.model, d.mux
