"""Talk workbench: audio (file or microphone) drives a talking-head avatar.

The panel wires its sections (``ui/talk/*_section.py``, ``stage.py``: signals out, a few
methods in) and owns the jobs: opening avatars and audio, rendering, optimising, training and
the live session (assembled by ``studio.talk.live.LiveSession``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.talk.audio_section import AudioSection
from ui.talk.avatar_section import AvatarSection
from ui.talk.live_section import LiveSection
from ui.talk.render_section import RenderSection
from ui.talk.stage import TalkStage
from ui.talk.stats_section import PipelineStats
from ui.widgets.panel_parts import header


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
        self.decoded_audio = None  # studio.talk.render.RenderAudio of audio_path: decoded once
        self.preview = FrameStore()
        self.render_handle = None
        self.train_handle = None
        self.live = None  # studio.talk.live.LiveSession while running
        self._render_t0 = 0.0
        self._live_stats_t = 0.0
        self.stage = TalkStage(self.preview)
        self.avatar = AvatarSection()
        self.audio = AudioSection()
        self.live_controls = LiveSection()
        self.render_controls = RenderSection()
        self.stats = PipelineStats()
        self._wire()
        self._lay_out()
        self._live_tick_timer = self._timer(15, self._live_tick)
        self._live_timer = self._timer(80, self._show_newest)     # the render's newest frame
        QTimer.singleShot(0, self.load_default_avatar)
        QTimer.singleShot(0, self._scan_devices_in_background)

    def _wire(self) -> None:
        self.stage.open_audio_clicked.connect(self.open_audio_dialog)
        self.stage.playback.connect(self._sync_audio)
        self.avatar.choose_clicked.connect(self.choose_avatar_dialog)
        self.avatar.prepare_clicked.connect(self.prepare_dialog)
        self.avatar.optimise_clicked.connect(self.optimise_models)
        self.avatar.train_clicked.connect(self.toggle_training)
        self.avatar.resume_clicked.connect(lambda: self.train_avatar(resume=True))
        self.audio.open_clicked.connect(self.open_audio_dialog)
        self.live_controls.toggle_clicked.connect(self.toggle_live)
        self.live_controls.rescan_clicked.connect(lambda: self.refresh_devices(True))
        self.render_controls.render_clicked.connect(self.render_dialog)
        QShortcut(QKeySequence("Ctrl+L"), self, activated=self.toggle_live)

    def _lay_out(self) -> None:
        side = QVBoxLayout()
        side.setSpacing(8)
        for w in (self.avatar, self.audio, self.live_controls, self.render_controls, self.stats):
            side.addWidget(w)
        side.addStretch(1)
        side_w = QWidget()
        side_w.setLayout(side)
        scroll = QScrollArea()
        scroll.setWidget(side_w)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setFixedWidth(356)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(self.stage, 1)
        body.addWidget(scroll)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

    def _timer(self, ms: int, slot) -> QTimer:
        t = QTimer(self)
        t.setInterval(ms)
        t.timeout.connect(slot)
        return t

    # -- avatar ---------------------------------------------------------------------------
    def load_default_avatar(self) -> None:
        from studio.talk.session import DEFAULT_AVATAR

        if DEFAULT_AVATAR.exists():
            self.load_avatar(DEFAULT_AVATAR, quiet=True)
        else:
            self.avatar.set_message("No avatar yet: choose a template or build one from a video.")

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
            self.avatar.set_message("No usable avatar: " + result.error.splitlines()[0])
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
        self.avatar.show_avatar(f"{a.meta.get('name') or a.path.name}\n{a.width}×{a.height}, "
                                f"{a.num_frames} frames ({a.duration_s:.1f} s at {a.fps} fps)\n"
                                f"models: {self.session.lipsync.unet.manifest.name} "
                                f"{self.session.lipsync.contract.size}px"
                                + (" INT8" if self._models_optimised() else ""),
                                self.session.warning)
        self.ctx.feed.provider.emit(pool.provider.replace("ExecutionProvider", ""))
        self._reset_preview()
        self.stats.set_stats({"provider": pool.provider.replace("ExecutionProvider", ""),
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
        self.avatar.optimising()
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
            self.avatar.training_note("Cancelling… (the avatar stays as it was)")
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
        self.avatar.training_started(resume)
        self._update_buttons()
        return self.train_handle

    def _train_progress(self, p) -> None:
        self.avatar.training_progress(p.fraction, p.message)

    def _trained(self, avatar: Path, result) -> None:
        self._update_buttons()
        if result.ok:
            self.avatar.training_note(result.value.summary().splitlines()[0], done=True)
            self.load_avatar(avatar)
        elif "cancelled" in result.error:
            self.avatar.training_note("Training cancelled; the avatar is unchanged. Resume continues it.",
                                      done=True)
        else:
            self.avatar.training_note("Training failed", done=True)
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
        from studio.talk.render import decode_audio

        def work(ctx):
            # the one decode: shown, played and rendered from (16 and 48 kHz)
            ctx.progress(0, 1, "decoding")
            return decode_audio(path, check=ctx.check)

        handle = self.ctx.run(Job(f"Load {path.name}", work))
        handle.finished.connect(lambda r, p=path: self._audio_loaded(p, r))

    def _audio_loaded(self, path: Path, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not load audio", result.error)
            return
        audio = result.value
        self.audio_path, self.audio48, self.decoded_audio = path, audio.mux, audio
        self.step_taken()
        if self.render_handle is None or not self.render_handle.running:
            self._reset_preview()
        self.audio.show_audio(path, audio.at_mux_rate())
        self._update_buttons()
        if self.session is None:
            self.stage.offer(f"{path.name} is ready",
                             "Now choose an avatar, or build one from a talking-face video.")

    def step_taken(self) -> None:
        """The user did something: the next-step hint has done its job."""
        self.stage.step_taken()

    def _reset_preview(self) -> None:
        """New audio or a new avatar: the previous render no longer belongs on the timeline."""
        s = self.session
        self.stage.clear_preview(s.lipsync.fps if s else 25, s.template.frame(0) if s else None)
        self.stats.set_output(None)

    def _update_buttons(self) -> None:
        busy = self.render_handle is not None and self.render_handle.running
        live = self.live is not None
        training = self._training()
        has = self.session is not None
        self.render_controls.set_enabled(has and self.audio_path is not None and not busy and not live)
        self.live_controls.set_state(live, has and self.live_controls.device() is not None and not busy)
        self.avatar.set_actions(optimise=has and not busy and not live and not training,
                                train=has and (training or (not busy and not live)),
                                training=training,
                                resume=not training and not busy and not live
                                and self._checkpoint() is not None)

    # -- render -------------------------------------------------------------------------------
    def render_dialog(self) -> None:
        if self.session is None or self.audio_path is None:
            return
        label, key, ext = self.render_controls.format()
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

        session = self.session
        decoded = self.decoded_audio
        audio = decoded if decoded is not None and decoded.path == self.audio_path else self.audio_path
        self.preview.clear()
        store = self.preview

        def work(ctx):
            return render_to_file(session.lipsync, session.template, audio, out, ctx, fmt=fmt,
                                  tap=lambda i, f: store.append(f))

        self.render_handle = self.ctx.run(Job(f"Render {out.name}", work))
        self.render_handle.finished.connect(self._rendered)
        self._render_t0 = time.perf_counter()
        self.stage.hold()
        self._live_timer.start()
        self._update_buttons()
        return self.render_handle

    def _show_newest(self) -> None:
        n = self.stage.show_newest()
        if n:
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
        self.stats.set_stats({"provider": self.session.lipsync.unet.provider.replace("ExecutionProvider", ""),
                              "frames": f"{stats.frames} at {stats.fps:.1f} fps", **per,
                              "saved": Path(stats.output).name})
        self.stage.show_preview(self.session.lipsync.fps)
        out = Path(stats.output)
        self.stats.set_output(out)
        # said after the job bar's own "done" message, so it is not overwritten at once
        QTimer.singleShot(50, self, lambda: self.ctx.feed.message.emit(
            f"Saved {out.name} in {out.parent} (Show in folder: the Pipeline card)", 15000))

    def _sync_audio(self, playing: bool, t_s: float) -> None:
        """Play the audio from the current frame while the preview plays (if a device exists)."""
        try:
            import sounddevice as sd
        except OSError:
            return
        try:
            sd.stop()
            if playing and self.audio48 is not None:
                sd.play(self.audio48[int(t_s * 48000):], 48000)
        except Exception:  # noqa: BLE001 - no output device: the preview plays silently
            pass

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
        self.live_controls.set_devices(devices, reason)
        self._update_buttons()

    def toggle_live(self) -> None:
        self.stop_live() if self.live is not None else self.start_live()

    def start_live(self) -> None:
        from studio.jobs import UserError
        from studio.talk.live import LiveSession

        device = self.live_controls.device()
        if self.session is None or self._busy() or device is None:
            return
        record_to = None
        if self.live_controls.record():
            record_to = studio_folder("recordings", time.strftime("live-%Y%m%d-%H%M%S.mp4"))
            record_to.parent.mkdir(parents=True, exist_ok=True)
        live = LiveSession(self.session.lipsync, self.session.template, self.live_controls.mode(),
                           device=device, record_to=record_to, monitor=self.live_controls.monitor())
        try:
            live.start()
        except UserError as exc:
            self.ctx.feed.error.emit("Cannot start live preview", str(exc))
            return
        self.live = live
        self.stage.pause()
        self._live_tick_timer.start()
        self.live_controls.set_status(f"Listening on {live.device_name}…")
        self.step_taken()
        self._update_buttons()

    def _live_tick(self) -> None:
        got = self.live.latest_frame()
        if got is not None:
            self.stage.show_frame(got[1])
        lvl = self.live.level()
        if lvl is not None:
            self.live_controls.set_level(lvl.dbfs)
        now = time.monotonic()
        if now - self._live_stats_t > 0.5:
            self._live_stats_t = now
            st = self.live.stats()
            if st.frames == 0:   # the sound server's first block is still on its way
                self.live_controls.set_status("waiting for the microphone…")
                return
            self.ctx.feed.rate.emit("Live", st.fps, st.delay_p50_s * 1000)
            self.live_controls.set_status(
                f"{st.fps:.1f} fps · mic-to-frame {st.delay_p50_s * 1000:.0f} ms (p95 "
                f"{st.delay_p95_s * 1000:.0f}) · skipped {st.skipped}"
                + (f"\n{st.error}" if st.error else ""))

    def stop_live(self) -> None:
        if self.live is None:
            return
        self._live_tick_timer.stop()
        live, self.live = self.live, None
        self.live_controls.set_level(None)
        self.live_controls.set_status("")                # no stale numbers after Stop
        try:
            res = live.stop()
        except Exception as exc:  # noqa: BLE001 - the recording failed; the rest has stopped
            self.ctx.feed.error.emit("Recording failed", str(exc))
        else:
            if res is not None:
                self.ctx.feed.message.emit(f"Live session saved to {live.recorder.path}", 10000)
                self.live_controls.set_status(f"Saved {live.recorder.path.name} ({res.frames} frames)")
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
        self.stage.pause()
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
        self.stage.timeline.set_frame(int(np.argmax(energy)) + 1 if n else 0)
