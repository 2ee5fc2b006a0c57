"""The Physics tool: the DeepMimic humanoid simulated in pybullet, driven by a pretrained policy.

The simulation runs on a worker (a job that steps at real time until stopped); the GUI only
draws. The worker leaves its latest pose and the critic/tracking traces in a locked slot that
a 30 Hz timer reads, so a slow paint never slows the physics and the physics never floods the
event loop. Push, reset and stop are requests the worker picks up between policy steps.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QSpinBox, QWidget

from studio.jobs import Job
from ui.motion.common import failed, muted
from ui.widgets.panel_parts import form, tool_column
from ui.widgets.plots import make_plot, pen

REDRAW_MS = 33


class PhysicsTab(QWidget):
    def __init__(self, panel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.motion.deepmimic import HUMANOID
        from studio.motion.physics import policy_names

        self.panel = panel
        self.sim = None  # studio.motion.physics.Simulation, made on the worker
        self.handle = None  # the running job
        self._lock = threading.Lock()
        self._latest = None  # (StepInfo, (2, J, 3) positions of the simulated and ghost pose)
        self._trace: list[tuple[float, float, float]] = []  # (t, value, tracking error)
        self._requests: list[tuple[str, float]] = []  # ("push", newtons) / ("reset", 0)
        self._drawn = -1
        self.steps = 0  # policy steps taken since the last reset (read by tests)
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
        if self.sim is not None and not self.running:
            self.sim.close()
            self.sim = None
        self._clear_trace()
        self._update_buttons()

    def _clear_trace(self) -> None:
        with self._lock:
            self._trace = []
            self._latest = None
        self.steps = 0
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
        self.panel.timeline.pause()
        if self.panel.view is not None:
            self.panel.centre_stack.setCurrentWidget(self.panel.views)
        self.panel.bottom_tabs.setCurrentWidget(self.plots)
        self.handle = self.panel.ctx.runner.start(Job(f"Simulate {name}", lambda ctx:
                                                      self._work(ctx, name)), track=False)
        self.handle.finished.connect(self._finished)
        self.timer.start()
        self._update_buttons()
        return self.handle

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()

    def push(self) -> None:
        with self._lock:
            self._requests.append(("push", float(self.force.value())))

    def reset(self) -> None:
        if self.running:
            with self._lock:
                self._requests.append(("reset", 0.0))
            return
        if self.sim is not None:
            self.sim.reset()
        self._clear_trace()
        self._update_buttons()

    # -- worker -----------------------------------------------------------------------------
    def _work(self, ctx, name: str):
        from studio.motion.physics import POLICY_HZ, Simulation, frame_positions

        if self.sim is None or self.sim.policy.name != name:
            if self.sim is not None:
                self.sim.close()
            ctx.progress(0, 1, f"loading {name}")
            self.sim = Simulation(name)
        sim = self.sim
        tick = time.monotonic()
        while True:
            ctx.check()
            with self._lock:
                requests, self._requests = self._requests, []
            for kind, value in requests:
                if kind == "push":
                    sim.push(value)
                else:
                    sim.reset()
                    with self._lock:
                        self._trace = []
                    self.steps = 0
            info = sim.step()
            pos = frame_positions(np.stack([info.frame, info.reference]))
            pos[1, :, :2] += pos[0, 0, :2] - pos[1, 0, :2]  # the ghost stands where the body is
            with self._lock:
                self._latest = (info, pos)
                self._trace.append((info.time, info.value, info.tracking_error))
            self.steps += 1
            tick += 1.0 / POLICY_HZ  # real time: one policy step per 1/30 s
            wait = tick - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.25:  # fell behind (a busy machine): do not try to catch up
                tick = time.monotonic()

    def _finished(self, result) -> None:
        self.timer.stop()
        self._redraw()
        self.handle = None
        failed(self.panel.ctx, "Simulation failed", result)
        self._update_buttons()

    # -- drawing ----------------------------------------------------------------------------
    def _redraw(self) -> None:
        with self._lock:
            latest = self._latest
            trace = np.array(self._trace, dtype=np.float64).reshape(-1, 3)
        if latest is None or len(trace) == self._drawn:
            return
        self._drawn = len(trace)
        info, pos = latest
        view = self.panel.view
        if view is not None:
            view.show_pose(pos[0], self.bones, ghost=pos[1])
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
        return self.sim.to_clip()

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
        from studio.motion.files import save_clip

        clip = self._clip()
        return self.panel.ctx.run(Job(f"Export {out.name}", lambda ctx: save_clip(clip, out)))

    def export_mp4(self, out: Path):
        from studio.motion.display import clip_display
        from studio.motion.render import Camera, render_mp4

        clip = self._clip()
        return self.panel.ctx.run(Job(f"Render {out.name}", lambda ctx: render_mp4(
            clip_display(clip), out, ctx, Camera())))

    def shutdown(self) -> None:
        self.stop()
        self.timer.stop()
