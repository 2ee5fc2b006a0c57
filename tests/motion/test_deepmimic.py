import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.io.deepmimic import (FRAME_SIZE, HUMANOID, clip_to_frames, read_deepmimic,
                                     write_deepmimic)
from studio.motion.core.fk import forward_kinematics
from studio.motion.io.library import builtin_clips, humanoid_urdf, load_builtin

pytest.importorskip("pybullet_data", reason="the built-in clips ship with pybullet")


def test_library_lists_the_pybullet_clips():
    clips = builtin_clips()
    assert {"walk", "run", "jump", "backflip", "spinkick"} <= set(clips)
    assert all(p.is_file() and p.name == f"humanoid3d_{n}.txt" for n, p in clips.items())
    assert "site-packages" in str(clips["walk"]) or "dist-packages" in str(clips["walk"])


def test_read_walk_matches_the_file_layout(walk):
    raw = json.loads(builtin_clips()["walk"].read_text())
    rows = np.array(raw["Frames"])
    assert rows.shape[1] == FRAME_SIZE == 44
    assert walk.n_frames == len(rows) == 39
    assert walk.fps == pytest.approx(1 / rows[0, 0])
    assert walk.loop is True
    np.testing.assert_allclose(walk.root_pos, rows[:, 1:4])
    # Root quaternion is stored w, x, y, z; scipy's order is x, y, z, w.
    q = rows[:, [5, 6, 7, 4]] / np.linalg.norm(rows[:, 4:8], axis=1, keepdims=True)
    assert np.allclose(np.abs((walk.rotations[:, 0] * q).sum(1)), 1, atol=1e-9)
    # Right knee is column 20, an angle about local Z.
    knee = walk.local_rotation("right_knee").as_rotvec()
    np.testing.assert_allclose(knee[:, 2], rows[:, 20], atol=1e-9)
    assert np.abs(knee[:, :2]).max() < 1e-12
    # Left elbow is the last column.
    np.testing.assert_allclose(walk.local_rotation("left_elbow").as_rotvec()[:, 2], rows[:, 43],
                               atol=1e-9)


def test_write_read_round_trip_is_exact(walk, tmp_path):
    out = tmp_path / "walk.txt"
    write_deepmimic(walk, out)
    back = read_deepmimic(out)
    np.testing.assert_allclose(clip_to_frames(back), clip_to_frames(walk), atol=1e-9)
    assert back.loop and back.fps == pytest.approx(walk.fps)
    raw = json.loads(out.read_text())
    assert raw["Loop"] == "wrap" and len(raw["Frames"][0]) == 44
    assert not list(tmp_path.glob(".*part*")), "temp file left behind"


def test_extra_keys_survive(tmp_path):
    run = load_builtin("run")
    write_deepmimic(run, tmp_path / "run.txt")
    raw = json.loads((tmp_path / "run.txt").read_text())
    assert raw["RightJoints"] == [3, 4, 5, 6, 7, 8]


def test_humanoid_matches_pybullet_urdf():
    data = humanoid_urdf().read_bytes()  # the shipped file has stray bytes after </robot>
    root = ET.fromstring(data[:data.index(b"</robot>") + len(b"</robot>")])
    for joint in root.iter("joint"):
        name = joint.get("name")
        if name == "root":
            continue
        xyz = np.array([float(v) for v in joint.find("origin").get("xyz").split()]) * 0.25
        assert joint.find("parent").get("link") == HUMANOID.names[
            HUMANOID.parents[HUMANOID.index(name)]]
        np.testing.assert_allclose(HUMANOID.offsets[HUMANOID.index(name)], xyz, atol=1e-6,
                                   err_msg=name)
        if joint.get("type") == "revolute":
            assert joint.find("axis").get("xyz").split() == ["0.000000", "0.000000", "1.000000"]


def test_fk_matches_pybullet(walk):
    p = pytest.importorskip("pybullet")
    pose = forward_kinematics(walk)
    cid = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(humanoid_urdf()), globalScaling=0.25, useFixedBase=True,
                          flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=cid)
        links = {p.getJointInfo(body, i, physicsClientId=cid)[12].decode(): i
                 for i in range(p.getNumJoints(body, physicsClientId=cid))}
        for f in (0, 13, 27):
            p.resetBasePositionAndOrientation(body, walk.root_pos[f], walk.rotations[f, 0],
                                              physicsClientId=cid)
            for name, li in links.items():
                j = HUMANOID.index(name)
                info = p.getJointInfo(body, li, physicsClientId=cid)
                if info[2] == p.JOINT_REVOLUTE:
                    p.resetJointState(body, li, walk.local_rotation(j).as_rotvec()[f, 2],
                                      physicsClientId=cid)
                elif info[2] == p.JOINT_SPHERICAL:
                    p.resetJointStateMultiDof(body, li, list(walk.rotations[f, j]),
                                              physicsClientId=cid)
            for name, li in links.items():
                state = p.getLinkState(body, li, computeForwardKinematics=True,
                                       physicsClientId=cid)
                j = HUMANOID.index(name)
                np.testing.assert_allclose(state[4], pose.positions[f, j], atol=1e-5,
                                           err_msg=name)
                assert abs(abs(np.dot(state[5], pose.rotations[f, j])) - 1) < 1e-6
    finally:
        p.disconnect(cid)


def _write(path, frames, loop="wrap"):
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def _frame(dur=1 / 30):
    row = [dur, 0, 0.85, 0] + [1, 0, 0, 0] * 3  # root position, root, chest, neck
    for n in ("hip", "knee", "ankle", "shoulder", "elbow") * 2:
        row += [0.0] if n in ("knee", "elbow") else [1, 0, 0, 0]
    return row


@pytest.mark.parametrize("content, message", [
    ("not json", "JSON error at line 1"),
    ('{"Loop": "wrap"}', "no \"Frames\""),
    ('{"Frames": []}', "no frames"),
])
def test_bad_files_raise_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as exc:
        read_deepmimic(path)
    assert str(path) in str(exc.value)


def test_frame_errors_name_the_frame(tmp_path):
    good = _frame()
    assert len(good) == 44
    with pytest.raises(UserError, match="frame 1 has 43 values"):
        read_deepmimic(_write(tmp_path / "a.txt", [good, good[:-1]]))
    nan = list(good)
    nan[2] = float("nan")
    with pytest.raises(UserError, match="frame 1 contains NaN"):
        read_deepmimic(_write(tmp_path / "b.txt", [good, nan, good]))
    zero = list(good)
    zero[8:12] = [0, 0, 0, 0]
    with pytest.raises(UserError, match="zero-length quaternion for joint 'chest' at frame 0"):
        read_deepmimic(_write(tmp_path / "c.txt", [zero, good]))
    with pytest.raises(UserError, match="file not found"):
        read_deepmimic(tmp_path / "missing.txt")


def test_uneven_durations_are_resampled(tmp_path):
    rows = []
    for i, dur in enumerate([0.1, 0.2, 0.1, 0.0]):
        r = _frame(dur)
        r[1] = [0.0, 0.1, 0.3, 0.4][i]  # root x follows time: x = t
        rows.append(r)
    clip = read_deepmimic(_write(tmp_path / "u.txt", rows, loop="none"))
    assert clip.fps == pytest.approx(1 / (0.4 / 3))
    t = clip.times
    np.testing.assert_allclose(clip.root_pos[:, 0], t, atol=1e-9)
    assert clip.loop is False
