"""Motion workbench: view, blend and restyle character motion clips."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, header, section


class MotionPanel(WorkbenchPanel):
    workbench = Workbench.MOTION
    title = "Motion"
    subtitle = "Character motion clips: view, phase-align, blend, transition and restyle."
    icon_text = "✦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.library = QListWidget()
        self.clips: dict[str, Path] = {}
        self.info = QLabel("Select a clip")
        self.info.setWordWrap(True)
        self.empty = EmptyState("Drop a BVH or DeepMimic clip",
                                "or pick one from the built-in library on the left.")
        left = QVBoxLayout()
        left.addWidget(section("Clip library"))
        left.addWidget(self.library, 1)
        left.addWidget(section("Clip"))
        left.addWidget(card(self.info))
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setFixedWidth(280)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(left_w)
        body.addWidget(self.empty, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)
        self._fill_library()

    def _fill_library(self) -> None:
        try:
            from studio.motion.library import builtin_clips
        except ImportError:
            return
        try:
            self.clips = dict(builtin_clips())
        except Exception as exc:  # noqa: BLE001 - a missing package must not stop the app
            self.info.setText(f"Built-in clips unavailable: {exc}")
            return
        self.library.addItems(sorted(self.clips))

    def file_filter(self) -> str:
        return "Motion clips (*.bvh *.txt *.json);;All files (*)"

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind in (FileKind.BVH, FileKind.DEEPMIMIC):
            name = path.stem
            self.clips[name] = path
            self.library.addItem(name)
            self.library.setCurrentRow(self.library.count() - 1)
            self.info.setText(f"{path.name}\n{kind.value}")
        else:
            super().open_file(path, kind)
