"""Run in a fresh process by tests/ui/test_main_window.py: the app's main window, a 2-second
CPU-heavy job, and a 10 ms timer on the GUI thread; prints the timer gaps as JSON.

A fresh process measures the app, not what 600 earlier tests left in the test process (sound
servers, BLAS thread pools, timers of torn-down windows), which froze the timer there."""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def busy(ctx):
    t0 = time.perf_counter()
    a = np.random.default_rng(0).random((300, 300))
    n = 0
    while time.perf_counter() - t0 < 2.0:
        a = np.tanh(a @ a.T / 300.0)  # real CPU work in numpy
        s = 0
        for i in range(20000):  # and in pure Python, holding the GIL
            s += i
        n += 1
        ctx.progress(time.perf_counter() - t0, 2.0, f"iteration {n}")
    return n


def main() -> int:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.jobs import Job
    from ui.app import collect_garbage_in_gui_thread, tune_gc
    from ui.main_window import MainWindow

    _app = QApplication(sys.argv[:1])  # noqa: F841 - must exist for the window
    collect_garbage_in_gui_thread()  # as ui.app.main does
    win = MainWindow()
    win.show()
    settle = QEventLoop()
    QTimer.singleShot(1500, settle.quit)    # let start-up jobs (avatar, library) finish
    settle.exec()
    tune_gc()
    runs = []
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        loop = QEventLoop()
        handle = win.ctx.run(Job("busy work", busy))
        handle.finished.connect(lambda _r: loop.quit())
        timer.start()
        loop.exec()
        timer.stop()
        runs.append({"ok": bool(handle.result and handle.result.ok), "ticks": len(ticks),
                     "gaps": np.diff(ticks).tolist()})
    win.close()
    print(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
