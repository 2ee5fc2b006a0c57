"""Write frames (and optionally audio) to a video file with PyAV's bundled FFmpeg.

Audio is cut or padded to exactly the video's duration, so players keep both in sync and
the two streams end together (checked by the talk render tests to within 40 ms).

Where the time goes (docs/benchmarks.md, "Run 6 / writer"): each RGB frame is converted to
YUV 4:2:0 here with OpenCV (0.13 ms at 512x512; PyAV's rgb24 path through swscale took
2.6 ms and x264 got the same picture within 1 luma level), then x264 (``veryfast``:
~3.3 ms per 512x512 frame on one core) encodes it. ``separate_process=True`` runs x264
and the muxer in a child Python process (this module, ``python -m``: the same PyAV
encoder and options, so the same file) fed raw I420 through a pipe by a feeder thread,
which takes the encoder off the caller's thread and out of its GIL; it costs ~0.4 s to
start and the same CPU per frame, and on the loaded 2-core machine it did not make the
talk render faster, so it is not the default. In a frozen bundle (no interpreter to
start) or when the child cannot start, it falls back to in-process.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_FRAME, _AUDIO = b"F", b"A"


class EncoderError(RuntimeError):
    """The encoder process failed; the message is its own."""


def to_i420(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> planar I420 (height * 3 // 2, width), cropped to the even
    ``width`` x ``height`` the stream was opened with. BT.601 limited range, as swscale's
    default rgb24 -> yuv420p (luma equal within 1 level; chroma is a 2x2 mean)."""
    import cv2

    if rgb.shape[0] != height or rgb.shape[1] != width:
        rgb = rgb[:height, :width]
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


class _Encoder:
    """The PyAV half: H.264 (+ AAC) into a container. Runs in the child or in-process."""

    def __init__(self, path: str | Path, fps: int, width: int, height: int, *,
                 audio: np.ndarray | None, audio_sr: int, crf: int, codec: str, preset: str,
                 audio_bitrate: int, container_format: str | None) -> None:
        self.fps, self.width, self.height = fps, width, height
        self.container = av.open(str(path), mode="w", format=container_format)
        self.stream = self.container.add_stream(codec, rate=self.fps)
        self.stream.width, self.stream.height = self.width, self.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, self.fps)
        self.stream.options = {"crf": str(crf), "preset": preset}
        self.audio = audio
        self.audio_sr = int(audio_sr)
        self.astream = None
        if audio is not None:
            self.astream = self.container.add_stream("aac", rate=self.audio_sr)
            self.astream.layout = "mono"
            self.astream.bit_rate = audio_bitrate
        self.frames = 0

    def write_i420(self, yuv: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
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


def _child_command() -> list[str] | None:
    """How to start the encoder child, or None where there is no interpreter to start."""
    if getattr(sys, "frozen", False):
        return None
    return [sys.executable, "-m", "studio.media.video_writer"]


class VideoWriter:
    """``write(rgb)`` frames, then ``close()`` (or use as a context manager: an exception
    aborts). ``separate_process=True`` runs x264 in a child process when one can be started
    (else in-process, as by default); see the module doc for when that pays."""

    def __init__(self, path: str | Path, fps: int, width: int, height: int, *,
                 audio: np.ndarray | None = None, audio_sr: int = 48000, crf: int = 18,
                 codec: str = "libx264", preset: str = "veryfast", audio_bitrate: int = 160_000,
                 container_format: str | None = None, separate_process: bool = False) -> None:
        self.path = Path(path)
        self.fps = int(fps)
        self.width, self.height = int(width) // 2 * 2, int(height) // 2 * 2  # 4:2:0 needs even sides
        self.audio = None if audio is None else np.asarray(audio, np.float32).reshape(-1)
        self.frames = 0
        self.encode_cpu_s: float | None = None  # the child's CPU time, known after close()
        opts = dict(audio_sr=int(audio_sr), crf=int(crf), codec=codec, preset=preset,
                    audio_bitrate=int(audio_bitrate), container_format=container_format)
        self._proc: subprocess.Popen | None = None
        self._enc: _Encoder | None = None
        cmd = _child_command() if separate_process else None
        if cmd is not None:
            try:
                self._start_child(cmd, opts)
            except OSError:
                self._proc = None
        if self._proc is None:
            self._enc = _Encoder(self.path, self.fps, self.width, self.height, audio=self.audio, **opts)
        self.in_process = self._proc is None  # False: x264 runs in the child

    def _start_child(self, cmd: list[str], opts: dict) -> None:
        import os

        env = dict(os.environ)
        from studio.paths import SOURCE_ROOT

        root = str(SOURCE_ROOT)  # a checkout that was never installed
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        env.setdefault("OMP_NUM_THREADS", "1")  # the child needs no BLAS/OpenMP threads
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env)
        try:  # a deeper pipe (Linux): a frame or two of slack between this side and x264
            import fcntl

            fcntl.fcntl(self._proc.stdin.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
        except (ImportError, OSError):
            pass
        header = {"path": str(self.path), "fps": self.fps, "width": self.width,
                  "height": self.height, "audio": self.audio is not None, **opts}
        # A feeder thread does the (blocking) pipe writes, so the render does not wait for
        # the child's start-up (~0.3 s: Python + PyAV) or an encoder hiccup until this
        # queue (~64 MB of frames) is full.
        frame_bytes = self.width * self.height * 3 // 2
        self._q: queue.Queue = queue.Queue(maxsize=max(4, (64 << 20) // max(frame_bytes, 1)))
        self._feed_errors: list[BaseException] = []
        self._q.put(json.dumps(header).encode() + b"\n")
        self._feeder = threading.Thread(target=self._feed, args=(self._proc.stdin, self._q, self._feed_errors),
                                        name="video-writer-feed", daemon=True)
        self._feeder.start()

    @staticmethod
    def _feed(stdin, q: queue.Queue, errors: list) -> None:
        # no reference to the writer: one dropped without close() is still collected (__del__)
        while True:
            item = q.get()
            if item is None:
                return
            if errors:
                continue  # drain: the child is gone
            try:
                if isinstance(item, np.ndarray):
                    stdin.write(_FRAME)
                    stdin.write(item.data)
                else:
                    stdin.write(item)
            except (OSError, ValueError) as exc:  # BrokenPipeError: the child exited
                errors.append(exc)

    def _stop_feeder(self) -> None:
        self._q.put(None)
        self._feeder.join()

    def _child_failure(self) -> EncoderError:
        """Stop feeding, wait for the child and turn its last stderr line into the error."""
        proc, self._proc = self._proc, None
        self._stop_feeder()
        try:
            _, err = proc.communicate(timeout=10)  # closes its stdin, ignoring a broken pipe
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        return self._error(proc, err)

    def _error(self, proc: subprocess.Popen, err: bytes) -> EncoderError:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        return EncoderError(f"the video encoder failed writing {self.path.name}: {why}")

    def write(self, rgb: np.ndarray) -> None:
        yuv = to_i420(rgb, self.width, self.height)
        if self._proc is not None:
            if self._feed_errors or self._proc.poll() is not None:
                raise self._child_failure()
            self._q.put(yuv)  # a fresh array from to_i420: nothing else holds it
        elif self._enc is not None:
            self._enc.write_i420(yuv)
        else:
            raise EncoderError(f"{self.path.name}: the video writer is closed")
        self.frames += 1

    def close(self) -> None:
        if self._proc is not None:
            if self.audio is not None:  # read now: a caller may hand the track over late
                a = np.ascontiguousarray(np.asarray(self.audio, np.float32).reshape(-1))
                self._q.put(_AUDIO + len(a).to_bytes(8, "little"))
                self._q.put(a.tobytes())
            proc, self._proc = self._proc, None
            self._stop_feeder()
            out, err = proc.communicate()  # end of input: the child finishes the file
            if proc.returncode != 0:
                raise self._error(proc, err)
            try:
                self.encode_cpu_s = float(json.loads(out.decode().strip().splitlines()[-1])["cpu_s"])
            except (ValueError, IndexError, KeyError):
                pass
        elif self._enc is not None:
            self._enc.close()
            self._enc = None

    def abort(self) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()  # not end of input: that would finish the file
            self._stop_feeder()  # its pending write fails on the dead pipe; the rest drains
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, OSError, ValueError):
                pass
        elif self._enc is not None:
            self._enc.abort()
            self._enc = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:  # a writer dropped without close/abort must not leave a child
        proc = getattr(self, "_proc", None)
        if proc is not None:
            proc.kill()
            self._q.put(None)


def _read_exact(f, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise EOFError("the render stopped mid-frame")
        got += n


def _worker_main() -> int:
    """The encoder child: a JSON header line, then b"F" + one I420 frame, ..., optionally
    b"A" + a little-endian uint64 sample count + the float32 audio, then end of input =
    finish the file. Errors: one line on
    stderr and exit status 1. On success one JSON line on stdout (frames, CPU seconds)."""
    inp = sys.stdin.buffer
    enc = None
    cpu0 = time.process_time()  # after the imports: the encoder's own time
    try:
        h = json.loads(inp.readline())
        w, ht = int(h["width"]), int(h["height"])
        # the audio stream is added now (muxers want every stream before the first packet);
        # its samples come last
        enc = _Encoder(h["path"], int(h["fps"]), w, ht, audio=np.zeros(0, np.float32) if h["audio"] else None,
                       audio_sr=h["audio_sr"],
                       crf=h["crf"], codec=h["codec"], preset=h["preset"],
                       audio_bitrate=h["audio_bitrate"], container_format=h["container_format"])
        buf = bytearray(w * ht * 3 // 2)
        yuv = np.frombuffer(buf, np.uint8).reshape(ht * 3 // 2, w)
        while True:
            tag = inp.read(1)
            if not tag:
                break
            if tag == _FRAME:
                _read_exact(inp, memoryview(buf))
                enc.write_i420(yuv)  # from_ndarray copies: buf is free again
            elif tag == _AUDIO:
                size = bytearray(8)
                _read_exact(inp, memoryview(size))
                a = bytearray(4 * int.from_bytes(size, "little"))
                _read_exact(inp, memoryview(a))
                enc.audio = np.frombuffer(a, np.float32)
            else:
                raise ValueError(f"bad message {tag!r} from the render")
        enc.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent on stderr
        if enc is not None:
            enc.abort()
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    sys.stdout.write(json.dumps({"frames": enc.frames, "cpu_s": time.process_time() - cpu0}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
