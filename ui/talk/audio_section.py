"""Talk side column: the loaded audio, its waveform envelope and Open audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ui.widgets.panel_parts import card, section
from ui.widgets.plots import make_plot, pen


class AudioSection(QWidget):
    open_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("No audio loaded")
        self.label.setWordWrap(True)
        self.wave = make_plot(x_label="seconds")
        self.wave.setFixedHeight(90)
        self.wave.getPlotItem().hideAxis("left")
        self.wave.setMouseEnabled(x=True, y=False)
        self._curve = self.wave.plot([], [], pen=pen(0, 1.0))
        open_audio = QPushButton("Open audio…")
        open_audio.clicked.connect(lambda _checked=False: self.open_clicked.emit())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Audio"))
        lay.addWidget(card(self.label, self.wave, open_audio))

    def show_audio(self, path: Path, audio) -> None:
        """``audio``: a studio.media.audio_io loaded clip (samples, sr, info, duration_s)."""
        info = audio.info
        self.label.setText(f"{path.name}\n{audio.duration_s:.2f} s · {info.sample_rate} Hz · "
                           f"{info.channels} ch · {info.format}")
        wav = audio.samples
        step = max(1, len(wav) // 3000)
        n = len(wav) // step * step
        env = np.abs(wav[:n].reshape(-1, step)).max(axis=1) if n else np.zeros(1)
        self._curve.setData(np.arange(len(env)) * step / audio.sr, env)
