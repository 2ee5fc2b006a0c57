"""Codec workbench: rate-distortion sweeps of classic and neural codecs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.plots import make_plot


class CodecPanel(WorkbenchPanel):
    workbench = Workbench.CODEC
    title = "Codec"
    subtitle = "Compare H.264, HEVC, AV1 and VP9 at equal bitrate: PSNR, SSIM, MS-SSIM, BD-rate."
    icon_text = "▦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.source: Path | None = None
        self.empty = EmptyState("Drop a video to compare codecs",
                                "Any container FFmpeg reads: MP4, MKV, MOV, WebM, Y4M. 8- or 10-bit.")
        self.rd_plot = make_plot("Rate-distortion", "bitrate (kbit/s)", "PSNR-Y (dB)")
        self.source_label = QLabel("No source video")
        self.source_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(section("Source"))
        side.addWidget(card(self.source_label))
        side.addStretch(1)
        side_w = QWidget()
        side_w.setLayout(side)
        side_w.setFixedWidth(320)
        centre = QVBoxLayout()
        centre.addWidget(self.empty, 3)
        centre.addWidget(self.rd_plot, 2)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addLayout(centre, 1)
        body.addWidget(side_w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

    def file_filter(self) -> str:
        return "Video (*.mp4 *.mkv *.mov *.webm *.y4m *.avi *.mpg);;All files (*)"

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind in (FileKind.VIDEO, FileKind.STUDIO_PROJECT):
            self.source = path
            self.source_label.setText(path.name)
        else:
            super().open_file(path, kind)
