"""Codec centre: A/B pickers, the split (or difference) view, frame scrubbing and playback,
and the per-frame metric plot of A and B."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QVBoxLayout, QWidget)

from ui.widgets.plots import make_plot, pen
from ui.widgets.split_view import SplitView

SOURCE = "source"


class ComparisonViewer(QWidget):
    """Frames in (``show_frames``), "which frame / which points" out (signals); the panel
    decodes."""

    picks_changed = Signal()
    frame_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = 25.0
        self.view = SplitView(placeholder="Run a sweep, then click a point on the plot to "
                                          "compare it with the source.")
        self.left_pick = QComboBox()
        self.right_pick = QComboBox()
        for combo in (self.left_pick, self.right_pick):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)   # long point names elide, tooltips say all
            combo.currentIndexChanged.connect(lambda _i: self.picks_changed.emit())
        self.view_mode = QComboBox()
        self.view_mode.addItem("Split", SplitView.MODE_SPLIT)
        self.view_mode.addItem("Difference ×4", SplitView.MODE_DIFF)
        self.view_mode.currentIndexChanged.connect(
            lambda _i: self.view.set_mode(self.view_mode.currentData()))
        self.frame_slider = QSlider(Qt.Horizontal)
        self.frame_slider.valueChanged.connect(self._slid)
        self.frame_label = QLabel("frame –")
        self.frame_label.setMinimumWidth(90)
        self.play_button = QPushButton("▶")
        self.play_button.setFixedWidth(40)
        self.play_button.clicked.connect(self._toggle_play)
        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._advance)
        self._make_plot()
        self._lay_out()

    def _make_plot(self) -> None:
        self.frame_plot = make_plot(x_label="frame", y_label="PSNR-Y (dB)")
        self.frame_plot.setFixedHeight(150)
        self._cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#f0f0f0", width=1))
        self._cursor.sigPositionChanged.connect(
            lambda line: self.frame_slider.setValue(int(round(line.value()))))
        self.frame_plot.addItem(self._cursor)
        self._curves = [self.frame_plot.plot([], [], pen=pen(k + 1, 1.5)) for k in range(2)]

    def _lay_out(self) -> None:
        controls = QHBoxLayout()
        controls.addWidget(QLabel("A"))
        controls.addWidget(self.left_pick)
        controls.addWidget(QLabel("B"))
        controls.addWidget(self.right_pick)
        controls.addWidget(self.view_mode)
        controls.addStretch(1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.play_button)
        scrub.addWidget(self.frame_slider, 1)
        scrub.addWidget(self.frame_label)
        vl = QVBoxLayout(self)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addLayout(controls)
        vl.addWidget(self.view, 1)
        vl.addLayout(scrub)
        vl.addWidget(self.frame_plot)

    # -- in ------------------------------------------------------------------------------
    def fill_picks(self, points, keep: bool) -> None:
        """Offer "Source" and ``points`` (studio.codec.project.Point) as A and B; ``keep``:
        stay on the same points where they are still offered. Emits nothing."""
        left, right = self.left_pick.currentData(), self.right_pick.currentData()
        for combo in (self.left_pick, self.right_pick):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("Source", SOURCE)
            for p in sorted(points, key=lambda p: (p.codec, p.mode, p.bitrate_kbps)):
                tag = " per-shot" if p.mode == "pershot" else ""
                combo.addItem(f"{p.codec}{tag} {p.bitrate_kbps:,.0f} kbps", p.id)
            combo.blockSignals(False)
        if keep:
            for combo, val in ((self.left_pick, left), (self.right_pick, right)):
                i = combo.findData(val)
                if i >= 0:
                    combo.setCurrentIndex(i)

    def select(self, pid: str) -> None:
        """Compare point ``pid`` (B) with the source (A)."""
        i = self.right_pick.findData(pid)
        if i >= 0:
            self.left_pick.setCurrentIndex(0)
            self.right_pick.setCurrentIndex(i)

    def set_frame_count(self, n: int, fps: float) -> None:
        """A project with ``n`` frames: the scrubber's range; re-announces the current frame."""
        self.fps = fps
        self.frame_slider.setRange(0, max(0, n - 1))
        self._slid(self.frame_slider.value())

    def set_frame(self, i: int) -> None:
        self.frame_slider.setValue(i)

    def show_frames(self, a: np.ndarray, b: np.ndarray, labels: tuple[str, str]) -> None:
        self.view.set_frames(a, b, labels)

    def show_frame_curves(self, curves: list[tuple[list, str] | None]) -> None:
        """Per-frame values of A and B: at most two ``(values, label)``; None leaves a gap."""
        for item in self._curves:
            item.setData([], [])
        for item, curve in zip(self._curves, curves):
            if curve is not None:
                ys, label = curve
                item.setData(np.arange(len(ys)), ys)
                item.opts["name"] = label

    def set_metric_label(self, text: str) -> None:
        self.frame_plot.getPlotItem().setLabel("left", text)

    def stop(self) -> None:
        self._play_timer.stop()

    # -- out -----------------------------------------------------------------------------
    def picks(self) -> tuple[str | None, str | None]:
        """The point ids shown as A and B (``SOURCE`` for the source; None when empty)."""
        return self.left_pick.currentData(), self.right_pick.currentData()

    def pick_labels(self) -> tuple[str, str]:
        return self.left_pick.currentText(), self.right_pick.currentText()

    def frame(self) -> int:
        return self.frame_slider.value()

    # -- inside ----------------------------------------------------------------------------
    def _slid(self, i: int) -> None:
        self.frame_label.setText(f"frame {i + 1} / {self.frame_slider.maximum() + 1}")
        self._cursor.blockSignals(True)
        self._cursor.setValue(i)
        self._cursor.blockSignals(False)
        self.frame_changed.emit(i)

    def _toggle_play(self) -> None:
        if self._play_timer.isActive():
            self._play_timer.stop()
            self.play_button.setText("▶")
        else:
            self._play_timer.start(int(1000 / max(1.0, self.fps)))
            self.play_button.setText("❚❚")

    def _advance(self) -> None:
        n = self.frame_slider.maximum() + 1
        self.frame_slider.setValue((self.frame_slider.value() + 1) % max(1, n))
