"""What the Motion panel offers its tool tabs (blend, transition, style, physics).

A tool tab gets the panel as a :class:`MotionHost` and uses nothing else of it: no widget of
the panel, no private method. The panel (``ui.motion.panel.MotionPanel``) implements it.
"""

from __future__ import annotations

from typing import Callable, Protocol


class MotionHost(Protocol):
    ctx: object  # ui.context.AppContext: run jobs, report errors
    current: object  # the Clip shown now (None before the first one)

    # -- the clip library ----------------------------------------------------------------
    def register_clip_combo(self, combo, default: str = "") -> None:
        """Keep ``combo`` listing every library clip."""

    def source_of(self, name: str):
        """A library entry: a Clip made here, or a file's path (``studio.motion.io.files.load_source``)."""

    def add_made(self, clip, select: bool = True, autoplay: bool = False) -> str:
        """Put a made clip into the library and show it; returns its (unique) name."""

    def show_comparison(self, clip, display, phase, other, other_display,
                        labels: tuple[str, str]) -> None:
        """Two made clips side by side on one timeline (both join the library)."""

    # -- the timeline ----------------------------------------------------------------------
    def playhead(self) -> int:
        """The timeline's frame."""

    def on_playhead(self, fn: Callable[[int], None]) -> None:
        """Call ``fn(frame)`` whenever the playhead moves."""

    # -- the plots and the viewport -------------------------------------------------------------
    def show_weights(self, weights, fps: float, raise_tab: bool = False) -> None:
        """Plot (T, 2) blend weights; ``raise_tab`` brings the weights plot forward."""

    def show_style_map(self) -> None:
        """Bring the style map forward."""

    def begin_live(self, plots) -> None:
        """A tool is about to draw live poses: stop playback, show the viewport and bring
        the tool's own plots (added with its tab) forward."""

    def show_pose(self, positions, bones, ghost=None) -> None:
        """Draw one pose (J, 3) in the viewport (``ghost``: a second, faint one)."""
