"""Open the app in a real window and save one PNG per workbench.

    python -m ui.screenshot --out DIR      (or: studio screenshot --out DIR)

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="screenshots")
    args = ap.parse_args()
    from ui.app import display_available

    ok, why = display_available()
    if not ok:
        print(why, file=sys.stderr)
        return 2
    for p in grab_all(Path(args.out)):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
