"""Motion workbench: view, blend and restyle character motion clips."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QStackedLayout, QVBoxLayout, QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.timeline import Timeline


class MotionPanel(WorkbenchPanel):
    workbench = Workbench.MOTION
    title = "Motion"
    subtitle = "Character motion clips: view, phase-align, blend, transition and restyle."
    icon_text = "✦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.clips: dict[str, Path] = {}
        self.current = None  # the loaded Clip
        self.display = None  # its ClipDisplay
        self.library = QListWidget()
        self.library.currentItemChanged.connect(self._selected)
        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignLeft)
        facts_w = QWidget()
        facts_w.setLayout(self.facts)
        self.export_button = QPushButton("Export BVH…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_bvh)
        self.export_mp4_button = QPushButton("Export MP4…")
        self.export_mp4_button.setEnabled(False)
        self.export_mp4_button.setToolTip("Render the viewport's view of the clip to a video")
        self.export_mp4_button.clicked.connect(self.export_mp4)

        self.empty = EmptyState("Drop a BVH or DeepMimic clip",
                                "or pick one from the built-in library on the left.")
        try:
            from ui.widgets.skeleton_view import SkeletonView

            self.view = SkeletonView()
        except Exception as exc:  # noqa: BLE001 - no OpenGL: say so instead of crashing
            self.view = None
            self.empty.hint.setText(f"3-D view unavailable on this display ({exc}).")
        self.timeline = Timeline()
        self.timeline.frameChanged.connect(self._show_frame)
        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        if self.view is not None:
            self.centre_stack.addWidget(self.view)

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addWidget(section("Clip library"))
        left.addWidget(self.library, 1)
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setFixedWidth(240)
        right = QVBoxLayout()
        right.setSpacing(8)
        right.addWidget(section("Clip"))
        right.addWidget(card(facts_w))
        right.addWidget(self.export_button)
        right.addWidget(self.export_mp4_button)
        right.addStretch(1)
        right_w = QWidget()
        right_w.setLayout(right)
        right_w.setFixedWidth(280)
        middle = QVBoxLayout()
        middle.addWidget(centre, 1)
        middle.addWidget(self.timeline)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(left_w)
        body.addLayout(middle, 1)
        body.addWidget(right_w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)
        self._fill_library()

    # -- library --------------------------------------------------------------------
    def _fill_library(self) -> None:
        try:
            from studio.motion.library import builtin_clips

            clips = builtin_clips()
        except Exception as exc:  # noqa: BLE001 - a missing package must not stop the app
            self._set_facts({"library": f"built-in clips unavailable: {exc}"})
            return
        for name, path in clips.items():
            self._add_item(name, path, builtin=True)

    def _add_item(self, name: str, path: Path, builtin: bool = False) -> QListWidgetItem:
        self.clips[name] = path
        item = QListWidgetItem(name)
        item.setData(Qt.UserRole, str(path))
        item.setToolTip(("built-in DeepMimic clip: " if builtin else "") + str(path))
        self.library.addItem(item)
        return item

    def _selected(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is not None:
            self.load(Path(item.data(Qt.UserRole)), item.text())

    # -- loading ----------------------------------------------------------------------
    def load(self, path: Path, name: str | None = None) -> None:
        from studio.motion.display import clip_display
        from studio.motion.files import load_clip

        def work(ctx):
            ctx.progress(0, 2, "reading")
            clip = load_clip(path)
            if name:
                clip.name = name
            ctx.progress(1, 2, "forward kinematics")
            return clip, clip_display(clip)

        handle = self.ctx.run(Job(f"Open {path.name}", work))
        handle.finished.connect(self._loaded)

    def _loaded(self, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not open clip", result.error)
            return
        self.current, self.display = result.value
        self._set_facts({"name": self.display.name, **self.display.facts})
        self.export_button.setEnabled(True)
        self.export_mp4_button.setEnabled(True)
        self.timeline.set_range(self.display.n_frames, self.display.fps)
        if self.view is not None:
            try:
                self.view.set_clip(self.display)
                self.centre_stack.setCurrentWidget(self.view)
            except Exception as exc:  # noqa: BLE001 - a GL problem must not lose the clip
                self.ctx.feed.message.emit(f"3-D view unavailable: {exc}", 10000)

    def _set_facts(self, facts: dict[str, str]) -> None:
        while self.facts.rowCount():
            self.facts.removeRow(0)
        for k, v in facts.items():
            val = QLabel(v)
            val.setWordWrap(True)
            self.facts.addRow(QLabel(k), val)

    def _show_frame(self, i: int) -> None:
        if self.view is not None:
            self.view.show_frame(i)

    # -- files ------------------------------------------------------------------------
    def file_filter(self) -> str:
        return "Motion clips (*.bvh *.txt *.json);;All files (*)"

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind in (FileKind.BVH, FileKind.DEEPMIMIC):
            item = self._add_item(path.stem, path)
            self.library.setCurrentItem(item)
        else:
            super().open_file(path, kind)

    def export_bvh(self) -> None:
        if self.current is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Export BVH", f"{self.current.name}.bvh",
                                              "BVH (*.bvh)")
        if name:
            from studio.motion.files import save_clip

            clip = self.current
            self.ctx.run(Job(f"Export {Path(name).name}", lambda ctx: save_clip(clip, name)))

    def export_mp4(self) -> None:
        if self.display is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Export MP4", f"{self.display.name}.mp4",
                                              "MP4 video (*.mp4)")
        if name:
            self.render_mp4(Path(name))

    def render_mp4(self, out: Path):
        from studio.motion.render import Camera, render_mp4

        d = self.display
        cam = Camera()
        if self.view is not None:  # match the viewport's current angle
            cam.azimuth_deg = float(self.view.gl.opts["azimuth"])
            cam.elevation_deg = float(self.view.gl.opts["elevation"])
            cam.distance = float(self.view.gl.opts["distance"])
        return self.ctx.run(Job(f"Render {out.name}", lambda ctx: render_mp4(d, out, ctx, cam)))

    def screenshot_stage(self, settle) -> None:
        """Show a built-in walk mid-stride for `studio screenshot`."""
        items = self.library.findItems("walk", Qt.MatchExactly)
        if items:
            self.library.setCurrentItem(items[0])
            for _ in range(20):
                settle(150)
                if self.display is not None:
                    break
            self.timeline.set_frame(12)

    def shutdown(self) -> None:
        self.timeline.pause()
