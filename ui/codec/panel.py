"""Codec workbench: rate-distortion sweeps, side-by-side viewer, plots and BD-rate table."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame,
                               QGridLayout, QScrollArea,
                               QHBoxLayout, QHeaderView, QLabel, QPushButton, QSlider, QSpinBox,
                               QSplitter, QStackedLayout, QTableWidget, QTableWidgetItem,
                               QTabWidget, QVBoxLayout, QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, card, header, section
from ui.widgets.plots import PALETTE, make_plot, pen
from ui.widgets.split_view import SplitView

SOURCE = "source"
MAIN_CODECS = ("x264", "x265", "av1", "vp9")


def projects_root() -> Path:
    docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) or str(Path.home())
    return Path(docs) / "Neural Media Studio" / "codec"


class CodecPanel(WorkbenchPanel):
    point_finished = Signal(object)   # studio.codec.project.Point, from the sweep's thread

    workbench = Workbench.CODEC
    title = "Codec"
    subtitle = ("Compare video and image codecs at equal rate: PSNR, SSIM, MS-SSIM, VMAF, "
                "XPSNR, BD-rate.")
    icon_text = "▦"

    def __init__(self, ctx, parent=None) -> None:
        super().__init__(ctx, parent)
        from studio.codec import encoders
        from studio.codec.report import METRIC_LABELS

        self.encoders = encoders
        self.metric_labels = METRIC_LABELS
        self.source: Path | None = None
        self.project = None
        self.sweep_handle = None
        self._frame_job = None
        self._retired: list = []  # replaced projects waiting for a frame decode to finish
        self._pending_frame: int | None = None
        self._curve_items: dict[str, pg.PlotDataItem] = {}

        # -- left column: source, sweep settings, actions ----------------------------------
        self.source_label = QLabel("No source video.\nDrop one anywhere, or open a saved project.")
        self.source_label.setWordWrap(True)
        avail = encoders.available_codecs()
        self.codec_boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for i, key in enumerate(encoders.CODECS):
            ok, why = avail[key]
            box = QCheckBox(key)
            box.setToolTip(encoders.CODECS[key].label + ("" if ok else f": {why}"))
            box.setChecked(ok and key in MAIN_CODECS)
            box.setEnabled(ok)
            self.codec_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)
        codecs_w = QWidget()
        codecs_w.setLayout(grid)
        self.mode = QComboBox()
        self.mode.addItem("CRF / QP ladder", "crf")
        self.mode.addItem("Target bitrate ladder", "bitrate")
        self.points = QSpinBox()
        self.points.setRange(1, 12)
        self.points.setValue(5)
        self.max_frames = QSpinBox()
        self.max_frames.setRange(1, 100000)
        self.max_frames.setValue(60)
        self.max_frames.setToolTip("Encode at most this many frames of the source")
        self.ladder = QComboBox()
        self.ladder.addItem("Fixed range", "fixed")
        self.ladder.addItem("Adaptive: PSNR-Y 30-45 dB", "adaptive:psnr_y:30-45")
        self.ladder.addItem("Adaptive: VMAF 60-97", "adaptive:vmaf:60-97")
        self.ladder.setToolTip("Adaptive ladders probe the clip first and spread the points "
                               "evenly over the quality span (CRF / QP mode only)")
        form = QFormLayout()
        form.addRow("Rate control", self.mode)
        form.addRow("Ladder", self.ladder)
        form.addRow("Points per codec", self.points)
        form.addRow("Frames", self.max_frames)
        form_w = QWidget()
        form_w.setLayout(form)
        self.run_button = QPushButton("Run sweep")
        self.run_button.setObjectName("Primary")
        self.run_button.setEnabled(False)
        self.run_button.setToolTip("Encode the source with every checked codec (Ctrl+R)")
        self.run_button.setShortcut("Ctrl+R")
        self.run_button.clicked.connect(self.run_sweep)
        self.open_button = QPushButton("Open project…")
        self.open_button.clicked.connect(self.open_project_dialog)
        self.export_button = QPushButton("Export report…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_report)
        from studio.codec.ffmetrics import vmaf_available

        vmaf_ok, vmaf_why = vmaf_available()
        self.vmaf_label = QLabel("VMAF: available" if vmaf_ok else vmaf_why)
        self.vmaf_label.setWordWrap(True)
        self.vmaf_label.setObjectName("PanelSubtitle")
        self.vmaf_ok = vmaf_ok

        left = QVBoxLayout()
        left.setSpacing(8)
        left.addWidget(section("Source"))
        left.addWidget(card(self.source_label))
        left.addWidget(section("Sweep"))
        left.addWidget(card(codecs_w, form_w, self.vmaf_label))
        left.addWidget(self.run_button)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        row.addWidget(self.export_button)
        left.addLayout(row)
        left.addStretch(1)
        left_inner = QWidget()
        left_inner.setLayout(left)
        # the settings column scrolls on short screens (1366x768, 1280x720) instead of
        # setting the window's minimum height
        left_w = QScrollArea()
        left_w.setWidget(left_inner)
        left_w.setWidgetResizable(True)
        left_w.setFrameShape(QFrame.NoFrame)
        left_w.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        left_w.setFixedWidth(314)

        # -- viewer: split view + controls + per-frame plot ----------------------------------
        self.viewer = SplitView(placeholder="Run a sweep, then click a point on the plot to "
                                            "compare it with the source.")
        self.left_pick = QComboBox()
        self.right_pick = QComboBox()
        for combo in (self.left_pick, self.right_pick):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)   # long point names elide, tooltips say all
            combo.currentIndexChanged.connect(self._picks_changed)
        self.view_mode = QComboBox()
        self.view_mode.addItem("Split", SplitView.MODE_SPLIT)
        self.view_mode.addItem("Difference ×4", SplitView.MODE_DIFF)
        self.view_mode.currentIndexChanged.connect(
            lambda _i: self.viewer.set_mode(self.view_mode.currentData()))
        self.frame_slider = QSlider(Qt.Horizontal)
        self.frame_slider.valueChanged.connect(self._frame_changed)
        self.frame_label = QLabel("frame –")
        self.frame_label.setMinimumWidth(90)
        self.play_button = QPushButton("▶")
        self.play_button.setFixedWidth(40)
        self.play_button.clicked.connect(self._toggle_play)
        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._advance)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("A"))
        controls.addWidget(self.left_pick)
        controls.addWidget(QLabel("B"))
        controls.addWidget(self.right_pick)
        controls.addWidget(self.view_mode)
        controls.addStretch(1)
        scrub = QHBoxLayout()
        scrub.addWidget(self.play_button)
        scrub.addWidget(self.frame_slider, 1)
        scrub.addWidget(self.frame_label)
        self.frame_plot = make_plot(x_label="frame", y_label="PSNR-Y (dB)")
        self.frame_plot.setFixedHeight(150)
        self.frame_cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#f0f0f0", width=1))
        self.frame_cursor.sigPositionChanged.connect(
            lambda line: self.frame_slider.setValue(int(round(line.value()))))
        self.frame_plot.addItem(self.frame_cursor)
        self._frame_items = [self.frame_plot.plot([], [], pen=pen(k + 1, 1.5)) for k in range(2)]
        viewer_w = QWidget()
        vl = QVBoxLayout(viewer_w)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addLayout(controls)
        vl.addWidget(self.viewer, 1)
        vl.addLayout(scrub)
        vl.addWidget(self.frame_plot)

        # -- results: RD plot and BD-rate table -------------------------------------------------
        self.metric = QComboBox()
        from studio.codec.report import BD_METRICS, LOWER_IS_BETTER

        for key in BD_METRICS:   # psnr_y_global: MSE-pooled, FFmpeg's "average"
            self.metric.addItem(METRIC_LABELS[key], key)
            if key in LOWER_IS_BETTER:
                self.metric.setItemData(self.metric.count() - 1,
                                        "Lower is better; BD-rate is computed accordingly",
                                        Qt.ToolTipRole)
        self.metric.currentIndexChanged.connect(lambda _i: (self.refresh_results(),
                                                            self._plot_frame_metrics()))
        self.anchor = QComboBox()
        self.anchor.currentIndexChanged.connect(lambda _i: self._fill_bd_table())
        self.rd_plot = make_plot(x_label="bitrate (kbit/s, log scale)", y_label="PSNR-Y (dB)",
                                 log_x=True)
        # RD curves rise to the upper right: the lower right is free for the legend, and a
        # margin keeps the top points off the frame
        legend = self.rd_plot.getPlotItem().legend
        if legend is not None:
            legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-10, -10))
        self.rd_plot.getPlotItem().getViewBox().setDefaultPadding(0.06)
        self.hover_label = QLabel("Hover a point to read it; click it to open it in the viewer.")
        self.hover_label.setObjectName("PanelSubtitle")
        self.hover_label.setWordWrap(True)      # its own row: long readings wrap, never widen
        self.metric.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.metric.setMinimumContentsLength(14)
        rd_w = QWidget()
        rl = QVBoxLayout(rd_w)
        rl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Metric"))
        top.addWidget(self.metric, 1)
        rl.addLayout(top)
        rl.addWidget(self.hover_label)
        rl.addWidget(self.rd_plot, 1)
        self.bd_table = QTableWidget(0, 4)
        self.bd_table.setHorizontalHeaderLabels(["Codec", "BD-rate", "BD-quality", "Note"])
        self.bd_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.bd_table.verticalHeader().setVisible(False)
        self.bd_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.bd_table.setAlternatingRowColors(True)
        bd_w = QWidget()
        bl = QVBoxLayout(bd_w)
        bl.setContentsMargins(0, 0, 0, 0)
        at = QHBoxLayout()
        at.addWidget(QLabel("Anchor"))
        at.addWidget(self.anchor)
        at.addStretch(1)
        bl.addLayout(at)
        bl.addWidget(self.bd_table, 1)
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(rd_w, "Rate–distortion")
        self.results_tabs.addTab(bd_w, "BD-rate")
        # per-shot projects (`studio codec optimise`): one row per shot, its first frame, and
        # what the per-shot point shown as B chose for it
        self.shots_table = QTableWidget(0, 4)
        self.shots_table.setHorizontalHeaderLabels(["Shot", "Frames", "First frame", "Chosen (B)"])
        self.shots_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.shots_table.horizontalHeader().setStretchLastSection(True)
        self.shots_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.shots_table.verticalHeader().setVisible(False)
        self.shots_table.setIconSize(QSize(96, 64))
        self.shots_table.cellClicked.connect(self._shot_clicked)
        self._shot_icons: dict[tuple, object] = {}
        self.results_tabs.addTab(self.shots_table, "Shots")

        split = QSplitter(Qt.Horizontal)
        split.addWidget(viewer_w)
        split.addWidget(self.results_tabs)
        split.setSizes([620, 520])
        self.empty = EmptyState("Drop a video to compare codecs",
                                "Any container FFmpeg reads: MP4, MKV, MOV, WebM, Y4M; 8- or 10-bit.\n"
                                "Or open a saved codec project.", action="Open project…")
        self.empty.button.clicked.connect(self.open_project_dialog)
        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        self.centre_stack.addWidget(split)

        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(left_w)
        body.addWidget(centre, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

        # finished points arrive as events from the sweep's thread (queued to this one)
        self.point_finished.connect(self._point_finished)

    # -- files ------------------------------------------------------------------------------
    def file_filter(self) -> str:
        return ("Video, image or codec project (*.mp4 *.mkv *.mov *.webm *.y4m *.avi *.mpg *.ts "
                "*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp project.json);;All files (*)")

    def open_file(self, path: Path, kind: FileKind) -> None:
        if kind is FileKind.STUDIO_PROJECT or (path.is_dir() and (path / "project.json").exists()):
            self.open_project(path)
        elif kind in (FileKind.VIDEO, FileKind.IMAGE):
            self.set_source(path)
            if kind is FileKind.IMAGE:   # a picture: offer the still-image codecs
                for key, box in self.codec_boxes.items():
                    spec = self.encoders.CODECS[key]
                    box.setChecked(box.isEnabled() and (spec.image or key == "x265-intra"))
        else:
            super().open_file(path, kind)

    def set_source(self, path: Path) -> None:
        from studio.media.video_io import probe

        def work(ctx):
            ctx.progress(0, 1, "probing")
            return probe(path)

        handle = self.ctx.run(Job(f"Probe {path.name}", work))
        handle.finished.connect(lambda r, p=path: self._probed(p, r))

    def _probed(self, path: Path, result) -> None:
        if not result.ok:
            self.ctx.feed.error.emit("Cannot use this video", result.error)
            return
        info = result.value
        self.source = path
        facts = [path.name, f"{info.width}×{info.height}  {info.pix_fmt} ({info.bit_depth}-bit)",
                 f"{float(info.fps):.3g} fps  {info.frames if info.frames is not None else '?'} frames  "
                 f"{info.codec}"]
        if info.rotation:
            facts.append(f"rotated {info.rotation}° for display")
        if info.vfr:
            facts.append("variable frame rate: frames are compared in decode order")
        self.source_label.setText("\n".join(facts))
        self.run_button.setEnabled(not self._sweeping())
        self.ctx.feed.message.emit(f"{path.name}: ready to sweep (Ctrl+R)", 6000)

    # -- sweep --------------------------------------------------------------------------------
    def project_folder_for(self, source: Path) -> Path:
        return projects_root() / f"{source.stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    def sweep_spec(self):
        from studio.codec.sweep import SweepSpec

        codecs = [k for k, b in self.codec_boxes.items() if b.isChecked()]
        ladder, _, target = (self.ladder.currentData() or "fixed").partition(":")
        if self.mode.currentData() != "crf":
            ladder = "fixed"
        return SweepSpec(input=str(self.source), codecs=codecs, points=self.points.value(),
                         mode=self.mode.currentData(), max_frames=self.max_frames.value(),
                         vmaf=self.vmaf_ok, ladder=ladder, target=target or "psnr_y:30-45")

    def _sweeping(self) -> bool:
        return self.sweep_handle is not None and self.sweep_handle.running

    def run_sweep(self, folder: Path | None = None) -> None:
        if self.source is None or self._sweeping():
            return
        spec = self.sweep_spec()
        if not spec.codecs:
            self.ctx.feed.error.emit("Nothing to encode", "Check at least one codec.")
            return
        if self.project is not None and Path(self.project.source).resolve() == self.source.resolve():
            folder = self.project.folder  # extend the open project: done points are kept
            spec.max_frames, spec.max_seconds = self.project.max_frames, self.project.max_seconds
        folder = Path(folder) if folder else self.project_folder_for(self.source)
        from studio.codec.sweep import sweep_job

        self.sweep_handle = self.ctx.run(sweep_job(spec, folder, self.point_finished.emit))
        self.sweep_handle.finished.connect(lambda r, f=folder: self._sweep_done(f, r))
        self._sweep_folder = folder
        self.run_button.setEnabled(False)

    def _point_finished(self, point) -> None:
        """A point of the running sweep is stored: show it without re-reading the project."""
        folder = getattr(self, "_sweep_folder", None)
        if folder is None:
            return
        if self.project is not None and self.project.folder == folder:
            self.project.points[point.id] = point
            self.refresh_results()
        elif (folder / "project.json").exists():
            self._load_project_now(folder, quiet=True)

    def _sweep_done(self, folder: Path, result) -> None:
        self.run_button.setEnabled(self.source is not None)
        if (folder / "project.json").exists():
            self._load_project_now(folder, quiet=True)
        if not result.ok:
            if result.error and "cancelled" not in result.error:
                self.ctx.feed.error.emit("Sweep failed", result.error)
            return
        summary = result.value
        if summary.failed:
            lines = "\n".join(f"{k}: {v}" for k, v in summary.failed.items())
            self.ctx.feed.error.emit("Some encodes failed", f"The other points were kept.\n\n{lines}")

    # -- projects -----------------------------------------------------------------------------
    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open codec project", str(projects_root()))
        if folder:
            self.open_project(Path(folder))

    def open_project(self, path: Path) -> None:
        self._load_project_now(path)

    def _load_project_now(self, path: Path, quiet: bool = False) -> None:
        from studio.codec.project import load_project

        try:
            proj = load_project(path)
        except Exception as exc:  # noqa: BLE001 - shown as a message, never a traceback
            if not quiet:
                self.ctx.feed.error.emit("Cannot open project", str(exc))
            return
        first = self.project is None or self.project.folder != proj.folder
        if self.project is not None:
            self._retire(self.project)
        self.project = proj
        if proj.source and Path(proj.source).exists() and self.source is None:
            self.source = Path(proj.source)
            self.run_button.setEnabled(not self._sweeping())
        self.centre_stack.setCurrentIndex(1)
        self.export_button.setEnabled(bool(proj.done_points()))
        if first and not self._sweeping():   # a project opened by the user, not our own sweep
            self._show_project_settings(proj)
        self._fill_picks(keep=not first)
        n = proj.frame_count
        self.frame_slider.setRange(0, max(0, n - 1))
        self._frame_changed(self.frame_slider.value())
        self.refresh_results()
        if proj.viewable_points() and (first or self.right_pick.currentData() in (SOURCE, None)):
            self.select_point(proj.viewable_points()[0].id)

    def _show_project_settings(self, proj) -> None:
        """A reopened project shows its own source and settings, so Run sweep extends it."""
        if proj.reference is not None and proj.source and self.source is None:
            self.source = Path(proj.source)     # moved sources: the stored reference suffices
            self.run_button.setEnabled(not self._sweeping())
        ref = proj.reference
        if ref is not None:
            src = Path(proj.source) if proj.source else None
            where = src.name if src is not None and src.exists() else \
                f"{src.name if src else 'source'} (moved: the stored reference is used)"
            facts = [where, f"{ref.width}×{ref.height}  {ref.pix_fmt} ({ref.bit_depth}-bit)",
                     f"{float(ref.fps):.3g} fps  {ref.frames} frames  {ref.duration_s:.2f} s"]
            self.source_label.setText("\n".join(facts))
        if proj.max_frames:
            self.max_frames.setValue(int(proj.max_frames))
        codecs = {p.codec for p in proj.points.values()}
        if codecs:
            for key, box in self.codec_boxes.items():
                box.setChecked(box.isEnabled() and key in codecs)
        per_curve = [len(c.points) for c in proj.curves() if c.mode == "crf"]
        if per_curve:
            self.points.setValue(max(per_curve))
        modes = {p.mode for p in proj.points.values() if p.mode in ("crf", "bitrate")}
        if len(modes) == 1:
            self.mode.setCurrentIndex(self.mode.findData(modes.pop()))

    def _fill_picks(self, keep: bool) -> None:
        left, right = self.left_pick.currentData(), self.right_pick.currentData()
        for combo in (self.left_pick, self.right_pick):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("Source", SOURCE)
            for p in sorted(self.project.viewable_points(),
                            key=lambda p: (p.codec, p.mode, p.bitrate_kbps)):
                tag = " per-shot" if p.mode == "pershot" else ""
                combo.addItem(f"{p.codec}{tag} {p.bitrate_kbps:,.0f} kbps", p.id)
            combo.blockSignals(False)
        if keep:
            for combo, val in ((self.left_pick, left), (self.right_pick, right)):
                i = combo.findData(val)
                if i >= 0:
                    combo.setCurrentIndex(i)

    # -- results --------------------------------------------------------------------------------
    def refresh_results(self) -> None:
        """Update the RD curves in place (items are made once per curve, then setData)."""
        if self.project is None:
            return
        metric = self.metric.currentData()
        self.rd_plot.getPlotItem().setLabel("left", self.metric_labels.get(metric, metric))
        self.frame_plot.getPlotItem().setLabel("left", self.metric_labels.get(metric, metric))
        from studio.codec.report import curve_styles, point_rate, rate_axis

        curves = self.project.curves(metric)
        # one colour per codec family in every plot, from the same table as the SVG export
        every = self.project.curves()
        styles = dict(zip((c.key for c in every), curve_styles(every)))
        axis = rate_axis(curves)
        self.rd_plot.getPlotItem().setLabel(
            "bottom", "bits per pixel (log scale)" if axis == "bpp" else "bitrate (kbit/s, log scale)")
        seen = set()
        for c in curves:
            xs, ys, ids = [], [], []
            for p in c.points:
                v = p.metrics.get(metric)
                r = point_rate(p, axis)
                if v is not None and r > 0:
                    xs.append(r)
                    ys.append(v)
                    ids.append(p.id)
            item = self._curve_items.get(c.key)
            if item is None:
                colour, dash = styles.get(c.key, (PALETTE[len(self._curve_items) % len(PALETTE)], ""))
                style = Qt.PenStyle.DashLine if dash else Qt.PenStyle.SolidLine
                item = self.rd_plot.plot([], [], pen=pg.mkPen(colour, width=2, style=style),
                                         symbol="o", symbolSize=9, symbolBrush=colour,
                                         name=c.label)
                # hover must be switched on in the scatter, or sigPointsHovered never fires
                item.scatter.setData(hoverable=True, tip=None, hoverSize=13,
                                     hoverPen=pg.mkPen("w", width=2))
                item.sigPointsClicked.connect(self._plot_clicked)
                item.sigPointsHovered.connect(self._plot_hovered)
                self._curve_items[c.key] = item
            item.setData(xs, ys, data=ids)
            seen.add(c.key)
        for key, item in self._curve_items.items():
            if key not in seen:
                item.setData([], [])
        anchor = self.anchor.currentData()
        self.anchor.blockSignals(True)
        self.anchor.clear()
        for c in curves:
            self.anchor.addItem(c.label, c.key)
        i = self.anchor.findData(anchor)
        self.anchor.setCurrentIndex(i if i >= 0 else 0)
        self.anchor.blockSignals(False)
        self._fill_bd_table()
        self._fill_shots()

    def _plot_clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.select_point(points[0].data())

    def _plot_hovered(self, _item, points, _ev=None) -> None:
        if len(points) and self.project is not None:
            p = self.project.point(points[0].data())
            m = self.metric.currentData()
            rate = (f"{p.bpp:.3f} bpp" if p.frames == 1 and p.bpp > 0
                    else f"{p.bitrate_kbps:,.1f} kbit/s (file {p.file_kbps:,.1f})")
            self.hover_label.setText(f"{p.label}: {rate}, {self.metric_labels.get(m, m)} "
                                     f"{p.metrics.get(m, float('nan')):.3f} · click to view")

    def _fill_bd_table(self) -> None:
        """BD rows against the chosen anchor. A row whose numbers deserve less trust (curves
        overlapping under 75 %, interpolation methods disagreeing) is tinted and its note has
        a warning icon, with every reason in the row's tooltip."""
        from PySide6.QtWidgets import QStyle

        from studio.codec.report import bd_table, metric_unit
        from studio.jobs import UserError

        self.bd_table.clearSpans()
        self.bd_table.setRowCount(0)
        if self.project is None:
            return
        metric = self.metric.currentData()
        try:
            if self.anchor.count() == 0:
                if self.project.done_points():   # the metric is what is missing: say how to add it
                    bd_table(self.project, None, metric)
                return
            rows = bd_table(self.project, self.anchor.currentData(), metric)
        except Exception as exc:  # noqa: BLE001
            self.ctx.feed.message.emit(str(exc), 8000)
            if isinstance(exc, UserError):
                self.bd_table.insertRow(0)
                self.bd_table.setItem(0, 0, QTableWidgetItem(str(exc)))
                self.bd_table.setSpan(0, 0, 1, self.bd_table.columnCount())
            return
        unit = f" {metric_unit(metric)}" if metric_unit(metric) else ""
        names = {c.key: c.label for c in self.project.curves(metric)}
        warn_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        tint = pg.mkColor(255, 170, 0, 70)
        for r in rows:
            i = self.bd_table.rowCount()
            self.bd_table.insertRow(i)
            note = r.note
            if r.warnings and not note:
                note = r.warnings[0] if len(r.warnings) == 1 else \
                    f"{len(r.warnings)} warnings: {r.warnings[0]}"
            cells = [names.get(r.curve, r.label or r.curve),
                     "–" if r.bd_rate is None else f"{r.bd_rate:+.1f} %",
                     "–" if r.bd_quality is None else f"{r.bd_quality:+.3f}{unit}", note]
            tip = "\n".join(f"⚠ {w}" for w in r.warnings)
            if r.bd_rate_by_method:
                tip += ("\n\n" if tip else "") + "BD-rate by interpolation: " + ", ".join(
                    f"{m} {v:+.2f} %" for m, v in r.bd_rate_by_method.items())
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 1 and r.bd_rate is not None:
                    item.setForeground(pg.mkColor("#51cf66" if r.bd_rate < 0 else "#ff8787"))
                if r.warnings:
                    item.setBackground(tint)
                    if j == 3:
                        item.setIcon(warn_icon)
                if tip:
                    item.setToolTip(tip)
                self.bd_table.setItem(i, j, item)

    # -- viewer ----------------------------------------------------------------------------------
    def select_point(self, pid: str) -> None:
        i = self.right_pick.findData(pid)
        if i >= 0:
            self.left_pick.setCurrentIndex(0)
            self.right_pick.setCurrentIndex(i)

    def _fill_shots(self) -> None:
        """The Shots tab: the project's shots, and the choice of a per-shot point B shows."""
        from PySide6.QtGui import QIcon, QImage, QPixmap

        proj = self.project
        shots = proj.shots if proj is not None else []
        self.results_tabs.setTabEnabled(2, bool(shots))
        self.shots_table.setRowCount(len(shots))
        pid = self.right_pick.currentData()
        chosen = []
        if proj is not None and pid not in (SOURCE, None) and pid in proj.points:
            chosen = proj.point(pid).shots
        for row, (a, b) in enumerate(shots):
            key = (str(proj.folder), a)
            icon = self._shot_icons.get(key)
            if icon is None and row < 200:
                rgb = np.ascontiguousarray(proj.reference_rgb(a)[::4, ::4])
                h, w = rgb.shape[:2]
                img = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
                icon = self._shot_icons[key] = QIcon(QPixmap.fromImage(img))
            self.shots_table.setItem(row, 0, QTableWidgetItem(str(row + 1)))
            self.shots_table.setItem(row, 1, QTableWidgetItem(f"{a}–{b - 1}"))
            thumb = QTableWidgetItem()
            if icon is not None:
                thumb.setIcon(icon)
            self.shots_table.setItem(row, 2, thumb)
            text = ""
            if row < len(chosen):
                c = chosen[row]
                text = (f"{c['preset']} {c['value']:g} · {c['kbps']:.0f} kbit/s · "
                        f"{c['decode_fps']:.0f} fps decode")
            self.shots_table.setItem(row, 3, QTableWidgetItem(text or "—"))
        self.shots_table.resizeRowsToContents()

    def _shot_clicked(self, row: int, _col: int) -> None:
        if self.project is not None and row < len(self.project.shots):
            self.frame_slider.setValue(self.project.shots[row][0])

    def _picks_changed(self, _i: int = 0) -> None:
        self._fill_shots()
        self._plot_frame_metrics()
        self._request_frame(self.frame_slider.value())

    def _plot_frame_metrics(self) -> None:
        for item in self._frame_items:
            item.setData([], [])
        if self.project is None:
            return
        pids = [pid for pid in (self.left_pick.currentData(), self.right_pick.currentData())
                if pid not in (SOURCE, None)]
        for k, pid in enumerate(dict.fromkeys(pids)):
            try:
                cols = self.project.point_frames(pid)
            except Exception:  # noqa: BLE001 - a missing per-frame file just shows no curve
                continue
            metric = self.metric.currentData()
            # pooled-only metrics show their per-frame source (psnr_y_global -> psnr_y)
            metric = {"psnr_y_global": "psnr_y", "ssim_y_db": "ssim_y"}.get(metric, metric)
            ys = [np.nan if v is None else v for v in (cols.get(metric) or [])]
            self._frame_items[k].setData(np.arange(len(ys)), ys)
            self._frame_items[k].opts["name"] = self.project.point(pid).label

    def _frame_changed(self, i: int) -> None:
        self.frame_label.setText(f"frame {i + 1} / {self.frame_slider.maximum() + 1}")
        self.frame_cursor.blockSignals(True)
        self.frame_cursor.setValue(i)
        self.frame_cursor.blockSignals(False)
        self._request_frame(i)

    def _request_frame(self, i: int) -> None:
        """Decode on a worker; while one is in flight keep only the newest request."""
        if self.project is None:
            return
        if self._frame_job is not None and self._frame_job.running:
            self._pending_frame = i
            return
        proj = self.project
        left, right = self.left_pick.currentData() or SOURCE, self.right_pick.currentData() or SOURCE

        def fetch(pid):
            return proj.reference_rgb(i) if pid == SOURCE else proj.point_rgb(pid, i)

        labels = (self.left_pick.currentText(), self.right_pick.currentText())
        job = Job("Decode frame", lambda ctx: (fetch(left), fetch(right)))
        self._frame_job = self.ctx.runner.start(job, track=False)
        self._frame_job.finished.connect(lambda r, lab=labels: self._frame_ready(r, lab))

    def _retire(self, project) -> None:
        """Close a replaced project, but not under a frame decode that is still reading it."""
        self._retired.append(project)
        if self._frame_job is None or not self._frame_job.running:
            while self._retired:
                self._retired.pop().close()

    def _frame_ready(self, result, labels) -> None:
        while self._retired:
            self._retired.pop().close()
        if result.ok:
            a, b = result.value
            if a.shape == b.shape:
                self.viewer.set_frames(a, b, labels)
        pending, self._pending_frame = self._pending_frame, None
        if pending is not None:
            self._request_frame(pending)

    def _toggle_play(self) -> None:
        if self._play_timer.isActive():
            self._play_timer.stop()
            self.play_button.setText("▶")
        else:
            fps = float(self.project.reference.fps) if self.project and self.project.reference else 25.0
            self._play_timer.start(int(1000 / max(1.0, fps)))
            self.play_button.setText("❚❚")

    def _advance(self) -> None:
        n = self.frame_slider.maximum() + 1
        self.frame_slider.setValue((self.frame_slider.value() + 1) % max(1, n))

    # -- export ------------------------------------------------------------------------------------
    def export_report(self) -> None:
        if self.project is None:
            return
        # the user's documents, not the process's working folder
        default = projects_root().parent / "reports"
        default.mkdir(parents=True, exist_ok=True)
        folder = QFileDialog.getExistingDirectory(self, "Export report to folder", str(default))
        if folder:
            from studio.jobs import UserError

            try:
                self.write_report(Path(folder))
            except (UserError, OSError) as exc:
                self.ctx.feed.error.emit("Export failed", str(exc))

    def write_report(self, folder: Path) -> list[Path]:
        """CSV + JSON (with BD-rates) + SVG from the engine, and the PNG rendered from that same
        SVG, so the two pictures are one chart (theme, axes, colours, legend)."""
        from PySide6.QtCore import QByteArray
        from PySide6.QtGui import QColor, QImage, QPainter
        from PySide6.QtSvg import QSvgRenderer

        from studio.codec.report import export_csv, export_frames_csv, export_json, export_svg
        from studio.jobs import atomic_path

        metric = self.metric.currentData()
        folder.mkdir(parents=True, exist_ok=True)
        out = [folder / "points.csv", folder / "report.json", folder / f"rd_{metric}.svg",
               folder / f"rd_{metric}.png", folder / "frames.csv"]
        export_csv(self.project, out[0], anchor=self.anchor.currentData(), metric=metric)
        export_frames_csv(self.project, out[4])
        export_json(self.project, out[1], anchor=self.anchor.currentData(), metric=metric)
        export_svg(self.project, out[2], metric)
        renderer = QSvgRenderer(QByteArray(out[2].read_bytes()))
        size = renderer.defaultSize()
        scale = 1600 / max(1, size.width())
        image = QImage(int(size.width() * scale), int(size.height() * scale),
                       QImage.Format_ARGB32)
        image.fill(QColor("white"))
        painter = QPainter(image)
        renderer.render(painter)
        painter.end()
        with atomic_path(out[3]) as tmp:
            if not image.save(str(tmp), "PNG"):
                raise OSError(f"{out[3]}: could not write the PNG")
        self.ctx.feed.message.emit(f"Report written to {folder}", 8000)
        return out

    def shutdown(self) -> None:
        self._play_timer.stop()
        if self.project is not None:
            self.project.close()

    # -- screenshots -----------------------------------------------------------------------------------
    def screenshot_stage(self, settle) -> None:
        """Open a finished sweep for `studio screenshot` (runs a small one if needed)."""
        from studio.paths import SHARED_DATA

        clip = next(iter(sorted((SHARED_DATA / "grid").glob("*.mpg"))), None) if SHARED_DATA.exists() else None
        if clip is None:
            return
        import tempfile

        self.set_source(clip)
        for _ in range(40):
            settle(100)
            if self.source is not None:
                break
        self.points.setValue(4)
        self.max_frames.setValue(25)
        folder = Path(tempfile.mkdtemp(prefix="nms-shot-")) / "sweep"
        self.run_sweep(folder)
        for _ in range(600):
            settle(200)
            if self.sweep_handle is None or not self.sweep_handle.running:
                break
        settle(500)
        if self.project is not None and self.project.done_points():
            pts = sorted(self.project.done_points(), key=lambda p: p.bitrate_kbps)
            self.select_point(pts[0].id)
            self.frame_slider.setValue(12)
            settle(800)
