"""Motion workbench: view, blend and restyle character motion clips."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QPushButton, QStackedLayout,
                               QTabWidget, QVBoxLayout, QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.plots import make_plot, pen
from ui.widgets.timeline import Timeline


def phase_or_none(clip):
    """DeepPhase track of a clip, or None when the model is missing or the clip can't be
    mapped to the humanoid (the viewer still shows it)."""
    from studio.jobs import UserError
    from studio.motion.phase import compute_phase, model_available

    if not model_available():
        return None
    try:
        return compute_phase(clip)
    except UserError:
        return None


class MotionPanel(WorkbenchPanel):
    workbench = Workbench.MOTION
    title = "Motion"
    subtitle = "Character motion clips: view, phase-align, blend, transition and restyle."
    icon_text = "✦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.clips: dict[str, Path | None] = {}
        self.made: dict[str, object] = {}  # clips made here (blends), by name
        self.current = None  # the loaded Clip
        self.display = None  # its ClipDisplay
        self.library = QListWidget()
        self.library.setSpacing(2)
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
        self.phase = None  # PhaseTrack of the current clip

        # phase channels (DeepPhase): amp * sin(2 pi phase) per latent channel
        self.phase_plot = make_plot(x_label="seconds", y_label="amp · sin(2π phase)")
        self.phase_curves: list = []
        self.phase_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#f0f0f0", width=1))
        self.phase_plot.addItem(self.phase_cursor)
        self.phase_note = QLabel("")
        self.phase_note.setObjectName("PanelSubtitle")
        phase_w = QWidget()
        pl = QVBoxLayout(phase_w)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.phase_note)
        pl.addWidget(self.phase_plot, 1)
        # blend weights over time
        self.weights_plot = make_plot(x_label="seconds", y_label="weight")
        self.weights_plot.setYRange(0, 1)
        self.weight_curves = [self.weights_plot.plot([], [], pen=pen(k), name=n)
                              for k, n in enumerate(("A", "B"))]
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(phase_w, "Phase (DeepPhase)")
        self.bottom_tabs.addTab(self.weights_plot, "Blend weights")
        self.bottom_tabs.setFixedHeight(210)

        # blend controls
        self.blend_b = QComboBox()
        self.blend_mode = QComboBox()
        self.blend_mode.addItem("Phase-aligned (DeepPhase)", "aligned")
        self.blend_mode.addItem("Naive crossfade", "naive")
        self.blend_start = QDoubleSpinBox()
        self.blend_start.setRange(0, 60)
        self.blend_start.setValue(2.0)
        self.blend_start.setSuffix(" s")
        self.blend_len = QDoubleSpinBox()
        self.blend_len.setRange(0.1, 30)
        self.blend_len.setValue(2.0)
        self.blend_len.setSuffix(" s")
        self.blend_total = QDoubleSpinBox()
        self.blend_total.setRange(1, 120)
        self.blend_total.setValue(8.0)
        self.blend_total.setSuffix(" s")
        for w in (self.blend_start, self.blend_len, self.blend_total):
            w.valueChanged.connect(self._preview_weights)
        self.blend_button = QPushButton("Blend A → B")
        self.blend_button.setObjectName("Primary")
        self.blend_button.setEnabled(False)
        self.blend_button.clicked.connect(self.blend)
        blend_form = QFormLayout()
        blend_form.addRow("A", QLabel("the selected clip"))
        blend_form.addRow("B", self.blend_b)
        blend_form.addRow("Mode", self.blend_mode)
        blend_form.addRow("Start", self.blend_start)
        blend_form.addRow("Fade", self.blend_len)
        blend_form.addRow("Length", self.blend_total)
        blend_w = QWidget()
        blend_w.setLayout(blend_form)
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
        right.addWidget(section("Blend"))
        right.addWidget(card(blend_w, self.blend_button))
        right.addStretch(1)
        right_w = QWidget()
        right_w.setLayout(right)
        right_w.setFixedWidth(300)
        middle = QVBoxLayout()
        middle.addWidget(centre, 1)
        middle.addWidget(self.timeline)
        middle.addWidget(self.bottom_tabs)
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
        self._preview_weights()

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

    def _add_item(self, name: str, path: Path | None, builtin: bool = False) -> QListWidgetItem:
        self.clips[name] = path
        if self.blend_b.findText(name) < 0:
            self.blend_b.addItem(name)
            if name == "run":
                self.blend_b.setCurrentIndex(self.blend_b.count() - 1)
        item = QListWidgetItem(name)
        item.setData(Qt.UserRole, str(path) if path else "")
        item.setToolTip(("built-in DeepMimic clip: " if builtin else "") + (str(path) if path else "made in the studio"))
        self.library.addItem(item)
        return item

    def _selected(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is None:
            return
        if item.text() in self.made:
            self.show_clip(self.made[item.text()])
        else:
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
            return clip, clip_display(clip), phase_or_none(clip)

        handle = self.ctx.run(Job(f"Open {path.name}", work))
        handle.finished.connect(self._loaded)

    def show_clip(self, clip) -> None:
        """Show a clip made in the studio (FK and phase on a worker)."""
        from studio.motion.display import clip_display

        handle = self.ctx.run(Job(f"Show {clip.name}",
                                  lambda ctx: (clip, clip_display(clip), phase_or_none(clip))))
        handle.finished.connect(self._loaded)

    def _loaded(self, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not open clip", result.error)
            return
        self.current, self.display, self.phase = result.value
        facts = {"name": self.display.name, **self.display.facts}
        if self.phase is not None:
            from studio.motion.phase import regularity

            k = self.phase.dominant()
            facts["phase"] = (f"{float(np.median(self.phase.freq[:, k])):.2f} Hz, regularity "
                              f"cv {regularity(self.phase, k).cv:.3f}")
        self._set_facts(facts)
        self._plot_phase()
        self.blend_button.setEnabled(True)
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
        if self.display is not None:
            self.phase_cursor.setValue(i / self.display.fps)

    def _plot_phase(self) -> None:
        for c in self.phase_curves:
            self.phase_plot.removeItem(c)
        self.phase_curves = []
        tr = self.phase
        if tr is None:
            self.phase_note.setText("DeepPhase model not available (models/deepphase).")
            return
        k_dom = tr.dominant()
        self.phase_note.setText(f"{tr.n_channels} latent phase channels at {tr.fps:g} fps; "
                                f"thick: the dominant channel {k_dom}")
        t = tr.times
        for k in range(tr.n_channels):
            y = tr.amp[:, k] * np.sin(2 * np.pi * tr.phase[:, k])
            self.phase_curves.append(self.phase_plot.plot(t, y, pen=pen(k, 2.5 if k == k_dom else 1.0)))

    # -- blending -----------------------------------------------------------------------
    def _blend_weights(self, fps: float = 30.0):
        from studio.motion.blend import crossfade_weights

        n = int(round(self.blend_total.value() * fps))
        start = int(round(self.blend_start.value() * fps))
        stop = start + int(round(self.blend_len.value() * fps))
        return crossfade_weights(n, 2, start, stop)

    def _preview_weights(self) -> None:
        w = self._blend_weights()
        t = np.arange(len(w)) / 30.0
        for k in range(2):
            self.weight_curves[k].setData(t, w[:, k])

    def blend(self):
        from studio.motion.blend import blend_clips
        from studio.motion.files import load_clip

        if self.current is None:
            return None
        a = self.current
        b_name = self.blend_b.currentText()
        b_src = self.made.get(b_name) or self.clips.get(b_name)
        mode = self.blend_mode.currentData()
        weights = self._blend_weights()
        self._preview_weights()
        self.bottom_tabs.setCurrentIndex(1)

        def work(ctx):
            b = b_src if not isinstance(b_src, (str, Path)) else load_clip(b_src)
            b.name = b_name
            out = blend_clips([a, b], weights, mode, 30.0, ctx)
            out.name = f"{a.name} → {b.name} ({mode})"
            return out

        handle = self.ctx.run(Job(f"Blend {a.name} → {b_name}", work))
        handle.finished.connect(self._blended)
        return handle

    def _blended(self, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Blend failed", result.error)
            return
        clip = result.value
        self.made[clip.name] = clip
        item = self._add_item(clip.name, None)
        self.library.setCurrentItem(item)

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
