"""Side-by-side comparison: two frames under one draggable split line, or their difference.

Both sides share one zoom/pan transform (they are painted by one widget), so they stay
synchronised down to pixel level; past 4x zoom pixels are drawn unsmoothed.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from studio.media.imageops import abs_diff_heatmap
from ui.widgets.frame_view import FrameView, to_qimage


class SplitView(FrameView):
    splitChanged = Signal(float)

    MODE_SPLIT = "split"
    MODE_DIFF = "diff"

    def __init__(self, parent=None, placeholder: str = "") -> None:
        super().__init__(parent, placeholder)
        self._right: QImage | None = None
        self._frames: tuple[np.ndarray, np.ndarray] | None = None
        self.split = 0.5  # fraction of the image width
        self.mode = self.MODE_SPLIT
        self.diff_gain = 4.0
        self.labels = ("", "")
        self._dragging_split = False

    def set_frames(self, left: np.ndarray, right: np.ndarray, labels: tuple[str, str] = ("", "")) -> None:
        if left.shape != right.shape:
            raise ValueError(f"left and right frames differ in shape: {left.shape} vs {right.shape}")
        self._frames = (left, right)
        self.labels = labels
        self._refresh()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._refresh()

    def set_diff_gain(self, gain: float) -> None:
        self.diff_gain = gain
        if self.mode == self.MODE_DIFF:
            self._refresh()

    def _refresh(self) -> None:
        if self._frames is None:
            return
        left, right = self._frames
        if self.mode == self.MODE_DIFF:
            self._image = to_qimage(abs_diff_heatmap(left, right, self.diff_gain))
            self._right = None
        else:
            self._image, self._right = to_qimage(left), to_qimage(right)
        self.update()

    def _split_x(self) -> float:
        r = self.image_rect()
        return r.left() + self.split * r.width()

    def paintEvent(self, event) -> None:
        if self._right is None or self._image is None:
            super().paintEvent(event)
            if self._image is not None and self.mode == self.MODE_DIFF:
                self._draw_label(f"|{self.labels[0]} − {self.labels[1]}| × {self.diff_gain:g}", Qt.AlignLeft)
            return
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111214"))
        p.setRenderHint(QPainter.SmoothPixmapTransform, self.zoom < 4.0)
        r = self.image_rect()
        sx = self._split_x()
        p.save()
        p.setClipRect(QRectF(r.left(), r.top(), max(0.0, sx - r.left()), r.height()))
        p.drawImage(r, self._image)
        p.restore()
        p.save()
        p.setClipRect(QRectF(sx, r.top(), max(0.0, r.right() - sx), r.height()))
        p.drawImage(r, self._right)
        p.restore()
        p.setPen(QPen(QColor("#ffffff"), 2))
        p.drawLine(QPointF(sx, max(0, r.top())), QPointF(sx, min(self.height(), r.bottom())))
        p.setBrush(QColor("#3d8bfd"))
        p.drawEllipse(QPointF(sx, self.height() / 2), 7, 7)
        p.end()
        self._draw_label(self.labels[0], Qt.AlignLeft)
        self._draw_label(self.labels[1], Qt.AlignRight)

    def _draw_label(self, text: str, align) -> None:
        if not text:
            return
        p = QPainter(self)
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 16, fm.height() + 8
        x = 10 if align == Qt.AlignLeft else self.width() - w - 10
        p.setBrush(QColor(0, 0, 0, 160))
        p.setPen(Qt.NoPen)
        p.drawRoundedRect(QRectF(x, 10, w, h), 6, 6)
        p.setPen(QColor("#f0f0f0"))
        p.drawText(QRectF(x, 10, w, h), Qt.AlignCenter, text)
        p.end()

    def mousePressEvent(self, event) -> None:
        if self._right is not None and abs(event.position().x() - self._split_x()) < 10:
            self._dragging_split = True
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._dragging_split:
            r = self.image_rect()
            if r.width() > 0:
                self.split = float(np.clip((event.position().x() - r.left()) / r.width(), 0.0, 1.0))
                self.splitChanged.emit(self.split)
                self.update()
            return
        near = self._right is not None and abs(event.position().x() - self._split_x()) < 10
        self.setCursor(Qt.SplitHCursor if near else Qt.ArrowCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        self._dragging_split = False
        super().mouseReleaseEvent(event)
