"""The codec workbench end to end (offscreen): sweep, plot, BD table, viewer, export."""

import json

import numpy as np
import pytest

from studio.media.filetypes import FileKind
from tests.codec.conftest import write_clip


@pytest.fixture
def panel(open_panel):
    from ui.codec.panel import CodecPanel

    return open_panel(CodecPanel)


def test_sweep_plot_table_viewer_export(panel, qtbot, tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", width=128, height=96, frames=8)
    panel.open_file(clip, FileKind.VIDEO)
    qtbot.waitUntil(lambda: panel.settings.run_button.isEnabled(), timeout=30000)
    assert "128×96" in panel.settings.source_label.text()
    for key, box in panel.settings.codec_boxes.items():
        box.setChecked(key in ("x264", "vp9"))
    panel.settings.points.setValue(2)
    panel.settings.max_frames.setValue(8)
    panel.settings.vmaf_ok = False
    panel.run_sweep(tmp_path / "proj")
    qtbot.waitUntil(lambda: not panel.sweep_handle.running, timeout=120000)
    assert panel.sweep_handle.result.ok, panel.sweep_handle.result.error
    qtbot.waitUntil(lambda: panel.project is not None and len(panel.project.done_points()) == 4,
                    timeout=30000)

    # one RD curve per codec, with the measured points
    items = {k: v for k, v in panel.rd.curve_items.items() if v.xData is not None and len(v.xData)}
    assert sorted(k.split("/")[0] for k in items) == ["vp9", "x264"]
    assert all(len(v.xData) == 2 and np.all(np.asarray(v.xData) > 0) for v in items.values())
    # BD table: vp9 against the x264 anchor
    assert panel.bd.table.rowCount() == 1
    assert panel.bd.table.item(0, 1).text().endswith("%") or panel.bd.table.item(0, 3).text()

    # viewer shows source vs the selected point, same size as the source
    qtbot.waitUntil(lambda: panel.compare.view.has_frame(), timeout=30000)
    pid = panel.compare.right_pick.currentData()
    assert pid in panel.project.points
    panel.compare.frame_slider.setValue(5)
    qtbot.waitUntil(lambda: panel._frame_job is not None and not panel._frame_job.running, timeout=30000)
    assert panel.compare.view._frames[0].shape == (96, 128, 3)
    assert not np.array_equal(panel.compare.view._frames[0], panel.compare.view._frames[1])  # lossy
    panel.compare.view_mode.setCurrentIndex(1)
    assert panel.compare.view.mode == "diff"

    out = panel.write_report(tmp_path / "report")
    assert all(p.exists() and p.stat().st_size > 0 for p in out)
    rep = json.loads((tmp_path / "report" / "report.json").read_text())
    assert rep  # parses


def test_reopen_saved_project(panel, qtbot, tmp_path):
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    clip = write_clip(tmp_path / "clip.mp4", width=128, height=96, frames=6)
    run_sweep(SweepSpec(input=str(clip), codecs=["x264"], points=2, max_frames=6, workers=0,
                        ms_ssim=False), tmp_path / "p", JobContext())
    panel.open_file(tmp_path / "p" / "project.json", FileKind.STUDIO_PROJECT)
    assert panel.project is not None and len(panel.project.done_points()) == 2
    assert panel.centre_stack.currentIndex() == 1
    # the project's own source and settings, not "No source video" and the defaults
    source = panel.settings.source_label.text()
    assert "128×96" in source and "No source" not in source
    assert panel.settings.max_frames.value() == 6 and panel.settings.points.value() == 2
    assert [k for k, b in panel.settings.codec_boxes.items() if b.isChecked()] == ["x264"]
    assert panel.compare.frame_label.text() == "frame 1 / 6"
    # Run sweep extends it (no "this project uses max 75 frames / None s")
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append(m))
    panel.settings.vmaf_ok = False
    panel.settings.points.setValue(3)
    panel.run_sweep()
    qtbot.waitUntil(lambda: not panel.sweep_handle.running, timeout=60000)
    assert panel.sweep_handle.result.ok, panel.sweep_handle.result.error
    assert not errors and panel.project.folder == tmp_path / "p"


def test_rd_hover_readout_follows_the_pointer(panel, qtbot, tmp_path):
    """A real mouse move over a point shows its reading (sigPointsHovered needs hoverable)."""
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    clip = write_clip(tmp_path / "clip.mp4", width=128, height=96, frames=4)
    run_sweep(SweepSpec(input=str(clip), codecs=["x264"], points=2, max_frames=4, workers=0,
                        ms_ssim=False, vmaf=False), tmp_path / "p", JobContext())
    panel.open_project(tmp_path / "p")
    panel.resize(1300, 800)
    panel.show()
    qtbot.waitExposed(panel)
    item = next(iter(panel.rd.curve_items.values()))
    vb = panel.rd.plot.getPlotItem().getViewBox()
    qtbot.wait(100)                        # let the view settle on its range
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication
    port = panel.rd.plot.viewport()

    def move(dx: float) -> None:   # a synthetic move (no cursor offscreen)
        spot = item.scatter.points()[0]    # where the point is drawn now
        view_pos = panel.rd.plot.mapFromScene(vb.mapViewToScene(spot.pos()))
        local = QPointF(view_pos.x() + dx, view_pos.y())
        QApplication.sendEvent(port, QMouseEvent(QEvent.MouseMove, local, port.mapToGlobal(local),
                                                 Qt.NoButton, Qt.NoButton, Qt.NoModifier))
        qtbot.wait(80)             # pyqtgraph drops move events closer than a frame apart

    for _ in range(10):            # enter, then rest on the point
        move(14)
        move(0)
        if "kbit/s" in panel.rd.hover_label.text():
            break
    assert "kbit/s" in panel.rd.hover_label.text(), panel.rd.hover_label.text()
    assert "x264" in panel.rd.hover_label.text()


def test_broken_project_is_a_message_not_a_crash(panel, qtbot, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "project.json").write_text("{truncated")
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append(m))
    panel.open_file(tmp_path / "bad" / "project.json", FileKind.STUDIO_PROJECT)
    assert errors and "project.json" in errors[0]
    assert panel.project is None


def test_bd_table_shows_warnings_and_missing_metric(panel, tmp_path):
    """A hand-made project (no encoding): vp9's quality range overlaps x264's by 54 %, so its
    row is tinted with a warning icon and the reasons as tooltip; av1's row is clean."""
    from studio.codec.project import Project
    from tests.codec.test_codec_report import PSNR, RATES, _add

    proj = Project(tmp_path / "hand")
    _add(proj, "x264", "medium", RATES, PSNR)
    _add(proj, "av1", "8", [r * 0.7 for r in RATES], PSNR)
    _add(proj, "vp9", "4", RATES, [q + 3 for q in PSNR])
    panel.project = proj
    panel.rd.metric_combo.setCurrentIndex(panel.rd.metric_combo.findData("psnr_y_global"))
    panel.refresh_results()
    t = panel.bd.table
    rows = {t.item(i, 0).text(): i for i in range(t.rowCount())}
    assert set(rows) == {"AV1 (SVT-AV1) preset 8", "VP9 (libvpx) cpu-used 4"}
    vp9, av1 = rows["VP9 (libvpx) cpu-used 4"], rows["AV1 (SVT-AV1) preset 8"]
    assert "overlap only 54%" in t.item(vp9, 3).text() and not t.item(vp9, 3).icon().isNull()
    assert "overlap only 54%" in t.item(vp9, 1).toolTip() and "cubic" in t.item(vp9, 1).toolTip()
    from PySide6.QtCore import Qt

    assert t.item(vp9, 0).background().style() != Qt.NoBrush
    assert t.item(av1, 3).text() == "" and t.item(av1, 3).icon().isNull()
    assert t.item(av1, 0).background().style() == Qt.NoBrush      # not tinted
    assert t.item(av1, 1).text() == "-30.0 %"

    # a metric no point has: the table says how to add it instead of staying empty
    panel.rd.metric_combo.setCurrentIndex(panel.rd.metric_combo.findData("vmaf"))
    assert t.rowCount() == 1 and "studio codec score" in t.item(0, 0).text()
    assert "--metrics vmaf" in t.item(0, 0).text()


def test_a_per_shot_project_shows_its_shots_and_choices(panel, qtbot, tmp_path):
    from studio.codec.pershot import OptimiseSpec, run_optimise
    from studio.jobs import JobContext
    from tests.codec.test_codec_pershot import write_shots

    src = write_shots(tmp_path / "shots.mp4")
    run_optimise(OptimiseSpec(str(src), 40.0, codecs=["x264"], presets={"x264": ["ultrafast"]},
                              values={"x264": [22, 30, 38]}, workers=0, curve=False),
                 tmp_path / "proj", JobContext())
    panel.open_project(tmp_path / "proj")
    qtbot.waitUntil(lambda: panel.project is not None, timeout=10000)
    # shot encodes are building blocks: not offered as A/B, not drawn as curves
    picks = [panel.compare.right_pick.itemData(i) for i in range(panel.compare.right_pick.count())]
    assert not any("_f" in str(p) for p in picks)
    assert panel.shots.rowCount() == 3 and panel.results_tabs.isTabEnabled(2)
    pershot = next(p for p in picks if str(p).startswith("x264_pershot"))
    panel.select_point(pershot)
    assert "kbit/s" in panel.shots.item(0, 4).text()
    assert panel.shots.item(1, 1).text() == "12–23"
    assert panel.shots.item(0, 3).text() == "—"          # no decoder budget yet
    assert panel.rd.budget_rings.xData is None or len(panel.rd.budget_rings.xData) == 0
    panel.shots.cellClicked.emit(2, 0)
    assert panel.compare.frame_slider.value() == 24


def test_the_decoder_budget_is_marked_in_shots_and_plot(panel, qtbot, tmp_path):
    from studio.codec.pershot import OptimiseSpec, run_optimise
    from studio.codec.project import Project
    from studio.jobs import JobContext
    from tests.codec.test_codec_pershot import write_shots

    src = write_shots(tmp_path / "shots.mp4")
    spec = OptimiseSpec(str(src), 40.0, codecs=["x264"], presets={"x264": ["ultrafast"]},
                        values={"x264": [22, 30, 38]}, workers=0, curve=False)
    run_optimise(spec, tmp_path / "proj", JobContext())
    proj = Project.load(tmp_path / "proj")
    by_shot: dict = {}
    for p in proj.points.values():
        if p.is_shot:
            by_shot.setdefault(tuple(p.frame_range), []).append(p.decode_fps)
    # every whole-clip point the plot draws: the CRF ladder and the ABR point at the target
    whole = [p.decode_fps for p in proj.points.values() if not p.is_shot and p.mode != "pershot"]
    proj.close()
    # every shot keeps its fastest candidate; the slower ones fall below the limit
    spec.min_decode_fps = min(max(v) for v in by_shot.values())
    slower = sum(f < spec.min_decode_fps for v in by_shot.values() for f in v)
    if slower == 0:
        pytest.skip("every shot candidate decoded at the same speed")
    run_optimise(spec, tmp_path / "proj", JobContext())
    panel.open_project(tmp_path / "proj")
    qtbot.waitUntil(lambda: panel.project is not None, timeout=10000)
    cells = [panel.shots.item(r, 3) for r in range(panel.shots.rowCount())]
    marked = [c for c in cells if c.text() != "—"]
    assert sum(int(c.text().split()[0]) for c in marked) == slower
    assert all("decodes at" in c.toolTip() for c in marked)
    # whole-clip points slower than the budget are ringed in the RD plot, the rest are not
    rings = panel.rd.budget_rings.xData
    assert (0 if rings is None else len(rings)) == sum(f < spec.min_decode_fps for f in whole)


def test_many_curves_get_a_key_under_the_plot_instead_of_a_legend_on_them(qtbot):
    from studio.codec.project import DONE, Curve, Point
    from studio.codec.report import curve_styles
    from ui.codec.rd_section import IN_PLOT_LEGEND_MAX, RDPlot

    rd = RDPlot()
    qtbot.addWidget(rd)
    metric = rd.metric()

    def curve(codec: str, mode: str) -> Curve:
        pts = [Point(f"{codec}_{mode}_{k}", codec, "medium", mode, float(k), status=DONE,
                     frames=10, bitrate_kbps=50.0 * (k + 1), metrics={metric: 30.0 + k})
               for k in range(3)]
        return Curve(codec, "medium", mode, pts)

    few = [curve("x264", "crf"), curve("x265", "crf")]
    rd.show_curves(few, dict(zip((c.key for c in few), curve_styles(few))), "kbps")
    assert rd.plot.getPlotItem().legend.isVisible() and rd.key_label.isHidden()
    many = [curve(c, m) for c in ("x264", "x265", "av1") for m in ("crf", "bitrate", "pershot")]
    assert len(many) > IN_PLOT_LEGEND_MAX
    rd.show_curves(many, dict(zip((c.key for c in many), curve_styles(many))), "kbps",
                   over_budget={"x264_crf_0": "decodes at 10 frames/s < 60"})
    assert not rd.plot.getPlotItem().legend.isVisible() and not rd.key_label.isHidden()
    text = rd.key_label.text()
    assert all(c.label.replace("&", "&amp;") in text for c in many)
    assert "over the decoder budget" in text and len(rd.budget_rings.xData) == 1


def test_the_legend_takes_the_corner_that_hides_the_least():
    from ui.codec.rd_section import legend_corner

    rising = [[(50, 30.0), (100, 33.0), (200, 36.0), (400, 39.0)]]
    assert legend_corner(rising, (0.3, 0.2)) == "lower right"
    # a flat, high curve across the bottom-right (a JPEG ladder on a noisy clip, say) and
    # one through the lower left: the top corners are free; the upper left comes first
    low = rising + [[(100, 30.0), (1000, 30.5), (2000, 31.0)]]
    assert legend_corner(low, (0.3, 0.2)) == "upper left"
    # a segment crossing a corner counts even with no point inside it
    diagonal = [[(10, 30.0), (1000, 40.0)], [(10, 40.0), (1000, 30.0)]]
    assert legend_corner(diagonal, (0.3, 0.2)) == "lower right"   # all tie: the first
    across = diagonal + [[(400, 30.5), (1000, 30.5)], [(10, 39.5), (60, 39.5)]]
    assert legend_corner(across, (0.3, 0.2)) in ("lower left", "upper right")
    assert legend_corner([], (0.3, 0.2)) == "lower right"


def test_the_plot_moves_its_legend_off_the_curves(qtbot):
    from studio.codec.project import DONE, Curve, Point
    from studio.codec.report import curve_styles
    from ui.codec.rd_section import RDPlot

    rd = RDPlot()
    qtbot.addWidget(rd)
    rd.resize(500, 400)
    metric = rd.metric()

    def curve(codec: str, rates, values) -> Curve:
        pts = [Point(f"{codec}_{k}", codec, "medium", "crf", float(k), status=DONE, frames=10,
                     bitrate_kbps=r, metrics={metric: v})
               for k, (r, v) in enumerate(zip(rates, values))]
        return Curve(codec, "medium", "crf", pts)

    curves = [curve("x264", (50, 100, 200), (30, 34, 38)),
              curve("jpeg", (300, 800, 2000), (30, 30.3, 30.6))]
    rd.show_curves(curves, dict(zip((c.key for c in curves), curve_styles(curves))), "kbps")
    assert rd.legend_corner in ("upper left", "upper right")   # off the flat JPEG curve
    curves = [curve("x264", (50, 100, 200), (30, 34, 38))]
    rd.show_curves(curves, dict(zip((c.key for c in curves), curve_styles(curves))), "kbps")
    assert rd.legend_corner == "lower right"


def test_a_project_with_a_users_learned_codec_reopens(panel, tmp_path):
    """A user's learned codec (a folder of rate points) is known again from the project: its
    curve and label, and a codec box of its own so Run sweep extends it."""
    import shutil
    from pathlib import Path

    from studio.codec import encoders
    from studio.codec.sweep import SweepSpec, run_sweep
    from studio.jobs import JobContext

    shipped = Path(__file__).resolve().parents[2] / "models" / "learned_codec"
    if not (shipped / "q2" / "codec.json").is_file():
        pytest.skip("the shipped learned codec is not installed")
    mine = tmp_path / "mine"
    for q in ("q1", "q2"):
        shutil.copytree(shipped / q, mine / q)
    clip = write_clip(tmp_path / "clip.mp4", width=64, height=48, frames=1)
    try:
        run_sweep(SweepSpec(input=str(clip), codecs=["learned", str(mine)], points=2,
                            max_frames=1, workers=0, ms_ssim=False, vmaf=False),
                  tmp_path / "p", JobContext())
        encoders.CODECS.pop("learned:mine")            # as in a fresh app
        panel.open_project(tmp_path / "p")
        assert panel.project is not None and len(panel.project.done_points()) == 4
        labels = [c.label for c in panel.project.curves("psnr_y")]
        assert labels == [encoders.CODECS["learned"].label, "Learned: learned_codec (mine)"]
        assert sum(1 for v in panel.rd.curve_items.values()
                   if v.xData is not None and len(v.xData) == 2) == 2
        box = panel.settings.codec_boxes["learned:mine"]
        assert box.isEnabled() and box.isChecked()
        assert "learned:mine" in panel.settings.sweep_spec(clip).codecs
    finally:
        encoders.CODECS.pop("learned:mine", None)
