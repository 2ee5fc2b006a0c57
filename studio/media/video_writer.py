"""Write frames (and optionally audio) to a video file with PyAV's bundled FFmpeg.

Audio is cut or padded to exactly the video's duration, so players keep both in sync and
the two streams end together (checked by the talk render tests to within 40 ms).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoWriter:
    def __init__(self, path: str | Path, fps: int, width: int, height: int, *,
                 audio: np.ndarray | None = None, audio_sr: int = 48000, crf: int = 18,
                 codec: str = "libx264", preset: str = "veryfast", audio_bitrate: int = 160_000,
                 container_format: str | None = None) -> None:
        self.path = Path(path)
        self.fps = int(fps)
        self.width, self.height = int(width) // 2 * 2, int(height) // 2 * 2  # 4:2:0 needs even sides
        self.container = av.open(str(self.path), mode="w", format=container_format)
        self.stream = self.container.add_stream(codec, rate=self.fps)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, self.fps)
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.audio = None if audio is None else np.asarray(audio, np.float32).reshape(-1)
        self.audio_sr = int(audio_sr)
        self.astream = None
        if self.audio is not None:
            self.astream = self.container.add_stream("aac", rate=self.audio_sr)
            self.astream.layout = "mono"
            self.astream.bit_rate = audio_bitrate
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape[0] != self.height or rgb.shape[1] != self.width:
            rgb = np.ascontiguousarray(rgb[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _write_audio(self) -> None:
        n = int(round(self.frames * self.audio_sr / self.fps))
        a = self.audio[:n]
        if len(a) < n:
            a = np.concatenate([a, np.zeros(n - len(a), np.float32)])
        chunk = 1024
        for s in range(0, n, chunk):
            block = np.ascontiguousarray(a[s:s + chunk])[None, :]
            af = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            af.sample_rate = self.audio_sr
            af.pts = s
            af.time_base = Fraction(1, self.audio_sr)
            for packet in self.astream.encode(af):
                self.container.mux(packet)
        for packet in self.astream.encode(None):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        if self.astream is not None:
            self._write_audio()
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is being discarded anyway
            pass

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
