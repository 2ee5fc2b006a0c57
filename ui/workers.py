"""Run :class:`studio.jobs.Job` on a worker thread and report through Qt signals.

The engine calls ``progress`` from the worker thread; Qt queues the signal to the GUI
thread, so widgets only ever draw. Cancel sets the job's token; the job notices at its
next ``ctx.progress``/``ctx.check``.
"""

from __future__ import annotations

import os
import sys
import threading

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal

from studio.jobs import Job, JobResult, Progress


class JobHandle(QObject):
    """The GUI side of one job.

    The worker never emits ``progress``/``finished`` itself: it emits private signals that
    are queued to this handle, which re-emits them from the GUI thread. Callers connect to
    ``finished`` right after ``start()`` returns, and a job fast enough to end before that
    connect would otherwise finish unheard (seen in CI: a 2-second WAV loaded, the panel
    never learned of it).
    """

    progress = Signal(object)  # studio.jobs.Progress
    finished = Signal(object)  # studio.jobs.JobResult (ok, cancelled or failed)
    _worker_progress = Signal(object)
    _worker_finished = Signal(object)

    def __init__(self, job: Job, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.result: JobResult | None = None
        self._worker_progress.connect(self._relay_progress, Qt.ConnectionType.QueuedConnection)
        self._worker_finished.connect(self._relay_finished, Qt.ConnectionType.QueuedConnection)

    @property
    def title(self) -> str:
        return self.job.title

    def cancel(self) -> None:
        self.job.cancel()

    @property
    def running(self) -> bool:
        return self.result is None

    def _relay_progress(self, p: Progress) -> None:
        if self.result is None:  # a late progress event after the end means nothing
            self.progress.emit(p)

    def _relay_finished(self, result: JobResult) -> None:
        self.result = result
        self.finished.emit(result)


_BACKGROUND_NICE = 0 if sys.platform.startswith("linux") else 10
_lowered = threading.local()


def _lower_priority_once() -> None:
    """Run job threads below the GUI thread on platforms where that does not hand the GIL to
    a starved thread (a probe: worst 10 ms-timer gap during a numpy job 11-12 ms instead of
    up to 26 ms).

    Not on Linux any more: a nice'd job thread that holds the GIL while normal-priority
    threads (OpenBLAS's spinning workers, created earlier by another thread) fill both cores
    barely runs, so the GUI thread waits for the GIL for seconds: a 2 s job froze the window
    for its whole length (one 10 ms timer tick in 2 s) once the suite had warmed OpenBLAS up.
    """
    if getattr(_lowered, "done", False):
        return
    _lowered.done = True
    if _BACKGROUND_NICE <= 0:
        return
    try:
        if sys.platform.startswith("linux"):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BACKGROUND_NICE)
        else:
            QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    except OSError:  # not permitted (e.g. a sandbox): run at normal priority
        pass


class _Runnable(QRunnable):
    def __init__(self, handle: JobHandle) -> None:
        super().__init__()
        self.handle = handle
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        _lower_priority_once()
        h = self.handle
        result = h.job.run(lambda p: h._worker_progress.emit(p))
        h._worker_finished.emit(result)


class JobRunner(QObject):
    """Starts jobs on a private thread pool and keeps their handles alive until done."""

    started = Signal(object)  # JobHandle

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[JobHandle] = set()

    def start(self, job: Job, track: bool = True) -> JobHandle:
        """Run ``job``; ``track=False`` keeps it out of the status bar (e.g. frame fetches)."""
        handle = JobHandle(job, self)
        self._live.add(handle)
        handle.finished.connect(lambda _r, h=handle: self._live.discard(h))
        self.pool.start(_Runnable(handle))
        if track:
            self.started.emit(handle)
        return handle

    @property
    def idle(self) -> bool:
        """No job is running or has an end not yet delivered to the GUI thread."""
        return not self._live

    def cancel_all(self) -> None:
        for h in list(self._live):
            h.cancel()

    def wait(self, ms: int = -1) -> bool:
        return self.pool.waitForDone(ms)


__all__ = ["JobHandle", "JobRunner", "Progress"]
