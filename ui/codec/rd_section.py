"""Codec results: the rate-distortion plot, its metric and the hover read-out."""

from __future__ import annotations

import html
import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ui.widgets.panel_parts import muted
from ui.widgets.plots import PALETTE, make_plot

BUDGET_COLOUR = "#ff5252"
IN_PLOT_LEGEND_MAX = 6      # more entries than this: a two-column key under the plot
VIEW_PADDING = 0.06         # the view box's default padding, a share of the data span
# (item anchor, parent anchor, offset in px): RD curves rise to the upper right, so the lower
# right comes first, then the upper left
LEGEND_CORNERS = {
    "lower right": ((1, 1), (1, 1), (-10, -10)),
    "upper left": ((0, 0), (0, 0), (10, 10)),
    "lower left": ((0, 1), (0, 1), (10, -10)),
    "upper right": ((1, 0), (1, 0), (-10, 10)),
}


def legend_corner(lines: list[list[tuple[float, float]]], box: tuple[float, float],
                  log_x: bool = True) -> str:
    """The plot corner whose legend-sized box covers the least of the curves.

    ``lines``: each curve's (x, y) points in data units; ``box``: the legend's width and
    height as shares of the plot area. Segments are sampled, so a line through a corner
    counts even where it has no point there. Ties keep LEGEND_CORNERS' order."""
    pts = [((math.log10(x) if log_x else x), y) for ln in lines for x, y in ln
           if (x > 0 or not log_x) and math.isfinite(y)]
    if not pts:
        return "lower right"
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)

    def norm(v: float, lo: float, hi: float) -> float:
        span = (hi - lo) or 1.0
        return (v - lo + VIEW_PADDING * span) / ((1 + 2 * VIEW_PADDING) * span)

    samples = []
    for ln in lines:
        q = [(norm(math.log10(x) if log_x else x, x0, x1), norm(y, y0, y1)) for x, y in ln
             if (x > 0 or not log_x) and math.isfinite(y)]
        samples += q[:1]
        for (ax, ay), (bx, by) in zip(q, q[1:]):
            samples += [(ax + (bx - ax) * t / 8, ay + (by - ay) * t / 8) for t in range(1, 9)]
    bw, bh = min(box[0], 1.0), min(box[1], 1.0)
    regions = {"lower right": (1 - bw, 1, 0, bh), "upper left": (0, bw, 1 - bh, 1),
               "lower left": (0, bw, 0, bh), "upper right": (1 - bw, 1, 1 - bh, 1)}
    covered = {k: sum(xa <= x <= xb and ya <= y <= yb for x, y in samples)
               for k, (xa, xb, ya, yb) in regions.items()}
    return min(LEGEND_CORNERS, key=lambda k: covered[k])


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
        # the legend goes to the corner that hides the least (see _place_legend), and a
        # margin keeps the top points off the frame
        self.legend_corner = ""
        self._lines: list[list[tuple[float, float]]] = []
        self._place_legend([])
        self.plot.getPlotItem().getViewBox().sigResized.connect(
            lambda *_: self._place_legend(self._lines))
        self.plot.getPlotItem().getViewBox().setDefaultPadding(VIEW_PADDING)
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
        lines = []
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
            lines.append(list(zip(xs, ys)))
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
            else:
                self._place_legend(lines)
        for key, item in self.curve_items.items():
            if key not in seen:
                item.setData([], [])

    def _place_legend(self, lines: list[list[tuple[float, float]]]) -> None:
        """Anchor the in-plot legend in the corner where it covers the fewest curve samples
        (an intra-only or a high-quality sweep can fill the lower right)."""
        pi = self.plot.getPlotItem()
        legend, vb = pi.legend, pi.getViewBox()
        self._lines = lines
        if legend is None or not legend.isVisible():
            return
        r, w, h = legend.boundingRect(), vb.width(), vb.height()
        box = ((r.width() + 10) / w, (r.height() + 10) / h) if w > 1 and h > 1 else (0.4, 0.3)
        corner = legend_corner(lines, box)
        if corner != self.legend_corner:
            item_pos, parent_pos, offset = LEGEND_CORNERS[corner]
            legend.anchor(itemPos=item_pos, parentPos=parent_pos, offset=offset)
            self.legend_corner = corner

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
