"""Open the app in a real window and save one PNG per workbench.

    python -m ui.screenshot --out DIR      (or: studio screenshot --out DIR)
    python main.py --smoke                 (open each workbench once and exit: see smoke())

Needs a real display (an X server such as Xvfb); the PNGs are what a user would see.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def grab_all(out: Path, size=(1400, 880), prepare=None) -> list[Path]:
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.jobs import atomic_path
    from ui import theme
    from ui.gl import configure_default_format
    from ui.main_window import MainWindow

    if QApplication.instance() is None:
        configure_default_format()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply(app)
    win = MainWindow()
    win.resize(*size)
    win.show()
    out.mkdir(parents=True, exist_ok=True)

    def settle(ms: int = 400) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
        QCoreApplication.processEvents()

    if prepare:
        prepare(win, settle)
    written = []
    for i, wb in enumerate(win.panels):
        win.sidebar.setCurrentRow(i)
        settle()
        stage = getattr(win.panels[wb], "screenshot_stage", None)
        if stage:
            stage(settle)
            settle()
        path = out / f"{wb.value.lower()}.png"
        with atomic_path(path) as tmp:
            win.grab().save(str(tmp), "PNG")
        written.append(path)
    win.close()
    return written


def _process_age() -> float | None:
    """Seconds since this process started (Linux: /proc), or None where unknown."""
    import os

    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def smoke(t0: float | None = None, size=(1400, 880)) -> int:
    """Open the main window, show each workbench once, close, exit 0: a packaged app's
    self-check (``neural-media-studio --smoke``; main.py shows a splash first and says when).
    Prints when the main window was up."""
    import time

    from ui.app import display_available

    ok, why = display_available()
    if not ok:
        print(why, file=sys.stderr)
        return 2
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.gl import configure_default_format
    from ui.main_window import MainWindow

    if QApplication.instance() is None:
        configure_default_format()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.apply(app)
    win = MainWindow()
    win.resize(*size)
    win.show()
    while not win.isVisible() or win.windowHandle() is None or not win.windowHandle().isExposed():
        QCoreApplication.processEvents(QEventLoop.AllEvents, 20)
    QCoreApplication.processEvents()
    since_main = time.perf_counter() - t0 if t0 is not None else float("nan")
    age = _process_age()
    print(f"smoke: main window after {since_main:.2f} s in main"
          + (f", {age:.2f} s since the process started" if age is not None else ""), flush=True)

    def settle(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
        QCoreApplication.processEvents()

    for i, wb in enumerate(win.panels):
        win.sidebar.setCurrentRow(i)
        settle()
        shown = win.active_workbench == wb and win.panels[wb].isVisible()
        print(f"smoke: workbench {wb.value.lower()}: {'ok' if shown else 'NOT SHOWN'}", flush=True)
        if not shown:
            return 1
    win.close()
    settle(50)
    print("smoke: ok", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="screenshots")
    ap.add_argument("--size", default="1400x880", help="window size WxH (e.g. 1366x768)")
    args = ap.parse_args(argv)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(size) == 2
    except (ValueError, AssertionError):
        print(f"--size {args.size!r}: use WxH, e.g. 1366x768", file=sys.stderr)
        return 2
    from ui.app import display_available

    ok, why = display_available()
    if not ok:
        print(why, file=sys.stderr)
        return 2
    for p in grab_all(Path(args.out), size=size):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
