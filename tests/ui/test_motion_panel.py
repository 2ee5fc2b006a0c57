"""The Motion workbench (offscreen): built-in library, loading, timeline, export."""

import pytest
from PySide6.QtWidgets import QFormLayout

from studio.media.filetypes import FileKind


@pytest.fixture
def panel(open_panel):
    from ui.motion.panel import MotionPanel

    return open_panel(MotionPanel)


def test_library_lists_builtin_clips_and_loads_one(panel, qtbot):
    names = [panel.library.item(i).text() for i in range(panel.library.count())]
    assert {"walk", "run", "jump", "backflip"} <= set(names)
    panel.library.setCurrentRow(names.index("run"))
    qtbot.waitUntil(lambda: panel.display is not None, timeout=30000)
    assert panel.display.name == "run"
    assert panel.timeline.count == panel.display.n_frames > 10
    facts = {panel.facts.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text():
             panel.facts.itemAt(i, QFormLayout.ItemRole.FieldRole).widget().text()
             for i in range(panel.facts.rowCount())}
    assert facts["joints"] == "18" and "left" in facts["contacts"]
    panel.timeline.set_frame(5)
    assert panel.timeline.frame == 5


def test_drop_bvh_and_export(panel, qtbot, tmp_path):
    from studio.motion.files import save_clip
    from studio.motion.library import load_builtin

    bvh = tmp_path / "walk_copy.bvh"
    save_clip(load_builtin("walk"), bvh)
    panel.open_file(bvh, FileKind.BVH)
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == "walk_copy",
                    timeout=30000)
    assert panel.export_button.isEnabled()


def test_malformed_bvh_shows_line_number(panel, qtbot, tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n")
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append(m))
    panel.open_file(bad, FileKind.BVH)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "bad.bvh" in errors[0] and "line" in errors[0]


def test_export_mp4_of_the_viewport(panel, qtbot, tmp_path):
    import av

    names = [panel.library.item(i).text() for i in range(panel.library.count())]
    panel.library.setCurrentRow(names.index("walk"))
    qtbot.waitUntil(lambda: panel.display is not None, timeout=30000)
    handle = panel.render_mp4(tmp_path / "walk.mp4")
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error
    with av.open(str(tmp_path / "walk.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == panel.display.n_frames


def test_phase_plot_and_phase_aligned_blend(panel, qtbot):
    names = [panel.library.item(i).text() for i in range(panel.library.count())]
    panel.library.setCurrentRow(names.index("walk"))
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == "walk", timeout=30000)
    assert panel.phase is not None and len(panel.phase_curves) == panel.phase.n_channels
    panel.blend_b.setCurrentText("run")
    panel.blend_total.setValue(4.0)
    panel.blend_start.setValue(1.0)
    panel.blend_len.setValue(1.5)
    handle = panel.blend()
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error
    name = "walk → run (aligned)"
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == name, timeout=30000)
    assert panel.display.n_frames == 120
    assert name in [panel.library.item(i).text() for i in range(panel.library.count())]
    w = panel.weight_curves[1].yData
    assert w[0] == 0 and w[-1] == 1  # B fades in
