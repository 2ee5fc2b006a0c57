"""Play / pause / scrub for anything with frames at a frame rate (Space toggles play)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget


class Timeline(QWidget):
    frameChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QPushButton("▶")
        self.play_button.setFixedWidth(44)
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.valueChanged.connect(self._slid)
        self.label = QLabel("0 / 0")
        self.label.setMinimumWidth(150)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.play_button)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.label)
        self.fps = 30.0
        self.count = 0
        self.loop = True
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._t0 = 0.0
        self._f0 = 0
        sc = QShortcut(QKeySequence(Qt.Key_Space), self)
        sc.setContext(Qt.WindowShortcut)
        sc.activated.connect(self.toggle)
        self.set_range(0, 30.0)

    def set_range(self, count: int, fps: float) -> None:
        self.pause()
        self.count, self.fps = int(count), float(fps)
        self.slider.setRange(0, max(0, self.count - 1))
        self.slider.setValue(0)
        self.setEnabled(self.count > 0)
        self._update_label(0)

    @property
    def frame(self) -> int:
        return self.slider.value()

    def set_frame(self, i: int) -> None:
        self.slider.setValue(int(i))

    def playing(self) -> bool:
        return self._timer.isActive()

    def play(self) -> None:
        if self.count <= 1:
            return
        self._t0, self._f0 = time.monotonic(), self.frame
        self._timer.start(max(5, int(500 / self.fps)))
        self.play_button.setText("❚❚")

    def pause(self) -> None:
        self._timer.stop()
        self.play_button.setText("▶")

    def toggle(self) -> None:
        self.pause() if self.playing() else self.play()

    def _tick(self) -> None:
        # wall clock drives the frame, so slow drawing drops frames instead of slowing down
        f = self._f0 + int((time.monotonic() - self._t0) * self.fps)
        if f >= self.count:
            if not self.loop:
                self.set_frame(self.count - 1)
                self.pause()
                return
            f %= self.count
        self.set_frame(f)

    def _slid(self, v: int) -> None:
        self._update_label(v)
        self.frameChanged.emit(v)

    def _update_label(self, v: int) -> None:
        t = v / self.fps if self.fps else 0.0
        self.label.setText(f"{v + 1 if self.count else 0} / {self.count}   {t:5.2f} s")
