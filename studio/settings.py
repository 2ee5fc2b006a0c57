"""Engine settings the user chooses (Settings dialog, CLI flags). Persisted by ui/ via QSettings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from studio.runtime.providers import PREFERENCES


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass
class EngineSettings:
    provider: str = field(default_factory=lambda: os.environ.get("STUDIO_PROVIDER", "auto"))
    pool_size: int = 0  # sessions per model; 0 = one per core
    threads_per_session: int = 1  # 1-thread sessions leave a core for the GUI and decoding

    def __post_init__(self) -> None:
        if self.provider not in PREFERENCES:
            self.provider = "auto"
        self.pool_size = max(0, int(self.pool_size))
        self.threads_per_session = max(1, int(self.threads_per_session))

    @property
    def sessions(self) -> int:
        return self.pool_size or cpu_count()
