"""The Motion tool tabs use the panel only through ui.motion.host.MotionHost."""

import ast
from pathlib import Path

from ui.motion.host import MotionHost

ROOT = Path(__file__).resolve().parents[2]
TABS = ("blend_tab.py", "transition_tab.py", "style_tab.py", "physics_tab.py")


def _panel_uses(path: Path) -> set[str]:
    """Attributes read off ``panel`` or ``self.panel`` in a tab's source."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id == "panel":
            used.add(node.attr)
        elif (isinstance(base, ast.Attribute) and base.attr == "panel"
              and isinstance(base.value, ast.Name) and base.value.id == "self"):
            used.add(node.attr)
    return used


def test_tool_tabs_use_only_the_host_interface():
    allowed = {n for n in dir(MotionHost) if not n.startswith("_")} | set(MotionHost.__annotations__)
    for name in TABS:
        extra = _panel_uses(ROOT / "ui" / "motion" / name) - allowed
        assert not extra, f"{name} reaches into the panel: {sorted(extra)}"


def test_the_panel_implements_the_host():
    from ui.motion.panel import MotionPanel

    members = {n for n in dir(MotionHost) if not n.startswith("_")}
    missing = {n for n in members if not callable(getattr(MotionPanel, n, None))}
    assert not missing, missing
