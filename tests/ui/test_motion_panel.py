"""The Motion workbench (offscreen): built-in library, loading, timeline, export."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout

from studio.media.filetypes import FileKind
from studio.motion.learned import style as S
from studio.motion.learned import transition as T
from studio.runtime import models


@pytest.fixture
def panel(open_panel):
    from ui.motion.panel import MotionPanel

    return open_panel(MotionPanel)


def _facts(panel):
    return {panel.facts.itemAt(i, QFormLayout.ItemRole.LabelRole).widget().text():
            panel.facts.itemAt(i, QFormLayout.ItemRole.FieldRole).widget().text()
            for i in range(panel.facts.rowCount())}


def test_library_lists_builtin_clips_and_loads_one(panel, qtbot):
    names = [panel.library.item(i).text() for i in range(panel.library.count())]
    assert {"walk", "run", "jump", "backflip"} <= set(names)
    panel.library.setCurrentRow(names.index("run"))
    qtbot.waitUntil(lambda: panel.display is not None, timeout=30000)
    assert panel.display.name == "run"
    assert panel.timeline.count == panel.display.n_frames > 10
    facts = _facts(panel)
    assert facts["joints"] == "18" and "left" in facts["contacts"]
    panel.timeline.set_frame(5)
    assert panel.timeline.frame == 5


def test_drop_bvh_and_export(panel, qtbot, tmp_path):
    from studio.motion.io.files import save_clip
    from studio.motion.io.library import load_builtin

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
    before = panel.library.count()
    panel.open_file(bad, FileKind.BVH)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "bad.bvh" in errors[0] and "line" in errors[0]
    # a file that failed to open leaves no library entry (nor a combo entry)
    qtbot.waitUntil(lambda: panel.library.count() == before, timeout=5000)
    assert "bad" not in panel.clips and panel.blend_tab.b_combo.findText("bad") < 0


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
    panel.blend_tab.b_combo.setCurrentText("run")
    panel.blend_tab.total.setValue(4.0)
    panel.blend_tab.start.setValue(1.0)
    panel.blend_tab.fade.setValue(1.5)
    handle = panel.blend()
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error
    name = "walk → run (aligned)"
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == name, timeout=30000)
    assert panel.display.n_frames == 120
    assert name in [panel.library.item(i).text() for i in range(panel.library.count())]
    w = panel.weight_curves[1].yData
    assert w[0] == 0 and w[-1] == 1  # B fades in
    assert panel.bottom_tabs.currentWidget() is panel.weights_plot
    # another clip: the blend's weights are not its plot any more
    _select(panel, qtbot, "jump")
    assert panel.bottom_tabs.currentIndex() == 0
    # blending again with the same settings replaces the entry instead of adding "#2"
    _select(panel, qtbot, "walk")
    _wait(qtbot, panel.blend())
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == name, timeout=30000)
    assert _library(panel).count(name) == 1


def _select(panel, qtbot, name):
    items = panel.library.findItems(name, Qt.MatchExactly)
    assert items, name
    panel.library.setCurrentItem(items[0])
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == name,
                    timeout=30000)


def _library(panel):
    return [panel.library.item(i).text() for i in range(panel.library.count())]


def _wait(qtbot, handle):
    assert handle is not None
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error


needs_transition = pytest.mark.skipif(not models.available(T.ROLE),
                                      reason="models/transition not installed")
needs_style = pytest.mark.skipif(not S.model_available("vae"),
                                 reason="models/style_vae not installed")


@needs_transition
# offscreen Qt has no OpenGL: pyqtgraph prints (as RuntimeWarnings) that the second
# viewport's shader program fails to bind; under a real display both draw
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_transitions_model_linear_and_side_by_side(panel, qtbot):
    tab = panel.transition_tab
    assert "non-commercial" in tab.note.text() and "CC BY-NC 4.0" in tab.note.text()
    _select(panel, qtbot, "walk")
    panel.tools.setCurrentWidget(tab)
    panel.timeline.set_frame(20)  # the out-point follows the playhead by default
    assert tab.out_point() == 20 and "20" in tab.out_frame.specialValueText()
    tab.b_combo.setCurrentText("run")
    tab.in_frame.setValue(5)
    tab.gap.setValue(20)
    n_expected = 21 + 20 + (25 - 5)  # walk 0..20, 20 generated, run 5..24
    results = {}
    for method in ("model", "linear"):
        _select(panel, qtbot, "walk")
        panel.timeline.set_frame(20)
        tab.method.setCurrentIndex(tab.method.findData(method))
        _wait(qtbot, tab.generate())
        name = f"walk → run ({method}, 20 f)"
        qtbot.waitUntil(lambda n=name: panel.display is not None and panel.display.name == n,
                        timeout=30000)
        assert panel.current.n_frames == panel.display.n_frames == n_expected
        assert panel.current.meta["transition"]["method"] == method
        assert panel.timeline.playing()  # a new transition plays
        # a model's clip is marked non-commercial; interpolation uses no model
        assert ("licence" in _facts(panel)) == (method == "model")
        results[method] = panel.current
        assert name in _library(panel) and name in panel.made
    assert panel.gap_region.isVisible()
    # side by side: the model and linear interpolation on one timeline
    _select(panel, qtbot, "walk")
    panel.timeline.set_frame(20)
    _wait(qtbot, tab.compare())
    qtbot.waitUntil(lambda: panel.comparing, timeout=10000)
    # made again with the same settings: the entries are replaced, not duplicated ("#2")
    assert panel.display.name == "walk → run (model, 20 f)"
    assert panel.compare_display.name == "walk → run (linear, 20 f)"
    assert len(_library(panel)) == len(set(_library(panel)))
    assert not any("#2" in n for n in _library(panel))
    assert panel.display.n_frames == panel.compare_display.n_frames == n_expected
    assert panel.view2 is not None and panel.view2.isVisible()
    assert panel.view_label.text() == "TransitionNet (learned)"
    assert panel.view2_label.text() == "Linear / SLERP"
    lib = _library(panel)
    assert panel.display.name in lib and panel.compare_display.name in lib
    panel.timeline.pause()
    panel.timeline.set_frame(30)
    assert panel.view2._display is panel.compare_display
    panel.library.setFocus()
    qtbot.keyClick(panel.library, Qt.Key_Space)  # Space still plays / pauses
    assert panel.timeline.playing()
    qtbot.keyClick(panel.library, Qt.Key_Space)
    assert not panel.timeline.playing()
    # picking another clip goes back to one viewport
    _select(panel, qtbot, "run")
    assert not panel.comparing and not panel.view2.isVisible()


@needs_transition
def test_transition_errors_show_a_message(panel, qtbot):
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append((t, m)))
    tab = panel.transition_tab
    _select(panel, qtbot, "walk")
    n_items = panel.library.count()
    tab.method.setCurrentIndex(tab.method.findData("model"))
    tab.gap.setValue(70)  # the model fills 5..60
    handle = tab.generate()
    qtbot.waitUntil(lambda: not handle.running, timeout=30000)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors[0][0] == "Transition failed" and "5 to 60" in errors[0][1]
    tab.gap.setValue(20)
    tab.in_frame.setValue(500)  # beyond run's 25 frames
    handle = tab.generate()
    qtbot.waitUntil(lambda: len(errors) > 1, timeout=30000)
    assert "in frame 500" in errors[1][1]
    assert panel.library.count() == n_items and panel.display.name == "walk"


@needs_style
def test_style_transfer_preview_and_style_map(panel, qtbot):
    tab = panel.style_tab
    assert "non-commercial" in tab.note.text()
    qtbot.waitUntil(lambda: panel.style_map.projection is not None, timeout=10000)
    assert len(panel.style_map.points.data) == len(panel.style_map.projection["points"]) > 100
    assert panel.style_map.marker_count() == 0
    _select(panel, qtbot, "walk")
    panel.tools.setCurrentWidget(tab)
    tab.style_combo.setCurrentText("run")
    tab.strength.setValue(0.5)
    assert tab.keep_root.isChecked()
    _wait(qtbot, tab.transfer())
    name = "walk as run (50%)"
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == name,
                    timeout=30000)
    assert name in _library(panel) and panel.view._display is panel.display
    assert panel.current.meta["style_transfer"]["strength"] == pytest.approx(0.5)
    assert panel.current.n_frames == 39
    assert panel.export_button.isEnabled() and panel.export_mp4_button.isEnabled()
    assert panel.style_map.marker_count() == 3
    assert set(panel.style_map.placed) == {"content", "style", "result"}
    assert panel.bottom_tabs.currentWidget() is panel.style_map
    assert _facts(panel)["licence"] == "non-commercial only"


def test_long_clip_is_shown_first_and_played_a_window_at_a_time(panel, qtbot, tmp_path,
                                                                monkeypatch):
    """A clip longer than fk.LONG_CLIP_FRAMES: windowed display positions, the phase from a
    second job."""
    import numpy as np

    from studio.motion.core.display import WindowedPositions
    from studio.motion.io.files import save_clip
    from studio.motion.io.library import load_builtin

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    walk = load_builtin("walk")
    reps = 5000 // walk.n_frames + 1
    long = walk.copy(root_pos=np.tile(walk.root_pos, (reps, 1))[:5000],
                     rotations=np.tile(walk.rotations, (reps, 1, 1))[:5000])
    bvh = tmp_path / "long_walk.bvh"
    save_clip(long, bvh)
    panel.open_file(bvh, FileKind.BVH)
    qtbot.waitUntil(lambda: panel.display is not None and panel.display.name == "long_walk",
                    timeout=60000)
    assert isinstance(panel.display.positions, WindowedPositions)
    assert panel.timeline.count == 5000
    for i in (0, 2500, 4999):
        panel.timeline.set_frame(i)
        assert panel.timeline.frame == i
    from studio.motion.learned.phase import ROLE

    if models.available(ROLE):
        qtbot.waitUntil(lambda: panel.phase is not None, timeout=60000)
        assert panel.phase.n_frames > 0 and panel.phase_curves
    qtbot.waitUntil(lambda: panel.ctx.runner.idle, timeout=60000)
