"""The numpy mel front-end against the SyncTalk_2D / Wav2Lip reference written with librosa."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from studio.paths import SHARED_DATA
from studio.talk import mel as M

librosa = pytest.importorskip("librosa")

SPEECH = SHARED_DATA / "speech"
SPEECH_16K = sorted(p for p in SPEECH.glob("*.wav") if sf.info(str(p)).samplerate == 16000) \
    if SPEECH.exists() else []


# ------------------------------------------------------------- the reference (SyncTalk utils.py)

def ref_melspectrogram(wav: np.ndarray) -> np.ndarray:
    """SyncTalk_2D utils.melspectrogram / Wav2Lip audio.melspectrogram, verbatim in substance."""
    def _stft(y):
        return librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800)

    def _amp_to_db(x):
        min_level = np.exp(-5 * np.log(10))
        return 20 * np.log10(np.maximum(min_level, x))

    def _normalize(s):
        return np.clip((2 * 4.) * ((s - -100) / (--100)) - 4., -4., 4.)

    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns that n_fft > len(y) for tiny inputs
        d = _stft(signal.lfilter([1, -0.97], [1], wav))
    s = _amp_to_db(np.dot(basis, np.abs(d))) - 20
    return _normalize(s)


def ref_crop_audio_window(orig_mel: np.ndarray, start_frame: int) -> np.ndarray:
    """SyncTalk_2D AudDataset.crop_audio_window (orig_mel is (T, 80))."""
    start_idx = int(80. * (start_frame / float(25)))
    end_idx = start_idx + 16
    if end_idx > orig_mel.shape[0]:
        end_idx = orig_mel.shape[0]
        start_idx = end_idx - 16
    return orig_mel[start_idx:end_idx, :]


# ------------------------------------------------------------- filterbank and spectrogram

def test_filterbank_equals_librosa():
    ours = M.mel_filterbank()
    ref = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    assert ours.shape == (80, 401) and ours.dtype == np.float32
    assert np.abs(ours.astype(np.float64) - ref).max() < 1e-9
    # other parameters too (the implementation is general)
    ref2 = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=40, fmin=0, fmax=8000)
    assert np.abs(M.mel_filterbank(22050, 1024, 40, 0, 8000) - ref2).max() < 1e-9


def test_preemphasis_equals_lfilter():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    np.testing.assert_allclose(M.preemphasis(x), signal.lfilter([1, -0.97], [1], x),
                               rtol=0, atol=1e-12)


def test_stft_magnitude_equals_librosa():
    y = np.random.default_rng(1).standard_normal(5003)
    np.testing.assert_allclose(M.stft_magnitude(y),
                               np.abs(librosa.stft(y, n_fft=800, hop_length=200,
                                                   win_length=800)),
                               rtol=0, atol=1e-9)


@pytest.mark.skipif(not SPEECH_16K, reason=f"no 16 kHz speech in {SPEECH}")
@pytest.mark.parametrize("path", SPEECH_16K, ids=lambda p: p.name)
def test_real_speech_matches_reference(path):
    wav, sr = sf.read(str(path), dtype="float32")   # what librosa.load returns at native 16 kHz
    assert sr == 16000
    ours = M.melspectrogram(wav)
    ref = ref_melspectrogram(wav)
    assert ours.shape == ref.shape == (80, 1 + len(wav) // 200)
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-4
    # speech spans the range: not all clipped, not constant
    assert ours.min() == -4.0 and ours.max() > 0 and ours.std() > 0.5


def test_48k_speech_via_librosa_load_matches_reference():
    path = SPEECH / "mary.wav"
    if not path.exists():
        pytest.skip("mary.wav not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        wav, _ = librosa.load(path, sr=16000)
    assert np.abs(M.melspectrogram(wav) - ref_melspectrogram(wav)).max() < 1e-4


def _synthetic() -> dict[str, np.ndarray]:
    sr = 16000
    t = np.arange(sr) / sr
    rng = np.random.default_rng(7)
    impulse = np.zeros(4000, np.float32)
    impulse[1234] = 1.0
    return {
        "sine1k": (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32),
        "noise": (0.1 * rng.standard_normal(sr)).astype(np.float32),
        "chirp": signal.chirp(t, 60, 1.0, 7800).astype(np.float32) * 0.3,
        "loud": (30.0 * rng.standard_normal(sr // 2)).astype(np.float32),  # clips at +4
        "impulse": impulse,
        "quiet": (1e-6 * rng.standard_normal(sr // 4)).astype(np.float32),  # near the floor
    }


@pytest.mark.parametrize("name", list(_synthetic()))
def test_synthetic_matches_reference(name):
    wav = _synthetic()[name]
    ours, ref = M.melspectrogram(wav), ref_melspectrogram(wav)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4


def test_loud_input_reaches_the_top_clip():
    out = M.melspectrogram(_synthetic()["loud"])
    assert out.max() == 4.0 and (out == 4.0).mean() > 0.3


@pytest.mark.parametrize("n", [1, 2, 199, 200, 201, 399, 400, 401, 799, 800, 801, 1601])
def test_short_lengths(n):
    wav = (0.2 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    ours, ref = M.melspectrogram(wav), ref_melspectrogram(wav)
    assert ours.shape == ref.shape == (80, M.mel_frame_count(n)) == (80, 1 + n // 200)
    assert np.abs(ours - ref).max() < 1e-4


def test_silence_is_minus_four():
    out = M.melspectrogram(np.zeros(16000, np.float32))
    assert out.shape == (80, 81)
    assert np.all(out == M.SILENCE) and M.SILENCE == -4.0


def test_sine_peaks_in_the_right_band():
    out = M.melspectrogram(_synthetic()["sine1k"])
    fb = M.mel_filterbank()
    band = int(np.argmax(out[:, 40]))
    centre_hz = float(np.fft.rfftfreq(800, 1 / 16000)[np.argmax(fb[band])])
    assert abs(centre_hz - 1000) < 80


def test_eighty_frames_per_second():
    assert M.melspectrogram(np.zeros(16000 * 3, np.float32)).shape[1] == 241


def test_rejects_empty_and_multichannel():
    with pytest.raises(ValueError):
        M.melspectrogram(np.zeros(0, np.float32))
    with pytest.raises(ValueError):
        M.melspectrogram(np.zeros((2, 100), np.float32))


# ------------------------------------------------------------- video frames and windows

@pytest.mark.parametrize("seconds", [0.04, 0.5, 1.0, 2.2, 3.3, 7.1, 60.0, 1234.56, 0.3])
def test_frame_count_is_round_25n(seconds):
    """round(25 N) with halves rounded up (0.5 s -> 13 frames; Python's round() would say 12)."""
    n = int(round(seconds * 16000))
    assert M.frame_count(n) == math.floor(25 * n / 16000 + 0.5)
    if (25 * n) % 16000 != 8000:  # not a tie: agrees with plain round()
        assert M.frame_count(n) == round(25 * n / 16000)


def test_frame_count_edges():
    assert M.frame_count(0) == 0
    assert M.frame_count(1) == 0          # 1/640 of a frame
    assert M.frame_count(319) == 0
    assert M.frame_count(320) == 1        # exactly half a frame rounds up
    assert M.frame_count(640) == 1
    assert M.frame_count(16000) == 25
    assert M.frame_count(48000, sr=48000, fps=30) == 30
    assert M.frame_count(16000 * 5 + 400, fps=20) == 100 + 1  # 5.025 s at 20 fps -> 100.5


def test_window_starts_match_reference_float_formula():
    for fps in (20, 25, 30):
        i = np.arange(100_000)
        assert np.array_equal(M.window_starts(len(i), fps), (80. * (i / float(fps))).astype(int))
    assert list(M.window_starts(6)) == [0, 3, 6, 9, 12, 16]


@pytest.fixture(scope="module")
def speech_mel():
    if SPEECH_16K:
        wav, _ = sf.read(str(SPEECH_16K[0]), dtype="float32")
    else:
        wav = _synthetic()["chirp"]
    return M.melspectrogram(wav), len(wav)


def test_mel_windows_inside_the_audio(speech_mel):
    mel, n = speech_mel
    n_frames = M.frame_count(n)
    w = M.mel_windows(mel, n_frames)
    assert w.shape == (n_frames, 1, 80, 16) and w.dtype == np.float32
    orig = mel.T
    inside = [i for i in range(n_frames) if (80 * i) // 25 + 16 <= mel.shape[1]]
    assert len(inside) >= n_frames - 5
    for i in inside:
        np.testing.assert_array_equal(w[i, 0], ref_crop_audio_window(orig, i).T)


def test_mel_windows_padding_modes(speech_mel):
    mel, n = speech_mel
    n_frames = M.frame_count(n)
    t = mel.shape[1]
    last = n_frames - 1
    s = (80 * last) // 25
    assert s + 16 > t, "the last frames of round(25 N) frames run past the mel"
    edge = M.mel_windows(mel, n_frames, pad="edge")[last, 0]
    np.testing.assert_array_equal(edge[:, : t - s], mel[:, s:])
    assert np.all(edge[:, t - s:] == mel[:, -1:])
    sil = M.mel_windows(mel, n_frames, pad="silence")[last, 0]
    np.testing.assert_array_equal(sil[:, : t - s], mel[:, s:])
    assert np.all(sil[:, t - s:] == -4.0)
    clamp = M.mel_windows(mel, n_frames, pad="clamp")
    for i in range(n_frames):  # clamp is SyncTalk_2D's crop_audio_window for every frame
        np.testing.assert_array_equal(clamp[i, 0], ref_crop_audio_window(mel.T, i).T)


def test_mel_windows_one_second():
    mel = M.melspectrogram(_synthetic()["noise"])          # 1 s -> 81 mel frames
    w = M.mel_windows(mel, M.frame_count(16000))
    assert w.shape == (25, 1, 80, 16)
    np.testing.assert_array_equal(w[20, 0], mel[:, 64:80])  # start int(3.2 * 20) = 64
    np.testing.assert_array_equal(w[24, 0, :, :4], mel[:, 76:80])
    np.testing.assert_array_equal(w[24, 0, :, 5:], np.repeat(mel[:, -1:], 11, axis=1))


def test_mel_windows_tiny_and_empty():
    mel = M.melspectrogram(np.zeros(1, np.float32))        # 1 mel frame
    assert M.mel_windows(mel, 0).shape == (0, 1, 80, 16)
    for pad in M.PAD_MODES:
        w = M.mel_windows(mel, 3, pad=pad)
        assert w.shape == (3, 1, 80, 16) and np.all(w == -4.0)
    with pytest.raises(ValueError):
        M.mel_windows(mel, 3, pad="zeros")
    with pytest.raises(ValueError):
        M.mel_windows(np.zeros((80, 0), np.float32), 3)


def test_mel_windows_are_copies(speech_mel):
    mel, _ = speech_mel
    before = mel.copy()
    w = M.mel_windows(mel, 10)
    w[:] = 123.0
    np.testing.assert_array_equal(mel, before)


def test_mel_windows_batches_equal_the_whole(speech_mel):
    mel, n = speech_mel
    n_frames = M.frame_count(n)
    for pad in M.PAD_MODES:
        whole = M.mel_windows(mel, n_frames, pad=pad)
        parts = [M.mel_windows(mel, n_frames, pad=pad, start=s, stop=min(s + 7, n_frames))
                 for s in range(0, n_frames, 7)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert M.mel_windows(mel, n_frames, start=3, stop=3).shape == (0, 1, 80, 16)
    with pytest.raises(ValueError):
        M.mel_windows(mel, n_frames, start=5, stop=4)


def test_block_boundaries_do_not_show(monkeypatch):
    """melspectrogram works in blocks of STFT frames; tiny blocks give the same result."""
    wav = _synthetic()["chirp"]
    whole = M.melspectrogram(wav)
    monkeypatch.setattr(M, "_CHUNK_FRAMES", 7)
    np.testing.assert_array_equal(M.melspectrogram(wav), whole)
    np.testing.assert_allclose(M.melspectrogram(wav), ref_melspectrogram(wav), rtol=0, atol=1e-4)
