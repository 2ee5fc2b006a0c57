"""The engine stays free of Qt: importing every codec module pulls in no GUI package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_codec_engine_imports_no_gui():
    code = (
        "import sys\n"
        "import studio.codec.cli, studio.codec.sweep, studio.codec.report, studio.codec.ffmetrics, studio.codec.encoders, studio.codec.score\n"
        "import studio.media.video_io\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'ui', 'qtpy')]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stdout + res.stderr
