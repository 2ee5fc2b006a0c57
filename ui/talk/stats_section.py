"""Talk side column: the Pipeline card (provider, timings) and Show in folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ui.widgets.panel_parts import card, section


class PipelineStats(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output: Path | None = None       # the last saved render, for Show in folder
        self._rows = QFormLayout()
        rows_w = QWidget()
        rows_w.setLayout(self._rows)
        self.show_folder_button = QPushButton("Show in folder")
        self.show_folder_button.setVisible(False)
        self.show_folder_button.clicked.connect(self._show_folder)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Pipeline"))
        lay.addWidget(card(rows_w, self.show_folder_button))

    def set_stats(self, rows: dict[str, str]) -> None:
        while self._rows.rowCount():
            self._rows.removeRow(0)
        for k, v in rows.items():
            self._rows.addRow(QLabel(k), QLabel(v))

    def set_output(self, path: Path | None) -> None:
        """The saved file (or PNG folder) that Show in folder opens; None hides the button."""
        if path is not None:
            self.output = path
        self.show_folder_button.setVisible(path is not None)

    def _show_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        if self.output is not None:
            folder = self.output if self.output.is_dir() else self.output.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
