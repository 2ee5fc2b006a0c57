"""Talk side column: the output format and Render…"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QPushButton, QVBoxLayout, QWidget

from ui.widgets.panel_parts import card, section

FORMATS = [("MP4 with audio", "mp4", ".mp4"), ("MP4, silent", "silent", ".mp4"),
           ("PNG sequence", "png", "")]


class RenderSection(QWidget):
    render_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.format_combo = QComboBox()
        for label, key, _ in FORMATS:
            self.format_combo.addItem(label, key)
        self.render_button = QPushButton("Render…")
        self.render_button.setObjectName("Primary")
        self.render_button.setToolTip("Render the audio with this avatar and save it (Ctrl+Return)")
        self.render_button.setShortcut("Ctrl+Return")
        self.render_button.setEnabled(False)
        self.render_button.clicked.connect(lambda _checked=False: self.render_clicked.emit())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Render"))
        lay.addWidget(card(self.format_combo, self.render_button))

    def format(self) -> tuple[str, str, str]:
        """(label, key, file extension) of the chosen output format."""
        return FORMATS[self.format_combo.currentIndex()]

    def set_enabled(self, on: bool) -> None:
        self.render_button.setEnabled(on)
