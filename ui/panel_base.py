"""The contract between the main window and a workbench panel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from studio.media.filetypes import FileKind, Workbench
from ui.context import AppContext


class WorkbenchPanel(QWidget):
    workbench: Workbench
    title = ""
    subtitle = ""
    icon_text = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx

    def open_file(self, path: Path, kind: FileKind) -> None:
        """Take a dropped or opened file that the router sent here (panels override)."""
        self.ctx.feed.message.emit(f"{self.title} cannot open {path.name} ({kind.value})", 6000)

    def file_filter(self) -> str:
        """Qt file-dialog filter for File > Open while this workbench is active."""
        return "All files (*)"

    def shutdown(self) -> None:
        """Stop timers and streams before the window closes."""
