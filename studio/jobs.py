"""One job type for the CLI and the UI.

A job is a plain callable ``fn(ctx: JobContext) -> result``. The context carries the
progress callback and the cancel token, and hands out atomic output paths so that a
failed or cancelled job never leaves a half-written file behind. The CLI drives jobs
with a text progress bar; ``ui.workers`` drives the same jobs on a worker thread and
turns the callbacks into Qt signals.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)


class Cancelled(Exception):
    """Raised inside a job when its token was cancelled."""


class UserError(Exception):
    """A problem the user can fix (bad file, wrong shape...). The message is shown as is,
    so it must name the file and the problem; no traceback is shown for it."""


@dataclass(frozen=True)
class Progress:
    done: float
    total: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, max(0.0, self.done / self.total))


class CancelToken:
    """Thread-safe cancel flag; cheap to poll from inner loops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


ProgressCallback = Callable[[Progress], None]


class JobContext:
    """What a running job sees: report progress, check cancellation, write outputs."""

    def __init__(self, on_progress: ProgressCallback | None = None,
                 token: CancelToken | None = None, min_interval_s: float = 0.05) -> None:
        self.token = token or CancelToken()
        self._on_progress = on_progress
        self._min_interval = min_interval_s
        self._last_emit = 0.0

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        self.token.raise_if_cancelled()

    def progress(self, done: float, total: float, message: str = "", force: bool = False) -> None:
        """Report progress (rate-limited so tight loops do not flood the UI) and check cancel."""
        self.check()
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or done >= total or now - self._last_emit >= self._min_interval:
            self._last_emit = now
            self._on_progress(Progress(done, total, message))

    def stage(self, index: int, count: int, label: str = "") -> "JobContext":
        """A context for step ``index`` of ``count``: its 0-100 % fills that slice of this
        job's bar (one bar for a job made of sub-jobs), sharing the cancel token."""
        def forward(p: Progress) -> None:
            msg = f"{label}: {p.message}" if label and p.message else (label or p.message)
            self.progress(index + p.fraction, count, msg, force=p.fraction >= 1.0)
        return JobContext(forward, self.token, self._min_interval)

    @contextlib.contextmanager
    def atomic_output(self, path: str | os.PathLike) -> Iterator[Path]:
        with atomic_path(path) as tmp:
            yield tmp

    @contextlib.contextmanager
    def atomic_dir(self, path: str | os.PathLike) -> Iterator[Path]:
        with atomic_directory(path) as tmp:
            yield tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same suffix, so muxers pick the right format);
    rename it over ``path`` only when the block finishes without an exception."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get normal modes
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for an output folder (e.g. a PNG sequence)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class JobStatus(str, Enum):
    OK = "ok"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass
class JobResult:
    status: JobStatus
    value: Any = None
    error: str = ""
    detail: str = ""  # traceback for logs; never shown as the main message
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.OK


JobFn = Callable[[JobContext], Any]


@dataclass
class Job:
    """A named unit of long work. ``fn`` receives a :class:`JobContext`."""

    title: str
    fn: JobFn
    token: CancelToken = field(default_factory=CancelToken)

    def cancel(self) -> None:
        self.token.cancel()

    def run(self, on_progress: ProgressCallback | None = None) -> JobResult:
        """Run to completion on the calling thread; never raises (errors become a result)."""
        ctx = JobContext(on_progress, self.token)
        t0 = time.perf_counter()
        try:
            value = self.fn(ctx)
            return JobResult(JobStatus.OK, value, seconds=time.perf_counter() - t0)
        except Cancelled:
            return JobResult(JobStatus.CANCELLED, error=f"{self.title}: cancelled",
                             seconds=time.perf_counter() - t0)
        except UserError as exc:
            return JobResult(JobStatus.FAILED, error=str(exc), seconds=time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - a job must report, never crash its host
            log.exception("job %r failed", self.title)
            msg = f"{self.title} failed: {type(exc).__name__}: {exc}"
            return JobResult(JobStatus.FAILED, error=msg, detail=traceback.format_exc(),
                             seconds=time.perf_counter() - t0)
