"""Issue checklist for the offline render: each bad input gets a clear error or a correct
result, never a hang or a partial file."""

import av
import numpy as np
import pytest
import soundfile as sf

from studio.jobs import Job, JobStatus
from studio.runtime.pool import SessionPool
from studio.talk.lipsync import LipSync
from studio.talk.render import ArrayTemplate, render_to_file


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tests.fixtures.tiny_models import talk_pair

    enc, unet = talk_pair(tmp_path_factory.mktemp("pair"), size=64)
    ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=2))
    rng = np.random.default_rng(0)
    tpl = ArrayTemplate([rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(5)],
                        np.array([[30, 10, 100, 80]] * 5, np.float32))
    return ls, tpl


def render(setup, audio, out):
    ls, tpl = setup
    return Job("render", lambda ctx: render_to_file(ls, tpl, audio, out, ctx)).run()


def frames_in(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_silent_file_renders(setup, tmp_path):
    wav = tmp_path / "silence.wav"
    sf.write(wav, np.zeros(16000), 16000)
    r = render(setup, wav, tmp_path / "o.mp4")
    assert r.ok and frames_in(tmp_path / "o.mp4") == 25


def test_one_sample_file_is_a_clear_error_and_no_file(setup, tmp_path):
    wav = tmp_path / "one.wav"
    sf.write(wav, np.zeros(1), 16000)
    r = render(setup, wav, tmp_path / "o.mp4")
    assert r.status is JobStatus.FAILED and "shorter than one video frame" in r.error
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("sr,channels", [(8000, 1), (48000, 2)])
def test_other_rates_and_stereo(setup, tmp_path, sr, channels):
    t = np.arange(int(sr * 1.2)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.stack([x] * channels, 1) if channels > 1 else x, sr)
    r = render(setup, wav, tmp_path / "o.mp4")
    assert r.ok and frames_in(tmp_path / "o.mp4") == 30


def test_corrupt_mp3_names_the_file(setup, tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\xff\xfb\x90\x00" + bytes(np.random.default_rng(1).integers(0, 255, 200, dtype=np.uint8)))
    r = render(setup, bad, tmp_path / "o.mp4")
    assert r.status is JobStatus.FAILED and "broken.mp3" in r.error
    assert list(tmp_path.iterdir()) == [bad]


def test_video_without_audio_names_the_file(setup, tmp_path):
    from tests.codec.conftest import write_clip

    clip = write_clip(tmp_path / "noaudio.mp4", frames=3)
    r = render(setup, clip, tmp_path / "o.mp4")
    assert r.status is JobStatus.FAILED and "noaudio.mp4" in r.error and "audio" in r.error
    assert not (tmp_path / "o.mp4").exists()


def test_audio_track_of_a_video_is_used(setup, tmp_path):
    from tests.codec.conftest import write_clip

    clip = write_clip(tmp_path / "withaudio.mp4", frames=25, audio=True)
    r = render(setup, clip, tmp_path / "o.mp4")
    assert r.ok, r.error
