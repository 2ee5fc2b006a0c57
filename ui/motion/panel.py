"""Motion workbench: view, blend and restyle character motion clips.

The panel wires four sections together (``library_section.ClipLibrary``,
``viewer_section.ClipViewer``, ``plots_section.MotionPlots``, ``clip_section.ClipCard``) and
the tool tabs (blend, transition, style, physics). The tools see the panel only as a
:class:`ui.motion.host.MotionHost`; the sections know nothing of each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QScrollArea, QStyle, QTabWidget,
                               QVBoxLayout, QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from studio.motion.core.fk import LONG_CLIP_FRAMES  # longer clips: shown first, phase follows
from ui.motion.clip_section import ClipCard
from ui.motion.library_section import ClipLibrary
from ui.motion.plots_section import MotionPlots
from ui.motion.viewer_section import ClipViewer
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import header


def _phase_now(clip, phase_or_none):
    """The phase track while opening a clip; None for a long clip (it follows later)."""
    return None if clip.n_frames > LONG_CLIP_FRAMES else phase_or_none(clip)


class MotionPanel(WorkbenchPanel):
    workbench = Workbench.MOTION
    title = "Motion"
    subtitle = "Character motion clips: view, phase-align, blend, transition and restyle."
    icon_text = "✦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        self.current = None  # the loaded Clip
        self.display = None  # its ClipDisplay
        self.phase = None  # its PhaseTrack (None: no DeepPhase model, or not a humanoid)
        self._autoplay = ""  # play this made clip as soon as it is shown
        self._phase_job = None  # a long clip's phase, computed after it is shown

        self.source = ClipLibrary()
        self.source.chosen.connect(self._chosen)
        self.viewer = ClipViewer()
        self.viewer.problem.connect(lambda m: self.ctx.feed.message.emit(m, 10000))
        self.viewer.timeline.frameChanged.connect(self._frame_changed)
        self.plots = MotionPlots()
        self.clip_card = ClipCard()
        self.clip_card.export_button.clicked.connect(self.export_bvh)
        self.clip_card.export_mp4_button.clicked.connect(self.export_mp4)
        self.clip_card.roles_button.clicked.connect(self.edit_roles)

        # the widgets tests and screenshots look at, by their old names
        self.library = self.source.list
        self.clips, self.made = self.source.clips, self.source.made
        self.timeline = self.viewer.timeline
        self.bottom_tabs = self.plots
        self.style_map = self.plots.style_map
        self.weights_plot, self.weight_curves = self.plots.weights_plot, self.plots.weight_curves
        self.gap_region = self.plots.gap_region
        self.facts = self.clip_card.facts
        self.export_button = self.clip_card.export_button
        self.export_mp4_button = self.clip_card.export_mp4_button

        # the tools: blend, transition (TransitionNet), style (StyleVAE), physics
        from ui.motion.blend_tab import BlendTab
        from ui.motion.physics_tab import PhysicsTab
        from ui.motion.style_tab import StyleTab
        from ui.motion.transition_tab import TransitionTab

        self.blend_tab = BlendTab(self)
        self.transition_tab = TransitionTab(self)
        self.style_tab = StyleTab(self, self.plots.style_map)
        self.physics_tab = PhysicsTab(self)
        self._tool_tabs = (self.blend_tab, self.transition_tab, self.style_tab)
        self.tools = QTabWidget()
        self.tools.addTab(self.blend_tab, "Blend")
        self.tools.addTab(self.transition_tab, "Transition")
        self.tools.addTab(self.style_tab, "Style")
        self.tools.addTab(self.physics_tab, "Physics")
        self.plots.addTab(self.physics_tab.plots, "Physics")

        self._layout()
        problem = self.source.fill_builtin()
        if problem:
            self.clip_card.set_facts({"library": problem})
        self._load_style_map()

    def _layout(self) -> None:
        self.source.setFixedWidth(240)
        right = QVBoxLayout()
        top = (self.source.layout().contentsMargins().top()
               or self.style().pixelMetric(QStyle.PM_LayoutTopMargin))
        right.setContentsMargins(0, top, 0, 0)
        right.setSpacing(8)
        right.addWidget(self.clip_card)
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
        middle.addWidget(self.viewer, 1)
        middle.addWidget(self.plots)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(self.source)
        body.addLayout(middle, 1)
        body.addWidget(right_w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

    # -- the viewports, by their old names (tests) ----------------------------------------
    @property
    def view(self):
        return self.viewer.view

    @property
    def view2(self):
        return self.viewer.view2

    @property
    def view_label(self):
        return self.viewer.view_label

    @property
    def view2_label(self):
        return self.viewer.view2_label

    @property
    def compare_display(self):
        return self.viewer.compare_display

    @property
    def comparing(self) -> bool:
        return self.viewer.comparing

    @property
    def phase_curves(self) -> list:
        return self.plots.phase_curves

    # -- MotionHost: what the tool tabs may use ----------------------------------------------
    def register_clip_combo(self, combo, default: str = "") -> None:
        self.source.register_combo(combo, default)

    def source_of(self, name: str):
        return self.source.source_of(name)

    def add_made(self, clip, select: bool = True, autoplay: bool = False) -> str:
        """Put a clip made in the studio into the library (replacing one made the same way) and
        show it; ``autoplay`` starts the timeline once it is shown. Returns its name."""
        name = self.source.put_made(clip, select=select)  # shown by a job: after this
        if autoplay:
            self._autoplay = name
        return name

    def show_comparison(self, clip, display, phase, other, other_display,
                        labels: tuple[str, str]) -> None:
        """Two made clips of the same length side by side on one timeline: ``clip`` (left,
        the current clip) and ``other`` (right); both join the library."""
        display.name = self.source.put_made(clip, quiet=True)
        other_display.name = self.source.put_made(other, select=False)
        self._show(clip, display, phase)
        self.viewer.set_compare(other_display, labels)
        self.timeline.play()

    def playhead(self) -> int:
        return self.viewer.timeline.frame

    def on_playhead(self, fn) -> None:
        self.viewer.timeline.frameChanged.connect(fn)

    def show_weights(self, weights, fps: float, raise_tab: bool = False) -> None:
        self.plots.show_weights(weights, fps, raise_tab)

    def show_style_map(self) -> None:
        self.plots.setCurrentWidget(self.plots.style_map)

    def begin_live(self, plots) -> None:
        self.viewer.show_live()
        self.plots.setCurrentWidget(plots)

    def show_pose(self, positions, bones, ghost=None) -> None:
        self.viewer.show_pose(positions, bones, ghost)

    # -- library ----------------------------------------------------------------------
    def _load_style_map(self) -> None:
        def work(ctx):
            from studio.motion.learned.style import style_projection

            return style_projection()

        handle = self.ctx.run(Job("Load the style map", work))
        handle.finished.connect(self._style_map_loaded)

    def _style_map_loaded(self, result) -> None:
        if result.ok:
            self.plots.style_map.set_projection(result.value)
        else:  # not installed: say so on the map, no dialog
            self.plots.style_map.set_unavailable((result.error or "not loaded").splitlines()[0])

    def _chosen(self, name: str) -> None:
        src = self.source.source_of(name)
        if isinstance(src, (str, Path)):
            self.load(Path(src), name)
        elif src is not None:
            self.show_clip(src)

    # -- loading ----------------------------------------------------------------------
    def load(self, path: Path, name: str | None = None) -> None:
        def work(ctx):
            from studio.motion.core.display import clip_display
            from studio.motion.io.files import load_clip
            from studio.motion.learned.phase import phase_or_none

            ctx.progress(0, 2, "reading")
            clip = load_clip(path)
            if name:
                clip.name = name
            ctx.progress(1, 2, "forward kinematics")
            return clip, clip_display(clip), _phase_now(clip, phase_or_none)

        handle = self.ctx.run(Job(f"Open {path.name}", work))
        handle.finished.connect(lambda r, p=path: self._loaded(r, p))

    def show_clip(self, clip) -> None:
        """Show a clip made in the studio (FK and phase on a worker)."""
        def work(ctx):
            from studio.motion.core.display import clip_display
            from studio.motion.learned.phase import phase_or_none

            return clip, clip_display(clip), _phase_now(clip, phase_or_none)

        handle = self.ctx.run(Job(f"Show {clip.name}", work))
        handle.finished.connect(self._loaded)

    def _loaded(self, result, path: Path | None = None) -> None:
        if path is not None:
            self.source.file_done(path, result.ok)
        if not result.ok:
            self.ctx.feed.error.emit("Could not open clip", result.error)
            return
        self._show(*result.value)
        self.viewer.set_compare(None)
        clip, _, phase = result.value
        if phase is None and clip.n_frames > LONG_CLIP_FRAMES:
            self._phase_later(clip)
        if self._autoplay and self.current.name == self._autoplay:
            self._autoplay = ""
            self.timeline.play()

    def _phase_later(self, clip) -> None:
        """A long clip is shown first; its DeepPhase track follows from a second job."""
        def work(ctx):
            from studio.motion.learned.phase import phase_or_none

            return phase_or_none(clip, ctx=ctx)

        self.plots.phase_note.setText(f"DeepPhase: computing the phase of {clip.n_frames} "
                                      "frames…")
        self._phase_job = self.ctx.run(Job(f"DeepPhase {clip.name}", work))
        self._phase_job.finished.connect(lambda r, c=clip: self._phase_done(r, c))

    def _phase_done(self, result, clip) -> None:
        if self.current is not clip:
            return  # another clip is shown by now
        if not result.ok or result.value is None:
            self.plots.show_phase(None)  # no model, or not a humanoid
            return
        self.phase = result.value
        self.plots.show_phase(self.phase, generated=bool(clip.meta.get("transition")))
        self.clip_card.set_facts(self._facts(clip, self.display, self.phase))

    def _show(self, clip, display, phase) -> None:
        if self._phase_job is not None and clip is not self.current:
            self._phase_job.cancel()  # the phase of a long clip no longer shown
            self._phase_job = None
        self.current, self.display, self.phase = clip, display, phase
        self.plots.clip_changed(clip)
        self.clip_card.set_facts(self._facts(clip, display, phase))
        t = clip.meta.get("transition")
        self.plots.show_phase(phase, generated=bool(t))
        self.plots.mark_gap(t, display.fps)
        self.clip_card.set_enabled(True)
        self.viewer.show_display(display)
        for tab in self._tool_tabs:
            tab.clip_changed(clip)

    @staticmethod
    def _facts(clip, display, phase) -> dict[str, str]:
        facts = {"name": display.name, **display.facts}
        if phase is not None:
            from studio.motion.learned.phase import regularity

            k = phase.dominant()
            facts["phase"] = (f"{float(np.median(phase.freq[:, k])):.2f} Hz, regularity "
                              f"cv {regularity(phase, k).cv:.3f}")
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
        return facts

    def _frame_changed(self, i: int) -> None:
        if self.display is not None:
            self.plots.set_cursor(i / self.display.fps)

    def edit_roles(self) -> None:
        """Fix the current rig's joint roles; the clip is shown again with them."""
        from ui.motion.roles_dialog import RolesDialog

        if self.current is None:
            return
        if RolesDialog(self.current.skeleton, self).exec():
            self.show_clip(self.current)

    def blend(self):
        """The Blend tool's blend (A: the current clip)."""
        return self.blend_tab.blend()

    # -- files ------------------------------------------------------------------------
    def file_filter(self) -> str:
        return "Motion clips (*.bvh *.txt *.json);;All files (*)"

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind in (FileKind.BVH, FileKind.DEEPMIMIC):
            self.source.open_path(path)
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
            from studio.motion.io.files import save_clip

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
        d = self.display
        cam = self.viewer.camera()

        def work(ctx):
            from studio.motion.io.render import render_mp4

            return render_mp4(d, out, ctx, cam)

        return self.ctx.run(Job(f"Render {out.name}", work))

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
