import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from studio.jobs import Job, UserError
from studio.motion.learned.blend import (blend_clips, blend_job, blend_sliding, crossfade_weights,
                                 normalise_weights)
from studio.motion.core.fk import forward_kinematics, root_trajectory
from studio.motion.core.sampling import loop_transform, sample_clip
from studio.motion.io.library import load_builtin
from studio.motion.learned.phase import ROLE as DEEPPHASE
from studio.runtime import models

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def run():
    pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")
    return load_builtin("run")


def positions(clip):
    return forward_kinematics(clip).positions


def turned(clip, degrees, shift=(0.0, 0.0, 0.0)):
    """The same motion facing another way (yaw about Y) and elsewhere on the floor."""
    r = Rotation.from_rotvec([0.0, np.radians(degrees), 0.0])
    rots = clip.rotations.copy()
    rots[:, 0] = (r * Rotation.from_quat(rots[:, 0])).as_quat()
    return clip.copy(root_pos=r.apply(clip.root_pos) + np.asarray(shift), rotations=rots)


def test_sample_clip_reproduces_frames_and_cycles_loops(walk):
    same = sample_clip(walk, walk.times)
    np.testing.assert_allclose(positions(same), positions(walk), atol=1e-9)
    # Three passes of the loop travel three loop displacements, continuing smoothly.
    yaw, d = loop_transform(walk)
    three = sample_clip(walk, np.arange(3 * (walk.n_frames - 1) + 1) / walk.fps)
    travelled = three.root_pos[-1] - three.root_pos[0]
    assert np.linalg.norm(travelled[[0, 2]]) == pytest.approx(3 * np.linalg.norm(d[[0, 2]]),
                                                              rel=0.05)
    steps = np.linalg.norm(np.diff(three.root_pos[:, [0, 2]], axis=0), axis=1)
    assert steps.max() < 2.5 * np.median(steps)  # no jump at the loop seams
    # Before t = 0 a loop runs backwards into the previous pass.
    # One loop earlier is frame 0 moved back by the loop transform.
    before = sample_clip(walk, np.array([-walk.duration]))
    fwd = Rotation.from_rotvec([0.0, yaw, 0.0])
    np.testing.assert_allclose(fwd.apply(before.root_pos[0]) + d, walk.root_pos[0], atol=1e-9)
    np.testing.assert_allclose(positions(before)[0] - before.root_pos[0],
                               fwd.inv().apply(positions(walk)[0] - walk.root_pos[0]),
                               atol=1e-9)


@pytest.mark.parametrize("mode,phase", [("naive", "deepphase"), ("aligned", "contacts"),
                                        ("aligned", "deepphase")])
@pytest.mark.parametrize("which", [0, 1])
def test_weight_one_returns_that_clip(walk, run, mode, phase, which):
    if phase == "deepphase" and mode == "aligned" and not models.available(DEEPPHASE):
        pytest.skip("DeepPhase model not installed")
    src = (walk, run)[which]
    w = np.zeros((src.n_frames, 2))
    w[:, which] = 1.0
    out = blend_clips([walk, run], w, mode, fps=src.fps, phase=phase)
    assert out.n_frames == src.n_frames
    np.testing.assert_allclose(positions(out), positions(src), atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(out.rotations * src.rotations, axis=-1)), 1.0,
                               atol=1e-6)


@pytest.mark.parametrize("phase", ["deepphase", "contacts"])
def test_other_frame_rates(walk, run, phase):
    if phase == "deepphase" and not models.available(DEEPPHASE):
        pytest.skip("DeepPhase model not installed")
    w = np.zeros((90, 2))
    w[:, 0] = 1.0
    out = blend_clips([walk, run], w, "aligned", fps=60.0, phase=phase)
    ref = sample_clip(walk, np.arange(90) / 60.0)
    np.testing.assert_allclose(positions(out), positions(ref), atol=1e-6)
    # The time warp does not depend on the output frame rate.
    at60 = blend_clips([walk, run], crossfade_weights(180, 2, 30, 150), "aligned", fps=60.0,
                       phase=phase).meta["blend"].clip_times
    at30 = blend_clips([walk, run], crossfade_weights(90, 2, 15, 75), "aligned", fps=30.0,
                       phase=phase).meta["blend"].clip_times
    assert np.all(np.diff(at60, axis=1) > 0)
    np.testing.assert_allclose(at60[:, ::2], at30, atol=1.5 / 30)


def test_constant_weights_and_errors(walk, run):
    out = blend_clips([walk, run], [3.0, 1.0], "naive", fps=30.0)
    assert out.n_frames == int(np.floor(walk.duration * 30 + 0.02)) + 1
    np.testing.assert_allclose(out.meta["blend"].weights, [[0.75, 0.25]] * out.n_frames)
    with pytest.raises(UserError, match="all zero at frame 2"):
        normalise_weights(np.array([[1, 0], [0, 1], [0, 0]]), 2)
    with pytest.raises(UserError, match="non-negative"):
        normalise_weights(np.array([[1, -1]]), 2)
    with pytest.raises(UserError, match=r"\(frames, 2\)"):
        normalise_weights(np.ones((4, 3)), 2)
    with pytest.raises(UserError, match="unknown mode"):
        blend_clips([walk, run], [1, 1], "fancy")
    result = Job("x", lambda ctx: blend_clips([walk], [[1.0]] * 5, "magic", ctx=ctx)).run()
    assert not result.ok and "unknown mode" in result.error
    job = blend_job([walk, run], crossfade_weights(30, 2, 5, 25), "naive")
    assert job.run().value.n_frames == 30


def test_blend_is_root_relative(walk, run):
    """A clip facing and standing elsewhere blends exactly like the original."""
    w = crossfade_weights(90, 2, 20, 70)
    a = blend_clips([walk, run], w, "naive", fps=30.0)
    b = blend_clips([walk, turned(run, 120.0, (3.0, 0.0, -2.0))], w, "naive", fps=30.0)
    np.testing.assert_allclose(positions(a), positions(b), atol=1e-6)
    # And the blend travels forward, between the walk's and the run's speed.
    speed = root_trajectory(a).distance / a.duration
    assert 0.9 < speed < 3.6


@pytest.mark.parametrize("phase", ["deepphase", "contacts"])
def test_aligned_blend_slides_less_than_naive(walk, run, phase):
    if phase == "deepphase" and not models.available(DEEPPHASE):
        pytest.skip("DeepPhase model not installed")
    clips = [walk, run]
    w = crossfade_weights(181, 2, 30, 150)
    naive = blend_sliding(blend_clips(clips, w, "naive", fps=30.0), clips)
    aligned_out = blend_clips(clips, w, "aligned", fps=30.0, phase=phase)
    aligned = blend_sliding(aligned_out, clips)
    assert aligned["expected"].mean_speed < 0.7 * naive["expected"].mean_speed
    assert aligned["detected"].contact_frames > naive["detected"].contact_frames
    # Aligned: both clips are sampled at the same point of their gait.
    times = aligned_out.meta["blend"].clip_times
    assert np.all(np.diff(times, axis=1) > 0)  # each clip's time only moves forward
