"""The Talk workbench (offscreen) with test-fixture models and a synthetic avatar."""

import numpy as np
import pytest
import soundfile as sf

from studio.media.filetypes import FileKind


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SETTINGS_ORG", f"NMSTest-{tmp_path.name}")
    from ui.main_window import MainWindow
    from ui.talk.panel import TalkPanel

    w = MainWindow(panels=[TalkPanel])
    qtbot.addWidget(w)
    w.show()
    p = w.panels[TalkPanel.workbench]
    w.ctx.runner.wait(20000)  # the default avatar (if installed) loads at start-up
    qtbot.wait(50)
    yield p
    w.ctx.runner.cancel_all()
    w.ctx.runner.wait(10000)


def test_load_avatar_audio_and_render(panel, qtbot, tmp_path):
    from tests.fixtures.tiny_models import tiny_avatar

    avatar = tiny_avatar(tmp_path / "avatar")
    panel.open_file(avatar, FileKind.AVATAR)
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.avatar.path == avatar,
                    timeout=20000)
    assert "test avatar" in panel.avatar_label.text()
    assert panel.view.has_frame()

    t = np.arange(16000 * 2) / 16000
    wav = tmp_path / "speech.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    panel.open_file(wav, FileKind.AUDIO)
    qtbot.waitUntil(lambda: panel.audio_path == wav, timeout=30000)
    assert "2.00 s" in panel.audio_label.text()
    assert panel.render_button.isEnabled()

    out = tmp_path / "out.mp4"
    handle = panel.render_to(out)
    assert not panel.render_button.isEnabled()  # one render at a time
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error
    assert out.exists() and len(panel.preview) == 50
    assert panel.timeline.isEnabled() and panel.timeline.count == 50
    panel.timeline.set_frame(30)
    assert panel.view.has_frame()
    assert panel.render_button.isEnabled()


def test_bad_audio_is_a_message(panel, qtbot, tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + b"\x00" * 50 + b"garbage" * 100)
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append(m))
    panel.open_file(bad, FileKind.AUDIO)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "broken.mp3" in errors[0] and "Traceback" not in errors[0]
    assert panel.audio_path is None


def test_broken_avatar_is_a_message(panel, qtbot, tmp_path):
    d = tmp_path / "notavatar"
    d.mkdir()
    (d / "avatar.json").write_text("{}")
    errors = []
    panel.ctx.feed.error.connect(lambda t, m: errors.append(m))
    panel.open_file(d, FileKind.AVATAR)
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    assert "avatar.json" in errors[0]
