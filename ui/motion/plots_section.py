"""The Motion panel's bottom tabs: DeepPhase channels, blend weights, the style map and any
tool's own plots (physics)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from ui.widgets.plots import make_plot, pen


class MotionPlots(QTabWidget):
    LONG_TRACK = 4096  # frames; a longer phase track is shown a window at a time
    PHASE_WINDOW_S = 20.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ui.motion.style_tab import StyleMap

        # phase channels (DeepPhase): amp * sin(2 pi phase) per latent channel
        self.phase_plot = make_plot(x_label="seconds", y_label="amp · sin(2π phase)")
        self.phase_curves: list = []
        self._phase_window: float | None = None  # seconds shown of a long track
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
        self.style_map = StyleMap()
        self.addTab(phase_w, "Phase (DeepPhase)")
        self.addTab(self.weights_plot, "Blend weights")
        self.addTab(self.style_map, "Style map")
        self.setFixedHeight(220)

    def clip_changed(self, clip) -> None:
        """Weights belong to a blend: another clip goes back to the phase plot."""
        if self.currentWidget() is self.weights_plot and "blend" not in clip.meta:
            self.setCurrentIndex(0)

    def show_phase(self, track, generated: bool = False) -> None:
        """Plot a PhaseTrack (None: say the model is missing); ``generated``: a transition's
        generated frames are shaded."""
        for c in self.phase_curves:
            self.phase_plot.removeItem(c)
        self.phase_curves = []
        if track is None:
            self.phase_note.setText("DeepPhase model not available (models/deepphase).")
            return
        k_dom = track.dominant()
        gap = " · shaded: generated frames" if generated else ""
        self.phase_note.setText(f"{track.n_channels} latent phase channels at {track.fps:g} fps; "
                                f"thick: the dominant channel {k_dom}{gap}")
        t = track.times
        # a long clip's track (50,000 frames) shows a window of PHASE_WINDOW_S seconds that
        # follows the playhead, drawing only the visible points: every playhead move repaints
        # the curves, and whole 50,000-point curves took ~1 s a repaint
        long_track = len(t) > self.LONG_TRACK
        self._phase_window = self.PHASE_WINDOW_S if long_track else None
        vb = self.phase_plot.getPlotItem().getViewBox()
        if long_track:
            vb.disableAutoRange(axis=vb.XAxis)
            vb.setXRange(0.0, self.PHASE_WINDOW_S, padding=0)
        else:
            vb.enableAutoRange(axis=vb.XAxis)
        for k in range(track.n_channels):
            y = track.amp[:, k] * np.sin(2 * np.pi * track.phase[:, k])
            curve = self.phase_plot.plot(t, y, pen=pen(k, 2.5 if k == k_dom else 1.0))
            curve.setClipToView(long_track)  # (as a plot() keyword it fails in pyqtgraph)
            self.phase_curves.append(curve)

    def mark_gap(self, transition: dict | None, fps: float) -> None:
        """Shade a transition's generated frames (``clip.meta["transition"]``)."""
        t = transition
        if not t or not t.get("n_frames"):
            self.gap_region.setVisible(False)
            return
        self.gap_region.setRegion(((t["first"] - 0.5) / fps,
                                   (t["first"] + t["n_frames"] - 0.5) / fps))
        self.gap_region.setVisible(True)

    def set_cursor(self, seconds: float) -> None:
        self.phase_cursor.setValue(seconds)
        if self._phase_window is not None:  # a long track: keep the playhead in view
            lo, hi = self.phase_plot.getPlotItem().getViewBox().viewRange()[0]
            if not lo <= seconds <= hi:
                start = max(0.0, seconds - 0.1 * self._phase_window)
                self.phase_plot.setXRange(start, start + self._phase_window, padding=0)

    def show_weights(self, weights: np.ndarray, fps: float, raise_tab: bool = False) -> None:
        t = np.arange(len(weights)) / fps
        for k in range(2):
            self.weight_curves[k].setData(t, weights[:, k])
        if raise_tab:
            self.setCurrentWidget(self.weights_plot)

