"""pyqtgraph plots in the app's look: create once, update with setData."""

from __future__ import annotations

import pyqtgraph as pg

from ui import theme

PALETTE = ["#3d8bfd", "#f59f00", "#20c997", "#e64980", "#ae3ec9", "#fab005", "#74c0fc"]


class PlainLogAxis(pg.AxisItem):
    """A log axis labelled 20, 50, 100, 200 (and 0.05, 0.1...) instead of 2·10¹."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt naming
        if not self.logMode:
            return super().tickStrings(values, scale, spacing)
        out = []
        crowded = getattr(self, "_span", 0.0) > 0.7    # label minor ticks only when zoomed in
        for v in values:
            x = 10 ** v
            if spacing < 1 and crowded:
                out.append("")
                continue
            out.append(f"{x:.3g}" if x < 1000 else f"{x:,.0f}")
        return out

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 - Qt naming
        if not self.logMode or maxVal - minVal > 4:
            return super().tickValues(minVal, maxVal, size)
        import math
        self._span = maxVal - minVal
        major, minor = [], []
        for e in range(math.floor(minVal) - 1, math.ceil(maxVal) + 1):
            for m in (1, 2, 5):
                v = math.log10(m) + e
                if minVal <= v <= maxVal:
                    major.append(v)
            for m in (3, 4, 6, 7, 8, 9):
                v = math.log10(m) + e
                if minVal <= v <= maxVal:
                    minor.append(v)
        return [(1.0, major), (0.1, minor)]


def make_plot(title: str = "", x_label: str = "", y_label: str = "", parent=None,
              log_x: bool = False) -> pg.PlotWidget:
    theme.configure_plots()
    axes = {"bottom": PlainLogAxis("bottom")} if log_x else None
    w = pg.PlotWidget(parent=parent, axisItems=axes)
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
    if log_x:
        item.setLogMode(x=True, y=False)
    return w


def pen(i: int, width: float = 2.0):
    return pg.mkPen(PALETTE[i % len(PALETTE)], width=width)
