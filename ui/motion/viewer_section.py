"""The Motion panel's centre: the 3-D viewport (a second one beside it while comparing two
clips), the empty state before the first clip, and the timeline under them."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedLayout, QVBoxLayout, QWidget

from ui.widgets.panel_parts import EmptyState
from ui.widgets.timeline import Timeline


def _chip() -> QLabel:
    lab = QLabel("")
    lab.setStyleSheet("QLabel { color: #e6e6e6; background: #26282c; border: 1px solid "
                      "#30333a; border-radius: 9px; padding: 2px 10px; font-weight: 600; }")
    lab.setVisible(False)
    return lab


def _pane(view: QWidget, label: QLabel) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(4)
    lay.addWidget(label, 0, Qt.AlignLeft)
    lay.addWidget(view, 1)
    return w


class ClipViewer(QWidget):
    """``show_display(display)`` draws a ClipDisplay; the timeline drives both viewports.
    ``problem`` carries a one-line message when a viewport cannot draw (no OpenGL)."""

    problem = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.display = None  # the ClipDisplay shown on the left
        self.compare_display = None  # the right-hand one while comparing side by side
        self.empty = EmptyState("Drop a BVH or DeepMimic clip",
                                "or pick one from the built-in library on the left.")
        try:
            from ui.widgets.skeleton_view import SkeletonView

            self.view = SkeletonView()
        except Exception as exc:  # noqa: BLE001 - no OpenGL: say so instead of crashing
            self.view = None
            self.empty.hint.setText(f"3-D view unavailable on this display ({exc}).")
        self.view2 = None  # the second viewport, made on the first side-by-side comparison
        self.view2_pane = None
        self.view_label = _chip()
        self.view2_label = _chip()
        self.timeline = Timeline()
        self.timeline.frameChanged.connect(self._show_frame)

        centre = QWidget()
        self.stack = QStackedLayout(centre)
        self.stack.addWidget(self.empty)
        self.views = QWidget()  # one viewport, or two side by side when comparing
        self.views_row = QHBoxLayout(self.views)
        self.views_row.setContentsMargins(0, 0, 0, 0)
        self.views_row.setSpacing(6)
        if self.view is not None:
            self.views_row.addWidget(_pane(self.view, self.view_label), 1)
            self.stack.addWidget(self.views)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(centre, 1)
        lay.addWidget(self.timeline)

    @property
    def comparing(self) -> bool:
        return self.compare_display is not None

    def show_display(self, display) -> None:
        """Draw ``display`` (one viewport) and size the timeline to it."""
        self.display = display
        self.timeline.set_range(display.n_frames, display.fps)
        if self.view is not None:
            try:
                self.view.set_clip(display)
                self.stack.setCurrentWidget(self.views)
            except Exception as exc:  # noqa: BLE001 - a GL problem must not lose the clip
                self.problem.emit(f"3-D view unavailable: {exc}")

    def set_compare(self, display=None, labels: tuple[str, str] = ("", "")) -> None:
        """Show ``display`` in a second viewport beside the first (None: one viewport)."""
        self.compare_display = display
        on = display is not None and self.view is not None
        if on and self.view2 is None:
            try:
                from ui.widgets.skeleton_view import SkeletonView

                self.view2 = SkeletonView()
                self.view2_pane = _pane(self.view2, self.view2_label)
                self.views_row.addWidget(self.view2_pane, 1)
            except Exception as exc:  # noqa: BLE001 - the comparison is optional
                self.problem.emit(f"second 3-D view unavailable: {exc}")
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

    def show_live(self) -> None:
        """Stop playback and show the viewport for poses drawn one by one."""
        self.timeline.pause()
        if self.view is not None:
            self.stack.setCurrentWidget(self.views)

    def show_pose(self, positions, bones, ghost=None) -> None:
        if self.view is not None:
            self.view.show_pose(positions, bones, ghost=ghost)

    def camera(self):
        """An MP4 renderer's Camera at the viewport's current angle."""
        from studio.motion.io.render import Camera

        cam = Camera()
        if self.view is not None:
            cam.azimuth_deg = float(self.view.gl.opts["azimuth"])
            cam.elevation_deg = float(self.view.gl.opts["elevation"])
            cam.distance = float(self.view.gl.opts["distance"])
        return cam

    def _show_frame(self, i: int) -> None:
        if self.view is not None:
            self.view.show_frame(i)
        if self.view2 is not None and self.comparing:
            self.view2.show_frame(i)
