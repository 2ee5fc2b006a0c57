"""Codec results: the rate-distortion plot, its metric and the hover read-out."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ui.widgets.panel_parts import muted
from ui.widgets.plots import PALETTE, make_plot

BUDGET_COLOUR = "#ff5252"
IN_PLOT_LEGEND_MAX = 6      # more entries than this: a two-column key under the plot


def plot_key(curves, styles: dict, budget: bool) -> str:
    """The curves' key as a two-column HTML table: a line sample in the curve's colour and
    dash, then the label."""
    def sample(colour: str, dash: str) -> str:
        # the plot draws any dash pattern as Qt's dashed line (see _item)
        return f'<span style="color:{colour}">{"╍╍" if dash else "━━"}</span>'

    cells = [f"{sample(*styles.get(c.key, (PALETTE[0], '')))} {html.escape(c.label)}"
             for c in curves]
    if budget:
        cells.append(f'<span style="color:{BUDGET_COLOUR}">◯</span> over the decoder budget')
    rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
    return ("<table cellspacing=0 cellpadding=1>"
            + "".join("<tr>" + "".join(f"<td>{c}&nbsp;&nbsp;</td>" for c in r) + "</tr>"
                      for r in rows) + "</table>")


class RDPlot(QWidget):
    """Curves in (``show_curves``); the chosen metric and clicked points out."""

    metric_changed = Signal()
    point_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from studio.codec.report import BD_METRICS, LOWER_IS_BETTER, METRIC_LABELS

        self.metric_labels = METRIC_LABELS
        self.curve_items: dict[str, pg.PlotDataItem] = {}   # made once per curve, then setData
        self._points: dict[str, object] = {}
        self.metric_combo = QComboBox()
        for key in BD_METRICS:   # psnr_y_global: MSE-pooled, FFmpeg's "average"
            self.metric_combo.addItem(METRIC_LABELS[key], key)
            if key in LOWER_IS_BETTER:
                self.metric_combo.setItemData(self.metric_combo.count() - 1,
                                              "Lower is better; BD-rate is computed accordingly",
                                              Qt.ToolTipRole)
        self.metric_combo.currentIndexChanged.connect(lambda _i: self.metric_changed.emit())
        self.metric_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.metric_combo.setMinimumContentsLength(14)
        self.plot = make_plot(x_label="bitrate (kbit/s, log scale)", y_label="PSNR-Y (dB)",
                              log_x=True)
        # RD curves rise to the upper right: the lower right is free for the legend, and a
        # margin keeps the top points off the frame
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-10, -10))
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.06)
        # points that break the project's decoder budget: a red ring over the point (in the
        # legend only while there are some)
        # a PlotDataItem (not a bare scatter) follows the plot's log x axis by itself
        self.budget_rings = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=17,
                                            symbolBrush=None,
                                            symbolPen=pg.mkPen(BUDGET_COLOUR, width=2.5),
                                            name="over the decoder budget")
        self.budget_rings.setZValue(5)
        self.plot.addItem(self.budget_rings, ignoreBounds=True)
        self._over: dict[str, str] = {}
        # its own row: long readings wrap, never widen
        self.hover_label = muted("Hover a point to read it; click it to open it in the viewer.")
        rl = QVBoxLayout(self)
        rl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Metric"))
        top.addWidget(self.metric_combo, 1)
        rl.addLayout(top)
        rl.addWidget(self.hover_label)
        rl.addWidget(self.plot, 1)
        # with many curves the in-plot legend would cover them: a key under the plot instead
        self.key_label = QLabel()
        self.key_label.setObjectName("PlotKey")
        self.key_label.setTextFormat(Qt.RichText)
        self.key_label.setWordWrap(True)
        self.key_label.hide()
        rl.addWidget(self.key_label)

    def metric(self) -> str:
        return self.metric_combo.currentData()

    def metric_label(self, metric: str | None = None) -> str:
        m = metric or self.metric()
        return self.metric_labels.get(m, m)

    def show_curves(self, curves, styles: dict, axis: str,
                    over_budget: dict[str, str] | None = None) -> None:
        """``curves``: studio.codec.project curves for the current metric; ``styles``: curve key
        -> (colour, dash) as the SVG export draws them; ``axis``: "bpp" or "kbps";
        ``over_budget``: point id -> why it breaks the decoder budget (ringed in red)."""
        metric = self.metric()
        from studio.codec.report import point_rate

        pi = self.plot.getPlotItem()
        pi.setLabel("left", self.metric_label(metric))
        pi.setLabel("bottom", "bits per pixel (log scale)" if axis == "bpp"
                    else "bitrate (kbit/s, log scale)")
        seen = set()
        self._points = {}
        for c in curves:
            xs, ys, ids = [], [], []
            for p in c.points:
                v = p.metrics.get(metric)
                r = point_rate(p, axis)
                if v is not None and r > 0:
                    xs.append(r)
                    ys.append(v)
                    ids.append(p.id)
                    self._points[p.id] = p
            self._item(c, styles).setData(xs, ys, data=ids)
            seen.add(c.key)
        self._over = dict(over_budget or {})
        ring = [(x, y) for c in curves for p in c.points if p.id in self._over
                for x, y in [(point_rate(p, axis), p.metrics.get(metric))]
                if y is not None and x > 0]
        self.budget_rings.setData([x for x, _ in ring], [y for _, y in ring])
        legend = pi.legend
        if legend is not None:
            legend.removeItem(self.budget_rings)
            if ring:
                legend.addItem(self.budget_rings, "over the decoder budget")
            shown = [c for c in curves if c.key in seen]
            many = len(shown) + bool(ring) > IN_PLOT_LEGEND_MAX
            legend.setVisible(not many)
            self.key_label.setVisible(many)
            if many:
                self.key_label.setText(plot_key(shown, styles, bool(ring)))
        for key, item in self.curve_items.items():
            if key not in seen:
                item.setData([], [])

    def _item(self, c, styles: dict) -> pg.PlotDataItem:
        item = self.curve_items.get(c.key)
        if item is None:
            colour, dash = styles.get(c.key, (PALETTE[len(self.curve_items) % len(PALETTE)], ""))
            style = Qt.PenStyle.DashLine if dash else Qt.PenStyle.SolidLine
            item = self.plot.plot([], [], pen=pg.mkPen(colour, width=2, style=style),
                                  symbol="o", symbolSize=9, symbolBrush=colour, name=c.label)
            # hover must be switched on in the scatter, or sigPointsHovered never fires
            item.scatter.setData(hoverable=True, tip=None, hoverSize=13,
                                 hoverPen=pg.mkPen("w", width=2))
            item.sigPointsClicked.connect(self._clicked)
            item.sigPointsHovered.connect(self._hovered)
            self.curve_items[c.key] = item
        return item

    def _clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.point_clicked.emit(points[0].data())

    def _hovered(self, _item, points, _ev=None) -> None:
        p = self._points.get(points[0].data()) if len(points) else None
        if p is not None:
            m = self.metric()
            rate = (f"{p.bpp:.3f} bpp" if p.frames == 1 and p.bpp > 0
                    else f"{p.bitrate_kbps:,.1f} kbit/s (file {p.file_kbps:,.1f})")
            over = (f" · over the decoder budget: {self._over[p.id]}" if p.id in self._over
                    else "")
            self.hover_label.setText(f"{p.label}: {rate}, {self.metric_label(m)} "
                                     f"{p.metrics.get(m, float('nan')):.3f}{over} · click to view")
