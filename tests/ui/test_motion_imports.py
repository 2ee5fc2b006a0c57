"""Start-up cost: the Motion workbench and what its widgets import while they are built
load no scipy (rotations are imported inside the functions that use them)."""

import subprocess
import sys

BUILD_TIME = ("ui.motion.panel", "ui.motion.physics_tab", "ui.motion.style_tab",
              "ui.motion.transition_tab", "studio.motion.io.deepmimic",
              "studio.motion.learned.blend", "studio.motion.learned.style",
              "studio.motion.learned.transition", "studio.motion.physics.simulation", "studio.motion.physics.live",
              "studio.motion.core.display", "studio.runtime.models")


def test_motion_panel_modules_do_not_import_scipy():
    code = ("import importlib, sys\n"
            f"for m in {BUILD_TIME!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'scipy')\n"
            "assert not bad, bad[:5]\n")
    subprocess.run([sys.executable, "-c", code], check=True)
