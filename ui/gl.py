"""OpenGL set-up that must happen before the QApplication exists."""

from __future__ import annotations


def configure_default_format() -> None:
    """Ask for a desktop OpenGL 2.1+ context: some platform plugins (offscreen, some VMs)
    otherwise report version 1.0 and pyqtgraph's 3-D view refuses to start."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QSurfaceFormat

    # several 3-D views (e.g. the motion comparison) share pyqtgraph's cached shaders
    QCoreApplication.setAttribute(Qt.AA_ShareOpenGLContexts)

    fmt = QSurfaceFormat.defaultFormat()
    fmt.setRenderableType(QSurfaceFormat.OpenGL)
    fmt.setVersion(2, 1)
    fmt.setProfile(QSurfaceFormat.CompatibilityProfile)
    fmt.setDepthBufferSize(24)
    fmt.setSamples(4)
    QSurfaceFormat.setDefaultFormat(fmt)
