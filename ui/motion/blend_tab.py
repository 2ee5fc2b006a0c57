"""The Motion panel's Blend tool: the shown clip (A) into another (B), naive or phase-aligned."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QPushButton, QWidget

from studio.jobs import Job
from ui.motion.common import failed
from ui.widgets.panel_parts import muted
from ui.widgets.panel_parts import form, tool_column

FPS = 30.0  # blends are made at 30 fps


class BlendTab(QWidget):
    def __init__(self, panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel = panel  # a ui.motion.host.MotionHost: nothing else of the panel
        self.b_combo = QComboBox()
        self.b_combo.setToolTip("The clip A blends into")
        panel.register_clip_combo(self.b_combo, "run")
        self.mode = QComboBox()
        self.mode.addItem("Phase-aligned (DeepPhase)", "aligned")
        self.mode.addItem("Naive crossfade", "naive")
        self.start = QDoubleSpinBox()
        self.start.setRange(0, 60)
        self.start.setValue(2.0)
        self.start.setSuffix(" s")
        self.fade = QDoubleSpinBox()
        self.fade.setRange(0.1, 30)
        self.fade.setValue(2.0)
        self.fade.setSuffix(" s")
        self.total = QDoubleSpinBox()
        self.total.setRange(1, 120)
        self.total.setValue(8.0)
        self.total.setSuffix(" s")
        for w in (self.start, self.fade, self.total):
            w.valueChanged.connect(self.preview)
        self.blend_button = QPushButton("Blend A → B")
        self.blend_button.setObjectName("Primary")
        self.blend_button.setEnabled(False)
        self.blend_button.clicked.connect(self.blend)
        self.a_label = muted("select a clip in the library")
        rows = form(("A", self.a_label), ("B", self.b_combo), ("Mode", self.mode),
                    ("Start", self.start), ("Fade", self.fade), ("Length", self.total))
        tool_column(self, rows, self.blend_button)
        self.preview()

    def clip_changed(self, clip) -> None:
        self.blend_button.setEnabled(clip is not None)
        if clip is not None:
            self.a_label.setText(f"{clip.name} · {clip.n_frames} frames")

    def weights(self):
        """(T, 2) crossfade weights of the settings, at 30 fps."""
        from studio.motion.learned.blend import crossfade_weights

        n = int(round(self.total.value() * FPS))
        start = int(round(self.start.value() * FPS))
        stop = start + int(round(self.fade.value() * FPS))
        return crossfade_weights(n, 2, start, stop)

    def preview(self) -> None:
        self.panel.show_weights(self.weights(), FPS)

    def blend(self):
        """Blend on a worker; the result joins the library and is shown."""
        from studio.motion.io.files import load_source
        from studio.motion.learned.blend import blend_clips

        a = self.panel.current
        if a is None:
            return None
        b_name = self.b_combo.currentText()
        b_src = self.panel.source_of(b_name)
        mode = self.mode.currentData()
        weights = self.weights()
        self.panel.show_weights(weights, FPS, raise_tab=True)

        def work(ctx):
            b = load_source(b_src, b_name)
            out = blend_clips([a, b], weights, mode, FPS, ctx)
            out.name = f"{a.name} → {b.name} ({mode})"
            return out

        handle = self.panel.ctx.run(Job(f"Blend {a.name} → {b_name}", work))
        handle.finished.connect(self._blended)
        return handle

    def _blended(self, result) -> None:
        if failed(self.panel.ctx, "Blend failed", result):
            return
        self.panel.add_made(result.value)
