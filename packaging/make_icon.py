"""Make the app icon from resources/: the default avatar's face (its first frame, cropped to
the face box the avatar ships) in a rounded tile with the theme's accent ring.

    python packaging/make_icon.py [OUT_DIR]     (default: build/packaging/icon)

Writes app.png (512 px), app-256.png, app.ico (Windows) and app.icns (macOS) through Qt's
image plugins, so no image library beyond the app's own is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import appinfo  # noqa: E402

ACCENT = "#3d8bfd"  # QPushButton#Primary in resources/style.qss
BACKGROUND = "#1e1f22"  # QMainWindow in resources/style.qss
_APP = None  # the QGuiApplication that make() needs, kept alive


def face_rgb(size: int = 512):
    """The avatar's first frame, cropped square around its face box, as an RGB array."""
    import av
    import numpy as np

    avatar = appinfo.ROOT / "resources" / "avatars" / "default"
    with av.open(str(avatar / "frames.mp4")) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    x0, y0, x1, y1 = (int(v) for v in np.load(avatar / "crop_boxes.npy")[0])
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, int(max(x1 - x0, y1 - y0) * 0.75)
    h, w = frame.shape[:2]
    half = min(half, cx, cy, w - cx, h - cy)
    return np.ascontiguousarray(frame[cy - half:cy + half, cx - half:cx + half])


def make(out: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPen

    global _APP
    _APP = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter needs one
    rgb = face_rgb()
    face = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
    n = 512
    img = QImage(n, n, QImage.Format_ARGB32)
    img.fill(Qt.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.Antialiasing)
    p.setRenderHint(QPainter.SmoothPixmapTransform)
    tile = QRectF(16, 16, n - 32, n - 32)
    path = QPainterPath()
    path.addRoundedRect(tile, 96, 96)
    p.fillPath(path, QColor(BACKGROUND))
    p.setClipPath(path)
    p.drawImage(tile.adjusted(20, 20, -20, -20), face)
    p.setClipping(False)
    p.setPen(QPen(QColor(ACCENT), 22))
    p.drawPath(path)
    p.end()

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, image, fmt in (("app.png", img, "PNG"),
                             ("app-256.png", img.scaled(256, 256, Qt.KeepAspectRatio,
                                                        Qt.SmoothTransformation), "PNG"),
                             ("app.ico", img.scaled(256, 256, Qt.KeepAspectRatio,
                                                    Qt.SmoothTransformation), "ICO"),
                             ("app.icns", img, "ICNS")):
        path_out = out / name
        if image.save(str(path_out), fmt):
            written.append(path_out)
        else:
            print(f"make_icon: Qt could not write {fmt} here; skipped {name}", file=sys.stderr)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else appinfo.BUILD / "icon"
    for f in make(target):
        print(f)
