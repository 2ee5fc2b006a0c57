"""Start Neural Media Studio: no arguments opens the desktop app, arguments run the CLI.

    main.py                       the desktop app
    main.py --smoke               open the window and each workbench, print timings, exit 0
    main.py screenshot --out DIR  one PNG per workbench (in this process)
    main.py COMMAND ...           the ``studio`` command line (``main.py --help``)

The packaged app's launchers run this file: ``neural-media-studio`` (as above) and ``studio``
(always the command line).
"""

import sys
import time

T0 = time.perf_counter()


def _cli_only() -> bool:
    """The bundle's ``studio`` launcher: the command line even without arguments."""
    if not getattr(sys, "frozen", False):
        return False
    from pathlib import Path

    return Path(sys.executable).stem.lower() == "studio"


def _splash():
    """A first window within a second of launch, while the workbenches (NumPy, SciPy, ONNX
    Runtime, OpenCV, pyqtgraph...) import: the app's name on the theme's colours. It closes
    as soon as the event loop runs, i.e. once the main window is shown. Returns (app,
    splash, seconds since start) or None where no display is available (the app explains)."""
    from ui.app import display_available

    if not display_available()[0]:
        return None
    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication, QSplashScreen

    from ui.gl import configure_default_format

    if QApplication.instance() is None:
        configure_default_format()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    pm = QPixmap(420, 150)
    pm.fill(QColor("#1e1f22"))
    p = QPainter(pm)
    p.setPen(QColor("#3d8bfd"))
    p.drawRect(0, 0, pm.width() - 1, pm.height() - 1)
    p.setPen(QColor("#f1f1f1"))
    f = QFont()
    f.setPointSize(17)
    f.setBold(True)
    p.setFont(f)
    p.drawText(pm.rect().adjusted(0, -20, 0, 0), Qt.AlignCenter, "Neural Media Studio")
    f.setPointSize(10)
    f.setBold(False)
    p.setFont(f)
    p.setPen(QColor("#9aa0a6"))
    p.drawText(pm.rect().adjusted(0, 50, 0, 0), Qt.AlignCenter, "loading the workbenches...")
    p.end()
    splash = QSplashScreen(pm)
    splash.show()
    QCoreApplication.processEvents()
    QTimer.singleShot(0, splash.close)  # first thing the event loop does: the window is up
    return app, splash, time.perf_counter() - T0


def main() -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # codec sweeps use spawned workers (frozen builds too)
    args = sys.argv[1:]
    if args[:1] == ["screenshot"]:
        # a ui-level job in this process, so a bundle never needs an interpreter to relaunch
        from ui import screenshot

        return screenshot.main(args[1:])
    if args[:1] == ["--smoke"]:
        from ui import screenshot

        started = _splash()
        if started:  # now, so that a watcher can time the first window from outside
            age = screenshot._process_age()
            print(f"smoke: first window (splash) after {started[2]:.2f} s in main"
                  + (f", {age:.2f} s since the process started" if age is not None else ""),
                  flush=True)
        return screenshot.smoke(t0=T0)
    if args or _cli_only():
        from studio.cli import main as cli_main

        return cli_main(args)
    _splash()
    from ui.app import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())
