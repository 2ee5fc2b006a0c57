"""Talk centre: the next-step hint, the face (or a drop area) and the preview timeline."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QVBoxLayout, QWidget

from ui.widgets.frame_view import FrameView
from ui.widgets.panel_parts import EmptyState
from ui.widgets.timeline import Timeline


class TalkStage(QWidget):
    """Shows frames; plays back the rendered preview held in ``preview`` (a FrameStore that
    the panel's render job fills)."""

    open_audio_clicked = Signal()
    playback = Signal(bool, float)    # playing, from this many seconds (the audio follows)

    def __init__(self, preview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        # a visible next step until the user has taken one (loaded audio, started live, built
        # an avatar): the status bar's hint is gone after a second, this one stays
        self.next_step = QLabel("Next: drop an audio file (or press Open audio…) to make the "
                                "avatar speak · Start live to drive it from the microphone · "
                                "From video… builds your own avatar")
        self.next_step.setObjectName("NextStep")
        self.next_step.setWordWrap(True)
        self.next_step.setStyleSheet("QLabel#NextStep { color: #dfe6f3; background: #1f2a3d; "
                                     "border: 1px solid #2f4a73; border-radius: 6px; "
                                     "padding: 6px 10px; }")
        self.view = FrameView()
        self.empty = EmptyState("Drop an audio file or an avatar",
                                "WAV, MP3, FLAC or M4A audio makes the avatar speak.\n"
                                "A talking-face video becomes a new avatar; a template folder "
                                "or .avatar file is used as is.", action="Open audio…")
        self.empty.button.clicked.connect(lambda _checked=False: self.open_audio_clicked.emit())
        centre = QWidget()
        self._stack = QStackedLayout(centre)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self.view)
        self.timeline = Timeline()
        self.timeline.frameChanged.connect(self.show_preview_frame)
        self.timeline.play_button.clicked.connect(
            lambda _checked=False: self.playback.emit(
                self.timeline.playing(), self.timeline.frame / self.timeline.fps))
        self.timeline.setEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.next_step)
        lay.addWidget(centre, 1)
        lay.addWidget(self.timeline)

    def step_taken(self) -> None:
        """The user did something: the next-step hint has done its job."""
        self.next_step.setVisible(False)

    def show_frame(self, rgb) -> None:
        """Show a frame (the avatar's, a live or a rendering one) in place of the drop area."""
        self.view.set_frame(rgb)
        self._stack.setCurrentWidget(self.view)

    def offer(self, title: str, hint: str) -> None:
        """Retitle the drop area while it is still shown (audio loaded, no avatar yet)."""
        if self._stack.currentWidget() is self.empty:
            self.empty.title.setText(title)
            self.empty.hint.setText(hint)

    def clear_preview(self, fps: int, still=None) -> None:
        """Forget the previous render; show ``still`` (the avatar's first frame) if given."""
        self.timeline.pause()
        self.preview.clear()
        self.timeline.set_range(0, fps)
        self.timeline.setEnabled(False)
        if still is not None:
            self.show_frame(still)

    def hold(self) -> None:
        """A render or live session drives the view: no playback meanwhile."""
        self.timeline.pause()
        self.timeline.setEnabled(False)

    def show_newest(self) -> int:
        """Show the newest preview frame (while a render runs); returns how many there are."""
        n = len(self.preview)
        if n:
            self.view.set_frame(self.preview.get(n - 1))
        return n

    def show_preview(self, fps: int) -> None:
        """The render is done: its frames go on the timeline, from the first."""
        self.timeline.set_range(len(self.preview), fps)
        self.timeline.setEnabled(True)
        self.show_preview_frame(0)

    def show_preview_frame(self, i: int) -> None:
        if 0 <= i < len(self.preview):
            self.view.set_frame(self.preview.get(i))

    def pause(self) -> None:
        self.timeline.pause()
