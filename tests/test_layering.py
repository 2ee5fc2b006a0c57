"""studio/ is the Qt-free engine: it must never import Qt, pyqtgraph or ui/ (as napari's
import-linter contract does for its core)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "ui", "shiboken6")


def test_engine_never_imports_qt_or_ui():
    offenders = []
    for path in (ROOT / "studio").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {n}")
    assert not offenders, "\n".join(offenders)


def test_cli_runs_without_qt_loaded():
    code = ("import sys; from studio.cli import main; rc = main(['devices']); "
            "assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules), 'Qt loaded'; "
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "auto picks:" in proc.stdout


def test_app_without_display_explains_and_exits_nonzero():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    if sys.platform.startswith("linux"):
        assert proc.returncode == 2
        assert "needs a display" in proc.stderr and "xvfb-run" in proc.stderr
        assert "Traceback" not in proc.stderr
