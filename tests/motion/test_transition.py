"""Transitions: placement features, the baselines, the shipped TransitionNet and transition()."""

from __future__ import annotations

import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.learned import dataset as D
from studio.motion.learned import transition as T
from studio.runtime import models

needs_model = pytest.mark.skipif(not models.available(T.ROLE),
                                 reason="models/transition not installed")


@pytest.fixture(scope="module")
def clips():
    pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")
    from studio.motion.io.library import load_builtin

    return D.humanoid_clip(load_builtin("walk")), D.humanoid_clip(load_builtin("run"))


@pytest.fixture(scope="module")
def heldout():
    """Three held-out Bandai walks/runs (test split), retargeted without touching the cache."""
    folder = D.bandai_dir()
    if not folder.is_dir():
        pytest.skip(f"Bandai-Namco mocap not found at {folder}")
    names = ["dataset-1_walk_normal_001", "dataset-1_run_chimpira_001",
             "dataset-1_walk-left_happy_001"]
    recs = [D.load_bandai_record(folder / f"{n}.bvh", use_cache=False) for n in names]
    assert all(r.split == "test" for r in recs), "these takes must stay out of training"
    return recs


def _global(pos, quat):
    return D.global_pose(pos, quat)[0]


def test_placement_features_round_trip(clips):
    walk, _ = clips
    pos, quat = D.clip_arrays(walk)
    ref_pos, ref_h = D.ground_frame(pos[7], quat[7, 0])
    f = D.placement_features(pos, quat, ref_pos, ref_h)
    assert f.shape == (len(pos), D.PLACEMENT_DIM)
    assert np.allclose(f[7, [0, 2]], 0.0, atol=1e-9)        # the reference frame's own root
    p2, q2 = D.placement_to_arrays(f, ref_pos, ref_h)
    assert np.allclose(_global(p2, q2), _global(pos, quat), atol=1e-6)


def test_interpolation_batch_matches_slerp(clips):
    walk, _ = clips
    pos, quat = D.clip_arrays(walk)
    a = D.interpolate_arrays(pos[0], quat[0], pos[20], quat[20], 9)
    b = D.interpolate_batch(pos[None, 0], quat[None, 0], pos[None, 20], quat[None, 20], 9)
    assert np.allclose(a[0], b[0][0])
    assert np.allclose(np.abs(np.sum(a[1] * b[1][0], axis=-1)), 1.0, atol=1e-9)


@pytest.mark.parametrize("method", ["linear", "zero_velocity"])
def test_baseline_transition_frames(clips, method):
    walk, run = clips
    out = T.transition(walk, 20, run, 5, 12, method=method)
    info = out.meta["transition"]
    assert out.n_frames == 21 + 12 + (run.n_frames - 5)
    assert (info["first"], info["n_frames"], info["in_frame"]) == (21, 12, 33)
    # A is copied up to its out-point.
    assert np.allclose(out.root_pos[:21], walk.root_pos[:21])
    assert np.allclose(np.abs(np.sum(out.rotations[:21] * walk.rotations[:21], -1)), 1, atol=1e-9)
    # B's poses continue unchanged (only moved and turned on the ground).
    assert np.allclose(out.root_pos[33:, 1], run.root_pos[5:, 1])
    assert np.allclose(np.abs(np.sum(out.rotations[33:, 1:] * run.rotations[5:, 1:], -1)), 1,
                       atol=1e-6)
    if method == "zero_velocity":
        assert np.allclose(out.root_pos[21:33], walk.root_pos[20])


def _tmp_target_check(out, walk, n):
    """First generated frame near A's out pose, last near B's in pose (root-relative joint
    positions, and root travel of at most ~one frame's motion)."""
    pos, quat = D.clip_arrays(out)
    g = _global(pos, quat)
    rel = g - g[:, :1]
    first, last = 21, 20 + n
    step_a = np.linalg.norm(rel[first] - rel[20], axis=-1).max()
    step_b = np.linalg.norm(rel[last + 1] - rel[last], axis=-1).max()
    return step_a, step_b, np.linalg.norm(pos[first] - pos[20]), np.linalg.norm(pos[last + 1] - pos[last])


def test_model_loads_through_its_manifest():
    """The shipped model must be there (no skip): it is part of the app."""
    from studio.runtime.registry import check

    rep = check(models.manifest_path(T.ROLE))
    assert rep.loads, rep.error
    man = rep.manifest
    assert man.role == T.ROLE
    c = man.constants
    assert len(c["mean"]) == len(c["std"]) == D.PLACEMENT_DIM
    assert (c["context"], c["min_gap"], c["max_gap"]) == (T.CONTEXT, 5, 60)
    text = (man.license + man.description).lower()
    assert "non-commercial" in text and "bandai" in text
    assert "CC BY-NC" in " ".join(man.training["data"])


@needs_model
@pytest.mark.parametrize("n", [5, 30])
def test_model_transition_hits_both_ends(clips, n):
    walk, run = clips
    out = T.transition(walk, 20, run, 5, n, method="model")
    assert out.n_frames == 21 + n + (run.n_frames - 5)
    assert out.meta["transition"]["in_frame"] == 21 + n
    assert "non-commercial" in out.meta["license"]
    step_a, step_b, root_a, root_b = _tmp_target_check(out, walk, n)
    # A run moves its joints up to ~0.2 m per frame relative to the root; a seam would be
    # far larger (the pose would jump to an average pose).
    assert step_a < 0.25 and step_b < 0.25, (step_a, step_b)
    assert root_a < 0.25 and root_b < 0.25, (root_a, root_b)
    assert np.all(np.isfinite(out.root_pos))


@needs_model
def test_model_beats_linear_at_30_frames(heldout):
    pool = models.pool(T.ROLE)
    res = T.evaluate(heldout, gaps=(30,), methods=("model", "linear"), pool=pool, stride=15)
    r = res[30]
    assert r["model"]["windows"] >= 10
    assert r["model"]["L2P"] < 0.9 * r["linear"]["L2P"], r
    assert r["model"]["L2Q"] < r["linear"]["L2Q"], r


@needs_model
def test_model_refuses_gaps_it_was_not_trained_for(clips):
    walk, run = clips
    with pytest.raises(UserError, match="5 to 60"):
        T.transition(walk, 20, run, 5, 61, method="model")


def test_bad_arguments(clips):
    walk, run = clips
    with pytest.raises(UserError, match="method"):
        T.transition(walk, 20, run, 5, 10, method="cubic")
    with pytest.raises(UserError, match="outside the clip"):
        T.transition(walk, walk.n_frames + 3, run, 5, 10, method="linear")


def test_target_placement_follows_the_motion(clips):
    walk, run = clips
    out = T.transition(walk, 20, run, 5, 10, method="linear")
    # Walking on +X: B lands further along +X, roughly at walking speed x 11 frames.
    pos = out.root_pos
    ahead = pos[31, 0] - pos[20, 0]
    assert 0.2 < ahead < 1.5, ahead
    explicit = T.transition(walk, 20, run, 5, 10, method="linear", target=(1.0, 0.0, 0.0))
    h = D.heading_of(D.clip_arrays(walk)[1][:, 0])[20]
    g0 = D.ground_frame(walk.root_pos[20], D.clip_arrays(walk)[1][20, 0])[0]
    g1 = explicit.root_pos[31] * [1, 0, 1]
    expected = g0 + D.yaw(h)[0].apply([0.0, 0.0, 1.0])
    assert np.linalg.norm(g1 - expected) < 1e-6
