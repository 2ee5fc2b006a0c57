import json

import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.core.sampling import sample_clip
from studio.motion.io.deepmimic import HUMANOID
from studio.motion.io.library import load_builtin
from studio.motion.learned.blend import mirror_shift
from studio.motion.learned.phase import (ROLE, compute_phase, contact_cadence,
                                         phase_job, regularity)
from studio.runtime import models
from studio.runtime.manifest import Manifest, ModelError

pytestmark = pytest.mark.skipif(not models.available(ROLE),
                                reason="DeepPhase model not installed (models/deepphase)")


def looped(name: str, seconds: float = 6.0):
    pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")
    clip = load_builtin(name)
    out = sample_clip(clip, np.arange(int(seconds * 30) + 1) / 30.0, 30.0)
    out.name = name
    return out


@pytest.fixture(scope="module")
def walk_track():
    clip = looped("walk")
    return clip, compute_phase(clip)


def test_shipped_model_loads_via_its_manifest():
    from studio.runtime.registry import check

    report = check(models.manifest_path(ROLE))
    assert report.loads, report.error
    man = report.manifest
    assert man.role == ROLE
    c = man.constants
    assert c["fps"] == 30 and c["window"] == 61
    assert c["joints"] == list(HUMANOID.names)
    assert len(c["mean"]) == len(c["std"]) == c["channels"] == 3 * len(HUMANOID)
    assert man.inputs[0].shape == ("B", c["channels"], c["window"])
    k = c["latent_channels"]
    assert [t.shape for t in man.outputs] == [("B", k, 2), ("B", k), ("B", k), ("B", k)]
    assert man.model_path.stat().st_size < 1_000_000  # small enough to ship in the repo


def test_walk_phase_advances_like_a_clock(walk_track):
    clip, tr = walk_track
    assert tr.phase.shape == (clip.n_frames, tr.n_channels)
    assert ((tr.phase >= 0) & (tr.phase < 1)).all()
    reg = regularity(tr, trim=30)
    assert reg.forward == 1.0                 # every step forward (mod 1)
    assert reg.cv < 0.2                       # and nearly even (jitter < 20% of a step)
    # The manifold point circles at the channel's amplitude.
    k = tr.dominant()
    np.testing.assert_allclose(np.linalg.norm(tr.manifold()[:, k], axis=1), tr.amp[:, k])


@pytest.mark.parametrize("name", ["walk", "run"])
def test_frequency_matches_contact_cadence(name):
    clip = looped(name)
    tr = compute_phase(clip)
    cadence = contact_cadence(clip)
    assert cadence == pytest.approx({"walk": 0.79, "run": 1.25}[name], rel=0.02)
    reg = regularity(tr, trim=30)
    assert reg.rate == pytest.approx(cadence, rel=0.03)       # phase advance: strides/s
    f_model = tr.freq[30:-30, reg.channel].mean()
    assert f_model == pytest.approx(cadence, rel=0.10)       # the model's own estimate


def test_dominant_channel_runs_once_per_stride(walk_track):
    clip, tr = walk_track
    mirrored = compute_phase(clip, mirror=True)
    # The mirrored walk is the same walk half a stride later.
    assert mirror_shift(tr, mirrored)[tr.dominant()] == pytest.approx(0.5, abs=0.08)


def test_standing_still_has_small_amplitude(walk_track):
    clip, tr = walk_track
    still = sample_clip(clip, np.zeros(90), 30.0)  # the first pose held for 3 s
    st = compute_phase(still)
    assert st.amp.mean(axis=0).max() < 0.3 * tr.amp[:, tr.dominant()].mean()


def test_bvh_rig_is_retargeted_and_phases_agree(walk_track):
    from tests.motion.synthetic import rerig

    clip, tr = walk_track
    other = rerig(clip.frames(0, 120))   # CMU names, T-pose rest, Z up, centimetres
    ot = compute_phase(other)
    k = tr.dominant()
    d = np.mod(ot.phase[20:100, k] - tr.phase[20:100, k] + 0.5, 1.0) - 0.5
    assert np.abs(d).max() < 0.05


def test_any_frame_rate_and_sampling(walk_track):
    clip, tr = walk_track
    fast = clip.copy(fps=60.0)         # the same frames at 60 fps: twice the cadence
    ft = compute_phase(fast)
    assert ft.fps == 30.0 and ft.n_frames == int(np.floor(fast.duration * 30 + 0.02)) + 1
    assert regularity(ft, trim=15).rate == pytest.approx(2 * regularity(tr, trim=30).rate,
                                                         rel=0.1)
    same = tr.sample(tr.times)
    np.testing.assert_allclose(same.phase, tr.phase, atol=1e-9)
    assert phase_job(clip).run().value.n_frames == tr.n_frames


def test_missing_or_wrong_model_is_a_user_error(walk_track, tmp_path):
    clip, _ = walk_track
    with pytest.raises(UserError, match="DeepPhase model is not installed"):
        compute_phase(clip, model=tmp_path / "nothing")
    man = json.loads(models.manifest_path(ROLE).read_text())
    man["role"] = "talk.unet"
    (tmp_path / "model.onnx").write_bytes(models.manifest_path(ROLE).with_name("model.onnx")
                                          .read_bytes())
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="not a DeepPhase model"):
        compute_phase(clip, model=tmp_path)
    assert Manifest.load(models.manifest_path(ROLE)).role == ROLE


@pytest.mark.parametrize("style", ["normal", "sad", "proud"])
def test_held_out_mocap_walks(bandai, style):
    """Real walks the model never saw (Bandai-Namco, retargeted), slow ones included."""
    from studio.motion.io.files import load_clip

    from studio.motion.core.retarget import retarget

    clip = retarget(load_clip(bandai / f"dataset-1_walk_{style}_001.bvh"))
    tr = compute_phase(clip)
    reg = regularity(tr, trim=15)             # the dominant channel
    assert reg.forward > 0.97 and reg.cv < 0.25
    assert reg.rate == pytest.approx(contact_cadence(clip), rel=0.05)
