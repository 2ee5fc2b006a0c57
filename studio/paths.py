"""Where things live, relative to the installed source tree."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("STUDIO_MODELS_DIR", ROOT / "models"))
RESOURCES_DIR = ROOT / "resources"
# Reference data beside the project (tests, evaluation and recipes only; never shipped).
SHARED_DATA = Path(os.environ.get("STUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))


def user_data_dir() -> Path:
    """Where the app keeps what the user chose (e.g. joint mappings per rig): kept across
    runs and versions, unlike caches. ``STUDIO_USER_DATA``, else ``$XDG_DATA_HOME`` (or
    ``~/.local/share``) / ``neural-media-studio``. Read at call time so tests can redirect it."""
    env = os.environ.get("STUDIO_USER_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "neural-media-studio"
