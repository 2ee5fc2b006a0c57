"""Talk side column: microphone, live mode, monitor / record options, level and Start live."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from ui.widgets.panel_parts import card, muted, section


class LiveSection(QWidget):
    """Live options in, "start/stop" and "rescan" requests out; the panel runs the session."""

    toggle_clicked = Signal()
    rescan_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mic_combo = QComboBox()
        self.mic_combo.setToolTip("Microphone")
        refresh = QPushButton("Rescan")
        refresh.setToolTip("Look for microphones again")
        refresh.clicked.connect(lambda _checked=False: self.rescan_clicked.emit())
        mic_row = QWidget()
        mr = QHBoxLayout(mic_row)
        mr.setContentsMargins(0, 0, 0, 0)
        mr.addWidget(self.mic_combo, 1)
        mr.addWidget(refresh)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Low latency (causal audio window)", "low_latency")
        self.mode_combo.addItem("Quality (full window, ~0.4 s delay)", "quality")
        self.monitor_box = QCheckBox("Monitor through speakers (delayed to match)")
        self.record_box = QCheckBox("Record the session to MP4")
        self.level = QProgressBar()
        self.level.setRange(0, 600)
        self.level.setTextVisible(True)        # labelled: what the bar is, in its own text
        self.level.setFormat("mic level")
        self.level.setAlignment(Qt.AlignCenter)
        self.level.setFixedHeight(16)
        self.level.setToolTip("Input level (0 to -60 dBFS)")
        self.live_button = QPushButton("Start live")
        self.live_button.setObjectName("Primary")
        self.live_button.setToolTip("Start or stop the live microphone preview (Ctrl+L)")
        self.live_button.clicked.connect(lambda _checked=False: self.toggle_clicked.emit())
        self.label = muted()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Live"))
        lay.addWidget(card(mic_row, self.level, self.mode_combo, self.monitor_box,
                           self.record_box, self.live_button, self.label, spacing=6))

    # -- in ------------------------------------------------------------------------------
    def set_devices(self, devices, reason: str) -> None:
        """``devices``: studio.media.mic.InputDevice list; none: say why, and what else works."""
        self.mic_combo.clear()
        for d in devices:
            self.mic_combo.addItem(d.label(), d.index)
        if devices:
            default = next((i for i, d in enumerate(devices) if d.is_default), 0)
            self.mic_combo.setCurrentIndex(default)
            self.label.setText("")
        else:
            self.mic_combo.addItem("No microphone found", None)
            self.label.setText(f"{reason} Drop an audio file to render instead.")

    def set_state(self, running: bool, can_toggle: bool) -> None:
        self.live_button.setEnabled(can_toggle)
        self.live_button.setText("Stop live" if running else "Start live")

    def set_level(self, dbfs: float | None) -> None:
        """The input level in dBFS (None: silent, the bar empties)."""
        self.level.setValue(0 if dbfs is None else int(10 * max(0.0, 60.0 + dbfs)))

    def set_status(self, text: str) -> None:
        self.label.setText(text)

    # -- out -----------------------------------------------------------------------------
    def device(self):
        """The chosen input device index, or None when there is none."""
        return self.mic_combo.currentData() if self.mic_combo.count() else None

    def mode(self) -> str:
        return self.mode_combo.currentData()

    def monitor(self) -> bool:
        return self.monitor_box.isChecked()

    def record(self) -> bool:
        return self.record_box.isChecked()
