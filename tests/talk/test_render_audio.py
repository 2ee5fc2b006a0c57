"""The offline render decodes its audio once (issue 23: it decoded once per sample rate)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from studio.talk import render


def tone(sr: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_one_decode_gives_both_rates(tmp_path, monkeypatch, sr):
    from studio.media.audio_io import load_audio

    path = tmp_path / f"a{sr}.wav"
    sf.write(path, tone(sr), sr)
    calls = []

    def counting(p, rate=16000, check=None):
        calls.append(rate)
        return load_audio(p, rate, check=check)

    monkeypatch.setattr(render, "load_audio", counting)
    wav16, mux = render.decode_for_render(path, mux=True)
    assert calls == [sr]  # one decode, at the file's own rate
    assert len(wav16) == 16000 and len(mux) == 48000
    # the same samples the two separate decodes gave (within the resamplers' differences)
    ref16 = load_audio(path, 16000).samples
    ref48 = load_audio(path, 48000).samples
    assert np.abs(wav16 - ref16).max() < 2e-3 and np.abs(mux - ref48).max() < 2e-3
    if sr == 16000:
        assert np.array_equal(wav16, ref16)  # a 16 kHz file reaches the model untouched
    if sr == 48000:
        assert np.array_equal(mux, ref48)


def test_silent_and_png_decode_only_16k(tmp_path, monkeypatch):
    from studio.media.audio_io import load_audio

    path = tmp_path / "a.wav"
    sf.write(path, tone(22050), 22050)
    calls = []
    monkeypatch.setattr(render, "load_audio",
                        lambda p, rate=16000, check=None: calls.append(rate) or load_audio(p, rate))
    wav16, mux = render.decode_for_render(path, mux=False)
    assert calls == [16000] and mux is None and len(wav16) == 16000


def test_lipsync_owns_the_frame_count(tmp_path):
    from studio.runtime.pool import SessionPool
    from studio.talk.lipsync import LipSync
    from tests.fixtures.tiny_models import talk_pair

    enc, unet = talk_pair(tmp_path, size=64)
    ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=1))
    try:
        assert ls.frame_count(16000) == 25 and ls.frame_count(21120) == 33
        assert ls.frame_count(0) == 0
    finally:
        ls.close()


def test_decoded_audio_is_not_decoded_again(tmp_path, monkeypatch):
    """The panel decodes once (decode_audio) and renders from those samples."""
    import av

    from studio.jobs import Job
    from studio.runtime.pool import SessionPool
    from studio.talk.lipsync import LipSync
    from tests.fixtures.tiny_models import talk_pair

    path = tmp_path / "a.wav"
    sf.write(path, 0.2 * np.sin(np.arange(22050) / 7.0), 44100)
    decoded = render.decode_audio(path)
    assert decoded.info.sample_rate == 44100 and abs(decoded.duration_s - 0.5) < 1e-3
    assert len(decoded.mux) == 24000 and decoded.at_mux_rate().sr == 48000

    def no_decode(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(render, "load_audio", no_decode)
    enc, unet = talk_pair(tmp_path / "pair", size=64)
    ls = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=1))
    rng = np.random.default_rng(0)
    tpl = render.ArrayTemplate([rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(3)],
                               np.array([[30, 10, 100, 80]] * 3, np.float32))
    r = Job("render", lambda ctx: render.render_to_file(ls, tpl, decoded, tmp_path / "o.mp4", ctx)).run()
    assert r.ok, r.error
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == ls.frame_count(8000) and len(c.streams.audio) == 1
