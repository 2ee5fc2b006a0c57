"""The Talk workbench (offscreen) with test-fixture models and a synthetic avatar."""

import numpy as np
import pytest
import soundfile as sf

from studio.media.filetypes import FileKind
from tests.talk.test_mic import pulse_null_sink  # noqa: F401 - fixture


@pytest.fixture
def panel(open_panel):
    from ui.talk.panel import TalkPanel

    return open_panel(TalkPanel)


def test_load_avatar_audio_and_render(panel, qtbot, tmp_path):
    from tests.fixtures.tiny_models import tiny_avatar

    avatar = tiny_avatar(tmp_path / "avatar")
    panel.open_file(avatar, FileKind.AVATAR)
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.avatar.path == avatar,
                    timeout=20000)
    assert "test avatar" in panel.avatar.label.text()
    assert panel.stage.view.has_frame() and panel.stage.view.isVisibleTo(panel)  # not the drop area

    t = np.arange(16000 * 2) / 16000
    wav = tmp_path / "speech.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    panel.open_file(wav, FileKind.AUDIO)
    qtbot.waitUntil(lambda: panel.audio_path == wav, timeout=30000)
    assert "2.00 s" in panel.audio.label.text()
    assert panel.render_controls.render_button.isEnabled()

    out = tmp_path / "out.mp4"
    handle = panel.render_to(out)
    assert not panel.render_controls.render_button.isEnabled()  # one render at a time
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert handle.result.ok, handle.result.error
    assert out.exists() and len(panel.preview) == 50
    assert panel.stage.timeline.isEnabled() and panel.stage.timeline.count == 50
    panel.stage.timeline.set_frame(30)
    assert panel.stage.view.has_frame()
    assert panel.render_controls.render_button.isEnabled()
    assert panel.stats.show_folder_button.isVisible() and panel.stats.output == out

    # new audio: the previous render is not shown as if it belonged to it
    wav2 = tmp_path / "other.wav"
    sf.write(wav2, (0.3 * np.sin(2 * np.pi * 330 * t[:8000])).astype(np.float32), 16000)
    panel.open_file(wav2, FileKind.AUDIO)
    qtbot.waitUntil(lambda: panel.audio_path == wav2, timeout=30000)
    assert len(panel.preview) == 0 and not panel.stage.timeline.isEnabled()
    assert not panel.stats.show_folder_button.isVisible()

    # a cancelled render leaves no dead, disabled timeline with half a clip on it
    handle = panel.render_to(tmp_path / "cancelled.mp4")
    handle.cancel()
    qtbot.waitUntil(lambda: not handle.running, timeout=60000)
    assert len(panel.preview) == 0 and panel.render_controls.render_button.isEnabled()
    assert not (tmp_path / "cancelled.mp4").exists()


def test_the_next_step_stays_until_one_is_taken(panel, qtbot, tmp_path):
    panel.show()
    qtbot.waitUntil(lambda: panel.session is not None, timeout=30000)
    qtbot.wait(1500)                                       # still there after the first second
    assert panel.stage.next_step.isVisible() and "audio" in panel.stage.next_step.text()
    t = np.arange(16000) / 16000
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    panel.open_file(wav, FileKind.AUDIO)
    qtbot.waitUntil(lambda: panel.audio_path == wav, timeout=30000)
    assert not panel.stage.next_step.isVisible()


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


def test_no_microphone_says_so_and_offers_files(panel, monkeypatch):
    import studio.media.mic as mic

    monkeypatch.setattr(mic, "list_input_devices", lambda refresh=False: ([], "No microphone found (no sound server)."))
    panel.refresh_devices()
    assert panel.live_controls.mic_combo.currentData() is None
    assert not panel.live_controls.live_button.isEnabled()
    status = panel.live_controls.label.text()
    assert "No microphone" in status and "audio file" in status


@pytest.mark.audio
def test_live_from_a_real_sound_server(panel, qtbot, tmp_path, pulse_null_sink, monkeypatch):
    """espeak-ng speech played into a PulseAudio null sink drives the avatar live, and the
    session is recorded to an MP4."""
    import subprocess

    import av

    from tests.fixtures.tiny_models import tiny_avatar

    env, _ = pulse_null_sink
    monkeypatch.setattr("ui.talk.panel.studio_folder", lambda *parts: tmp_path.joinpath(*parts))
    panel.open_file(tiny_avatar(tmp_path / "avatar"), FileKind.AVATAR)
    qtbot.waitUntil(lambda: panel.session is not None and "test avatar" in panel.avatar.label.text(),
                    timeout=30000)
    panel.refresh_devices(True)
    mics = panel.live_controls.mic_combo
    i = next(i for i in range(mics.count()) if mics.itemText(i).startswith("pulse"))
    mics.setCurrentIndex(i)
    panel.live_controls.record_box.setChecked(True)
    panel.start_live()
    assert panel.live is not None and panel.live_controls.live_button.text() == "Stop live"
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(speech), "Hello, this is a live test of the studio."],
                   check=True, timeout=30)
    subprocess.run(["paplay", "-d", "studio_null", str(speech)], env=env, check=True, timeout=30)
    qtbot.wait(1000)
    engine = panel.live.engine
    st = engine.stats()
    panel.stop_live()
    assert st.frames > 25 and st.fps > 10
    assert panel.stage.view.has_frame()
    recs = list((tmp_path / "recordings").glob("*.mp4"))
    assert len(recs) == 1
    with av.open(str(recs[0])) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
