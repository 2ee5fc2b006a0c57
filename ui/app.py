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
    win = MainWindow()
    win.show()
    tune_gc()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
