"""The main window: workbench sidebar, menus, drag-and-drop routing, status bar."""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (QApplication, QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QStackedWidget,
                               QWidget)

from studio import __version__
from studio.jobs import JobResult, JobStatus, Progress
from studio.media.filetypes import Workbench, route, unsupported_message
from studio.runtime.pool import machine
from studio.runtime.providers import choose
from ui import settings_store
from ui.context import AppContext, StatusFeed
from ui.panel_base import WorkbenchPanel
from ui.settings_dialog import SettingsDialog
from ui.workers import JobHandle, JobRunner

APP_TITLE = "Neural Media Studio"


def about_text() -> str:
    import av
    import onnxruntime as ort
    import PySide6
    from PySide6.QtCore import qVersion

    m = machine()
    return (f"<h3>{APP_TITLE} {__version__}</h3>"
            "<p>Run neural media models in real time on your own machine.</p>"
            "<table cellspacing=4>"
            f"<tr><td>Qt</td><td>{qVersion()} (PySide6 {PySide6.__version__})</td></tr>"
            f"<tr><td>onnxruntime</td><td>{ort.__version__}</td></tr>"
            f"<tr><td>PyAV</td><td>{av.__version__} (FFmpeg {av.ffmpeg_version_info})</td></tr>"
            f"<tr><td>Python</td><td>{platform.python_version()}</td></tr>"
            f"<tr><td>Providers</td><td>{', '.join(p.replace('ExecutionProvider', '') for p in m.available)}</td></tr>"
            f"<tr><td>Platform</td><td>{m.system} {m.arch}</td></tr>"
            "</table>")


def glyph_icon(glyph: str, size: int = 56) -> QIcon:
    """A sidebar icon drawn from a symbol glyph (no image files to ship or go missing)."""
    pm = QPixmap(size, size)
    pm.fill(Qt.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.Antialiasing)
    font = QFont()
    font.setPixelSize(int(size * 0.7))
    p.setFont(font)
    p.setPen(QColor("#cfd3d8"))
    p.drawText(pm.rect(), Qt.AlignCenter, glyph)
    p.end()
    return QIcon(pm)


class LazyPanels(Mapping[Workbench, WorkbenchPanel]):
    """The workbench panels in sidebar order, each built on first access (a placeholder holds
    its place in the stack until then)."""

    def __init__(self, ctx: AppContext, stack: QStackedWidget) -> None:
        self._ctx, self._stack = ctx, stack
        self._classes: dict[Workbench, type[WorkbenchPanel]] = {}
        self._built: dict[Workbench, WorkbenchPanel] = {}

    def add(self, cls: type[WorkbenchPanel]) -> None:
        self._classes[cls.workbench] = cls
        self._stack.addWidget(QWidget())

    def __getitem__(self, wb: Workbench) -> WorkbenchPanel:
        panel = self._built.get(wb)
        if panel is None:
            panel = self._classes[wb](self._ctx)     # KeyError for an unknown workbench
            i = list(self._classes).index(wb)
            current = self._stack.currentIndex()
            placeholder = self._stack.widget(i)
            self._stack.insertWidget(i, panel)
            self._stack.removeWidget(placeholder)
            placeholder.deleteLater()
            self._stack.setCurrentIndex(current)
            self._built[wb] = panel
        return panel

    def __iter__(self) -> Iterator[Workbench]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def is_built(self, wb: Workbench) -> bool:
        return wb in self._built

    def built(self) -> list[WorkbenchPanel]:
        return list(self._built.values())


class MainWindow(QMainWindow):
    def __init__(self, panels: list[type[WorkbenchPanel]] | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.resize(1400, 880)
        self.ctx = AppContext(JobRunner(max_threads=2, parent=self), settings_store.load(), StatusFeed(self))

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("Sidebar")
        self.sidebar.setFixedWidth(112)
        self.sidebar.setIconSize(QSize(30, 30))
        self.sidebar.setViewMode(QListWidget.IconMode)
        self.sidebar.setMovement(QListWidget.Static)
        self.sidebar.setFlow(QListWidget.TopToBottom)
        self.sidebar.setSpacing(4)
        self.sidebar.setGridSize(QSize(100, 78))
        self.stack = QStackedWidget()
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.sidebar)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        if panels is None:
            from ui.codec.panel import CodecPanel
            from ui.motion.panel import MotionPanel
            from ui.talk.panel import TalkPanel
            panels = [TalkPanel, MotionPanel, CodecPanel]
        # Panels are built the first time they are shown or sent a file: the window is up
        # before the Motion and Codec panels (about 1.3 s of widgets and GL) exist.
        self.panels = LazyPanels(self.ctx, self.stack)
        for cls in panels:
            self.panels.add(cls)
            item = QListWidgetItem(glyph_icon(cls.icon_text), cls.workbench.value)
            item.setTextAlignment(Qt.AlignCenter)
            item.setToolTip(cls.subtitle)
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self._show_row)
        self.sidebar.setCurrentRow(0)

        self._build_status_bar()
        self._build_menus()
        self.ctx.runner.started.connect(self._track_job)
        self.ctx.feed.rate.connect(self._show_rate)
        self.ctx.feed.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        self.ctx.feed.provider.connect(lambda p: self.provider_label.setText(f"EP: {p}"))
        self._pending_errors: list[tuple[str, str]] = []
        self._error_box: QMessageBox | None = None
        self._error_timer = QTimer(self)
        self._error_timer.setSingleShot(True)
        self._error_timer.setInterval(400)
        self._error_timer.timeout.connect(self._flush_errors)
        self.ctx.feed.error.connect(self.show_error)
        self._jobs: list[JobHandle] = []
        self._rate_reset = QTimer(self)
        self._rate_reset.setSingleShot(True)
        self._rate_reset.timeout.connect(lambda: self.rate_label.setText("idle"))
        self._apply_settings()

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(self.panels):
            wb = list(self.panels)[row]
            if not self.panels.is_built(wb):
                QApplication.setOverrideCursor(Qt.WaitCursor)
                try:
                    self.panels[wb]
                finally:
                    QApplication.restoreOverrideCursor()
        self.stack.setCurrentIndex(row)

    # -- chrome -----------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.provider_label = QLabel()
        self.provider_label.setObjectName("StatusChip")
        self.rate_label = QLabel("idle")
        self.rate_label.setObjectName("StatusChip")
        self.rate_label.setMinimumWidth(190)
        self.rate_label.setToolTip("Live frames per second and latency of whatever is running")
        self.job_label = QLabel()
        self.job_bar = QProgressBar()
        self.job_bar.setFixedWidth(220)
        self.job_bar.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.cancel_jobs)
        for w in (self.job_label, self.job_bar, self.cancel_button):
            w.hide()
            sb.addPermanentWidget(w)
        sb.addPermanentWidget(self.rate_label)
        sb.addPermanentWidget(self.provider_label)
        sb.showMessage("Ready. Drop a file anywhere: audio → Talk, BVH/DeepMimic → Motion, video → Codec.")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self._action(file_menu, "&Open…", QKeySequence.Open, self.open_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.Quit, self.close)
        view = mb.addMenu("&View")
        for i, wb in enumerate(self.panels):
            self._action(view, wb.value, QKeySequence(f"Ctrl+{i + 1}"), lambda _=False, i=i: self.sidebar.setCurrentRow(i))
        tools = mb.addMenu("&Tools")
        self._action(tools, "&Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        self._action(tools, "Cancel running job", QKeySequence(Qt.Key_Escape), self.cancel_jobs)
        help_menu = mb.addMenu("&Help")
        self._action(help_menu, "&About Neural Media Studio", None, self.show_about)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        self.addAction(a)
        return a

    # -- settings / about ---------------------------------------------------------------
    def _apply_settings(self) -> None:
        c = choose(self.ctx.settings.provider, machine())
        self.provider_label.setText(f"EP: {c.label}")
        self.provider_label.setToolTip(f"Execution provider ({self.ctx.settings.provider}): {c.reason}\n"
                                       f"{self.ctx.settings.sessions} pooled session(s) × "
                                       f"{self.ctx.settings.threads_per_session} thread(s)")

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.ctx.settings, self)
        if dlg.exec():
            new = dlg.value()
            self.ctx.settings.provider = new.provider
            self.ctx.settings.pool_size = new.pool_size
            self.ctx.settings.threads_per_session = new.threads_per_session
            settings_store.save(self.ctx.settings)
            self._apply_settings()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_TITLE}", about_text())

    def show_error(self, title: str, message: str) -> None:
        """Errors that arrive together (several bad files dropped at once, each failing in its
        own job) become one summary dialog instead of a stack at the same spot."""
        self._pending_errors.append((title, message))
        self._error_timer.start()

    def _flush_errors(self) -> None:
        errors, self._pending_errors = self._pending_errors, []
        if not errors:
            return
        unique = list(dict.fromkeys(errors))
        if len(unique) == 1:
            title, message = unique[0]
        else:
            title = f"{len(unique)} problems"
            message = "\n\n".join(f"{t}: {m}" for t, m in unique)
        if self._error_box is not None and self._error_box.isVisible():
            self._error_box.setText(self._error_box.text() + "\n\n" + message)
            return
        box = QMessageBox(QMessageBox.Warning, title, message, QMessageBox.Ok, self)
        self._error_box = box
        box.open()  # non-blocking: the event loop keeps running

    # -- files ----------------------------------------------------------------------------
    @property
    def active_workbench(self) -> Workbench:
        return list(self.panels)[self.stack.currentIndex()]

    def open_paths(self, paths: list[Path]) -> list[tuple[Path, Workbench | None]]:
        """Route each file to its workbench; returns where each went (None: nobody takes it)."""
        routed = []
        rejected = []
        first = None
        for p in paths:
            wb, kind = route(p, self.active_workbench)
            routed.append((p, wb))
            if wb is None:
                rejected.append(unsupported_message(p))
                continue
            if first is None:      # show the first file's workbench; no jumping per file
                first = wb
                self.sidebar.setCurrentRow(list(self.panels).index(wb))
            self.panels[wb].open_file(p, kind)
        if rejected:
            self.statusBar().showMessage(rejected[0], 10000)
            self.show_error("Unsupported file", "\n\n".join(rejected))
        return routed

    def open_dialog(self) -> None:
        panel = self.panels[self.active_workbench]
        names, _ = QFileDialog.getOpenFileNames(self, "Open", "", panel.file_filter())
        if names:
            self.open_paths([Path(n) for n in names])

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- jobs and rates -------------------------------------------------------------------------
    def _track_job(self, handle: JobHandle) -> None:
        self._jobs.append(handle)
        handle.progress.connect(lambda p, h=handle: self._job_progress(h, p))
        handle.finished.connect(lambda r, h=handle: self._job_finished(h, r))
        self.job_label.setText(handle.title)
        self.job_bar.setValue(0)
        for w in (self.job_label, self.job_bar, self.cancel_button):
            w.show()

    def _job_progress(self, handle: JobHandle, p: Progress) -> None:
        if self._jobs and handle is self._jobs[-1]:
            self.job_bar.setValue(int(1000 * p.fraction))
            self.job_bar.setFormat(f"{100 * p.fraction:.0f}%")
            self.job_label.setText(f"{handle.title}: {p.message}" if p.message else handle.title)

    def _job_finished(self, handle: JobHandle, result: JobResult) -> None:
        if handle in self._jobs:
            self._jobs.remove(handle)
        if not self._jobs:
            for w in (self.job_label, self.job_bar, self.cancel_button):
                w.hide()
        if result.status is JobStatus.OK:
            self.statusBar().showMessage(f"{handle.title}: done in {result.seconds:.1f} s", 8000)
        elif result.status is JobStatus.CANCELLED:
            self.statusBar().showMessage(f"{handle.title}: cancelled", 8000)
        else:
            self.statusBar().showMessage(result.error.splitlines()[0], 12000)

    def cancel_jobs(self) -> None:
        self.ctx.runner.cancel_all()

    def _show_rate(self, source: str, fps: float, latency_ms: float) -> None:
        lat = f" · {latency_ms:.0f} ms" if latency_ms > 0 else ""
        self.rate_label.setText(f"{source}: {fps:.1f} fps{lat}")
        self._rate_reset.start(3000)

    def closeEvent(self, event) -> None:
        # stop jobs first: panels' shutdown closes the pools and readers those jobs use
        self.ctx.runner.cancel_all()
        self.ctx.runner.wait(5000)
        for p in self.panels.built():
            p.shutdown()
        super().closeEvent(event)
