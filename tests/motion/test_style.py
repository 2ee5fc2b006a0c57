"""Style: motion features, windows, the shipped StyleVAE and style classifier, transfer()."""

from __future__ import annotations

import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.learned import dataset as D
from studio.motion.learned import style as S
from studio.runtime import models as model_factory

needs_vae = pytest.mark.skipif(not S.model_available("vae"), reason="models/style_vae not installed")
needs_classifier = pytest.mark.skipif(not S.model_available("classifier"),
                                      reason="models/style_classifier not installed")


@pytest.fixture(scope="module")
def walk():
    pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")
    rec = D.load_pybullet_record("walk")
    return rec.clip()


@pytest.fixture(scope="module")
def bandai_clips():
    """Held-out Bandai clips (test split) on the humanoid, not touching the cache."""
    folder = D.bandai_dir()
    if not folder.is_dir():
        pytest.skip(f"Bandai-Namco mocap not found at {folder}")
    names = ["dataset-1_walk_normal_001", "dataset-1_run_chimpira_001",
             "dataset-1_walk-left_masculinity_001", "dataset-1_run_old_001",
             "dataset-1_walk-back_feminine_001", "dataset-1_dash_angry_001"]
    recs = {n: D.load_bandai_record(folder / f"{n}.bvh", use_cache=False) for n in names}
    assert all(r.split == "test" for r in recs.values()), "these takes must stay out of training"
    return {r.style: r.clip() for r in recs.values()}


@pytest.fixture(scope="module")
def models():
    return S.StyleModels(sessions=1)


def test_motion_features_round_trip(walk):
    pos, quat = D.clip_arrays(walk)
    f = D.motion_features(pos, quat)
    assert f.shape == (walk.n_frames, D.MOTION_DIM)
    p0, h0 = D.ground_frame(pos[0], quat[0, 0])
    p2, q2 = D.features_to_arrays(f, p0, float(h0))
    assert np.allclose(D.global_pose(p2, q2)[0], D.global_pose(pos, quat)[0], atol=1e-6)
    # Moving/turning the clip on the ground does not change its features.
    from studio.motion.learned.transition import place

    mp, mq = place(pos, quat, 0, np.array([3.0, 0.0, -2.0]), 0.7)
    assert np.allclose(D.motion_features(mp, mq), f, atol=1e-9)


def test_mirror_twice_is_identity(walk):
    pos, quat = D.clip_arrays(walk)
    p, q = D.mirror_arrays(*D.mirror_arrays(pos, quat))
    assert np.allclose(p, pos) and np.allclose(q, quat)


def test_windows_and_overlap_add_round_trip():
    x = np.random.default_rng(0).standard_normal((137, 5))
    wins, starts = S.windows_of(x, 60, 30)
    assert starts == [0, 30, 60, 77]
    assert np.allclose(S.overlap_add(wins, starts, 137), x)
    short, st = S.windows_of(x[:20], 60, 30)
    assert short.shape == (1, 60, 5) and st == [0]
    assert np.allclose(S.overlap_add(short, st, 20), x[:20])


def test_models_load_through_their_manifests():
    """The shipped models must be there (no skip): they are part of the app."""
    from studio.paths import MODELS_DIR
    from studio.runtime.registry import check

    for sub, role in (("style_vae/encoder", S.ENCODER_ROLE), ("style_vae/decoder", S.DECODER_ROLE),
                      ("style_classifier", S.CLASSIFIER_ROLE)):
        rep = check(MODELS_DIR / sub / "manifest.json")
        assert rep.loads, rep.error
        assert rep.manifest.role == role
        text = (rep.manifest.license + rep.manifest.description).lower()
        assert "non-commercial" in text and "bandai" in text
        assert len(rep.manifest.constants["mean"]) == D.MOTION_DIM


@needs_vae
def test_style_codes_shape(walk, models):
    codes = S.style_codes(walk, models=models)
    n_win = len(D.sliding_windows(walk.n_frames, 60, 30))
    assert codes.shape == (n_win, 256)
    assert np.all(np.isfinite(codes))


@needs_vae
def test_strength_zero_returns_the_content(bandai_clips, models):
    content = bandai_clips["normal"]
    other = bandai_clips["chimpira"]
    exact = S.transfer(content, other, 0.0, residual=True, models=models)
    assert exact.n_frames == content.n_frames
    g_c = D.global_pose(*D.clip_arrays(content))[0]
    assert np.abs(D.global_pose(*D.clip_arrays(exact))[0] - g_c).max() < 1e-3
    # The plain decode is the VAE's reconstruction: close, not exact.
    rec = S.transfer(content, other, 0.0, models=models)
    g_r = D.global_pose(*D.clip_arrays(rec))[0]
    rel_c, rel_r = g_c - g_c[:, :1], g_r - g_r[:, :1]
    pose_err = np.linalg.norm(rel_c - rel_r, axis=-1).mean()
    root_err = np.linalg.norm((g_c[:, 0] - g_r[:, 0])[:, [0, 2]], axis=-1).mean()
    assert pose_err < 0.06, pose_err
    assert root_err < 0.25, root_err
    # Full strength changes the motion much more than the reconstruction error.
    full = S.transfer(content, other, 1.0, models=models)
    g_f = D.global_pose(*D.clip_arrays(full))[0]
    change = np.linalg.norm((g_f - g_f[:, :1]) - rel_r, axis=-1).mean()
    assert change > 0.5 * pose_err


@needs_vae
def test_bad_strength(walk, models):
    with pytest.raises(UserError, match="between 0 and 1"):
        S.transfer(walk, walk, 1.5, models=models)
    with pytest.raises(UserError, match="style clip"):
        S.transfer(walk, None, 0.5, models=models)


@needs_vae
@needs_classifier
def test_classifier_finds_the_target_style(bandai_clips, models):
    pool = model_factory.pool(S.CLASSIFIER_ROLE, sessions=1)
    styles = list(bandai_clips)
    hits = total = 0
    for content_style, content in bandai_clips.items():
        for target in styles:
            if target == content_style:
                continue
            out = S.transfer(content, bandai_clips[target], 1.0, models=models)
            label, probs = S.classify(out, pool=pool)
            assert abs(sum(probs.values()) - 1.0) < 1e-4
            hits += label == target
            total += 1
    # Chance is 1/15; a model whose outputs all look like one style would score 1/6 here
    # (each style is the target of 5 of the 30 transfers). Measured: 25/30.
    assert hits / total > 0.4, (hits, total)
