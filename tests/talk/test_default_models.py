"""The shipped default avatar + lip-sync pair: loads through the manifests, renders real speech
with the right frame count, and the mouth in the output pixels opens on vowels and closes in
silence (measured from pixels only)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.paths import SHARED_DATA
from studio.runtime.manifest import Manifest
from studio.runtime.pool import SessionPool
from studio.talk import eval_sync as ev
from studio.talk.session import DEFAULT_AVATAR, DEFAULT_MODELS

SPEECH = SHARED_DATA / "speech"
CLIP = "sense_and_sensibility_01_austen_64kb-0870"

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS / "unet" / "manifest.json").exists(),
                                reason="default talk models not built")


@pytest.fixture(scope="module")
def avatar():
    from studio.talk.avatar import AvatarTemplate

    return AvatarTemplate.load(DEFAULT_AVATAR)


@pytest.fixture(scope="module")
def lipsync():
    from studio.talk.lipsync import LipSync

    ls = LipSync(SessionPool(DEFAULT_MODELS / "audio_encoder", sessions=1),
                 SessionPool(DEFAULT_MODELS / "unet", sessions=2, threads=1))
    yield ls
    ls.close()


def _speech(name: str = CLIP):
    from studio.media.audio_io import load_audio

    wav = SHARED_DATA / "speech" / f"{name}.wav"
    if not wav.exists():
        pytest.skip(f"{wav} not available")
    return load_audio(wav, 16000).samples, ev.read_phone_json(wav.with_name(f"{name}.phone.json"))


def test_manifests_describe_the_contract():
    enc = Manifest.load(DEFAULT_MODELS / "audio_encoder")
    unet = Manifest.load(DEFAULT_MODELS / "unet")
    assert enc.role == "talk.audio_encoder" and unet.role == "talk.unet"
    c = unet.constants
    assert c["size"] == 160 and c["audio_mode"] == "ave" and c["channel_order"] == "BGR"
    assert c["input_order"] == ["reference", "masked"] and c["mask_rect"] == [5, 5, 155, 150]
    assert enc.training["minutes"] > 0 and unet.training["steps"] > 0
    assert enc.license and unet.license
    total = sum((DEFAULT_MODELS / p / "model.onnx").stat().st_size for p in ("audio_encoder", "unet"))
    assert total < 8 * 2 ** 20  # "a few MB"


def test_default_avatar_loads(avatar):
    assert avatar.num_frames >= 100 and avatar.fps == 25
    assert (avatar.crop_boxes[:, 2] - avatar.crop_boxes[:, 0] > 100).all()
    f0, f1 = avatar.frame(0), avatar.frame(avatar.num_frames // 2)
    assert f0.shape == (avatar.height, avatar.width, 3)
    assert np.abs(f0.astype(int) - f1).mean() > 0.5  # idle motion: frames differ


@pytest.mark.parametrize("seconds", [2.0, 1.52])
def test_renders_round_25n_frames_of_real_speech(lipsync, avatar, seconds):
    wav, _ = _speech()
    m, stats, _ = ev.measure_render(lipsync, avatar, wav[:int(seconds * 16000)])
    assert stats.frames == len(m) == round(25 * seconds)


def test_mouth_opens_on_vowels_and_closes_in_silence(lipsync, avatar):
    wav, phones = _speech()
    lead = 0.8  # seconds of digital silence before the speech
    x = np.concatenate([np.zeros(int(lead * 16000), np.float32), wav[:int(1.6 * 16000)]])
    m, _, _ = ev.measure_render(lipsync, avatar, x)
    t = ev.frame_times(len(m))
    silent = m[(t > 0.12) & (t < lead - 0.12)]
    vowel = np.zeros(len(m), bool)
    for p in phones:
        if p.label in ev.OPEN_VOWELS and p.end + lead < 2.3:
            vowel |= (t > p.start + lead) & (t < p.end + lead)
    assert vowel.sum() >= 3
    # closed in silence: no more than the template's own (closed-lip) mouth (reading 0)
    assert silent.max() < 0.03
    # open on vowels: clearly more inner mouth / teeth than in silence
    assert np.median(m[vowel]) > silent.mean() + 0.02


def test_silence_is_closed_and_still(lipsync, avatar):
    m, _, _ = ev.measure_render(lipsync, avatar, np.zeros(16000, np.float32))
    assert np.abs(m).max() < 0.03
