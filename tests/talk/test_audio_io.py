"""load_audio: every input kind decodes to float32 mono 16 kHz; bad input is a UserError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from studio.paths import SHARED_DATA
from studio.jobs import UserError
from studio.media.audio_io import Audio, load_audio, output_length

SPEECH = SHARED_DATA / "speech"


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


def write_av(path: Path, x: np.ndarray | None, sr: int, codec: str = "aac",
             fmt: str | None = None, video_seconds: float = 0.0) -> Path:
    """Encode ``x`` (channels, n) with PyAV; optionally add a small MPEG-4 video track."""
    import av

    with av.open(str(path), "w", format=fmt) as c:
        vs = None
        if video_seconds:
            vs = c.add_stream("mpeg4", rate=25)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        if x is not None:
            layout = "stereo" if x.shape[0] == 2 else "mono"
            a = c.add_stream(codec, rate=sr)
            a.layout = layout
            enc_fmt = a.codec_context.codec.audio_formats[0].name
            a.format = enc_fmt
            res = av.AudioResampler(format=enc_fmt, layout=layout, rate=sr)

            def mux(frames):
                for rf in frames:
                    for pkt in a.encode(rf):
                        c.mux(pkt)

            for i in range(0, x.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + 1024]),
                                                format="fltp", layout=layout)
                fr.sample_rate = sr
                fr.pts = i
                mux(res.resample(fr))
            mux(res.resample(None))
            for pkt in a.encode(None):
                c.mux(pkt)
        if vs is not None:
            for i in range(int(25 * video_seconds)):
                img = np.full((48, 64, 3), (i * 7) % 255, np.uint8)
                for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in vs.encode(None):
                c.mux(pkt)
    return path


@pytest.fixture(scope="module")
def stereo_44k() -> np.ndarray:
    """1 s of 440 Hz, left 0.5 and right 0.25: the mono mix is a 0.375-amplitude sine."""
    return np.stack([sine(440, 44100, 1.0, 0.5), sine(440, 44100, 1.0, 0.25)])


# ---------------------------------------------------------------------- good input

def test_wav_16k_mono_passes_through_exactly(tmp_path):
    x = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    a = load_audio(tmp_path / "a.wav")
    assert isinstance(a, Audio) and a.sr == 16000
    assert a.samples.dtype == np.float32 and a.samples.ndim == 1
    np.testing.assert_array_equal(a.samples, x)
    assert a.info.sample_rate == 16000 and a.info.channels == 1
    assert a.info.num_samples == 16000 and a.info.duration_s == pytest.approx(1.0)
    assert a.info.decoder == "soundfile"


def test_8k_stereo_is_downmixed_and_upsampled(tmp_path):
    sr = 8000
    left, right = sine(440, sr, 1.0, 0.5), sine(440, sr, 1.0, 0.1)
    sf.write(tmp_path / "s8.wav", np.stack([left, right], axis=1), sr, subtype="FLOAT")
    a = load_audio(tmp_path / "s8.wav")
    assert a.info.sample_rate == 8000 and a.info.channels == 2
    assert a.num_samples == 16000 and a.duration_s == pytest.approx(1.0)
    # The exact 16 kHz rendering of the mono mix (0.3 amplitude), away from filter edges.
    want = sine(440, 16000, 1.0, 0.3)
    assert np.abs(a.samples[400:-400] - want[400:-400]).max() < 2e-3
    assert dominant_freq(a.samples, 16000) == pytest.approx(440, abs=1.5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # audioread, imported by librosa
def test_48k_stereo_matches_librosa_load(tmp_path):
    """SyncTalk_2D loads with librosa.load(path, sr=16000): same samples, same length."""
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((48000 + 7, 2)) * 0.2).astype(np.float32)
    sf.write(tmp_path / "s48.wav", x, 48000, subtype="FLOAT")
    a = load_audio(tmp_path / "s48.wav")
    ref, _ = librosa.load(tmp_path / "s48.wav", sr=16000)
    assert a.num_samples == len(ref) == output_length(48007, 48000, 16000) == 16003
    assert np.abs(a.samples - ref).max() < 1e-6


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["bobby.wav", "mary.wav",
                                  "sense_and_sensibility_01_austen_64kb-0880.wav"])
def test_real_speech_matches_librosa_load(name):
    librosa = pytest.importorskip("librosa")
    path = SPEECH / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    a = load_audio(path)
    ref, _ = librosa.load(path, sr=16000)
    assert a.num_samples == len(ref)
    assert np.abs(a.samples - ref).max() < 1e-6
    assert a.info.duration_s == pytest.approx(sf.info(str(path)).duration)


def test_flac(tmp_path, stereo_44k):
    sf.write(tmp_path / "a.flac", stereo_44k.T, 44100)
    a = load_audio(tmp_path / "a.flac")
    assert a.info.decoder == "soundfile" and a.info.format == "FLAC"
    assert a.num_samples == 16000
    rms = np.sqrt(np.mean(a.samples[1000:-1000] ** 2))
    assert rms == pytest.approx(0.375 / np.sqrt(2), rel=0.01)


def test_mp3(tmp_path, stereo_44k):
    write_av(tmp_path / "a.mp3", stereo_44k, 44100, codec="libmp3lame")
    a = load_audio(tmp_path / "a.mp3")
    assert a.info.sample_rate == 44100 and a.info.channels == 2
    assert a.duration_s == pytest.approx(1.0, abs=0.06)
    assert dominant_freq(a.samples, 16000) == pytest.approx(440, abs=2)
    rms = np.sqrt(np.mean(a.samples[2000:-2000] ** 2))
    assert rms == pytest.approx(0.375 / np.sqrt(2), rel=0.05)


def test_m4a_aac_goes_through_pyav(tmp_path, stereo_44k):
    write_av(tmp_path / "a.m4a", stereo_44k, 44100, codec="aac", fmt="ipod")
    a = load_audio(tmp_path / "a.m4a")
    assert a.info.decoder == "pyav" and "aac" in a.info.format
    assert a.info.sample_rate == 44100 and a.info.channels == 2
    assert a.duration_s == pytest.approx(1.0, abs=0.06)
    assert dominant_freq(a.samples, 16000) == pytest.approx(440, abs=2)
    rms = np.sqrt(np.mean(a.samples[3000:-3000] ** 2))
    assert rms == pytest.approx(0.375 / np.sqrt(2), rel=0.05)


def test_audio_track_of_mp4_video(tmp_path):
    x = sine(1000, 48000, 1.0, 0.4)[None]
    write_av(tmp_path / "v.mp4", x, 48000, codec="aac", video_seconds=1.0)
    a = load_audio(tmp_path / "v.mp4")
    assert a.info.decoder == "pyav" and a.info.channels == 1
    assert a.duration_s == pytest.approx(1.0, abs=0.06)
    assert dominant_freq(a.samples, 16000) == pytest.approx(1000, abs=2)


def test_one_sample_file(tmp_path):
    sf.write(tmp_path / "one.wav", np.array([0.25], np.float32), 16000, subtype="FLOAT")
    a = load_audio(tmp_path / "one.wav")
    np.testing.assert_array_equal(a.samples, np.array([0.25], np.float32))
    assert a.info.num_samples == 1

    sf.write(tmp_path / "one48.wav", np.array([0.25], np.float32), 48000, subtype="FLOAT")
    b = load_audio(tmp_path / "one48.wav")  # ceil(1/3) = 1 sample, like librosa
    assert b.num_samples == 1 and np.isfinite(b.samples).all()
    assert abs(float(b.samples[0]) - 0.25) < 1e-6

    sf.write(tmp_path / "three8.wav", np.full(3, 0.5, np.float32), 8000, subtype="FLOAT")
    c = load_audio(tmp_path / "three8.wav")  # band-limited: a 3-sample step rings a little
    assert c.num_samples == 6 and np.abs(c.samples[:5] - 0.5).max() < 0.05


def test_silent_file(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros((22050, 2), np.int16), 22050, subtype="PCM_16")
    a = load_audio(tmp_path / "quiet.wav")
    assert a.num_samples == 16000
    assert not a.samples.any()


def test_int16_wav_scale(tmp_path):
    sf.write(tmp_path / "i16.wav", np.full(800, 16384, np.int16), 16000, subtype="PCM_16")
    a = load_audio(tmp_path / "i16.wav")
    np.testing.assert_allclose(a.samples, 0.5)


# ---------------------------------------------------------------------- bad input

def _user_error(path: Path, *words: str) -> str:
    with pytest.raises(UserError) as info:
        load_audio(path)
    msg = str(info.value)
    assert path.name in msg, msg
    for w in words:
        assert w in msg.lower(), msg
    return msg


def test_missing_file(tmp_path):
    _user_error(tmp_path / "nothere.wav", "not found")


def test_directory(tmp_path):
    (tmp_path / "adir.wav").mkdir()
    _user_error(tmp_path / "adir.wav", "not a file")


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    _user_error(tmp_path / "empty.mp3", "empty")


def test_zero_sample_wav(tmp_path):
    sf.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 16000)
    _user_error(tmp_path / "zero.wav", "no audio samples")


def test_garbage_mp3(tmp_path):
    (tmp_path / "junk.mp3").write_bytes(np.random.default_rng(2).bytes(6000))
    _user_error(tmp_path / "junk.mp3", "corrupt")


def test_mp3_header_then_zeros(tmp_path, stereo_44k):
    data = write_av(tmp_path / "good.mp3", stereo_44k, 44100, codec="libmp3lame").read_bytes()
    (tmp_path / "broken.mp3").write_bytes(data[:300] + bytes(4000))
    _user_error(tmp_path / "broken.mp3", "cannot decode")


def test_truncated_mp3_decodes_what_is_there(tmp_path, stereo_44k):
    data = write_av(tmp_path / "full.mp3", stereo_44k, 44100, codec="libmp3lame").read_bytes()
    (tmp_path / "half.mp3").write_bytes(data[: len(data) // 2])
    a = load_audio(tmp_path / "half.mp3")
    assert 0.3 < a.duration_s < 0.7
    assert np.isfinite(a.samples).all()


def test_video_without_audio(tmp_path):
    write_av(tmp_path / "mute.mp4", None, 0, video_seconds=0.4)
    msg = _user_error(tmp_path / "mute.mp4", "no audio track")
    assert "video" in msg


def test_text_file_named_wav(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 50)
    _user_error(tmp_path / "notes.wav", "cannot decode")


def test_output_length_rule():
    assert output_length(0, 48000, 16000) == 0
    assert output_length(1, 48000, 16000) == 1
    assert output_length(3, 48000, 16000) == 1
    assert output_length(4, 48000, 16000) == 2
    assert output_length(44100, 44100, 16000) == 16000
    assert output_length(5, 8000, 16000) == 10


def test_check_hook_cancels_both_decoders(tmp_path, stereo_44k):
    from studio.jobs import CancelToken, Cancelled

    token = CancelToken()
    token.cancel()
    sf.write(tmp_path / "long.wav", np.zeros(200_000, np.float32), 16000)
    with pytest.raises(Cancelled):
        load_audio(tmp_path / "long.wav", check=token.raise_if_cancelled)
    long_x = np.tile(stereo_44k, (1, 3))   # 3 s of AAC: well over 64 decoded frames
    write_av(tmp_path / "long.m4a", long_x, 44100, codec="aac", fmt="ipod")
    with pytest.raises(Cancelled):
        load_audio(tmp_path / "long.m4a", check=token.raise_if_cancelled)
    calls = []
    a = load_audio(tmp_path / "long.m4a", check=lambda: calls.append(1))
    assert calls and a.duration_s == pytest.approx(3.0, abs=0.06)
