"""3-D skeleton viewport: orbit (drag), zoom (wheel), ground grid, foot-contact markers.

Uses pyqtgraph's OpenGL view; items are created once and updated per frame with setData.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

BONE = (0.80, 0.84, 0.90, 1.0)
JOINT = (0.24, 0.55, 0.99, 1.0)
CONTACT = (0.98, 0.62, 0.0, 1.0)


class SkeletonView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        self.gl = gl.GLViewWidget()
        self.gl.setBackgroundColor((17, 18, 20))
        self.gl.setCameraPosition(distance=2.4, elevation=12, azimuth=-60)
        grid = gl.GLGridItem()
        grid.setSize(20, 20)
        grid.setSpacing(0.5, 0.5)
        grid.setColor((70, 74, 82, 160))
        self.gl.addItem(grid)
        self.bones = gl.GLLinePlotItem(mode="lines", width=3, color=BONE, antialias=True)
        self.joints = gl.GLScatterPlotItem(size=7, color=JOINT, pxMode=True)
        self.contacts = gl.GLScatterPlotItem(size=16, color=CONTACT, pxMode=True)
        self.trail = gl.GLLinePlotItem(width=1.5, color=(0.24, 0.55, 0.99, 0.45), antialias=True)
        for item in (self.trail, self.bones, self.joints, self.contacts):
            self.gl.addItem(item)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.gl)
        self.follow = True
        self._display = None

    def set_clip(self, display) -> None:
        self._display = display
        self.trail.setData(pos=np.column_stack([display.positions[:, display.focus, :2],
                                                np.full(display.n_frames, 0.005)]))
        self.show_frame(0)

    def show_frame(self, i: int) -> None:
        d = self._display
        if d is None:
            return
        i = int(np.clip(i, 0, d.n_frames - 1))
        p = d.positions[i]
        self.bones.setData(pos=p[d.bones.reshape(-1)])
        self.joints.setData(pos=p)
        on = d.contact_joints[d.contacts[i]] if d.contacts.size else np.zeros(0, np.int64)
        self.contacts.setData(pos=p[on] if len(on) else np.zeros((0, 3)))
        if self.follow:
            import pyqtgraph as pg

            c = p[d.focus]
            self.gl.opts["center"] = pg.Vector(float(c[0]), float(c[1]), 0.9)
            self.gl.update()

    def grab_frame(self):
        """A QImage of the GL content (QWidget.grab may miss it on some drivers)."""
        return self.gl.grabFramebuffer()
