"""The Transition tool: clip A (selected) up to an out-point, a generated gap, clip B from an
in-point; TransitionNet or a baseline, and a side-by-side comparison with interpolation."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QPushButton, QSpinBox, QWidget

from studio.jobs import Job
from ui.motion.common import METHOD_LABELS, METHOD_SHORT, failed, licence_note
from ui.widgets.panel_parts import form, muted, tool_column

PLAYHEAD = -1  # the out-point spin box's special value: follow the timeline


class TransitionTab(QWidget):
    def __init__(self, panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.runtime import models

        self.panel = panel  # a ui.motion.host.MotionHost: nothing else of the panel
        self.model_ok = models.available(models.TRANSITION)
        self.a_label = muted("select a clip in the library")
        self.out_frame = QSpinBox()
        self.out_frame.setRange(PLAYHEAD, 0)
        self.out_frame.setValue(PLAYHEAD)
        self.out_frame.setSpecialValueText("playhead")
        self.out_frame.setToolTip("A's last frame before the gap. At its lowest value it follows "
                                  "the timeline's playhead.")
        self.b_combo = QComboBox()
        self.b_combo.setToolTip("Clip B: any clip in the library")
        panel.register_clip_combo(self.b_combo, "run")
        self.in_frame = QSpinBox()
        self.in_frame.setRange(0, 99999)
        self.in_frame.setToolTip("B's first frame after the gap (its own frame index)")
        self.gap = QSpinBox()
        self.gap.setRange(1, 240)
        self.gap.setValue(20)
        self.gap.setSuffix(" frames")
        self.gap.setToolTip("Frames generated between A's out-point and B's in-point (30 fps). "
                            "TransitionNet fills 5–60; linear and zero velocity any length.")
        self.method = QComboBox()
        for key in ("model", "linear", "zero_velocity"):
            self.method.addItem(METHOD_LABELS[key], key)
        if not self.model_ok:
            self.method.model().item(0).setEnabled(False)
            self.method.setCurrentIndex(1)
            self.method.setToolTip("TransitionNet is not installed (models/transition)")

        rows = form(("A", self.a_label), ("Out", self.out_frame), ("B", self.b_combo),
                    ("In", self.in_frame), ("Gap", self.gap), ("Method", self.method))

        self.generate_button = QPushButton("Generate transition")
        self.generate_button.setObjectName("Primary")
        self.generate_button.setEnabled(False)
        self.generate_button.clicked.connect(self.generate)
        self.compare_button = QPushButton("Compare: model | linear")
        self.compare_button.setEnabled(False)
        self.compare_button.setToolTip("Generate both the TransitionNet and the linear "
                                       "in-between and play them side by side")
        self.compare_button.clicked.connect(self.compare)
        self.result = muted("")
        self.result.hide()
        self.note = licence_note()

        tool_column(self, rows, self.generate_button, self.compare_button, self.result, self.note)
        panel.on_playhead(self._playhead)

    # -- state from the panel ---------------------------------------------------------------
    def clip_changed(self, clip) -> None:
        ok = clip is not None
        self.generate_button.setEnabled(ok)
        self.compare_button.setEnabled(ok and self.model_ok)
        if ok:
            self.a_label.setText(f"{clip.name} · {clip.n_frames} frames")
            self.out_frame.setRange(PLAYHEAD, max(0, clip.n_frames - 1))
        self._playhead(self.panel.playhead())

    def _playhead(self, i: int) -> None:
        self.out_frame.setSpecialValueText(f"playhead ({i})")

    def out_point(self) -> int:
        v = self.out_frame.value()
        return self.panel.playhead() if v == PLAYHEAD else v

    def _settings(self):
        a = self.panel.current
        b_name = self.b_combo.currentText()
        return (a, self.out_point(), b_name, self.panel.source_of(b_name),
                self.in_frame.value(), self.gap.value())

    # -- jobs -------------------------------------------------------------------------------
    def generate(self):
        """Run the chosen method on a worker; the result joins the library and plays."""
        from studio.motion.io.files import load_source
        from studio.motion.learned.transition import transition

        if self.panel.current is None:
            return None
        a, out, b_name, b_src, in_f, n = self._settings()
        method = self.method.currentData()

        def work(ctx):
            b = load_source(b_src, b_name)
            clip = transition(a, out, b, in_f, n, method, ctx=ctx)
            clip.name = f"{a.name} → {b_name} ({METHOD_SHORT[method]}, {n} f)"
            return clip

        handle = self.panel.ctx.run(Job(f"Transition {a.name} → {b_name}", work))
        handle.finished.connect(self._generated)
        return handle

    def _generated(self, result) -> None:
        if failed(self.panel.ctx, "Transition failed", result):
            return
        clip = result.value
        self._describe(clip)
        self.panel.add_made(clip, autoplay=True)

    def compare(self):
        """TransitionNet and linear in-betweens of the same A, B and gap, side by side."""
        from studio.motion.core.display import clip_display
        from studio.motion.io.files import load_source
        from studio.motion.learned.phase import phase_or_none
        from studio.motion.learned.transition import transition

        if self.panel.current is None:
            return None
        a, out, b_name, b_src, in_f, n = self._settings()

        def work(ctx):
            b = load_source(b_src, b_name)
            ctx.progress(0, 4, "TransitionNet")
            model = transition(a, out, b, in_f, n, "model")
            model.name = f"{a.name} → {b_name} (model, {n} f)"
            ctx.progress(1, 4, "linear")
            lin = transition(a, out, b, in_f, n, "linear")
            lin.name = f"{a.name} → {b_name} (linear, {n} f)"
            ctx.progress(2, 4, "forward kinematics")
            dm, dl = clip_display(model), clip_display(lin)
            ctx.progress(3, 4, "phase")
            return model, dm, phase_or_none(model), lin, dl

        handle = self.panel.ctx.run(Job(f"Compare transitions {a.name} → {b_name}", work))
        handle.finished.connect(self._compared)
        return handle

    def _compared(self, result) -> None:
        if failed(self.panel.ctx, "Transition failed", result):
            return
        model, dm, pm, lin, dl = result.value
        self._describe(model, compare=True)
        self.panel.show_comparison(model, dm, pm, lin, dl,
                                   (METHOD_LABELS["model"], METHOD_LABELS["linear"]))

    def _describe(self, clip, compare: bool = False) -> None:
        t = clip.meta.get("transition", {})
        if not t:
            return
        first, n = t["first"], t["n_frames"]
        gap = f"frames {first}–{first + n - 1} generated" if n else "no gap"
        self.result.setText(f"{clip.n_frames} frames: A 0–{t['out_frame']}, {gap}, "
                            f"B from {t['in_frame']}" + ("  (model left, linear right)"
                                                         if compare else ""))
        self.result.show()
