import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.core.contacts import foot_contacts
from studio.motion.core.fk import forward_kinematics, root_trajectory
from studio.motion.core.retarget import retarget, retarget_with_info
from studio.motion.core.skeleton import Skeleton
from studio.motion.io.bvh import read_bvh, write_bvh
from studio.motion.io.deepmimic import FOOT_SOLE_POINTS, HUMANOID, clip_to_frames
from tests.motion.synthetic import CMU_NAMES, rerig

MIXAMO = {k: "mixamorig:" + {"Spine1": "Spine2"}.get(v, v) for k, v in CMU_NAMES.items()}


def _relative(pos):
    return pos - pos[:, :1]


def _sole_heights(clip):
    pose = forward_kinematics(clip)
    out = []
    for side in ("left", "right"):
        a = clip.skeleton.index(f"{side}_ankle")
        out.append(np.min([pose.positions[:, a, 1] + pose.rotation(a).apply(p)[:, 1]
                           for p in FOOT_SOLE_POINTS], axis=0))
    return np.stack(out, axis=1)


@pytest.mark.parametrize("kw", [
    dict(tpose=True, random_axes=False, z_up=True, units=100.0),   # CMU-like T-pose, Z up, cm
    dict(tpose=False, random_axes=True, z_up=False, units=1.0),    # arbitrary bone axes
    dict(tpose=True, random_axes=False, z_up=False, units=2.54, names=MIXAMO),  # inches
])
def test_rerigged_walk_comes_back(walk, tmp_path, kw):
    src = rerig(walk, **kw)
    path = tmp_path / "walk.bvh"
    write_bvh(src, path)
    out, info = retarget_with_info(read_bvh(path))
    assert out.skeleton is HUMANOID
    assert info.scale == pytest.approx(1 / kw["units"], rel=1e-3)
    a, b = forward_kinematics(walk).positions, forward_kinematics(out).positions
    err = np.linalg.norm(_relative(b) - _relative(a), axis=2)
    assert err.mean() < 0.003 and err.max() < 0.01, err.max(axis=0)
    # Same path (the walk starts at the origin facing +X) and the same height within 1 cm.
    np.testing.assert_allclose(out.root_pos[:, [0, 2]], walk.root_pos[:, [0, 2]], atol=1e-3)
    assert abs(np.mean(out.root_pos[:, 1] - walk.root_pos[:, 1])) < 0.01
    # Knees and elbows are pure hinges, so the DeepMimic file is exact.
    knee = out.local_rotation("left_knee").as_rotvec()
    assert np.abs(knee[:, :2]).max() < 1e-9
    frames = clip_to_frames(out)
    assert np.abs(frames[:, 20] - clip_to_frames(walk)[:, 20]).max() < 0.02


def test_unknown_joint_set_is_a_user_error():
    sk = Skeleton(["pelvis_thing", "spine_thing", "arm"], [-1, 0, 1], np.ones((3, 3)),
                  [("Zrotation",)] * 3)
    from studio.motion.core.clip import Clip

    clip = Clip(sk, 30, np.zeros((4, 3)), np.tile([0, 0, 0, 1.0], (4, 3, 1)))
    with pytest.raises(UserError, match="robot.bvh: cannot retarget.*hips, neck, left_upleg"):
        retarget(clip, source="robot.bvh")


def test_humanoid_bvh_is_copied(walk, tmp_path):
    write_bvh(walk, tmp_path / "h.bvh")
    out = retarget(read_bvh(tmp_path / "h.bvh"))
    np.testing.assert_allclose(clip_to_frames(out), clip_to_frames(walk), atol=1e-5)


def _bandai(bandai, name):
    src = read_bvh(bandai / name)
    return (src, *retarget_with_info(src, source=name))


def test_bandai_walk(bandai):
    src, out, info = _bandai(bandai, "dataset-1_walk_normal_001.bvh")
    assert out.n_frames == src.n_frames and out.fps == src.fps
    assert info.mapping["left_hip"] == "UpperLeg_L" and info.mapping["chest"] == "Chest"
    assert info.scale == pytest.approx(0.0104, abs=0.001)  # centimetres -> metres, ~80 cm legs
    # Moves forward: ~8 m over 6.5 s, along the way it faces.
    traj = root_trajectory(out)
    travel = traj.positions[-1] - traj.positions[0]
    assert np.dot(travel, traj.forward.mean(axis=0)) > 6.0
    assert abs(traj.forward[0, 0] - 1) < 1e-6  # starts facing +X like DeepMimic clips
    # Feet on the ground: while planted the lowest sole point is within 1.5 cm of y = 0,
    # and nothing sinks more than 3 cm (the box toe dips a little at toe-off).
    soles = _sole_heights(out)
    planted = foot_contacts(out).mask
    assert planted.mean() > 0.4
    assert np.abs(np.median(soles[planted])) < 0.005
    assert np.percentile(np.abs(soles[planted]), 90) < 0.015
    assert soles.min() > -0.03
    # Hips at a humanoid height (DeepMimic's walk: 0.85 m).
    assert 0.78 < out.root_pos[:, 1].mean() < 0.9


def test_bandai_walk_back_and_bow(bandai):
    _, back, _ = _bandai(bandai, "dataset-1_walk-back_normal_001.bvh")
    traj = root_trajectory(back)
    assert np.dot(traj.positions[-1] - traj.positions[0], traj.forward.mean(axis=0)) < -0.5
    _, bow, _ = _bandai(bandai, "dataset-1_bow_normal_001.bvh")
    assert np.abs(bow.root_pos[:, [0, 2]]).max() < 0.15
    soles = _sole_heights(bow)
    assert np.abs(soles).max() < 0.02  # standing still, feet flat on the floor
    # The bow bends the chest forwards (+X) relative to the pelvis.
    pose = forward_kinematics(bow)
    neck = pose.positions[:, HUMANOID.index("neck")] - pose.positions[:, 0]
    assert neck[:, 0].max() > 0.15
