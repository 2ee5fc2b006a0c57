"""The static FFmpeg executable that imageio-ffmpeg ships, as a tool the codec lab can drive.

PyAV's bundled FFmpeg lacks libvmaf, xpsnr, libvvenc, libaom, librav1e, libjxl and more; the
executable has them (on this platform; other builds differ, so everything is detected, never
assumed). This module finds it, reads what it can do once per process (``-version``,
``-encoders``, ``-filters``) and runs it with what a sweep needs: progress parsed from
``-progress pipe:1``, cancellation that kills the process, a timeout, and errors that say what
failed in a sentence instead of a traceback. ``STUDIO_FFMPEG`` overrides the executable
(an empty value means "none"), which is also how tests simulate a missing or broken one.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

ENV_OVERRIDE = "STUDIO_FFMPEG"


class FFmpegError(RuntimeError):
    """The executable is missing, failed, or ran past its timeout; the message says which."""


class FFmpegTimeout(FFmpegError):
    pass


@dataclass(frozen=True)
class Capabilities:
    """What this machine's FFmpeg executable can do (or why there is none)."""

    exe: str | None
    version: str = ""                     # e.g. "9.0.2"
    encoders: frozenset[str] = frozenset()
    filters: frozenset[str] = frozenset()
    problem: str = ""                     # why exe is None or unusable, for the UI and CLI
    encoder_versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exe is not None and not self.problem

    def has_encoder(self, name: str) -> bool:
        return self.ok and name in self.encoders

    def has_filter(self, name: str) -> bool:
        return self.ok and name in self.filters

    def why_not_encoder(self, name: str) -> str:
        if not self.ok:
            return self.problem
        return "" if name in self.encoders else \
            f"the FFmpeg executable ({self.version}) was built without {name}"

    def why_not_filter(self, name: str) -> str:
        if not self.ok:
            return self.problem
        return "" if name in self.filters else \
            f"the FFmpeg executable ({self.version}) was built without the {name} filter"


def _locate() -> tuple[str | None, str]:
    override = os.environ.get(ENV_OVERRIDE)
    if override is not None:
        if not override:
            return None, f"no FFmpeg executable ({ENV_OVERRIDE} is set empty)"
        return override, ""
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError:
        return None, "no FFmpeg executable: the imageio-ffmpeg package is not installed"
    try:
        return imageio_ffmpeg.get_ffmpeg_exe(), ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return None, f"no FFmpeg executable: imageio-ffmpeg could not provide one ({exc})"


def _list(exe: str, what: str) -> tuple[str, str]:
    proc = subprocess.run([exe, "-hide_banner", "-nostdin", what], capture_output=True,
                          text=True, timeout=30)
    return proc.stdout, proc.stderr


def _names(listing: str, min_flags: int) -> frozenset[str]:
    """Names from an ``-encoders``/``-filters`` listing: lines of ' FLAGS name description'."""
    out = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) >= min_flags and parts[0] != "=" and \
                not parts[0].startswith("-") and re.fullmatch(r"[A-Za-z0-9_.\-]+", parts[1]):
            out.add(parts[1])
    return frozenset(out)


def _library_versions(version_text: str) -> dict[str, str]:
    """libavcodec etc. versions plus the configure line, for reports."""
    out = {}
    for line in version_text.splitlines():
        m = re.match(r"\s*(lib\w+)\s+([\d.]+)\s*/", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@functools.lru_cache(maxsize=1)
def capabilities() -> Capabilities:
    """Detect once per process; :func:`reset` forgets (tests, or after an install)."""
    exe, problem = _locate()
    if exe is None:
        return Capabilities(None, problem=problem)
    try:
        ver_out, _ = _list(exe, "-version")
        enc_out, _ = _list(exe, "-encoders")
        fil_out, _ = _list(exe, "-filters")
    except (OSError, subprocess.SubprocessError) as exc:
        return Capabilities(None, problem=f"the FFmpeg executable {exe} cannot run ({exc})")
    m = re.search(r"ffmpeg version n?(\S+)", ver_out)
    if not m:
        return Capabilities(None, problem=f"{exe} does not answer like FFmpeg "
                                          f"(first line: {ver_out.strip()[:80]!r})")
    version = m.group(1).split("-")[0]
    return Capabilities(exe, version=version, encoders=_names(enc_out, 6),
                        filters=_names(fil_out, 2), encoder_versions=_library_versions(ver_out))


def reset() -> None:
    capabilities.cache_clear()


def require() -> str:
    caps = capabilities()
    if not caps.ok or caps.exe is None:
        raise FFmpegError(caps.problem or "no FFmpeg executable")
    return caps.exe


@dataclass
class RunResult:
    returncode: int
    stderr: str
    seconds: float


def run(args: Sequence[str], *, on_frame: Callable[[int], None] | None = None,
        check_cancel: Callable[[], None] | None = None, timeout_s: float | None = 3600,
        cwd: str | os.PathLike | None = None, what: str = "FFmpeg") -> RunResult:
    """Run the executable with ``args`` (without the program name).

    ``on_frame(n)`` hears the frame counter from ``-progress``; ``check_cancel()`` is polled
    ~10 times a second and may raise (e.g. :class:`studio.jobs.Cancelled`): the process is
    killed and the exception propagates. A timeout kills it and raises :class:`FFmpegTimeout`;
    a non-zero exit raises :class:`FFmpegError` with the last lines FFmpeg printed. Output
    files are the caller's to clean up (write them to temp paths).
    """
    exe = require()
    cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
           "-progress", "pipe:1", *[str(a) for a in args]]
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, cwd=cwd, text=True,
                                start_new_session=True)
    except OSError as exc:
        raise FFmpegError(f"{what}: cannot start {exe} ({exc})") from exc
    err_lines: list[str] = []
    frames = [0]

    def read_progress() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("frame="):
                try:
                    frames[0] = int(line[6:].strip())
                except ValueError:
                    pass

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line.rstrip())
            del err_lines[:-40]

    readers = [threading.Thread(target=read_progress, daemon=True),
               threading.Thread(target=read_err, daemon=True)]
    for t in readers:
        t.start()
    last = -1
    try:
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            if check_cancel is not None:
                check_cancel()
            if on_frame is not None and frames[0] != last:
                last = frames[0]
                on_frame(last)
            if timeout_s is not None and time.perf_counter() - t0 > timeout_s:
                raise FFmpegTimeout(f"{what} did not finish within {timeout_s:g} s and was "
                                    f"stopped")
    except BaseException:
        _kill(proc)
        raise
    finally:
        for t in readers:
            t.join(timeout=2)
    if on_frame is not None and frames[0] != last:
        on_frame(frames[0])
    stderr = "\n".join(err_lines)
    if proc.returncode != 0:
        tail = " / ".join(line for line in err_lines[-4:] if line.strip()) or "no message"
        why = f"exit status {proc.returncode}" if proc.returncode > 0 else \
            f"killed by signal {-proc.returncode}"
        raise FFmpegError(f"{what} failed ({why}): {tail}")
    return RunResult(proc.returncode, stderr, time.perf_counter() - t0)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def probe_output(args: Sequence[str], timeout_s: float = 60) -> str:
    """Run the executable for its text output (``-h encoder=X`` and such)."""
    exe = require()
    proc = subprocess.run([exe, "-hide_banner", "-nostdin", *args], capture_output=True,
                          text=True, timeout=timeout_s)
    return proc.stdout + proc.stderr


def path_arg(path: str | os.PathLike) -> str:
    """An absolute path FFmpeg will not mistake for a protocol or an option."""
    p = str(Path(path).resolve())
    return "file:" + p
