"""Guard against Qt bindings that corrupt Python refcounts (PySide6 6.12.0 does: each
QPainter.setRenderHint call drops a reference to None, and pyqtgraph calls it on every
paint, so the app died with 'none_dealloc'/'bool_dealloc' after some minutes of plotting)."""

import sys

from PySide6.QtGui import QPainter, QPixmap


def test_painter_calls_keep_refcounts(qapp):
    pm = QPixmap(8, 8)
    p = QPainter(pm)
    try:
        none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
        for _ in range(500):
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        assert sys.getrefcount(None) - none0 > -50, "Qt bindings leak decrefs of None"
        assert sys.getrefcount(True) - true0 > -50, "Qt bindings leak decrefs of True"
    finally:
        p.end()


def test_plot_updates_keep_refcounts(qapp):
    import numpy as np
    import pyqtgraph as pg

    w = pg.PlotWidget()
    w.getPlotItem().addLegend()
    item = w.plot([], [], symbol="o", name="a")
    w.show()
    none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(100):
        item.setData(np.arange(5), np.arange(5) * i)
        qapp.processEvents()
    assert sys.getrefcount(None) - none0 > -100
    assert sys.getrefcount(True) - true0 > -100
    w.close()
