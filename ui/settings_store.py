"""Persist :class:`studio.settings.EngineSettings` with QSettings."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from studio.settings import EngineSettings

ORG = "NeuralMediaStudio"
APP = "Neural Media Studio"


def qsettings() -> QSettings:
    # Tests point this at a throw-away organisation so they never touch a user's settings.
    return QSettings(os.environ.get("STUDIO_SETTINGS_ORG", ORG), APP)


def load() -> EngineSettings:
    s = qsettings()
    return EngineSettings(provider=str(s.value("engine/provider", "auto")),
                          pool_size=int(s.value("engine/pool_size", 0)),
                          threads_per_session=int(s.value("engine/threads_per_session", 1)))


def save(settings: EngineSettings) -> None:
    s = qsettings()
    s.setValue("engine/provider", settings.provider)
    s.setValue("engine/pool_size", settings.pool_size)
    s.setValue("engine/threads_per_session", settings.threads_per_session)
    s.sync()
