"""Desktop entry point."""

from __future__ import annotations

import os
import sys


def display_available() -> tuple[bool, str]:
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc"):
        return True, ""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, ("Neural Media Studio needs a display, and DISPLAY is not set.\n"
                       "  on a desktop:            ./bootstrap.sh run\n"
                       "  on a virtual screen:     xvfb-run -a ./bootstrap.sh run\n"
                       "  headless (command line): studio --help")
    return True, ""


def tune_gc() -> None:
    """Keep garbage-collection pauses off the GUI thread's frame budget: everything alive
    after start-up (Qt wrappers, numpy, models' Python side) is frozen out of future full
    collections, which otherwise took 50-90 ms once many objects existed."""
    import gc

    gc.collect()
    gc.freeze()


_collector = None


def collect_garbage_in_gui_thread() -> None:
    """Run Python's cycle collector on the GUI thread only, from a 1 s timer.

    Why: automatic collection runs on whichever thread allocates when a threshold is
    crossed. A job thread once collected a cycle of dead pyqtgraph items (a ViewBox and its
    menu) and so ran their QObject destructors off the GUI thread; one held a Qt lock while
    waiting for the GIL, which the GUI thread held while waiting for that lock: the window
    froze for good (seen in CI in tests/ui/test_motion_panel.py; gdb showed both stacks).
    pyqtgraph's GarbageCollector turns automatic collection off and collects on a timer."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=1.0)


def main(argv: list[str] | None = None) -> int:
    ok, why = display_available()
    if not ok:
        print(why, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from ui import theme
    from ui.gl import configure_default_format
    from ui.main_window import MainWindow

    if QApplication.instance() is None:
        configure_default_format()
    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    app.setApplicationName("Neural Media Studio")
    app.setOrganizationName("NeuralMediaStudio")
    theme.apply(app)
    collect_garbage_in_gui_thread()
    win = MainWindow()
    win.show()
    tune_gc()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
