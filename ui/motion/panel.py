"""Motion workbench: view, blend and restyle character motion clips."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGridLayout,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QScrollArea, QStackedLayout, QStyle, QTabWidget, QVBoxLayout,
                               QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, form, header, section, tool_column
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
        self.made: dict[str, object] = {}  # clips made here (blends, transitions, styles), by name
        self._new_files: dict[str, QListWidgetItem] = {}  # dropped, not opened yet
        self.current = None  # the loaded Clip
        self.display = None  # its ClipDisplay
        self.compare_display = None  # the right-hand clip while comparing side by side
        self._clip_combos: list[tuple[QComboBox, str]] = []  # combos listing the library
        self._autoplay = ""  # play this made clip as soon as it is shown
        self.library = QListWidget()
        self.library.setSpacing(2)
        self.library.currentItemChanged.connect(self._selected)
        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignLeft)
        self.facts.setVerticalSpacing(3)
        self.facts.setContentsMargins(0, 0, 0, 0)
        facts_w = QWidget()
        facts_w.setLayout(self.facts)
        self.export_button = QPushButton("Export BVH…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_bvh)
        self.export_mp4_button = QPushButton("Export MP4…")
        self.export_mp4_button.setEnabled(False)
        self.export_mp4_button.setToolTip("Render the viewport's view of the clip to a video")
        self.export_mp4_button.clicked.connect(self.export_mp4)
        self.roles_button = QPushButton("Joint roles…")
        self.roles_button.setEnabled(False)
        self.roles_button.setToolTip("Which joint is the hips, each leg and arm: fix it for "
                                     "this rig (saved for every file of the same rig)")
        self.roles_button.clicked.connect(self.edit_roles)

        self.empty = EmptyState("Drop a BVH or DeepMimic clip",
                                "or pick one from the built-in library on the left.")
        try:
            from ui.widgets.skeleton_view import SkeletonView

            self.view = SkeletonView()
        except Exception as exc:  # noqa: BLE001 - no OpenGL: say so instead of crashing
            self.view = None
            self.empty.hint.setText(f"3-D view unavailable on this display ({exc}).")
        self.view2 = None  # the second viewport, made on the first side-by-side comparison
        self.view_label = self._view_chip()
        self.view2_label = self._view_chip()
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
        # the generated frames of a transition, shaded on the phase plot
        self.gap_region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(61, 139, 253, 45),
                                              pen=pg.mkPen(61, 139, 253, 110))
        self.gap_region.setZValue(-10)
        self.gap_region.setVisible(False)
        self.phase_plot.addItem(self.gap_region)
        from ui.motion.style_tab import StyleMap

        self.style_map = StyleMap()
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(phase_w, "Phase (DeepPhase)")
        self.bottom_tabs.addTab(self.weights_plot, "Blend weights")
        self.bottom_tabs.addTab(self.style_map, "Style map")
        self.bottom_tabs.setFixedHeight(220)

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
        self.blend_a = QLabel("select a clip in the library")
        self.blend_a.setObjectName("PanelSubtitle")
        blend_form = form(("A", self.blend_a), ("B", self.blend_b), ("Mode", self.blend_mode),
                          ("Start", self.blend_start), ("Fade", self.blend_len),
                          ("Length", self.blend_total))
        blend_w = QWidget()
        tool_column(blend_w, blend_form, self.blend_button)

        # the tools: blend, transition (TransitionNet), style (StyleVAE)
        from ui.motion.style_tab import StyleTab
        from ui.motion.transition_tab import TransitionTab

        self.transition_tab = TransitionTab(self)
        self.style_tab = StyleTab(self, self.style_map)
        self.tools = QTabWidget()
        self.tools.addTab(blend_w, "Blend")
        self.tools.addTab(self.transition_tab, "Transition")
        self.tools.addTab(self.style_tab, "Style")
        from ui.motion.physics_tab import PhysicsTab

        self.physics_tab = PhysicsTab(self)
        self.tools.addTab(self.physics_tab, "Physics")
        self.bottom_tabs.addTab(self.physics_tab.plots, "Physics")

        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        self.views = QWidget()  # one viewport, or two side by side when comparing
        self.views_row = QHBoxLayout(self.views)
        self.views_row.setContentsMargins(0, 0, 0, 0)
        self.views_row.setSpacing(6)
        if self.view is not None:
            self.views_row.addWidget(self._view_pane(self.view, self.view_label), 1)
            self.centre_stack.addWidget(self.views)

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addWidget(section("Clip library"))
        left.addWidget(self.library, 1)
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setFixedWidth(240)
        right = QVBoxLayout()
        top = left.contentsMargins().top() or self.style().pixelMetric(QStyle.PM_LayoutTopMargin)
        right.setContentsMargins(0, top, 0, 0)
        right.setSpacing(8)
        right.addWidget(section("Clip"))
        right.addWidget(card(facts_w))
        exports = QGridLayout()     # two rows: three buttons do not fit the column's width
        exports.setSpacing(6)
        exports.addWidget(self.export_button, 0, 0)
        exports.addWidget(self.export_mp4_button, 0, 1)
        exports.addWidget(self.roles_button, 1, 0, 1, 2)
        right.addLayout(exports)
        right.addSpacing(4)
        right.addWidget(self.tools)
        right.addStretch(1)
        right_inner = QWidget()
        right_inner.setLayout(right)
        right_w = QScrollArea()  # scrolls only when the window is short
        right_w.setWidget(right_inner)
        right_w.setWidgetResizable(True)
        right_w.setFrameShape(QFrame.NoFrame)
        right_w.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        right_w.setFixedWidth(330)
        # the tool tabs scroll their tab bar instead of widening the column past the window
        self.tools.setUsesScrollButtons(True)
        self.tools.tabBar().setExpanding(False)
        right_inner.setMaximumWidth(330 - right_w.verticalScrollBar().sizeHint().width())
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
        self._load_style_map()

    # -- viewports --------------------------------------------------------------------
    @staticmethod
    def _view_chip() -> QLabel:
        lab = QLabel("")
        lab.setStyleSheet("QLabel { color: #e6e6e6; background: #26282c; border: 1px solid "
                          "#30333a; border-radius: 9px; padding: 2px 10px; font-weight: 600; }")
        lab.setVisible(False)
        return lab

    @staticmethod
    def _view_pane(view: QWidget, label: QLabel) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(label, 0, Qt.AlignLeft)
        lay.addWidget(view, 1)
        return w

    def _set_compare(self, display=None, labels: tuple[str, str] = ("", "")) -> None:
        """Show ``display`` in a second viewport beside the first (None: one viewport)."""
        self.compare_display = display
        on = display is not None and self.view is not None
        if on and self.view2 is None:
            try:
                from ui.widgets.skeleton_view import SkeletonView

                self.view2 = SkeletonView()
                self.view2_pane = self._view_pane(self.view2, self.view2_label)
                self.views_row.addWidget(self.view2_pane, 1)
            except Exception as exc:  # noqa: BLE001 - the comparison is optional
                self.ctx.feed.message.emit(f"second 3-D view unavailable: {exc}", 10000)
                on = False
        if self.view2 is not None:
            self.view2_pane.setVisible(on)
        self.view_label.setVisible(on)
        self.view2_label.setVisible(on)
        if on:
            self.view_label.setText(labels[0])
            self.view2_label.setText(labels[1])
            self.view2.set_clip(display)
            self.view2.gl.setCameraPosition(distance=self.view.gl.opts["distance"],
                                            elevation=self.view.gl.opts["elevation"],
                                            azimuth=self.view.gl.opts["azimuth"])
            self.view2.show_frame(self.timeline.frame)

    @property
    def comparing(self) -> bool:
        return self.compare_display is not None

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
        for combo, default in [(self.blend_b, "run"), *self._clip_combos]:
            self._add_to_combo(combo, name, default)
        item = QListWidgetItem(name)
        item.setData(Qt.UserRole, str(path) if path else "")
        item.setToolTip(("built-in DeepMimic clip: " if builtin else "") + (str(path) if path else "made in the studio"))
        self.library.addItem(item)
        return item

    @staticmethod
    def _add_to_combo(combo: QComboBox, name: str, default: str) -> None:
        if combo.findText(name) < 0:
            combo.addItem(name)
            if name == default:
                combo.setCurrentIndex(combo.count() - 1)

    def register_clip_combo(self, combo: QComboBox, default: str = "") -> None:
        """Keep ``combo`` listing every library clip (selecting ``default`` when it comes)."""
        self._clip_combos.append((combo, default))
        for name in self.clips:
            self._add_to_combo(combo, name, default)

    def source_of(self, name: str):
        """A library entry: a Clip made here, or the path of a file / built-in clip (read it
        on a worker with ui.motion.common.load_source)."""
        return self.made.get(name) or self.clips.get(name)

    def unique_name(self, base: str) -> str:
        name, k = base, 2
        while name in self.clips:
            name, k = f"{base} #{k}", k + 1
        return name

    def _put_made(self, clip) -> QListWidgetItem:
        """A made clip into the library: made again with the same name (the same tool and
        settings), it replaces its entry instead of adding "name #2"."""
        clip.name = clip.name or "clip"
        if clip.name in self.made:
            self.made[clip.name] = clip
            found = self.library.findItems(clip.name, Qt.MatchExactly)
            if found:
                return found[0]
        elif clip.name in self.clips:               # a file or built-in of that name
            clip.name = self.unique_name(clip.name)
        self.made[clip.name] = clip
        return self._add_item(clip.name, None)

    def _remove_item(self, name: str) -> None:
        self.clips.pop(name, None)
        self.made.pop(name, None)
        for item in self.library.findItems(name, Qt.MatchExactly):
            self.library.takeItem(self.library.row(item))
        for combo in [self.blend_b, *(c for c, _ in self._clip_combos)]:
            i = combo.findText(name)
            if i >= 0:
                combo.removeItem(i)

    def add_made(self, clip, select: bool = True, autoplay: bool = False) -> str:
        """Put a clip made in the studio into the library (replacing one made the same way) and
        show it; ``autoplay`` starts the timeline once it is shown. Returns its name."""
        item = self._put_made(clip)
        if autoplay:
            self._autoplay = clip.name
        if select:
            self.library.setCurrentItem(item)
        return clip.name

    def show_comparison(self, clip, display, phase, other, other_display,
                        labels: tuple[str, str]) -> None:
        """Two made clips of the same length side by side on one timeline: ``clip`` (left,
        the current clip) and ``other`` (right); both join the library."""
        blocker = self.library.blockSignals(True)
        try:
            item = self._put_made(clip)
            display.name = clip.name
            self._put_made(other)
            other_display.name = other.name
            self.library.setCurrentItem(item)
        finally:
            self.library.blockSignals(blocker)
        self._show(clip, display, phase)
        self._set_compare(other_display, labels)
        self.timeline.play()

    def show_style_map(self) -> None:
        self.bottom_tabs.setCurrentWidget(self.style_map)

    def _load_style_map(self) -> None:
        from studio.motion.style import style_projection

        handle = self.ctx.run(Job("Load the style map", lambda ctx: style_projection()))
        handle.finished.connect(self._style_map_loaded)

    def _style_map_loaded(self, result) -> None:
        if result.ok:
            self.style_map.set_projection(result.value)
        else:  # not installed: say so on the map, no dialog
            self.style_map.set_unavailable((result.error or "not loaded").splitlines()[0])

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
        handle.finished.connect(lambda r, p=path: self._loaded(r, p))

    def show_clip(self, clip) -> None:
        """Show a clip made in the studio (FK and phase on a worker)."""
        from studio.motion.display import clip_display

        handle = self.ctx.run(Job(f"Show {clip.name}",
                                  lambda ctx: (clip, clip_display(clip), phase_or_none(clip))))
        handle.finished.connect(self._loaded)

    def _loaded(self, result, path: Path | None = None) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Could not open clip", result.error)
            item = self._new_files.pop(str(path), None) if path is not None else None
            if item is not None:      # a dropped file that does not open leaves no entry
                self._remove_item(item.text())
            return
        if path is not None:
            self._new_files.pop(str(path), None)
        self._show(*result.value)
        self._set_compare(None)
        if self._autoplay and self.current.name == self._autoplay:
            self._autoplay = ""
            self.timeline.play()

    def _show(self, clip, display, phase) -> None:
        self.current, self.display, self.phase = clip, display, phase
        if self.bottom_tabs.currentWidget() is self.weights_plot and "blend" not in clip.meta:
            self.bottom_tabs.setCurrentIndex(0)   # weights belong to a blend: not this clip
        facts = {"name": self.display.name, **self.display.facts}
        if self.phase is not None:
            from studio.motion.phase import regularity

            k = self.phase.dominant()
            facts["phase"] = (f"{float(np.median(self.phase.freq[:, k])):.2f} Hz, regularity "
                              f"cv {regularity(self.phase, k).cv:.3f}")
        t = clip.meta.get("transition")
        if t:
            from ui.motion.common import METHOD_LABELS

            first, n = t["first"], t["n_frames"]
            how = METHOD_LABELS.get(t["method"], t["method"]).split(" (")[0]
            facts["made"] = f"{how}, frames {first}–{first + n - 1}" if n else f"{how}, no gap"
        st = clip.meta.get("style_transfer")
        if st:
            facts["made"] = f"StyleVAE, {st.get('style_clip') or '?'} {100 * st['strength']:.0f}%"
        if "license" in clip.meta:
            facts["licence"] = "non-commercial only"
        self._set_facts(facts)
        self._plot_phase()
        self._mark_gap(t)
        self.blend_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self.export_mp4_button.setEnabled(True)
        self.roles_button.setEnabled(True)
        self.timeline.set_range(self.display.n_frames, self.display.fps)
        self.blend_a.setText(f"{clip.name} · {clip.n_frames} frames")
        self.transition_tab.clip_changed(clip)
        self.style_tab.clip_changed(clip)
        if self.view is not None:
            try:
                self.view.set_clip(self.display)
                self.centre_stack.setCurrentWidget(self.views)
            except Exception as exc:  # noqa: BLE001 - a GL problem must not lose the clip
                self.ctx.feed.message.emit(f"3-D view unavailable: {exc}", 10000)

    def edit_roles(self) -> None:
        """Fix the current rig's joint roles; the clip is shown again with them."""
        from ui.motion.roles_dialog import RolesDialog

        if self.current is None:
            return
        if RolesDialog(self.current.skeleton, self).exec():
            self.show_clip(self.current)

    def _mark_gap(self, t: dict | None) -> None:
        """Shade a transition's generated frames on the phase plot."""
        if not t or not t.get("n_frames") or self.display is None:
            self.gap_region.setVisible(False)
            return
        fps = self.display.fps
        self.gap_region.setRegion(((t["first"] - 0.5) / fps,
                                   (t["first"] + t["n_frames"] - 0.5) / fps))
        self.gap_region.setVisible(True)

    def _set_facts(self, facts: dict[str, str]) -> None:
        while self.facts.rowCount():
            self.facts.removeRow(0)
        for k, v in facts.items():
            val = QLabel(v)
            val.setWordWrap(True)
            if k == "licence":  # made by the Bandai-trained models
                from ui.motion.common import LICENCE_TIP

                val.setToolTip(LICENCE_TIP)
                val.setStyleSheet("color: #d9a441;")
            self.facts.addRow(QLabel(k), val)

    def _show_frame(self, i: int) -> None:
        if self.view is not None:
            self.view.show_frame(i)
        if self.view2 is not None and self.comparing:
            self.view2.show_frame(i)
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
        gap = " · shaded: generated frames" if self.current.meta.get("transition") else ""
        self.phase_note.setText(f"{tr.n_channels} latent phase channels at {tr.fps:g} fps; "
                                f"thick: the dominant channel {k_dom}{gap}")
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
        self.add_made(result.value)

    # -- files ------------------------------------------------------------------------
    def file_filter(self) -> str:
        return "Motion clips (*.bvh *.txt *.json);;All files (*)"

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind in (FileKind.BVH, FileKind.DEEPMIMIC):
            name = path.stem if self.clips.get(path.stem) in (None, path) else \
                self.unique_name(path.stem)
            found = self.library.findItems(name, Qt.MatchExactly)
            if found and self.clips.get(name) == path:
                item = found[0]                        # the same file again: reopen it
            else:
                item = self._add_item(name, path)
                self._new_files[str(path)] = item
            self.library.setCurrentItem(item)
        else:
            super().open_file(path, kind)

    def export_bvh(self) -> None:
        if self.current is None:
            return
        from ui.dialogs import suggested_path
        name, _ = QFileDialog.getSaveFileName(self, "Export BVH",
                                              suggested_path(self.current.name, ".bvh", "motion"),
                                              "BVH (*.bvh)")
        if name:
            from studio.motion.files import save_clip

            clip = self.current
            self.ctx.run(Job(f"Export {Path(name).name}", lambda ctx: save_clip(clip, name)))

    def export_mp4(self) -> None:
        if self.display is None:
            return
        from ui.dialogs import suggested_path
        name, _ = QFileDialog.getSaveFileName(self, "Export MP4",
                                              suggested_path(self.display.name, ".mp4", "motion"),
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
        """For `studio screenshot`: a walk → run transition, TransitionNet beside linear
        interpolation, paused inside the generated frames."""
        items = self.library.findItems("walk", Qt.MatchExactly)
        if not items:
            return
        self.library.setCurrentItem(items[0])
        for _ in range(20):
            settle(150)
            if self.display is not None:
                break
        self.tools.setCurrentWidget(self.transition_tab)
        if not self.transition_tab.compare_button.isEnabled():
            self.timeline.set_frame(12)
            return
        self.timeline.set_frame(20)
        self.transition_tab.gap.setValue(30)
        handle = self.transition_tab.compare()
        for _ in range(40):
            settle(150)
            if handle is None or not handle.running:
                break
        settle(150)
        self.timeline.pause()
        self.timeline.set_frame(33)

    def shutdown(self) -> None:
        self.timeline.pause()
        self.physics_tab.shutdown()
