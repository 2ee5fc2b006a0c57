import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from studio.jobs import UserError
from studio.motion.core.clip import Clip, resample
from studio.motion.core.fk import forward_kinematics, rest_positions, root_trajectory
from studio.motion.io.deepmimic import HUMANOID


def test_resample_up_keeps_original_frames_and_slerps_between(walk):
    up = resample(walk, 60)
    assert up.fps == 60
    assert up.n_frames == 2 * (walk.n_frames - 1) + 1
    assert up.duration == pytest.approx(walk.duration, abs=1 / 60)
    # Every other new frame is an original frame (walk runs at 30.0018 fps, so nearly).
    j = walk.skeleton.index("right_hip")
    t_new = np.minimum(np.arange(up.n_frames) / 60, walk.duration)
    expect = Slerp(walk.times, walk.local_rotation(j))(t_new)
    assert (up.local_rotation(j) * expect.inv()).magnitude().max() < 1e-9
    np.testing.assert_allclose(up.root_pos[:, 0], np.interp(t_new, walk.times, walk.root_pos[:, 0]))
    # And it is a real interpolation: a midpoint differs from both neighbours.
    mid = up.local_rotation(j)[1]
    assert (mid * walk.local_rotation(j)[0].inv()).magnitude() > 1e-3


def test_resample_down_and_back(walk):
    down = resample(walk, 10)
    assert down.n_frames == int(np.floor(walk.duration * 10 + 0.02)) + 1
    assert down.fps == 10
    pos = forward_kinematics(down).positions
    full = forward_kinematics(walk).positions
    k = np.round(np.arange(down.n_frames) / 10 * walk.fps).astype(int)
    # Sampled at (almost) the original frame times: positions agree to a few mm.
    assert np.abs(pos - full[k]).max() < 0.01
    with pytest.raises(UserError, match="positive"):
        resample(walk, 0)


def test_check_rejects_nan_and_empty(walk):
    bad = walk.copy()
    bad.root_pos[5, 1] = np.nan
    with pytest.raises(UserError, match="x.bvh: root position values are NaN.*frame 5"):
        bad.check("x.bvh")
    empty = walk.frames(0, 0)
    assert empty.n_frames == 0
    with pytest.raises(UserError, match="no frames"):
        empty.check("x.bvh")


def test_clip_shapes_are_validated():
    with pytest.raises(ValueError, match="rotations"):
        Clip(HUMANOID, 30, np.zeros((2, 3)), np.zeros((2, 3, 4)))


def test_fk_identity_pose_is_rest():
    n = len(HUMANOID)
    rots = np.tile([0, 0, 0, 1.0], (1, n, 1))
    clip = Clip(HUMANOID, 30, np.zeros((1, 3)), rots)
    pos = forward_kinematics(clip).positions[0]
    np.testing.assert_allclose(pos, rest_positions(HUMANOID))
    # Arms hang down: wrists below shoulders; right is +Z.
    assert pos[HUMANOID.index("right_wrist"), 1] < pos[HUMANOID.index("right_shoulder"), 1]
    assert pos[HUMANOID.index("right_hip"), 2] > 0 > pos[HUMANOID.index("left_hip"), 2]


def test_fk_composes_parent_rotations():
    n = len(HUMANOID)
    rots = np.tile([0, 0, 0, 1.0], (1, n, 1))
    rots[0, 0] = Rotation.from_rotvec([0, np.pi / 2, 0]).as_quat()  # turn left 90 deg about Y
    clip = Clip(HUMANOID, 30, np.array([[1.0, 0.9, 2.0]]), rots)
    pos = forward_kinematics(clip).positions[0]
    hip = pos[HUMANOID.index("right_hip")] - pos[0]
    np.testing.assert_allclose(hip, [0.084887, 0, 0], atol=1e-9)  # +Z turned to +X


def test_walk_trajectory_heads_along_plus_x(walk):
    traj = root_trajectory(walk)
    assert traj.positions[:, 1].max() == 0.0
    assert traj.forward[:, 0].min() > 0.9  # facing +X the whole time
    assert traj.heading.mean() == pytest.approx(np.pi / 2, abs=0.15)
    assert traj.velocity[:, 0].mean() > 0.5  # about 1 m/s forwards
    assert traj.distance == pytest.approx(np.linalg.norm(walk.root_pos[-1] - walk.root_pos[0]),
                                          rel=0.02)
