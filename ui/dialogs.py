"""Where file dialogs start and what they suggest: the user's Documents, and names that any
file system and shell take (no arrows, percent signs or spaces)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QStandardPaths

APP_FOLDER = "Neural Media Studio"


def documents_dir(*sub: str) -> Path:
    """Documents/Neural Media Studio[/sub...], created on demand (never the process's cwd)."""
    docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) or str(Path.home())
    folder = Path(docs, APP_FOLDER, *sub)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def safe_name(text: str, default: str = "untitled") -> str:
    """A file-name stem from a display name: "walk → run (model, 30 f)" -> "walk-to-run_model_30f"."""
    t = text.replace("→", " to ").replace("->", " to ").replace("%", "pct")
    t = re.sub(r"[^\w.+-]+", "_", t, flags=re.ASCII)
    t = re.sub(r"_+", "_", t).strip("._-")
    t = re.sub(r"_to_", "-to-", t)
    return t[:80] or default


def suggested_path(display_name: str, suffix: str, *sub: str) -> str:
    """Documents/Neural Media Studio/<sub>/<safe name><suffix>, as a dialog's starting path."""
    return str(documents_dir(*sub) / (safe_name(display_name) + suffix))
