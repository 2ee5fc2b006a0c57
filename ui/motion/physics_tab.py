"""The Physics tool: the DeepMimic humanoid simulated in pybullet, driven by a pretrained policy.

The simulation runs on a worker (:class:`studio.motion.physics.live.LiveRun`: a job that
steps at real time until stopped); the GUI only draws. The worker leaves its latest pose and
the critic/tracking traces in a locked slot that a 30 Hz timer reads, so a slow paint never
slows the physics and the physics never floods the event loop. Push, reset and stop are
requests the worker picks up between policy steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QSpinBox, QWidget

from studio.jobs import Job
from ui.motion.common import failed
from ui.widgets.panel_parts import muted
from ui.widgets.panel_parts import form, tool_column
from ui.widgets.plots import make_plot, pen

REDRAW_MS = 33


class PhysicsTab(QWidget):
    def __init__(self, panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.motion.io.deepmimic import HUMANOID
        from studio.motion.physics.simulation import policy_names

        from studio.motion.physics.live import LiveRun

        self.panel = panel  # a ui.motion.host.MotionHost: nothing else of the panel
        self.live = LiveRun()  # the simulation, stepped in real time on a worker
        self.handle = None  # the running job
        self._drawn = -1
        self.bones = np.array([(p, j) for j, p in enumerate(HUMANOID.parents) if p >= 0])

        self.policy = QComboBox()
        names = policy_names()
        self.policy.addItems(names)
        if "walk" in names:
            self.policy.setCurrentText("walk")
        self.policy.setToolTip("A pretrained DeepMimic policy from pybullet (models/deepmimic); "
                               "it imitates the clip of the same name")
        self.policy.currentTextChanged.connect(self._policy_changed)
        self.force = QSpinBox()
        self.force.setRange(50, 5000)
        self.force.setSingleStep(50)
        self.force.setValue(400)
        self.force.setSuffix(" N")
        self.force.setToolTip("Sideways push on the pelvis for 0.1 s")
        rows = form(("Policy", self.policy), ("Push", self.force))

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("Primary")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.reset_button = QPushButton("Reset")
        self.reset_button.clicked.connect(self.reset)
        self.push_button = QPushButton("Push")
        self.push_button.setToolTip("Push the character sideways with the force above")
        self.push_button.clicked.connect(self.push)
        run_row = QWidget()
        rl = QHBoxLayout(run_row)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(6)
        for b in (self.start_button, self.stop_button, self.reset_button, self.push_button):
            rl.addWidget(b)
        self.export_bvh_button = QPushButton("Export BVH…")
        self.export_bvh_button.clicked.connect(self._ask_bvh)
        self.export_mp4_button = QPushButton("Export MP4…")
        self.export_mp4_button.clicked.connect(self._ask_mp4)
        ex_row = QWidget()
        el = QHBoxLayout(ex_row)
        el.setContentsMargins(0, 0, 0, 0)
        el.setSpacing(6)
        el.addWidget(self.export_bvh_button)
        el.addWidget(self.export_mp4_button)
        self.status = muted("")
        note = muted("pybullet at 240 Hz with stable PD; the policy picks new targets about 30 "
                     "times a second, as in its training environment. Green ghost: the "
                     "reference clip, drawn on the simulated root. zlib licence (pybullet).")
        tool_column(self, rows, run_row, ex_row, self.status, note)

        # live plots, shown in the panel's bottom tabs
        self.plots = QWidget()
        pl = QHBoxLayout(self.plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.value_plot = make_plot(x_label="seconds", y_label="critic value")
        self.error_plot = make_plot(x_label="seconds", y_label="tracking error (cm)")
        self.value_curve = self.value_plot.plot([], [], pen=pen(0))
        self.error_curve = self.error_plot.plot([], [], pen=pen(1))
        self.fall_lines: list = []
        pl.addWidget(self.value_plot, 1)
        pl.addWidget(self.error_plot, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        if not names:
            self.status.setText("No policies installed: run models/recipes/deepmimic_policies.")
        self._update_buttons()

    # -- state ------------------------------------------------------------------------------
    @property
    def sim(self):
        """The Simulation (None before the first start)."""
        return self.live.sim

    @property
    def steps(self) -> int:
        """Policy steps taken since the last reset."""
        return self.live.steps

    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.running

    def _update_buttons(self) -> None:
        have = self.policy.count() > 0
        self.start_button.setEnabled(have and not self.running)
        self.stop_button.setEnabled(self.running)
        self.push_button.setEnabled(self.running)
        self.reset_button.setEnabled(self.sim is not None or self.running)
        done = self.sim is not None and not self.running and bool(self.sim.history.frames)
        self.export_bvh_button.setEnabled(done)
        self.export_mp4_button.setEnabled(done)
        self.policy.setEnabled(not self.running)

    def _policy_changed(self, _name: str) -> None:
        if not self.running:
            self.live.close()
        self._clear_trace()
        self._update_buttons()

    def _clear_trace(self) -> None:
        self.live.clear()
        self._drawn = -1
        self.value_curve.setData([], [])
        self.error_curve.setData([], [])
        for p, line in self.fall_lines:
            p.removeItem(line)
        self.fall_lines = []
        self.status.setText("")

    # -- actions ----------------------------------------------------------------------------
    def start(self):
        """Simulate on a worker at real time until Stop."""
        if self.running or self.policy.count() == 0:
            return None
        name = self.policy.currentText()
        self.panel.begin_live(self.plots)
        self.handle = self.panel.ctx.runner.start(Job(f"Simulate {name}", lambda ctx:
                                                      self.live.run(ctx, name)), track=False)
        self.handle.finished.connect(self._finished)
        self.timer.start()
        self._update_buttons()
        return self.handle

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def push(self) -> None:
        self.live.push(float(self.force.value()))

    def reset(self) -> None:
        if self.running:
            self.live.request_reset()
            return
        self.live.reset()
        self._clear_trace()
        self._update_buttons()

    def _finished(self, result) -> None:
        self.timer.stop()
        self._redraw()
        self.handle = None
        failed(self.panel.ctx, "Simulation failed", result)
        self._update_buttons()

    # -- drawing ----------------------------------------------------------------------------
    def _redraw(self) -> None:
        snap = self.live.snapshot()
        trace, info, pos = snap.trace, snap.info, snap.positions
        if info is None or len(trace) == self._drawn:
            return
        self._drawn = len(trace)
        self.panel.show_pose(pos[0], self.bones, ghost=pos[1])
        self.value_curve.setData(trace[:, 0], trace[:, 1])
        self.error_curve.setData(trace[:, 0], 100 * trace[:, 2])
        sim = self.sim
        fall = sim.fall_time if sim is not None else None
        if fall is not None and not self.fall_lines:
            for p in (self.value_plot, self.error_plot):
                line = pg.InfiniteLine(fall, angle=90, pen=pg.mkPen("#e64980", width=1.5))
                p.addItem(line)
                self.fall_lines.append((p, line))
        state = f"fell at {fall:.2f} s" if fall is not None else "balanced"
        self.status.setText(f"{info.time:6.2f} s · {state} · value {info.value:5.2f} · "
                            f"tracking error {100 * info.tracking_error:4.1f} cm")

    # -- export -----------------------------------------------------------------------------
    def _clip(self):
        return self.live.to_clip()

    def _ask_bvh(self) -> None:
        from ui.dialogs import suggested_path
        name, _ = QFileDialog.getSaveFileName(self, "Export BVH",
                                              suggested_path("simulation", ".bvh", "motion"),
                                              "BVH (*.bvh)")
        if name:
            self.export_bvh(Path(name))

    def _ask_mp4(self) -> None:
        from ui.dialogs import suggested_path
        name, _ = QFileDialog.getSaveFileName(self, "Export MP4",
                                              suggested_path("simulation", ".mp4", "motion"),
                                              "MP4 video (*.mp4)")
        if name:
            self.export_mp4(Path(name))

    def export_bvh(self, out: Path):
        from studio.motion.io.files import save_clip

        clip = self._clip()
        return self.panel.ctx.run(Job(f"Export {out.name}", lambda ctx: save_clip(clip, out)))

    def export_mp4(self, out: Path):
        from studio.motion.core.display import clip_display
        from studio.motion.io.render import Camera, render_mp4

        clip = self._clip()
        return self.panel.ctx.run(Job(f"Render {out.name}", lambda ctx: render_mp4(
            clip_display(clip), out, ctx, Camera())))

    def shutdown(self) -> None:
        self.stop()
        self.timer.stop()
