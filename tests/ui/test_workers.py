"""JobRunner delivers every job's end to slots connected after ``start`` returns."""

import threading
import time

from studio.jobs import Job, JobStatus


def test_fast_job_end_reaches_a_slot_connected_after_start(qtbot):
    from ui.workers import JobRunner

    runner = JobRunner(max_threads=1)
    ran = threading.Event()

    def work(ctx):
        ctx.progress(0, 1, "at once")
        ran.set()
        return 42

    handle = runner.start(Job("instant", work))
    assert ran.wait(5)
    runner.wait(5000)  # the worker has emitted everything before anyone listened
    time.sleep(0.05)
    got, steps = [], []
    handle.finished.connect(lambda r: got.append(r))
    handle.progress.connect(lambda p: steps.append(p))
    qtbot.waitUntil(lambda: bool(got), timeout=5000)
    assert got[0].ok and got[0].value == 42
    assert handle.result is got[0] and not handle.running
    assert [p.message for p in steps] == ["at once"]


def test_cancelled_job_reports_cancelled(qtbot):
    from ui.workers import JobRunner

    runner = JobRunner(max_threads=1)
    gate = threading.Event()

    def work(ctx):
        gate.wait(5)
        ctx.check()
        return 1

    handle = runner.start(Job("slow", work))
    handle.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not handle.running, timeout=5000)
    assert handle.result.status is JobStatus.CANCELLED
