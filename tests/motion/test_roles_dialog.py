"""The Joint roles dialog of the Motion panel saves a validated mapping per rig."""

import pytest

pytest.importorskip("PySide6")

from studio.motion.core import rigmap  # noqa: E402
from studio.motion.core.skeleton import find_roles  # noqa: E402
from tests.motion.rigs import make_clip  # noqa: E402


def test_roles_dialog_saves_validates_and_resets(qtbot):
    from ui.motion.roles_dialog import RolesDialog

    sk = make_clip("biovision").skeleton
    dlg = RolesDialog(sk)
    qtbot.addWidget(dlg)
    assert dlg.combos["left_arm"].itemText(0) == "automatic (LeftShoulder)"
    box = dlg.combos["left_arm"]
    box.setCurrentIndex(box.findText("LeftCollar"))
    dlg.accept()
    assert dlg.result() == dlg.DialogCode.Accepted
    assert rigmap.load_mapping(sk) == {"left_arm": "LeftCollar"}
    assert sk.names[find_roles(sk)["left_arm"]] == "LeftCollar"
    # Two roles on one joint: refused with the reason shown, nothing saved.
    again = RolesDialog(sk)
    qtbot.addWidget(again)
    assert again.combos["left_arm"].currentText() == "LeftCollar"
    again.combos["right_arm"].setCurrentIndex(again.combos["right_arm"].findText("LeftCollar"))
    again.accept()
    assert "given several roles" in again.error.text()
    assert rigmap.load_mapping(sk) == {"left_arm": "LeftCollar"}
    again.reset()
    assert rigmap.load_mapping(sk) is None
