"""Talk workbench: audio (file or microphone) drives a talking-head avatar."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QProgressBar, QPushButton, QScrollArea, QStackedLayout,
                               QVBoxLayout,
                               QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.frame_view import FrameView
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.plots import make_plot, pen
from ui.widgets.timeline import Timeline

FORMATS = [("MP4 with audio", "mp4", ".mp4"), ("MP4, silent", "silent", ".mp4"),
           ("PNG sequence", "png", "")]


def studio_folder(*parts: str) -> Path:
    docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) or str(Path.home())
    return Path(docs, "Neural Media Studio", *parts)


class TalkPanel(WorkbenchPanel):
    workbench = Workbench.TALK
    title = "Talk"
    subtitle = "Audio drives a talking-head avatar (SyncTalk_2D-style ONNX encoder + U-Net)."
    icon_text = "◉"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        from studio.media.frame_store import FrameStore

        self.session = None  # studio.talk.session.TalkSession
        self.audio_path: Path | None = None
        self.audio48: np.ndarray | None = None
        self.preview = FrameStore()
        self.render_handle = None
        self._render_t0 = 0.0

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
        self.show_folder_button = QPushButton("Show in folder")
        self.show_folder_button.setVisible(False)
        self.show_folder_button.clicked.connect(self._show_render_folder)
        self._last_output: Path | None = None

        # centre: the face, and a timeline for the rendered preview
        self.view = FrameView()
        self.empty = EmptyState("Drop an audio file or an avatar",
                                "WAV, MP3, FLAC or M4A audio makes the avatar speak.\n"
                                "A talking-face video becomes a new avatar; a template folder "
                                "or .avatar file is used as is.", action="Open audio…")
        self.empty.button.clicked.connect(self.open_audio_dialog)
        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        self.centre_stack.addWidget(self.view)
        self.timeline = Timeline()
        self.timeline.frameChanged.connect(self._show_preview_frame)
        self.timeline.play_button.clicked.connect(self._sync_audio)
        self.timeline.setEnabled(False)

        # right: avatar, audio, render, timings
        self.avatar_label = QLabel("Loading the default avatar…")
        self.avatar_label.setWordWrap(True)
        choose = QPushButton("Choose…")
        choose.setToolTip("Open an avatar template folder or .avatar file")
        choose.clicked.connect(self.choose_avatar_dialog)
        prep = QPushButton("From video…")
        prep.setToolTip("Build a new avatar from a talking-face video")
        prep.clicked.connect(self.prepare_dialog)
        avatar_buttons = QWidget()
        ab = QHBoxLayout(avatar_buttons)
        ab.setContentsMargins(0, 0, 0, 0)
        ab.addWidget(choose)
        ab.addWidget(prep)
        self.optimise_button = QPushButton("Optimise models (INT8)")
        self.optimise_button.setToolTip(
            "Write a quantised copy of this avatar's lip-sync models (about 2x faster on a "
            "CPU), checked against the originals on held-out frames; used only if it passes")
        self.optimise_button.setEnabled(False)
        self.optimise_button.clicked.connect(self.optimise_models)
        # training this avatar's own pair (studio.talk.train); a note when the pair in use
        # was trained for another face (studio.talk.session.pair_warning)
        self.pair_note = QLabel("")
        self.pair_note.setWordWrap(True)
        self.pair_note.setStyleSheet("color: #f0b429;")
        self.pair_note.hide()
        self.train_button = QPushButton("Train for this face")
        self.train_button.setToolTip("Fine-tune the lip-sync models on this avatar's own video "
                                     "and audio (5 minutes; Cancel keeps the avatar as it was)")
        self.train_button.setEnabled(False)
        self.train_button.clicked.connect(self.toggle_training)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the last (cancelled or finished) training for 5 more minutes")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(lambda: self.train_avatar(resume=True))
        self.train_progress = QProgressBar()
        self.train_progress.setRange(0, 1000)
        self.train_progress.setFormat("%p%")
        self.train_progress.hide()
        self.train_label = QLabel("")
        self.train_label.setObjectName("PanelSubtitle")
        self.train_label.setWordWrap(True)
        self.train_handle = None
        train_row = QWidget()
        tr = QHBoxLayout(train_row)
        tr.setContentsMargins(0, 0, 0, 0)
        tr.addWidget(self.train_button, 1)
        tr.addWidget(self.resume_button)

        self.audio_label = QLabel("No audio loaded")
        self.audio_label.setWordWrap(True)
        self.wave = make_plot(x_label="seconds")
        self.wave.setFixedHeight(90)
        self.wave.getPlotItem().hideAxis("left")
        self.wave.setMouseEnabled(x=True, y=False)
        self.wave_curve = self.wave.plot([], [], pen=pen(0, 1.0))
        open_audio = QPushButton("Open audio…")
        open_audio.clicked.connect(self.open_audio_dialog)

        self.format = QComboBox()
        for label, key, _ in FORMATS:
            self.format.addItem(label, key)
        self.render_button = QPushButton("Render…")
        self.render_button.setObjectName("Primary")
        self.render_button.setToolTip("Render the audio with this avatar and save it (Ctrl+Return)")
        self.render_button.setShortcut("Ctrl+Return")
        self.render_button.setEnabled(False)
        self.render_button.clicked.connect(self.render_dialog)
        self.stats = QFormLayout()
        stats_w = QWidget()
        stats_w.setLayout(self.stats)

        # live microphone
        self.mic_combo = QComboBox()
        self.mic_combo.setToolTip("Microphone")
        refresh = QPushButton("Rescan")
        refresh.setToolTip("Look for microphones again")
        refresh.clicked.connect(lambda: self.refresh_devices(True))
        mic_row = QWidget()
        mr = QHBoxLayout(mic_row)
        mr.setContentsMargins(0, 0, 0, 0)
        mr.addWidget(self.mic_combo, 1)
        mr.addWidget(refresh)
        self.live_mode = QComboBox()
        self.live_mode.addItem("Low latency (causal audio window)", "low_latency")
        self.live_mode.addItem("Quality (full window, ~0.4 s delay)", "quality")
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
        self.live_button.clicked.connect(self.toggle_live)
        QShortcut(QKeySequence("Ctrl+L"), self, activated=self.toggle_live)
        self.live_label = QLabel("")
        self.live_label.setObjectName("PanelSubtitle")
        self.live_label.setWordWrap(True)
        self.live = None  # (engine, mic, recorder, monitor) while running
        self._live_tick_timer = QTimer(self)
        self._live_tick_timer.setInterval(15)
        self._live_tick_timer.timeout.connect(self._live_tick)
        self._live_stats_t = 0.0

        side = QVBoxLayout()
        side.setSpacing(8)
        side.addWidget(section("Avatar"))
        side.addWidget(card(self.avatar_label, self.pair_note, avatar_buttons, self.optimise_button,
                            train_row, self.train_progress, self.train_label))
        side.addWidget(section("Audio"))
        side.addWidget(card(self.audio_label, self.wave, open_audio))
        side.addWidget(section("Live"))
        side.addWidget(card(mic_row, self.level, self.live_mode, self.monitor_box,
                            self.record_box, self.live_button, self.live_label, spacing=6))
        side.addWidget(section("Render"))
        side.addWidget(card(self.format, self.render_button))
        side.addWidget(section("Pipeline"))
        side.addWidget(card(stats_w, self.show_folder_button))
        side.addStretch(1)
        side_w = QWidget()
        side_w.setLayout(side)
        scroll = QScrollArea()
        scroll.setWidget(side_w)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFixedWidth(356)

        middle = QVBoxLayout()
        middle.addWidget(self.next_step)
        middle.addWidget(centre, 1)
        middle.addWidget(self.timeline)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addLayout(middle, 1)
        body.addWidget(scroll)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

        self._live_timer = QTimer(self)
        self._live_timer.setInterval(80)
        self._live_timer.timeout.connect(self._show_newest)
        QTimer.singleShot(0, self.load_default_avatar)
        QTimer.singleShot(0, self._scan_devices_in_background)

    # -- avatar ---------------------------------------------------------------------------
    def load_default_avatar(self) -> None:
        from studio.talk.session import DEFAULT_AVATAR

        if DEFAULT_AVATAR.exists():
            self.load_avatar(DEFAULT_AVATAR, quiet=True)
        else:
            self.avatar_label.setText("No avatar yet: choose a template or build one from a video.")

    def _busy(self) -> bool:
        return (self.live is not None or (self.render_handle is not None and self.render_handle.running)
                or self._training())

    def _training(self) -> bool:
        return self.train_handle is not None and self.train_handle.running

    def load_avatar(self, path: Path, models: Path | None = None, quiet: bool = False) -> None:
        from studio.talk.session import open_session

        if self._busy():
            self.ctx.feed.error.emit("Avatar in use", "Stop the live preview or wait for the "
                                     "render to finish (Esc cancels it) before changing avatar.")
            return

        settings = self.ctx.settings

        def work(ctx):
            ctx.progress(0, 1, "loading frames and models")
            return open_session(path, models, settings)

        handle = self.ctx.run(Job(f"Open avatar {path.name}", work))
        handle.finished.connect(lambda r, q=quiet: self._avatar_loaded(r, q))

    def _avatar_loaded(self, result, quiet: bool) -> None:
        if not result.ok:
            self.avatar_label.setText("No usable avatar: " + result.error.splitlines()[0])
            if not quiet:
                self.ctx.feed.error.emit("Cannot use this avatar", result.error)
            return
        if self._busy():  # a render or live session started meanwhile: keep what it uses
            result.value.close()
            return
        if self.session is not None:
            self.session.close()
        self.session = result.value
        a = self.session.avatar
        pool = self.session.lipsync.unet
        self.avatar_label.setText(f"{a.meta.get('name') or a.path.name}\n{a.width}×{a.height}, "
                                  f"{a.num_frames} frames ({a.duration_s:.1f} s at {a.fps} fps)\n"
                                  f"models: {self.session.lipsync.unet.manifest.name} "
                                  f"{self.session.lipsync.contract.size}px"
                                  + (" INT8" if self._models_optimised() else ""))
        self.ctx.feed.provider.emit(pool.provider.replace("ExecutionProvider", ""))
        self.pair_note.setText("⚠ " + self.session.warning if self.session.warning else "")
        self.pair_note.setVisible(bool(self.session.warning))
        self._reset_preview()
        self.centre_stack.setCurrentWidget(self.view)
        self._set_stats({"provider": pool.provider.replace("ExecutionProvider", ""),
                         "sessions": f"{pool.size} × {pool.threads} thread(s)"})
        self._update_buttons()

    def _models_dir(self) -> Path | None:
        if self.session is None or self.session.lipsync.unet.manifest.path is None:
            return None
        return Path(self.session.lipsync.unet.manifest.path).parent.parent

    def _models_optimised(self) -> bool:
        from studio.talk.optimise import is_optimised

        d = self._models_dir()
        return d is not None and is_optimised(d)

    def optimise_models(self) -> None:
        """`studio talk optimise` on the pair in use, calibrated on this avatar (and the loaded
        audio, if any); the panel switches to the INT8 pair only when the quality gate passes.
        The FP32 pair stays on disk, and in use when the gate refuses."""
        from studio.talk.optimise import optimise_pair

        models = self._models_dir()
        if models is None or self._busy():
            return
        if self._models_optimised():
            self.ctx.feed.message.emit("These models are already optimised", 6000)
            return
        avatar, audio = self.session.avatar.path, self.audio_path
        # calibrated on this avatar: the name says for which
        name = (f"{avatar.name}-int8" if models == avatar / "models"
                else f"{models.name}-for-{avatar.name}-int8")
        out = studio_folder("models", name)
        self.optimise_button.setEnabled(False)
        handle = self.ctx.run(Job(f"Optimise {models.name} (INT8)",
                                  lambda ctx: optimise_pair(models, out, avatar=avatar,
                                                            audio=audio, ctx=ctx)))
        handle.finished.connect(lambda r, a=avatar, o=out: self._optimised(a, o, r))

    def _optimised(self, avatar: Path, out: Path, result) -> None:
        self._update_buttons()
        if not result.ok:
            self.ctx.feed.error.emit("Kept the original models", result.error)
            return
        self.ctx.feed.message.emit(result.value.summary(), 15000)
        self.load_avatar(avatar, models=out)

    # -- training ---------------------------------------------------------------------------
    def _checkpoint(self) -> Path | None:
        from studio.talk.train import default_work_dir

        if self.session is None:
            return None
        ck = default_work_dir(self.session.avatar) / "checkpoint.pt"
        return ck if ck.exists() else None

    def toggle_training(self) -> None:
        if self._training():
            self.train_handle.cancel()
            self.train_label.setText("Cancelling… (the avatar stays as it was)")
        else:
            self.train_avatar()

    def train_avatar(self, resume: bool = False, minutes: float = 5.0):
        """`studio talk train` on the avatar in use; reloads it with its new pair at the end."""
        from studio.talk.train import INSTALL_HINT, torch_available, train_avatar

        if self.session is None or self._busy():
            return None
        if not torch_available():
            self.ctx.feed.error.emit("Training needs PyTorch", INSTALL_HINT[0].upper() + INSTALL_HINT[1:] + ".")
            return None
        a = self.session.avatar
        avatar = a.archive or a.path
        self.train_handle = self.ctx.run(Job(f"Train {Path(avatar).name}", lambda ctx: train_avatar(
            avatar, ctx, minutes=minutes, resume=resume)))
        self.train_handle.progress.connect(self._train_progress)
        self.train_handle.finished.connect(lambda r, p=Path(avatar): self._trained(p, r))
        self.train_progress.setValue(0)
        self.train_progress.show()
        self.train_label.setText("Resuming…" if resume else "Starting…")
        self._update_buttons()
        return self.train_handle

    def _train_progress(self, p) -> None:
        self.train_progress.setValue(int(1000 * p.fraction))
        self.train_label.setText(p.message)

    def _trained(self, avatar: Path, result) -> None:
        self.train_progress.hide()
        self._update_buttons()
        if result.ok:
            self.train_label.setText(result.value.summary().splitlines()[0])
            self.load_avatar(avatar)
        elif "cancelled" in result.error:
            self.train_label.setText("Training cancelled; the avatar is unchanged. Resume continues it.")
        else:
            self.train_label.setText("Training failed")
            self.ctx.feed.error.emit("Training failed", result.error)

    def choose_avatar_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open avatar template folder",
                                                  str(studio_folder("avatars")))
        if folder:
            self.load_avatar(Path(folder))

    def prepare_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Talking-face video", "",
                                              "Video (*.mp4 *.mov *.mkv *.webm *.avi *.mpg)")
        if name:
            self.prepare_avatar(Path(name))

    def prepare_avatar(self, video: Path) -> None:
        from studio.talk.prepare import prepare_avatar

        out = studio_folder("avatars", video.stem)
        # No pair is copied in: a template without one renders with the shipped default pair.
        handle = self.ctx.run(Job(f"Prepare avatar from {video.name}",
                                  lambda ctx: prepare_avatar(video, out, ctx)))
        handle.finished.connect(lambda r, o=out: self._prepared(o, r))

    def _prepared(self, out: Path, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Cannot build an avatar from this video", result.error)
            return
        summary = getattr(result.value, "short", None)  # frames kept, face size, skipped
        text = f"Avatar saved to {out}" + (f": {summary()}" if summary else "")
        # after the job bar's "done", so the user can read where it went
        QTimer.singleShot(50, self, lambda: self.ctx.feed.message.emit(text, 15000))
        self.step_taken()
        self.load_avatar(out)

    # -- audio ------------------------------------------------------------------------------
    def open_audio_dialog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open audio", "", self.file_filter())
        if name:
            self.load_audio(Path(name))

    def load_audio(self, path: Path) -> None:
        from studio.media.audio_io import load_audio

        def work(ctx):
            ctx.progress(0, 1, "decoding")
            return load_audio(path, 48000, check=ctx.check)

        handle = self.ctx.run(Job(f"Load {path.name}", work))
        handle.finished.connect(lambda r, p=path: self._audio_loaded(p, r))

    def _audio_loaded(self, path: Path, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not load audio", result.error)
            return
        audio = result.value
        self.audio_path, self.audio48 = path, audio.samples
        self.step_taken()
        if self.render_handle is None or not self.render_handle.running:
            self._reset_preview()
        info = audio.info
        self.audio_label.setText(f"{path.name}\n{audio.duration_s:.2f} s · {info.sample_rate} Hz · "
                                 f"{info.channels} ch · {info.format}")
        wav = audio.samples
        step = max(1, len(wav) // 3000)
        n = len(wav) // step * step
        env = np.abs(wav[:n].reshape(-1, step)).max(axis=1) if n else np.zeros(1)
        self.wave_curve.setData(np.arange(len(env)) * step / audio.sr, env)
        self._update_buttons()
        if self.centre_stack.currentWidget() is self.empty and self.session is None:
            self.empty.title.setText(f"{path.name} is ready")
            self.empty.hint.setText("Now choose an avatar, or build one from a talking-face video.")

    def step_taken(self) -> None:
        """The user did something: the next-step hint has done its job."""
        self.next_step.setVisible(False)

    def _reset_preview(self) -> None:
        """New audio or a new avatar: the previous render no longer belongs on the timeline."""
        self.timeline.pause()
        self.preview.clear()
        self.timeline.set_range(0, self.session.lipsync.fps if self.session else 25)
        self.timeline.setEnabled(False)
        self.show_folder_button.setVisible(False)
        if self.session is not None:
            self.view.set_frame(self.session.template.frame(0))

    def _show_render_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        if self._last_output is not None:
            folder = self._last_output if self._last_output.is_dir() else self._last_output.parent
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _update_buttons(self) -> None:
        busy = self.render_handle is not None and self.render_handle.running
        live = self.live is not None
        self.render_button.setEnabled(self.session is not None and self.audio_path is not None
                                      and not busy and not live)
        self.live_button.setEnabled(self.session is not None and self.mic_combo.count() > 0
                                    and self.mic_combo.currentData() is not None and not busy)
        self.live_button.setText("Stop live" if live else "Start live")
        self.optimise_button.setEnabled(self.session is not None and not busy and not live
                                        and not self._training())
        training = self._training()
        self.train_button.setEnabled(self.session is not None and (training or (not busy and not live)))
        self.train_button.setText("Cancel training" if training else "Train for this face")
        self.resume_button.setEnabled(not training and not busy and not live
                                      and self._checkpoint() is not None)

    # -- render -------------------------------------------------------------------------------
    def render_dialog(self) -> None:
        if self.session is None or self.audio_path is None:
            return
        label, key, ext = FORMATS[self.format.currentIndex()]
        from ui.dialogs import safe_name
        default = studio_folder("renders", safe_name(self.audio_path.stem, "talk") + ext)
        default.parent.mkdir(parents=True, exist_ok=True)
        if key == "png":
            out = QFileDialog.getSaveFileName(self, "Save PNG frames to folder", str(default))[0]
        else:
            out = QFileDialog.getSaveFileName(self, "Save video", str(default), "MP4 video (*.mp4)")[0]
        if out:
            self.render_to(Path(out), key)

    def render_to(self, out: Path, fmt: str = "mp4"):
        from studio.talk.render import render_to_file

        session, audio = self.session, self.audio_path
        self.preview.clear()
        store = self.preview

        def work(ctx):
            return render_to_file(session.lipsync, session.template, audio, out, ctx, fmt=fmt,
                                  tap=lambda i, f: store.append(f))

        self.render_handle = self.ctx.run(Job(f"Render {out.name}", work))
        self.render_handle.finished.connect(self._rendered)
        self._render_t0 = time.perf_counter()
        self.timeline.pause()
        self.timeline.setEnabled(False)
        self._live_timer.start()
        self._update_buttons()
        return self.render_handle

    def _show_newest(self) -> None:
        n = len(self.preview)
        if n:
            self.view.set_frame(self.preview.get(n - 1))
            dt = time.perf_counter() - self._render_t0
            self.ctx.feed.rate.emit("Talk render", n / dt if dt > 0 else 0.0, 0.0)

    def _rendered(self, result) -> None:
        self._live_timer.stop()
        self._update_buttons()
        if not result.ok:
            if "cancelled" not in result.error:
                self.ctx.feed.error.emit("Render failed", result.error)
            self._reset_preview()        # nothing half-made stays on a dead timeline
            return
        stats = result.value
        per = {k: f"{1000 * v / max(stats.frames, 1):.1f} ms/frame" for k, v in stats.stage_s.items()}
        self._set_stats({"provider": self.session.lipsync.unet.provider.replace("ExecutionProvider", ""),
                         "frames": f"{stats.frames} at {stats.fps:.1f} fps", **per,
                         "saved": Path(stats.output).name})
        self.timeline.set_range(len(self.preview), self.session.lipsync.fps)
        self.timeline.setEnabled(True)
        self._show_preview_frame(0)
        out = Path(stats.output)
        self._last_output = out
        self.show_folder_button.setVisible(True)
        # said after the job bar's own "done" message, so it is not overwritten at once
        QTimer.singleShot(50, self, lambda: self.ctx.feed.message.emit(
            f"Saved {out.name} in {out.parent} (Show in folder: the Pipeline card)", 15000))

    def _show_preview_frame(self, i: int) -> None:
        if 0 <= i < len(self.preview):
            self.view.set_frame(self.preview.get(i))

    def _sync_audio(self) -> None:
        """Play the audio from the current frame while the preview plays (if a device exists)."""
        try:
            import sounddevice as sd
        except OSError:
            return
        try:
            sd.stop()
            if self.timeline.playing() and self.audio48 is not None:
                start = int(self.timeline.frame / self.timeline.fps * 48000)
                sd.play(self.audio48[start:], 48000)
        except Exception:  # noqa: BLE001 - no output device: the preview plays silently
            pass

    def _set_stats(self, rows: dict[str, str]) -> None:
        while self.stats.rowCount():
            self.stats.removeRow(0)
        for k, v in rows.items():
            self.stats.addRow(QLabel(k), QLabel(v))

    # -- live ------------------------------------------------------------------------------------
    def _scan_devices_in_background(self) -> None:
        """The first device scan starts PortAudio, which can wait seconds on a slow or dead
        sound server: never on the GUI thread (it froze the window at start-up)."""
        from studio.media import mic

        handle = self.ctx.runner.start(Job("Scan microphones",
                                           lambda ctx: mic.list_input_devices()), track=False)
        handle.finished.connect(lambda r: self._show_devices(*r.value) if r.ok else None)

    def refresh_devices(self, refresh: bool = False) -> None:
        from studio.media import mic

        self._show_devices(*mic.list_input_devices(refresh=refresh))

    def _show_devices(self, devices, reason: str) -> None:
        self.mic_combo.clear()
        for d in devices:
            self.mic_combo.addItem(d.label(), d.index)
        if devices:
            default = next((i for i, d in enumerate(devices) if d.is_default), 0)
            self.mic_combo.setCurrentIndex(default)
            self.live_label.setText("")
        else:
            self.mic_combo.addItem("No microphone found", None)
            self.live_label.setText(f"{reason} Drop an audio file to render instead.")
        self._update_buttons()

    def toggle_live(self) -> None:
        self.stop_live() if self.live is not None else self.start_live()

    def start_live(self) -> None:
        from studio.jobs import UserError
        from studio.media.mic import MicCapture
        from studio.media.monitor import AudioMonitor
        from studio.talk.live import LiveEngine, LiveRecorder

        if self.session is None or self._busy() or self.mic_combo.currentData() is None:
            return
        engine = LiveEngine(self.session.lipsync, self.session.template, self.live_mode.currentData())
        recorder = monitor = None
        if self.record_box.isChecked():
            out = studio_folder("recordings", time.strftime("live-%Y%m%d-%H%M%S.mp4"))
            out.parent.mkdir(parents=True, exist_ok=True)
            recorder = LiveRecorder(out, fps=engine.fps).attach(engine)
        if self.monitor_box.isChecked():
            monitor = AudioMonitor(delay_s=engine.lookahead_s + 0.06)
            tap = engine.on_audio

            def fan_out(start, block, tap=tap):
                monitor.push(block)
                if tap is not None:
                    tap(start, block)

            engine.on_audio = fan_out
        mic = MicCapture(on_audio=engine.push_audio, device=self.mic_combo.currentData())
        try:
            engine.start()
            mic.start()
            if monitor is not None:
                monitor.start()
        except UserError as exc:
            mic.stop()
            engine.stop()
            if recorder is not None:
                recorder.abort()
            self.ctx.feed.error.emit("Cannot start live preview", str(exc))
            return
        self.live = (engine, mic, recorder, monitor)
        self.timeline.pause()
        self._live_tick_timer.start()
        self.live_label.setText(f"Listening on {mic.device.name}…")
        self.step_taken()
        self._update_buttons()

    def _live_tick(self) -> None:
        engine, mic, _rec, _mon = self.live
        got = engine.latest_frame()
        if got is not None:
            self.view.set_frame(got[1])
            self.centre_stack.setCurrentWidget(self.view)
        lvl = mic.level()
        if lvl is not None:
            self.level.setValue(int(10 * max(0.0, 60.0 + lvl.dbfs)))
        now = time.monotonic()
        if now - self._live_stats_t > 0.5:
            self._live_stats_t = now
            st = engine.stats()
            if st.frames == 0:   # the sound server's first block is still on its way
                self.live_label.setText("waiting for the microphone…")
                return
            self.ctx.feed.rate.emit("Live", st.fps, st.delay_p50_s * 1000)
            self.live_label.setText(
                f"{st.fps:.1f} fps · mic-to-frame {st.delay_p50_s * 1000:.0f} ms (p95 "
                f"{st.delay_p95_s * 1000:.0f}) · skipped {st.skipped}"
                + (f"\n{st.error}" if st.error else ""))

    def stop_live(self) -> None:
        if self.live is None:
            return
        engine, mic, recorder, monitor = self.live
        self._live_tick_timer.stop()
        mic.stop()
        if monitor is not None:
            monitor.stop()
        engine.stop()
        self.live = None
        self.level.setValue(0)
        self.live_label.setText("")                    # no stale numbers after Stop
        if recorder is not None:
            try:
                res = recorder.close()
                self.ctx.feed.message.emit(f"Live session saved to {recorder.path}", 10000)
                self.live_label.setText(f"Saved {recorder.path.name} ({res.frames} frames)")
            except Exception as exc:  # noqa: BLE001
                self.ctx.feed.error.emit("Recording failed", str(exc))
        self._update_buttons()

    # -- files -----------------------------------------------------------------------------------
    def file_filter(self) -> str:
        return ("Audio or video (*.wav *.mp3 *.flac *.m4a *.ogg *.mp4 *.mov *.mkv *.avatar);;"
                "All files (*)")

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind is FileKind.AUDIO:
            self.load_audio(path)
        elif kind is FileKind.AVATAR:
            self.load_avatar(path)
        elif kind is FileKind.VIDEO:
            self.prepare_avatar(path)
        else:
            super().open_file(path, kind)

    def shutdown(self) -> None:
        self.stop_live()
        self._live_timer.stop()
        self.timeline.pause()
        if self.session is not None:
            self.session.close()

    def screenshot_stage(self, settle) -> None:
        """Render a few seconds of real speech for `studio screenshot` when data is present."""
        from studio.paths import SHARED_DATA

        for _ in range(50):
            if self.session is not None:
                break
            settle(100)
        speech = sorted((SHARED_DATA / "speech").glob("*.wav"), key=lambda p: p.stat().st_size,
                        reverse=True) if SHARED_DATA.exists() else []
        if self.session is None or not speech:
            return
        self.load_audio(speech[0])
        for _ in range(50):
            settle(100)
            if self.audio_path is not None:
                break
        import tempfile

        handle = self.render_to(Path(tempfile.mkdtemp()) / "shot.mp4")
        for _ in range(600):
            settle(200)
            if not handle.running:
                break
        settle(300)
        # show the loudest moment (mid-vowel), where the mouth is open
        spf = 48000 // 25
        n = min(len(self.preview), len(self.audio48) // spf)
        energy = (self.audio48[: n * spf].reshape(n, spf) ** 2).mean(axis=1)
        self.timeline.set_frame(int(np.argmax(energy)) + 1 if n else 0)
