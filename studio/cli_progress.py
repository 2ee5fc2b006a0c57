"""Drive a :class:`studio.jobs.Job` from a terminal: a progress bar, Ctrl-C cancels."""

from __future__ import annotations

import sys
import threading
import time

from studio.jobs import Job, JobResult, JobStatus, Progress


class _Bar:
    def __init__(self, title: str, stream=None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self._last_pct = -10

    def __call__(self, p: Progress) -> None:
        pct = int(100 * p.fraction)
        elapsed = time.monotonic() - self.t0
        eta = f" eta {elapsed / p.fraction - elapsed:5.1f}s" if 0 < p.fraction < 1 else ""
        if self.tty:
            filled = int(30 * p.fraction)
            self.stream.write(f"\r{self.title} [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%"
                              f"{eta} {p.message[:40]:<40}")
            self.stream.flush()
        elif pct >= self._last_pct + 10 or pct == 100:
            self._last_pct = pct
            self.stream.write(f"{self.title}: {pct:3d}% {p.message}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_job_cli(job: Job, quiet: bool = False) -> JobResult:
    """Run ``job`` on a worker thread so Ctrl-C in the main thread can cancel it cleanly.

    The main thread waits on an Event, not ``Thread.join()``: in Python 3.11 a
    KeyboardInterrupt that lands inside ``join()`` marks the still-running worker as finished
    (CPython gh-90882), so the process exited mid-encode: FFmpeg's threads aborted it
    ("terminate called without an active exception", exit 134) and a hidden ``.part`` file
    stayed behind. Here the worker is told to cancel and waited for until it has cleaned up."""
    bar = None if quiet else _Bar(job.title)
    box: dict[str, JobResult] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["r"] = job.run(bar)
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"job: {job.title}", daemon=True)
    worker.start()
    cancelling = False
    while not done.is_set():
        try:
            done.wait(0.1)
        except KeyboardInterrupt:
            if not cancelling:  # later presses: still cleaning up, keep waiting
                cancelling = True
                job.cancel()
                sys.stderr.write("\ncancelling...\n")
                sys.stderr.flush()
    if bar:
        bar.close()
    result = box.get("r") or JobResult(JobStatus.CANCELLED, error=f"{job.title}: cancelled")
    if not result.ok:
        sys.stderr.write(f"error: {result.error}\n" if result.status is JobStatus.FAILED
                         else f"{result.error}\n")
    return result


def exit_code(result: JobResult) -> int:
    return {JobStatus.OK: 0, JobStatus.FAILED: 1, JobStatus.CANCELLED: 130}[result.status]
