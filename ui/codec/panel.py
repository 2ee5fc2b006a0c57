"""Codec workbench: rate-distortion sweeps, side-by-side viewer, plots and BD-rate table.

The panel wires its sections (settings, viewer, RD plot, BD table, shots: signals out, a few
methods in) and owns the project and the jobs: probing, the sweep, frame decodes, reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QScrollArea, QSplitter,
                               QStackedLayout, QTabWidget, QVBoxLayout, QWidget)

from studio.jobs import Job
from studio.media.filetypes import FileKind, Workbench
from ui.codec.bd_section import BDTable
from ui.codec.rd_section import RDPlot
from ui.codec.settings_section import SweepSettings
from ui.codec.shots_section import ShotsTable
from ui.codec.viewer_section import SOURCE, ComparisonViewer
from ui.panel_base import WorkbenchPanel
from ui.widgets.panel_parts import EmptyState, header


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
        self.source: Path | None = None
        self.project = None
        self.sweep_handle = None
        self._sweep_folder: Path | None = None
        self._frame_job = None
        self._retired: list = []  # replaced projects waiting for a frame decode to finish
        self._pending_frame: int | None = None
        self.settings = SweepSettings()
        self.compare = ComparisonViewer()
        self.rd = RDPlot()
        self.bd = BDTable()
        self.shots = ShotsTable()
        self.empty = EmptyState("Drop a video to compare codecs",
                                "Any container FFmpeg reads: MP4, MKV, MOV, WebM, Y4M; 8- or 10-bit.\n"
                                "Or open a saved codec project.", action="Open project…")
        self._wire()
        self._lay_out()

    def _wire(self) -> None:
        self.settings.run_clicked.connect(self.run_sweep)
        self.settings.open_clicked.connect(self.open_project_dialog)
        self.settings.export_clicked.connect(self.export_report)
        self.empty.button.clicked.connect(self.open_project_dialog)
        self.compare.picks_changed.connect(self._picks_changed)
        self.compare.frame_changed.connect(self._request_frame)
        self.rd.metric_changed.connect(lambda: (self.refresh_results(), self._plot_frame_metrics()))
        self.rd.point_clicked.connect(self.select_point)
        self.bd.anchor_changed.connect(self._fill_bd_table)
        self.shots.shot_clicked.connect(self.compare.set_frame)
        # finished points arrive as events from the sweep's thread (queued to this one)
        self.point_finished.connect(self._point_finished)

    def _lay_out(self) -> None:
        # the settings column scrolls on short screens (1366x768, 1280x720) instead of
        # setting the window's minimum height
        left = QScrollArea()
        left.setWidget(self.settings)
        left.setWidgetResizable(True)
        left.setFrameShape(QFrame.NoFrame)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        left.setFixedWidth(314)
        self.results_tabs = QTabWidget()
        self.results_tabs.addTab(self.rd, "Rate–distortion")
        self.results_tabs.addTab(self.bd, "BD-rate")
        self.results_tabs.addTab(self.shots, "Shots")
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.compare)
        split.addWidget(self.results_tabs)
        split.setSizes([620, 520])
        centre = QWidget()
        self.centre_stack = QStackedLayout(centre)
        self.centre_stack.addWidget(self.empty)
        self.centre_stack.addWidget(split)
        body = QHBoxLayout()
        body.setSpacing(16)
        body.addWidget(left)
        body.addWidget(centre, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.addWidget(header(self.title, self.subtitle))
        lay.addLayout(body, 1)

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
                self.settings.prefer_image_codecs()
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
        self.settings.show_source(facts)
        self.settings.set_can_run(not self._sweeping())
        self.ctx.feed.message.emit(f"{path.name}: ready to sweep (Ctrl+R)", 6000)

    # -- sweep --------------------------------------------------------------------------------
    def project_folder_for(self, source: Path) -> Path:
        return projects_root() / f"{source.stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    def sweep_spec(self):
        return self.settings.sweep_spec(self.source)

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
        self.settings.set_can_run(False)

    def _point_finished(self, point) -> None:
        """A point of the running sweep is stored: show it without re-reading the project."""
        folder = self._sweep_folder
        if folder is None:
            return
        if self.project is not None and self.project.folder == folder:
            self.project.points[point.id] = point
            self.refresh_results()
        elif (folder / "project.json").exists():
            self._load_project_now(folder, quiet=True)

    def _sweep_done(self, folder: Path, result) -> None:
        self.settings.set_can_run(self.source is not None)
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
            self.settings.set_can_run(not self._sweeping())
        self.centre_stack.setCurrentIndex(1)
        self.settings.set_can_export(bool(proj.done_points()))
        if first and not self._sweeping():   # a project opened by the user, not our own sweep
            self._show_project_settings(proj)
        self.compare.fill_picks(proj.viewable_points(), keep=not first)
        fps = float(proj.reference.fps) if proj.reference else 25.0
        self.compare.set_frame_count(proj.frame_count, fps)
        self.refresh_results()
        if proj.viewable_points() and (first or self.compare.picks()[1] in (SOURCE, None)):
            self.select_point(proj.viewable_points()[0].id)

    def _show_project_settings(self, proj) -> None:
        """A reopened project shows its own source and settings, so Run sweep extends it."""
        if proj.reference is not None and proj.source and self.source is None:
            self.source = Path(proj.source)     # moved sources: the stored reference suffices
            self.settings.set_can_run(not self._sweeping())
        ref = proj.reference
        if ref is not None:
            src = Path(proj.source) if proj.source else None
            where = src.name if src is not None and src.exists() else \
                f"{src.name if src else 'source'} (moved: the stored reference is used)"
            self.settings.show_source(
                [where, f"{ref.width}×{ref.height}  {ref.pix_fmt} ({ref.bit_depth}-bit)",
                 f"{float(ref.fps):.3g} fps  {ref.frames} frames  {ref.duration_s:.2f} s"])
        self.settings.apply_project(proj)

    # -- results --------------------------------------------------------------------------------
    def refresh_results(self) -> None:
        """Update the RD curves in place (items are made once per curve, then setData)."""
        if self.project is None:
            return
        from studio.codec.report import curve_styles, rate_axis

        metric = self.rd.metric()
        self.compare.set_metric_label(self.rd.metric_label(metric))
        curves = self.project.curves(metric)
        # one colour per codec family in every plot, from the same table as the SVG export
        every = self.project.curves()
        styles = dict(zip((c.key for c in every), curve_styles(every)))
        from studio.codec.pershot import over_budget

        self.rd.show_curves(curves, styles, rate_axis(curves), over_budget(self.project))
        self.bd.set_anchors(curves)
        self._fill_bd_table()
        self._fill_shots()

    def _fill_bd_table(self) -> None:
        """BD rows against the chosen anchor; an engine refusal is said in the table."""
        from studio.codec.report import bd_table, metric_unit
        from studio.jobs import UserError

        self.bd.clear()
        if self.project is None:
            return
        metric = self.rd.metric()
        try:
            if not self.bd.has_anchors():
                if self.project.done_points():   # the metric is what is missing: say how to add it
                    bd_table(self.project, None, metric)
                return
            rows = bd_table(self.project, self.bd.anchor(), metric)
        except Exception as exc:  # noqa: BLE001
            self.ctx.feed.message.emit(str(exc), 8000)
            if isinstance(exc, UserError):
                self.bd.show_message(str(exc))
            return
        unit = f" {metric_unit(metric)}" if metric_unit(metric) else ""
        self.bd.show_rows(rows, {c.key: c.label for c in self.project.curves(metric)}, unit)

    def _fill_shots(self) -> None:
        """The Shots tab: the project's shots, and the choice of a per-shot point B shows."""
        proj = self.project
        shots = proj.shots if proj is not None else []
        self.results_tabs.setTabEnabled(2, bool(shots))
        pid = self.compare.picks()[1]
        chosen = []
        if proj is not None and pid not in (SOURCE, None) and pid in proj.points:
            chosen = proj.point(pid).shots
        removed: dict[tuple[int, int], list[str]] = {}
        if proj is not None:
            for rid, why in (proj.decoder_budget or {}).get("removed", {}).items():
                p = proj.points.get(rid)
                if p is not None and p.frame_range:
                    removed.setdefault(tuple(p.frame_range), []).append(f"{p.label}: {why}")
        self.shots.show_shots(str(proj.folder) if proj is not None else "", shots, chosen,
                              proj.reference_rgb if proj is not None else None, removed)

    # -- viewer ----------------------------------------------------------------------------------
    def select_point(self, pid: str) -> None:
        self.compare.select(pid)

    def _picks_changed(self) -> None:
        self._fill_shots()
        self._plot_frame_metrics()
        self._request_frame(self.compare.frame())

    def _plot_frame_metrics(self) -> None:
        if self.project is None:
            self.compare.show_frame_curves([])
            return
        # pooled-only metrics show their per-frame source (psnr_y_global -> psnr_y)
        metric = self.rd.metric()
        metric = {"psnr_y_global": "psnr_y", "ssim_y_db": "ssim_y"}.get(metric, metric)
        curves = []
        for pid in dict.fromkeys(p for p in self.compare.picks() if p not in (SOURCE, None)):
            try:
                cols = self.project.point_frames(pid)
            except Exception:  # noqa: BLE001 - a missing per-frame file just shows no curve
                curves.append(None)
                continue
            ys = [np.nan if v is None else v for v in (cols.get(metric) or [])]
            curves.append((ys, self.project.point(pid).label))
        self.compare.show_frame_curves(curves)

    def _request_frame(self, i: int) -> None:
        """Decode on a worker; while one is in flight keep only the newest request."""
        if self.project is None:
            return
        if self._frame_job is not None and self._frame_job.running:
            self._pending_frame = i
            return
        proj = self.project
        left, right = (p or SOURCE for p in self.compare.picks())

        def fetch(pid):
            return proj.reference_rgb(i) if pid == SOURCE else proj.point_rgb(pid, i)

        labels = self.compare.pick_labels()
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
                self.compare.show_frames(a, b, labels)
        pending, self._pending_frame = self._pending_frame, None
        if pending is not None:
            self._request_frame(pending)

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

        metric = self.rd.metric()
        folder.mkdir(parents=True, exist_ok=True)
        out = [folder / "points.csv", folder / "report.json", folder / f"rd_{metric}.svg",
               folder / f"rd_{metric}.png", folder / "frames.csv"]
        export_csv(self.project, out[0], anchor=self.bd.anchor(), metric=metric)
        export_frames_csv(self.project, out[4])
        export_json(self.project, out[1], anchor=self.bd.anchor(), metric=metric)
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
        self.compare.stop()
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
        self.settings.points.setValue(4)
        self.settings.max_frames.setValue(25)
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
            self.compare.set_frame(12)
            settle(800)
