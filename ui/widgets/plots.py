"""pyqtgraph plots in the app's look: create once, update with setData."""

from __future__ import annotations

import pyqtgraph as pg

from ui import theme

PALETTE = ["#3d8bfd", "#f59f00", "#20c997", "#e64980", "#ae3ec9", "#fab005", "#74c0fc"]


def make_plot(title: str = "", x_label: str = "", y_label: str = "", parent=None) -> pg.PlotWidget:
    theme.configure_plots()
    w = pg.PlotWidget(parent=parent)
    w.setBackground(theme.BASE)
    item = w.getPlotItem()
    if title:
        item.setTitle(title, color=theme.MUTED, size="10pt")
    if x_label:
        item.setLabel("bottom", x_label)
    if y_label:
        item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.addLegend(offset=(10, 10), labelTextColor=theme.TEXT)
    return w


def pen(i: int, width: float = 2.0):
    return pg.mkPen(PALETTE[i % len(PALETTE)], width=width)
