"""Offline talk render with tiny test-fixture models (random weights, never shipped)."""

import av
import numpy as np
import pytest
import soundfile as sf

from studio.jobs import Job, JobStatus
from studio.runtime.pool import SessionPool
from studio.talk.lipsync import LipSync, blend_weights, feather_mask
from studio.talk.render import ArrayTemplate, pingpong, render_frames, render_to_file  # noqa: F401


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from tests.fixtures.tiny_models import talk_pair

    return talk_pair(tmp_path_factory.mktemp("talk_models"), size=64)


def make_lipsync(pair, sessions=2):
    enc, unet = pair
    return LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=sessions))


@pytest.fixture(scope="module")
def template():
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(7)]
    boxes = np.array([[40 + i, 30, 120 + i, 110] for i in range(7)], np.float32)
    return ArrayTemplate(frames, boxes)


def speech_like(seconds, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


class Collect:
    def __init__(self):
        self.frames = []

    def write(self, f):
        self.frames.append(f)


def test_pingpong():
    assert [pingpong(i, 4) for i in range(10)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert [pingpong(i, 1) for i in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("seconds", [1.0, 1.32, 2.04, 0.05])
def test_frame_count_is_round_25n(pair, template, seconds):
    ls = make_lipsync(pair)
    sink = Collect()
    stats = render_frames(ls, template, speech_like(seconds), sink)
    assert stats.frames == len(sink.frames) == round(25 * seconds)


def test_pixels_outside_box_untouched_and_inside_changed(pair, template):
    ls = make_lipsync(pair)
    sink = Collect()
    render_frames(ls, template, speech_like(0.6), sink)
    for i, out in enumerate(sink.frames):
        k = pingpong(i, template.n_frames)
        src = template.frame(k)
        x0, y0, x1, y1 = template.crop_box(k).astype(int)
        outside = np.ones(src.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(out[outside], src[outside])
        assert np.abs(out[y0:y1, x0:x1].astype(int) - src[y0:y1, x0:x1]).mean() > 5


def test_pool_is_bit_identical_to_one_session(pair, template):
    wav = speech_like(1.0)
    a, b = Collect(), Collect()
    render_frames(make_lipsync(pair, sessions=1), template, wav, a)
    render_frames(make_lipsync(pair, sessions=3), template, wav, b)
    assert len(a.frames) == len(b.frames) == 25
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))


def test_audio_changes_the_mouth(pair, template):
    ls = make_lipsync(pair, sessions=1)
    a, b = Collect(), Collect()
    render_frames(ls, template, speech_like(0.4, seed=1), a)
    render_frames(ls, template, np.zeros(6400, np.float32), b)
    assert any(not np.array_equal(x, y) for x, y in zip(a.frames, b.frames))


def test_feather_mask_is_soft():
    m = feather_mask(100, 100, 4 / 72, 0.08)[..., 0]
    assert m[0, 0] == 0 and m[50, 50] == 1
    row = m[50]
    assert len(np.unique(np.round(row, 3))) > 5  # a ramp, not a hard step


def test_paste_has_no_seam_on_any_side(pair):
    """The U-Net repaints only its masked rectangle and copies the reference elsewhere, so
    its output jumps at the rectangle's edge (10 px above the crop's bottom in the SyncTalk
    contract). The paste must fade the prediction out before that edge on all four sides:
    no step between neighbouring pixels may be more than a fraction of the jump."""
    ls = make_lipsync(pair, sessions=1)
    c = ls.contract
    frame = np.full((300, 300, 3), 100, np.uint8)
    pred = np.full((1, 3, c.size, c.size), 100 / 255, np.float32)
    x0, y0, x1, y1 = c.mask_rect
    pred[:, :, y0:y1, x0:x1] = 250 / 255  # the repainted area differs by 150 levels
    box = (50, 40, 230, 220)
    out = ls.paste(frame, pred, box).astype(int)
    inner = out[box[1]:box[3], box[0]:box[2], 0]
    step = max(np.abs(np.diff(inner, axis=0)).max(), np.abs(np.diff(inner, axis=1)).max())
    assert step < 0.2 * 150, f"a seam: {step} levels between neighbouring pixels"
    assert inner[90, 90] > 240                        # the mouth area is the prediction
    assert np.all(out[:box[1] + 2] == 100) and np.all(out[box[3] - 2:] == 100)
    assert np.all(out[:, :box[0] + 2] == 100) and np.all(out[:, box[2] - 2:] == 100)
    # the weights are computed once per box size
    a = blend_weights(180, 180, c.painted_region(), c.feather)
    assert a is blend_weights(180, 180, c.painted_region(), c.feather)


def test_mp4_with_audio_in_sync(pair, template, tmp_path):
    wav_path = tmp_path / "speech.wav"
    sf.write(wav_path, speech_like(1.48), 16000)
    out = tmp_path / "out.mp4"
    ls = make_lipsync(pair)
    r = Job("render", lambda ctx: render_to_file(ls, template, wav_path, out, ctx)).run()
    assert r.ok, r.error
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0]
        n = sum(1 for _ in c.decode(video=0))
        vdur = float(v.duration * v.time_base) if v.duration else n / 25
        adur = float(a.duration * a.time_base)
    assert n == round(25 * 1.48) == 37
    assert abs(adur - n / 25) <= 0.040
    assert abs(vdur - adur) <= 0.040


def test_png_and_silent_exports(pair, template, tmp_path):
    wav_path = tmp_path / "speech.wav"
    sf.write(wav_path, speech_like(0.4), 16000)
    ls = make_lipsync(pair)
    Job("png", lambda ctx: render_to_file(ls, template, wav_path, tmp_path / "frames", ctx, fmt="png")).run()
    assert len(list((tmp_path / "frames").glob("*.png"))) == 10
    Job("silent", lambda ctx: render_to_file(ls, template, wav_path, tmp_path / "s.mp4", ctx, fmt="silent")).run()
    with av.open(str(tmp_path / "s.mp4")) as c:
        assert len(c.streams.audio) == 0 and len(c.streams.video) == 1


def test_cancel_leaves_no_file(pair, template, tmp_path):
    wav_path = tmp_path / "speech.wav"
    sf.write(wav_path, speech_like(3.0), 16000)
    out = tmp_path / "out.mp4"
    ls = make_lipsync(pair)
    job = Job("render", lambda ctx: render_to_file(ls, template, wav_path, out, ctx))

    def cancel_midway(p):
        if p.done >= 10:
            job.cancel()

    r = job.run(cancel_midway)
    assert r.status is JobStatus.CANCELLED
    assert list(tmp_path.iterdir()) == [wav_path]


def test_manifest_mismatch_is_a_clear_error(pair, tmp_path):
    import json
    import shutil

    from studio.runtime.manifest import ModelError

    enc, unet = pair
    d = tmp_path / "unet"
    shutil.copytree(unet.parent, d)
    m = json.loads((d / "manifest.json").read_text())
    m["constants"]["audio_mode"] = "hubert"
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="audio mode 'hubert'|mode 'hubert'"):
        LipSync(SessionPool(enc, sessions=1), SessionPool(d / "manifest.json", sessions=1))
