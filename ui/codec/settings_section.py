"""Codec left column: the source, the sweep settings (codecs, ladder, points, frames) and the
Run / Open / Export actions."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QHBoxLayout,
                               QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ui.widgets.panel_parts import card, section

MAIN_CODECS = ("x264", "x265", "av1", "vp9")


def encoders_available(spec) -> tuple[bool, str]:
    from studio.codec import encoders

    return encoders.encoder_for(spec).available(spec)


class SweepSettings(QWidget):
    """Settings in, a SweepSpec out; Run / Open / Export are requests for the panel."""

    run_clicked = Signal()
    open_clicked = Signal()
    export_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.codec import encoders
        from studio.codec.ffmetrics import vmaf_available

        self._codecs = encoders.CODECS
        self.source_label = QLabel("No source video.\nDrop one anywhere, or open a saved project.")
        self.source_label.setWordWrap(True)
        self.codec_boxes = self._codec_boxes(encoders)
        grid = self._codec_grid = QGridLayout()
        for i, box in enumerate(self.codec_boxes.values()):
            grid.addWidget(box, i // 2, i % 2)
        codecs_w = QWidget()
        codecs_w.setLayout(grid)
        form_w = QWidget()
        form_w.setLayout(self._form())
        self.run_button = QPushButton("Run sweep")
        self.run_button.setObjectName("Primary")
        self.run_button.setEnabled(False)
        self.run_button.setToolTip("Encode the source with every checked codec (Ctrl+R)")
        self.run_button.setShortcut("Ctrl+R")
        self.run_button.clicked.connect(lambda _checked=False: self.run_clicked.emit())
        self.open_button = QPushButton("Open project…")
        self.open_button.clicked.connect(lambda _checked=False: self.open_clicked.emit())
        self.export_button = QPushButton("Export report…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(lambda _checked=False: self.export_clicked.emit())
        self.vmaf_ok, vmaf_why = vmaf_available()
        self.vmaf_label = QLabel("VMAF: available" if self.vmaf_ok else vmaf_why)
        self.vmaf_label.setWordWrap(True)
        self.vmaf_label.setObjectName("PanelSubtitle")
        lay = QVBoxLayout(self)
        lay.setSpacing(8)
        lay.addWidget(section("Source"))
        lay.addWidget(card(self.source_label))
        lay.addWidget(section("Sweep"))
        lay.addWidget(card(codecs_w, form_w, self.vmaf_label))
        lay.addWidget(self.run_button)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        lay.addStretch(1)

    @staticmethod
    def _codec_boxes(encoders) -> dict[str, QCheckBox]:
        avail = encoders.available_codecs()
        boxes = {}
        for key, spec in encoders.CODECS.items():
            ok, why = avail[key]
            box = QCheckBox(key)
            box.setToolTip(spec.label + ("" if ok else f": {why}"))
            box.setChecked(ok and key in MAIN_CODECS)
            box.setEnabled(ok)
            boxes[key] = box
        return boxes

    def _form(self) -> QFormLayout:
        self.mode = QComboBox()
        self.mode.addItem("CRF / QP ladder", "crf")
        self.mode.addItem("Target bitrate ladder", "bitrate")
        self.points = QSpinBox()
        self.points.setRange(1, 12)
        self.points.setValue(5)
        self.max_frames = QSpinBox()
        self.max_frames.setRange(1, 100000)
        self.max_frames.setValue(60)
        self.max_frames.setToolTip("Encode at most this many frames of the source")
        self.ladder = QComboBox()
        self.ladder.addItem("Fixed range", "fixed")
        self.ladder.addItem("Adaptive: PSNR-Y 30-45 dB", "adaptive:psnr_y:30-45")
        self.ladder.addItem("Adaptive: VMAF 60-97", "adaptive:vmaf:60-97")
        self.ladder.setToolTip("Adaptive ladders probe the clip first and spread the points "
                               "evenly over the quality span (CRF / QP mode only)")
        for combo in (self.mode, self.ladder):   # long items elide: the column keeps its width
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        form = QFormLayout()
        form.addRow("Rate control", self.mode)
        form.addRow("Ladder", self.ladder)
        form.addRow("Points per codec", self.points)
        form.addRow("Frames", self.max_frames)
        return form

    # -- in ------------------------------------------------------------------------------
    def show_source(self, facts: list[str]) -> None:
        self.source_label.setText("\n".join(facts))

    def set_can_run(self, on: bool) -> None:
        self.run_button.setEnabled(on)

    def set_can_export(self, on: bool) -> None:
        self.export_button.setEnabled(on)

    def prefer_image_codecs(self) -> None:
        """A picture was opened: check the still-image codecs (and x265-intra) only (not the
        learned codec's temporal mode: on one picture it is the intra mode again)."""
        for key, box in self.codec_boxes.items():
            spec = self._codecs[key]
            box.setChecked(box.isEnabled() and ((spec.image and spec.intra)
                                                or key == "x265-intra"))

    def apply_project(self, proj) -> None:
        """A reopened project's settings (frames, codecs, points, mode), so Run extends it."""
        if proj.max_frames:
            self.max_frames.setValue(int(proj.max_frames))
        codecs = {p.codec for p in proj.points.values()}
        for key in getattr(proj, "user_codecs", {}):   # a user's learned codec: a box of its own
            if key not in self.codec_boxes and key in self._codecs:
                spec = self._codecs[key]
                ok, why = encoders_available(spec)
                box = QCheckBox(key)
                box.setToolTip(f"{spec.label} ({spec.encoder})" + ("" if ok else f": {why}"))
                box.setEnabled(ok)
                n = len(self.codec_boxes)
                self._codec_grid.addWidget(box, n // 2, n % 2)
                self.codec_boxes[key] = box
        if codecs:
            for key, box in self.codec_boxes.items():
                box.setChecked(box.isEnabled() and key in codecs)
        per_curve = [len(c.points) for c in proj.curves() if c.mode == "crf"]
        if per_curve:
            self.points.setValue(max(per_curve))
        modes = {p.mode for p in proj.points.values() if p.mode in ("crf", "bitrate")}
        if len(modes) == 1:
            self.mode.setCurrentIndex(self.mode.findData(modes.pop()))

    # -- out -----------------------------------------------------------------------------
    def sweep_spec(self, source):
        """A studio.codec.sweep.SweepSpec for ``source`` with these settings."""
        from studio.codec.sweep import SweepSpec

        codecs = [k for k, b in self.codec_boxes.items() if b.isChecked()]
        ladder, _, target = (self.ladder.currentData() or "fixed").partition(":")
        if self.mode.currentData() != "crf":
            ladder = "fixed"
        return SweepSpec(input=str(source), codecs=codecs, points=self.points.value(),
                         mode=self.mode.currentData(), max_frames=self.max_frames.value(),
                         vmaf=self.vmaf_ok, ladder=ladder, target=target or "psnr_y:30-45")
