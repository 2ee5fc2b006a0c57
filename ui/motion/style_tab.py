"""The Style tool (StyleVAE transfer) and the Style map (2-D PCA of the training clips' style
codes, with the content, style and result of the last transfer marked)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout,
                               QLabel, QPushButton, QVBoxLayout, QWidget)

from studio.jobs import Job
from ui import theme
from ui.motion.common import LICENCE_TIP, failed, licence_note
from ui.widgets.panel_parts import muted
from ui.widgets.panel_parts import form, tool_column
from ui.widgets.plots import make_plot

# 15 Bandai styles: distinct hues; DeepMimic clips (labelled by their own name) share one grey
STYLE_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                 "#ff9da7", "#9c755f", "#a0cbe8", "#ffbe7d", "#8cd17d", "#d37295", "#b6992d",
                 "#86bcb6"]
DEEPMIMIC_COLOUR = "#7d838c"
MARKERS = {  # role: (symbol, fill, outline, size, label anchor)
    "content": ("o", "#ffffff", "#ffffff", 13, (-0.15, -0.1)),
    "style": ("d", "#f59f00", "#ffffff", 15, (-0.15, 1.1)),
    "result": ("star", "#3d8bfd", "#ffffff", 20, (1.1, 1.1)),
}


class StyleMap(QWidget):
    """Scatter of every training clip's style code (hover: the clip), coloured by style, and
    highlighted markers for the last transfer's content, style and result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = make_plot(x_label="style PC 1", y_label="style PC 2")
        item = self.plot.getPlotItem()
        if item.legend is not None:
            item.legend.setVisible(False)
        self.points = pg.ScatterPlotItem(size=7, pen=pg.mkPen("#111", width=0.5), hoverable=True,
                                         hoverSize=11, hoverPen=pg.mkPen("w", width=1.5),
                                         tip=self._tip)
        self.plot.addItem(self.points)
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self.marker_text: dict[str, pg.TextItem] = {}
        for role, (sym, fill, outline, size, anchor) in MARKERS.items():
            m = pg.ScatterPlotItem(symbol=sym, size=size, brush=pg.mkBrush(fill),
                                   pen=pg.mkPen(outline, width=1.5))
            m.setZValue(10)
            t = pg.TextItem("", color=fill if role != "content" else theme.TEXT, anchor=anchor,
                            fill=pg.mkBrush(24, 26, 29, 210))
            t.setZValue(11)
            self.plot.addItem(m)
            self.plot.addItem(t)
            self.markers[role], self.marker_text[role] = m, t
        self.projection: dict | None = None
        self.placed: dict[str, tuple[float, float]] = {}
        self.names: dict[str, str] = {}

        self.note = muted("Loading the style map…")
        self.legend = QWidget()
        self.legend_grid = QGridLayout(self.legend)
        self.legend_grid.setContentsMargins(0, 0, 0, 0)
        self.legend_grid.setHorizontalSpacing(10)
        self.legend_grid.setVerticalSpacing(1)
        key = QWidget()
        kl = QVBoxLayout(key)
        kl.setContentsMargins(6, 0, 0, 0)
        kl.setSpacing(4)
        self.key_title = QLabel("STYLES")
        self.key_title.setObjectName("SectionLabel")
        kl.addWidget(self.key_title)
        kl.addWidget(self.legend)
        kl.addStretch(1)
        self.marker_key = QLabel(
            "<span style='color:#ffffff'>●</span> content &nbsp; "
            "<span style='color:#f59f00'>◆</span> style &nbsp; "
            "<span style='color:#3d8bfd'>★</span> result")
        self.marker_key.setStyleSheet("font-size: 11px;")
        kl.addWidget(self.marker_key)
        key.setFixedWidth(215)
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(2)
        left.addWidget(self.note)
        left.addWidget(self.plot, 1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        lay.addLayout(left, 1)
        lay.addWidget(key)

    @staticmethod
    def _tip(x, y, data) -> str:
        return str(data) if data is not None else f"({x:.2f}, {y:.2f})"

    def set_projection(self, projection: dict) -> None:
        self.projection = projection
        pts = projection.get("points", [])
        styles = sorted({p["style"] for p in pts if p.get("source") == "bandai"})
        colour = {s: STYLE_COLOURS[i % len(STYLE_COLOURS)] for i, s in enumerate(styles)}
        spots = []
        for p in pts:
            bandai = p.get("source") == "bandai"
            c = colour.get(p["style"], DEEPMIMIC_COLOUR)
            tip = (f"{p['name'].split('/')[-1]}\nstyle: {p['style']} · {p.get('content', '')}"
                   f" · {p.get('split', '')}")
            spots.append({"pos": (p["x"], p["y"]), "brush": pg.mkBrush(c),
                          "symbol": "o" if bandai else "t1", "data": tip})
        self.points.setData(spots)
        while self.legend_grid.count():
            w = self.legend_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        entries = [(s, colour[s], "●") for s in styles]
        if any(p.get("source") != "bandai" for p in pts):
            entries.append(("DeepMimic", DEEPMIMIC_COLOUR, "▲"))
        rows = (len(entries) + 1) // 2
        for k, (name, c, sym) in enumerate(entries):
            lab = QLabel(f"<span style='color:{c}'>{sym}</span> {name}")
            lab.setStyleSheet("font-size: 11px;")
            self.legend_grid.addWidget(lab, k % rows, k // rows)
        ev = projection.get("explained_variance") or []
        share = f" ({100 * sum(ev):.0f}% of variance)" if ev else ""
        self.note.setText(f"Style codes of {len(pts)} training clips, PCA{share} · "
                          "hover a point for its name")
        self.note.setToolTip(LICENCE_TIP)
        self._place()

    def set_unavailable(self, why: str) -> None:
        self.note.setText(f"No style map: {why}")

    def set_markers(self, placed: dict[str, tuple[float, float]],
                    names: dict[str, str]) -> None:
        """``placed``: role -> (x, y) for "content", "style", "result"; ``names``: their
        labels."""
        self.placed = dict(placed)
        self.names = dict(names)
        self._place()

    def _place(self) -> None:
        for role, m in self.markers.items():
            xy = self.placed.get(role)
            t = self.marker_text[role]
            if xy is None:
                m.setData([], [])
                t.setText("")
                continue
            m.setData([xy[0]], [xy[1]])
            t.setText(self.names.get(role, role))
            t.setPos(xy[0], xy[1])

    def marker_count(self) -> int:
        return sum(len(m.data) for m in self.markers.values())


class StyleTab(QWidget):
    def __init__(self, panel, style_map: StyleMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from superqt import QLabeledDoubleSlider

        from studio.runtime import models

        self.panel = panel  # a ui.motion.host.MotionHost: nothing else of the panel
        self.map = style_map
        self.model_ok = (models.available(models.STYLE_ENCODER)
                         and models.available(models.STYLE_DECODER))
        self.classifier_ok = models.available(models.STYLE_CLASSIFIER)
        self.content_label = muted("select a clip in the library")
        self.style_combo = QComboBox()
        self.style_combo.setToolTip("The clip whose style the content takes on")
        panel.register_clip_combo(self.style_combo, "run")
        self.strength = QLabeledDoubleSlider(Qt.Horizontal)
        self.strength.setRange(0.0, 1.0)
        self.strength.setDecimals(2)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(1.0)
        self.strength.setToolTip("0: the content's own style (StyleVAE reconstruction), "
                                 "1: the style clip's")
        self.keep_root = QCheckBox("Keep the content's root path")
        self.keep_root.setChecked(True)
        self.keep_root.setToolTip("Keep the content's ground path and turning; take only the "
                                  "pose and root height from the model")
        rows = form(("Content", self.content_label), ("Style", self.style_combo),
                    ("Strength", self.strength), ("", self.keep_root))
        self.transfer_button = QPushButton("Transfer style")
        self.transfer_button.setObjectName("Primary")
        self.transfer_button.setEnabled(False)
        self.transfer_button.clicked.connect(self.transfer)
        if not self.model_ok:
            self.transfer_button.setToolTip("StyleVAE is not installed (models/style_vae)")
        self.result = muted("")
        self.result.hide()
        self.note = licence_note()
        tool_column(self, rows, self.transfer_button, self.result, self.note)

    def clip_changed(self, clip) -> None:
        ok = clip is not None
        self.transfer_button.setEnabled(ok and self.model_ok)
        if ok:
            self.content_label.setText(f"{clip.name} · {clip.n_frames} frames")

    def transfer(self):
        """StyleVAE transfer on a worker; the result joins the library and plays, and the
        content, style and result are marked on the style map."""
        from studio.jobs import UserError
        from studio.motion.io.files import load_source
        from studio.motion.learned import style as S

        content = self.panel.current
        if content is None:
            return None
        style_name = self.style_combo.currentText()
        src = self.panel.source_of(style_name)
        strength = float(self.strength.value())
        keep_root = self.keep_root.isChecked()
        projection = self.map.projection
        classify = self.classifier_ok

        def work(ctx):
            style_clip = load_source(src, style_name)
            out = S.transfer(content, style_clip, strength, keep_root=keep_root, ctx=ctx)
            out.name = f"{content.name} as {style_name} ({100 * strength:.0f}%)"
            placed = {}
            if projection is not None:
                for role, c in (("content", content), ("style", style_clip), ("result", out)):
                    placed[role] = S.project_code(S.style_code(c), projection)
            verdict = None
            if classify:
                try:
                    label, probs = S.classify(out)
                    verdict = (label, probs[label])
                except UserError:
                    verdict = None
            return out, placed, verdict

        handle = self.panel.ctx.run(Job(f"Style transfer {content.name} as {style_name}", work))
        handle.finished.connect(lambda r, c=content.name, s=style_name: self._done(r, c, s))
        return handle

    def _done(self, result, content_name: str, style_name: str) -> None:
        if failed(self.panel.ctx, "Style transfer failed", result):
            return
        out, placed, verdict = result.value
        name = self.panel.add_made(out, autoplay=True)
        text = f"→ {name}"
        if verdict is not None:
            text += f"\nstyle classifier: {verdict[0]} ({100 * verdict[1]:.0f}%)"
        self.result.setText(text)
        self.result.show()
        if placed:
            self.map.set_markers(placed, {"content": content_name, "style": style_name,
                                          "result": "result"})
            self.panel.show_style_map()

