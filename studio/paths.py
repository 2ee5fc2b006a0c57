"""Where things live, relative to the installed source tree."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = Path(os.environ.get("STUDIO_MODELS_DIR", ROOT / "models"))
RESOURCES_DIR = ROOT / "resources"
# Reference data beside the project (tests, evaluation and recipes only; never shipped).
SHARED_DATA = Path(os.environ.get("STUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
