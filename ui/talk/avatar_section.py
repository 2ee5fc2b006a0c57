"""Talk side column: the avatar in use, building one from video, INT8 and training actions."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ui.widgets.panel_parts import card, muted, section


def _row(*widgets: QWidget, stretch_first: bool = False) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for i, x in enumerate(widgets):
        lay.addWidget(x, 1 if stretch_first and i == 0 else 0)
    return w


class AvatarSection(QWidget):
    """Says which avatar is loaded; its buttons only ask, the panel does the work."""

    choose_clicked = Signal()
    prepare_clicked = Signal()
    optimise_clicked = Signal()
    train_clicked = Signal()       # start, or cancel while training
    resume_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("Loading the default avatar…")
        self.label.setWordWrap(True)
        choose = self._button("Choose…", "Open an avatar template folder or .avatar file",
                              self.choose_clicked)
        prep = self._button("From video…", "Build a new avatar from a talking-face video",
                            self.prepare_clicked)
        self.optimise_button = self._button(
            "Optimise models (INT8)", "Write a quantised copy of this avatar's lip-sync models "
            "(about 2x faster on a CPU), checked against the originals on held-out frames; used "
            "only if it passes", self.optimise_clicked, enabled=False)
        # a note when the pair in use was trained for another face (session.pair_warning)
        self.pair_note = QLabel("")
        self.pair_note.setWordWrap(True)
        self.pair_note.setStyleSheet("color: #f0b429;")
        self.pair_note.hide()
        self.train_button = self._button(
            "Train for this face", "Fine-tune the lip-sync models on this avatar's own video and "
            "audio (5 minutes; Cancel keeps the avatar as it was)", self.train_clicked, enabled=False)
        self.resume_button = self._button(
            "Resume", "Continue the last (cancelled or finished) training for 5 more minutes",
            self.resume_clicked, enabled=False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.progress.hide()
        self.train_label = muted()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(8)
        lay.addWidget(section("Avatar"))
        lay.addWidget(card(self.label, self.pair_note, _row(choose, prep), self.optimise_button,
                           _row(self.train_button, self.resume_button, stretch_first=True),
                           self.progress, self.train_label))

    @staticmethod
    def _button(text: str, tip: str, signal, enabled: bool = True) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.setEnabled(enabled)
        b.clicked.connect(lambda _checked=False: signal.emit())
        return b

    def show_avatar(self, text: str, warning: str = "") -> None:
        self.label.setText(text)
        self.pair_note.setText("⚠ " + warning if warning else "")
        self.pair_note.setVisible(bool(warning))

    def set_message(self, text: str) -> None:
        self.label.setText(text)

    def set_actions(self, *, optimise: bool, train: bool, training: bool, resume: bool) -> None:
        self.optimise_button.setEnabled(optimise)
        self.train_button.setEnabled(train)
        self.train_button.setText("Cancel training" if training else "Train for this face")
        self.resume_button.setEnabled(resume)

    def optimising(self) -> None:
        """An INT8 job for this avatar is running: no second one."""
        self.optimise_button.setEnabled(False)

    def training_started(self, resume: bool) -> None:
        self.progress.setValue(0)
        self.progress.show()
        self.train_label.setText("Resuming…" if resume else "Starting…")

    def training_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.train_label.setText(message)

    def training_note(self, text: str, done: bool = False) -> None:
        """A line under the training row; ``done`` also hides the progress bar."""
        if done:
            self.progress.hide()
        self.train_label.setText(text)
