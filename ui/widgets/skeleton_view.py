"""3-D skeleton viewport: orbit (drag), zoom (wheel), ground grid, foot-contact markers.

Uses pyqtgraph's OpenGL view; items are created once and updated per frame with setData.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

BONE = (0.80, 0.84, 0.90, 1.0)
JOINT = (0.24, 0.55, 0.99, 1.0)
CONTACT = (0.98, 0.62, 0.0, 1.0)
GHOST = (0.55, 0.85, 0.60, 0.45)  # a second, translucent skeleton (e.g. a physics reference)


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
        self.ghost = gl.GLLinePlotItem(mode="lines", width=2, color=GHOST, antialias=True)
        self.ghost.setVisible(False)
        for item in (self.trail, self.ghost, self.bones, self.joints, self.contacts):
            self.gl.addItem(item)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.gl)
        self.follow = True
        self._display = None

    def set_clip(self, display) -> None:
        self._display = display
        self.set_ghost(None)
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

    def set_ghost(self, pos: np.ndarray | None, bones: np.ndarray | None = None) -> None:
        """Draw a second skeleton, translucent, at joint positions ``pos`` (J, 3) with bone
        index pairs ``bones`` (B, 2); None hides it."""
        if pos is None or bones is None or not len(bones):
            self.ghost.setVisible(False)
            return
        self.ghost.setData(pos=np.asarray(pos)[np.asarray(bones).reshape(-1)])
        self.ghost.setVisible(True)

    def show_pose(self, pos: np.ndarray, bones: np.ndarray, ghost: np.ndarray | None = None,
                  focus: int = 0) -> None:
        """Draw one live pose that is not part of a clip (a running simulation): joints
        ``pos`` (J, 3), bones (B, 2), an optional ghost pose on the same bones; the camera
        follows joint ``focus``. The clip shown before is let go."""
        self._display = None
        self.trail.setData(pos=np.zeros((0, 3)))
        self.contacts.setData(pos=np.zeros((0, 3)))
        self.bones.setData(pos=pos[np.asarray(bones).reshape(-1)])
        self.joints.setData(pos=pos)
        self.set_ghost(ghost, bones)
        if self.follow:
            import pyqtgraph as pg

            c = pos[focus]
            self.gl.opts["center"] = pg.Vector(float(c[0]), float(c[1]), 0.9)
        self.gl.update()

    def grab_frame(self):
        """A QImage of the GL content (QWidget.grab may miss it on some drivers)."""
        return self.gl.grabFramebuffer()
