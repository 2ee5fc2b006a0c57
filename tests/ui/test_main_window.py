import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.jobs import Job, JobStatus
from studio.media.filetypes import FileKind, Workbench, classify, route
from studio.settings import EngineSettings


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SETTINGS_ORG", f"NMSTest-{tmp_path.name}")
    from ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    # let start-up jobs (e.g. loading the default avatar) finish before the test looks
    qtbot.wait(50)
    qtbot.waitUntil(lambda: w.ctx.runner.idle, timeout=60000)
    from ui.app import tune_gc

    tune_gc()  # as ui.app.main does after start-up
    yield w
    w.ctx.runner.cancel_all()
    w.ctx.runner.wait(5000)


def make_files(tmp_path):
    files = {
        "speech.wav": b"RIFF....WAVE",
        "walk.bvh": b"HIERARCHY\n",
        "clip.mp4": b"\x00\x00\x00\x18ftypmp42",
        "notes.xyz": b"?",
        "plain.txt": b"hello",
    }
    out = {}
    for name, data in files.items():
        p = tmp_path / name
        p.write_bytes(data)
        out[name] = p
    dm = tmp_path / "humanoid3d_walk.txt"
    dm.write_text('{"Loop": "wrap", "Frames": [[0.03, 0, 0.9, 0, 1, 0, 0, 0]]}')
    out["dm"] = dm
    return out


def test_classify_and_route(tmp_path):
    f = make_files(tmp_path)
    assert classify(f["speech.wav"]) is FileKind.AUDIO
    assert classify(f["walk.bvh"]) is FileKind.BVH
    assert classify(f["dm"]) is FileKind.DEEPMIMIC
    assert classify(f["plain.txt"]) is FileKind.UNKNOWN
    assert route(f["clip.mp4"])[0] is Workbench.CODEC
    photo = tmp_path / "kodim01.png"
    photo.write_bytes(b"\x89PNG\r\n")
    assert route(photo) == (Workbench.CODEC, FileKind.IMAGE)   # still-image codecs
    assert route(f["clip.mp4"], Workbench.TALK)[0] is Workbench.TALK  # avatar template source
    assert route(f["clip.mp4"], Workbench.MOTION)[0] is Workbench.CODEC
    assert route(f["notes.xyz"])[0] is None
    avatar = tmp_path / "anna"
    avatar.mkdir()
    (avatar / "avatar.json").write_text("{}")
    assert route(avatar)[0] is Workbench.TALK


def drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = QPointF(window.width() / 2, window.height() / 2)
    ev = QDropEvent(centre, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(ev)


def test_drop_routes_to_workbench(window, tmp_path, qtbot):
    f = make_files(tmp_path)
    seen = []
    for panel in window.panels.values():
        panel.open_file = lambda p, k, wb=panel.workbench: seen.append((wb, p.name, k))
    drop(window, [f["walk.bvh"]])
    assert window.active_workbench is Workbench.MOTION
    drop(window, [f["clip.mp4"]])
    assert window.active_workbench is Workbench.CODEC
    drop(window, [f["speech.wav"]])
    assert window.active_workbench is Workbench.TALK
    drop(window, [f["clip.mp4"]])  # Talk active: a video becomes an avatar source
    drop(window, [f["dm"]])
    assert seen == [(Workbench.MOTION, "walk.bvh", FileKind.BVH),
                    (Workbench.CODEC, "clip.mp4", FileKind.VIDEO),
                    (Workbench.TALK, "speech.wav", FileKind.AUDIO),
                    (Workbench.TALK, "clip.mp4", FileKind.VIDEO),
                    (Workbench.MOTION, "humanoid3d_walk.txt", FileKind.DEEPMIMIC)]


def test_drop_unknown_type_gives_clear_message(window, tmp_path, qtbot):
    f = make_files(tmp_path)
    errors = []
    window.ctx.feed.error.disconnect()
    window.ctx.feed.error.connect(lambda t, m: errors.append(m))
    window.show_error = lambda t, m: errors.append(m)
    routed = window.open_paths([f["notes.xyz"]])
    assert routed == [(f["notes.xyz"], None)]
    assert errors and "notes.xyz" in errors[0] and "no workbench opens" in errors[0]
    assert "notes.xyz" in window.statusBar().currentMessage()


def test_settings_persist(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SETTINGS_ORG", f"NMSTest-persist-{tmp_path.name}")
    from ui import settings_store

    settings_store.qsettings().clear()
    assert settings_store.load() == EngineSettings(provider="auto", pool_size=0, threads_per_session=1)
    settings_store.save(EngineSettings(provider="cpu", pool_size=3, threads_per_session=2))
    again = settings_store.load()
    assert (again.provider, again.pool_size, again.threads_per_session) == ("cpu", 3, 2)
    settings_store.qsettings().clear()


def test_settings_dialog_value(qtbot):
    from ui.settings_dialog import SettingsDialog

    dlg = SettingsDialog(EngineSettings(provider="cpu", pool_size=2, threads_per_session=1))
    qtbot.addWidget(dlg)
    assert dlg.value().provider == "cpu" and dlg.value().pool_size == 2
    dlg.provider.setCurrentIndex(0)
    dlg.threads.setValue(3)
    v = dlg.value()
    assert v.provider == "auto" and v.threads_per_session == 3
    assert "CPU" in dlg.explain.text()


def test_gui_stays_responsive_during_a_job():
    """While a 2-second job runs, a 10 ms timer keeps firing at least every 50 ms.

    Measured in a fresh process (tests/ui/responsiveness_probe.py): in the test process,
    after ~600 other tests, the timer once stopped for the whole job whatever the app did.
    Up to three runs: on this shared 2-core VM the whole process is occasionally frozen for
    ~50 ms, so one long gap in a run proves nothing. A UI that blocks fails every run, and the
    99th-percentile gap catches one that is merely sluggish."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                                    os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "tests.ui.responsiveness_probe", "3"],
                          capture_output=True, text=True, timeout=120, cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads(proc.stdout.strip().splitlines()[-1])
    seen = []
    for run in runs:
        gaps = np.asarray(run["gaps"])
        assert run["ok"] and run["ticks"] > 100, run["ticks"]
        p99, worst = float(np.percentile(gaps, 99)), float(gaps.max())
        seen.append(f"p99 {p99 * 1000:.0f} ms, worst {worst * 1000:.0f} ms")
        if p99 < 0.030 and worst < 0.050:
            break
    else:  # every run had a long gap: the event loop is blocked, or merely sluggish
        raise AssertionError("timer gaps in each run: " + "; ".join(seen))


def test_job_progress_shows_and_cancel_works(window, qtbot):
    def slow(ctx):
        for i in range(500):
            ctx.progress(i, 500, "working")
            time.sleep(0.01)

    handle = window.ctx.run(Job("slow job", slow))
    qtbot.waitUntil(lambda: window.job_bar.value() > 0, timeout=5000)
    assert window.cancel_button.isVisible()
    with qtbot.waitSignal(handle.finished, timeout=5000) as blocker:
        window.cancel_button.click()
    assert blocker.args[0].status is JobStatus.CANCELLED
    qtbot.waitUntil(lambda: not window.cancel_button.isVisible(), timeout=2000)
    assert "cancelled" in window.statusBar().currentMessage()


def test_about_lists_versions(window):
    from ui.main_window import about_text

    text = about_text()
    for needle in ("Qt", "onnxruntime", "PyAV", "CPU"):
        assert needle in text


def test_status_bar_shows_rate_and_provider(window, qtbot):
    window.ctx.feed.rate.emit("Talk preview", 24.7, 143.0)
    assert window.rate_label.text() == "Talk preview: 24.7 fps · 143 ms"
    assert window.provider_label.text().startswith("EP: ")


def test_frame_view_from_numpy(qtbot):
    from ui.widgets.frame_view import FrameView, to_qimage

    img = np.zeros((10, 20, 3), np.uint8)
    img[2, 3] = (255, 0, 0)
    q = to_qimage(img)
    assert (q.width(), q.height()) == (20, 10)
    assert q.pixelColor(3, 2).red() == 255 and q.pixelColor(3, 2).green() == 0
    v = FrameView()
    qtbot.addWidget(v)
    v.resize(400, 400)
    v.set_frame(img)
    r = v.image_rect()
    assert abs(r.width() / r.height() - 2.0) < 1e-6  # aspect kept
    with pytest.raises(TypeError):
        to_qimage(img.astype(np.float32))


def test_several_bad_files_give_one_summary_and_no_jumping(window, tmp_path, qtbot):
    from PySide6.QtWidgets import QMessageBox

    bad = []
    for k in range(3):
        p = tmp_path / f"broken{k}.bvh"
        p.write_text("HIERARCHY\nROOT Hips\n{ OFFSET 0 0 0\n")   # truncated: each fails
        bad.append(p)
    junk = tmp_path / "notes.xyz"
    junk.write_text("?")
    before = window.active_workbench
    window.open_paths(bad + [junk])
    assert window.active_workbench is Workbench.MOTION        # the first file's, then stays

    def boxes():
        return [b for b in window.findChildren(QMessageBox) if b.isVisible()]

    qtbot.waitUntil(lambda: len(boxes()) == 1 and all(
        p.name in boxes()[0].text() for p in bad + [junk]), timeout=15000)
    qtbot.wait(600)
    assert len(boxes()) == 1                                   # one dialog, not four
    assert before is not None


def test_dialog_names_are_safe_and_start_in_documents(tmp_path, monkeypatch):
    from ui.dialogs import safe_name, suggested_path

    assert safe_name("walk → run (model, 30 f)") == "walk-to-run_model_30_f"
    assert safe_name("x264 50% CRF") == "x264_50pct_CRF"
    assert safe_name("???") == "untitled"
    p = suggested_path("walk → run", ".bvh", "motion")
    assert p.endswith("walk-to-run.bvh") and "Neural Media Studio" in p and " " not in Path(p).name


def test_panels_are_built_on_first_use(window, qtbot):
    """The window comes up with only the Talk panel built (start-up time); the others are
    built when first shown or sent a file, in their own place in the stack."""
    from ui.panel_base import WorkbenchPanel

    assert window.panels.is_built(Workbench.TALK)
    assert not window.panels.is_built(Workbench.MOTION)
    assert not window.panels.is_built(Workbench.CODEC)
    window.sidebar.setCurrentRow(2)
    assert window.panels.is_built(Workbench.CODEC)
    assert not window.panels.is_built(Workbench.MOTION)
    assert window.stack.currentWidget() is window.panels[Workbench.CODEC]
    assert window.active_workbench is Workbench.CODEC
    # a panel built by a file routed to it lands at its own index, behind the current one
    motion = window.panels[Workbench.MOTION]
    assert isinstance(motion, WorkbenchPanel)
    assert window.stack.indexOf(motion) == 1
    assert window.stack.currentWidget() is window.panels[Workbench.CODEC]
    assert window.stack.count() == 3
    window.sidebar.setCurrentRow(1)
    assert window.stack.currentWidget() is motion
    assert len(window.panels.built()) == 3
