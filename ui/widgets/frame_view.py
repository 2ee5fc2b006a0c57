"""Show numpy frames fast: aspect-correct, zoom with the wheel, pan by dragging."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget


def to_qimage(frame: np.ndarray) -> QImage:
    """uint8 HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA) -> QImage sharing no memory with numpy."""
    if frame.dtype != np.uint8:
        raise TypeError(f"frame must be uint8, got {frame.dtype}")
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    if frame.ndim == 2:
        fmt, bpl = QImage.Format_Grayscale8, w
    elif frame.shape[2] == 3:
        fmt, bpl = QImage.Format_RGB888, 3 * w
    elif frame.shape[2] == 4:
        fmt, bpl = QImage.Format_RGBA8888, 4 * w
    else:
        raise ValueError(f"frame must have 1, 3 or 4 channels, got shape {frame.shape}")
    return QImage(frame.data, w, h, bpl, fmt).copy()


class FrameView(QWidget):
    """Draws the newest frame only; ``set_frame`` is cheap to call at video rate."""

    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None, placeholder: str = "") -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._zoom = 1.0  # 1.0 = fit to widget
        self._pan = QPointF(0, 0)
        self._drag_from: QPointF | None = None
        self.placeholder = placeholder
        self.overlay_text = ""
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WA_OpaquePaintEvent)
        self.setMouseTracking(True)

    # -- content ----------------------------------------------------------------------
    def set_frame(self, frame: np.ndarray | None) -> None:
        self._image = None if frame is None else to_qimage(frame)
        self.update()

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def has_frame(self) -> bool:
        return self._image is not None

    @property
    def zoom(self) -> float:
        return self._zoom

    def reset_view(self) -> None:
        self._zoom, self._pan = 1.0, QPointF(0, 0)
        self.zoomChanged.emit(self._zoom)
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is drawn, in widget coordinates."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        fit = min(self.width() / iw, self.height() / ih)
        s = fit * self._zoom
        w, h = iw * s, ih * s
        return QRectF((self.width() - w) / 2 + self._pan.x(), (self.height() - h) / 2 + self._pan.y(), w, h)

    # -- painting -----------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111214"))
        if self._image is None:
            if self.placeholder:
                p.setPen(QColor("#70757c"))
                p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
            return
        smooth = self._zoom < 4.0  # show real pixels when zoomed in to pixel level
        p.setRenderHint(QPainter.SmoothPixmapTransform, smooth)
        p.drawImage(self.image_rect(), self._image)
        if self.overlay_text:
            p.setPen(QPen(QColor("#e6e6e6")))
            r = self.rect().adjusted(10, 8, -10, -8)
            p.drawText(r, Qt.AlignTop | Qt.AlignLeft, self.overlay_text)

    # -- interaction ----------------------------------------------------------------------
    def wheelEvent(self, event) -> None:
        if self._image is None:
            return
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        new_zoom = float(np.clip(self._zoom * factor, 0.25, 64.0))
        # keep the point under the cursor fixed
        pos = event.position()
        centre = QPointF(self.width() / 2, self.height() / 2) + self._pan
        self._pan += (pos - centre) * (1 - new_zoom / self._zoom)
        self._zoom = new_zoom
        self.zoomChanged.emit(self._zoom)
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            self._drag_from = event.position()

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None:
            self._pan += event.position() - self._drag_from
            self._drag_from = event.position()
            self.update()

    def mouseReleaseEvent(self, _event) -> None:
        self._drag_from = None

    def mouseDoubleClickEvent(self, _event) -> None:
        self.reset_view()
