"""Talk workbench: audio (file or microphone) drives a talking-head avatar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QStackedLayout, QVBoxLayout,
                               QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.frame_view import FrameView
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.plots import make_plot, pen


class TalkPanel(WorkbenchPanel):
    workbench = Workbench.TALK
    title = "Talk"
    subtitle = "Audio drives a talking-head avatar (SyncTalk_2D-style ONNX encoder + U-Net)."
    icon_text = "◉"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.audio_path: Path | None = None
        self.avatar_path: Path | None = None

        self.view = FrameView(placeholder="")
        self.empty = EmptyState("Drop an audio file or an avatar",
                                "WAV, MP3, FLAC or M4A audio makes the avatar speak.\n"
                                "A talking-face video or an avatar template (.avatar, folder) "
                                "sets the face.", action="Open audio…")
        self.empty.button.clicked.connect(lambda: self.window().open_dialog())
        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        self.centre_stack.addWidget(self.view)

        self.avatar_label = QLabel("No avatar loaded")
        self.avatar_label.setWordWrap(True)
        self.audio_label = QLabel("No audio loaded")
        self.audio_label.setWordWrap(True)
        self.wave = make_plot(x_label="seconds")
        self.wave.setFixedHeight(120)
        self.wave.getPlotItem().hideAxis("left")
        self.wave.setMouseEnabled(x=True, y=False)
        self.wave_curve = self.wave.plot([], [], pen=pen(0, 1.0))

        side = QVBoxLayout()
        side.setSpacing(10)
        side.addWidget(section("Avatar"))
        side.addWidget(card(self.avatar_label))
        side.addWidget(section("Audio"))
        side.addWidget(card(self.audio_label, self.wave))
        side.addStretch(1)
        side_w = QWidget()
        side_w.setLayout(side)
        side_w.setFixedWidth(340)

        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(centre, 1)
        body.addWidget(side_w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

    def file_filter(self) -> str:
        return ("Audio or avatar (*.wav *.mp3 *.flac *.m4a *.ogg *.mp4 *.mov *.mkv *.avatar);;"
                "All files (*)")

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind is FileKind.AUDIO:
            self.load_audio(path)
        elif kind in (FileKind.VIDEO, FileKind.AVATAR):
            self.avatar_path = path
            self.avatar_label.setText(f"{path.name}\n(avatar templates are prepared in the "
                                      "Talk engine)")
        else:
            super().open_file(path, kind)

    def load_audio(self, path: Path) -> None:
        try:
            from studio.media.audio_io import load_audio
        except ImportError:
            self.ctx.feed.error.emit("Audio", "audio decoding is not available in this build")
            return

        def work(ctx):
            ctx.progress(0, 1, "decoding")
            return load_audio(path)

        handle = self.ctx.run(Job(f"Load {path.name}", work))
        handle.finished.connect(lambda r, p=path: self._audio_loaded(p, r))

    def _audio_loaded(self, path: Path, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not load audio", result.error)
            return
        value = result.value
        wav = value[0] if isinstance(value, tuple) else getattr(value, "samples", value)
        sr = 16000
        self.audio_path = path
        self.audio_label.setText(f"{path.name}\n{len(wav) / sr:.2f} s · resampled to 16 kHz mono")
        step = max(1, len(wav) // 4000)
        env = np.abs(wav[: len(wav) // step * step].reshape(-1, step)).max(axis=1) if len(wav) >= step else np.abs(wav)
        t = np.arange(len(env)) * step / sr
        self.wave_curve.setData(t, env)
