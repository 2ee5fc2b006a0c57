"""What every panel shares: the job runner, the engine settings and the status bar feed."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Signal

from studio.jobs import Job
from studio.settings import EngineSettings
from ui.workers import JobHandle, JobRunner


class StatusFeed(QObject):
    """Panels report here; the main window's status bar listens."""

    rate = Signal(str, float, float)  # source, frames per second, latency in ms
    message = Signal(str, int)  # text, timeout ms (0 = until replaced)
    provider = Signal(str)  # the provider actually in use
    error = Signal(str, str)  # title, message (shown in a dialog, never a traceback)


@dataclass
class AppContext:
    runner: JobRunner
    settings: EngineSettings
    feed: StatusFeed = field(default_factory=StatusFeed)

    def run(self, job: Job) -> JobHandle:
        """Start a job on a worker; the status bar shows its progress and a cancel button."""
        return self.runner.start(job)
