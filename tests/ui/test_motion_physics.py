"""The Motion workbench's Physics tool (offscreen): start, step, push, stop, export."""

import pytest

pytest.importorskip("pybullet_data", reason="the humanoid and its policies ship with pybullet")

from studio.motion.physics.simulation import policy_names  # noqa: E402

pytestmark = pytest.mark.skipif("walk" not in policy_names(),
                                reason="DeepMimic policies not converted (models/deepmimic)")


@pytest.fixture
def panel(open_panel):
    from ui.motion.panel import MotionPanel

    return open_panel(MotionPanel)


def test_start_step_push_stop_export(panel, qtbot, tmp_path):
    tab = panel.physics_tab
    panel.tools.setCurrentWidget(tab)
    assert tab.policy.currentText() == "walk"
    assert not tab.stop_button.isEnabled() and not tab.export_bvh_button.isEnabled()
    tab.start_button.click()
    assert tab.running and tab.stop_button.isEnabled() and not tab.policy.isEnabled()
    assert not tab.start_button.isEnabled()
    qtbot.waitUntil(lambda: tab.steps >= 10, timeout=30000)
    tab.force.setValue(150)
    tab.push_button.click()
    seen = tab.steps
    qtbot.waitUntil(lambda: tab.steps >= seen + 10, timeout=30000)
    qtbot.waitUntil(lambda: "value" in tab.status.text(), timeout=5000)
    assert len(tab.value_curve.getData()[0]) > 0 and len(tab.error_curve.getData()[0]) > 0
    assert any(p.force[2] == 150 for p in tab.sim.pushes)
    tab.stop_button.click()
    qtbot.waitUntil(lambda: not tab.running, timeout=10000)
    assert tab.start_button.isEnabled() and tab.export_bvh_button.isEnabled()
    assert not tab.sim.fallen  # a 150 N push does not topple the walk
    out = tmp_path / "sim.bvh"
    handle = tab.export_bvh(out)
    qtbot.waitUntil(lambda: not handle.running, timeout=30000)
    assert handle.result.ok, handle.result.error
    assert out.exists()
    tab.reset_button.click()
    assert tab.steps == 0 and tab.status.text() == ""
