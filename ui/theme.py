"""One dark theme for the whole app (Fusion + palette + a small style sheet)."""

from __future__ import annotations

from PySide6.QtCore import QDir
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from studio.paths import RESOURCES_DIR

ACCENT = "#3d8bfd"
BG = "#1e1f22"
PANEL = "#26282c"
BASE = "#181a1d"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, color in [
        (QPalette.Window, BG), (QPalette.WindowText, TEXT), (QPalette.Base, BASE),
        (QPalette.AlternateBase, PANEL), (QPalette.ToolTipBase, PANEL),
        (QPalette.ToolTipText, TEXT), (QPalette.Text, TEXT), (QPalette.Button, PANEL),
        (QPalette.ButtonText, TEXT), (QPalette.Highlight, ACCENT),
        (QPalette.HighlightedText, "#ffffff"), (QPalette.Link, ACCENT),
        (QPalette.PlaceholderText, MUTED),
    ]:
        pal.setColor(role, QColor(color))
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        pal.setColor(QPalette.Disabled, role, QColor("#6b6f75"))
    app.setPalette(pal)
    QDir.setSearchPaths("icons", [str(RESOURCES_DIR / "icons")])   # url(icons:...) in the sheet
    qss = RESOURCES_DIR / "style.qss"
    if qss.exists():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def configure_plots() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background=BASE, foreground=MUTED, imageAxisOrder="row-major")
