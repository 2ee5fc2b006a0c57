import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from studio.jobs import UserError
from studio.motion.core.fk import forward_kinematics
from studio.motion.io.bvh import bvh_text, read_bvh, write_bvh
from tests.motion.synthetic import rerig

SIMPLE = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 0 10 0
    CHANNELS {n} {arm_channels}
    End Site
    {
      OFFSET 0 0 5
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 0 0 0 {arm0}
1 2 3 0 0 0 {arm1}
"""


def _simple(tmp_path, arm_channels="Zrotation Xrotation Yrotation", arm0="0 0 0",
            arm1="0 0 0", name="s.bvh", text=SIMPLE):
    path = tmp_path / name
    path.write_text(text.replace("{n}", str(len(arm_channels.split())))
                    .replace("{arm_channels}", arm_channels).replace("{arm0}", arm0)
                    .replace("{arm1}", arm1))
    return path


def test_end_site_and_root_position(tmp_path):
    clip = read_bvh(_simple(tmp_path))
    assert clip.skeleton.names == ("Hips", "Arm", "Arm_End")
    assert clip.skeleton.end_sites.tolist() == [False, False, True]
    assert clip.fps == pytest.approx(25)
    pos = forward_kinematics(clip).positions
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 12, 3], [1, 12, 8]])


@pytest.mark.parametrize("channels, values, expected", [
    # Intrinsic, in channel order: R = Rz(90) @ Rx(90); (0,0,5) -> (5,0,0)
    ("Zrotation Xrotation Yrotation", "90 90 0", [5, 0, 0]),
    # R = Rx(90) @ Rz(90): (0,0,5) -> (0,-5,0)
    ("Xrotation Zrotation Yrotation", "90 90 0", [0, -5, 0]),
    ("Yrotation Xrotation Zrotation", "90 0 0", [5, 0, 0]),
    ("Zrotation Yrotation Xrotation", "0 0 -90", [0, 5, 0]),
])
def test_rotation_orders(tmp_path, channels, values, expected):
    clip = read_bvh(_simple(tmp_path, channels, arm1=values))
    pos = forward_kinematics(clip).positions
    np.testing.assert_allclose(pos[1, 2] - pos[1, 1], expected, atol=1e-9)


def test_position_channels_on_child_joints_replace_the_offset(tmp_path):
    clip = read_bvh(_simple(tmp_path, "Xposition Yposition Zposition Zrotation Xrotation Yrotation",
                            arm0="0 10 0 0 0 0", arm1="0 20 1 0 0 0"))
    pos = forward_kinematics(clip).positions
    np.testing.assert_allclose(pos[:, 1], [[1, 12, 3], [1, 22, 4]])
    back = read_bvh(_write(tmp_path, clip))
    np.testing.assert_allclose(forward_kinematics(back).positions, pos, atol=1e-5)


def _write(tmp_path, clip, name="out.bvh"):
    path = tmp_path / name
    write_bvh(clip, path)
    return path


def _compare(a, b, pos_tol=1e-4, rot_tol=1e-5):
    pa, pb = forward_kinematics(a), forward_kinematics(b)
    idx = [b.skeleton.index(n) for n in a.skeleton.names]
    np.testing.assert_allclose(pb.positions[:, idx], pa.positions, atol=pos_tol)
    ra = Rotation.from_quat(pa.rotations.reshape(-1, 4))
    rb = Rotation.from_quat(pb.rotations[:, idx].reshape(-1, 4))
    assert (ra.inv() * rb).magnitude().max() < rot_tol


def test_round_trip_mixed_rotation_orders(walk, tmp_path):
    clip = rerig(walk, random_axes=True, tpose=False, units=100.0, seed=3)
    orders = {clip.skeleton.rotation_order(j) for j in range(len(clip.skeleton))}
    assert {"ZXY", "XYZ", "ZYX"} <= orders or len(orders - {""}) >= 4
    back = read_bvh(_write(tmp_path, clip))
    assert back.n_frames == clip.n_frames and back.fps == pytest.approx(clip.fps, rel=1e-6)
    for j, name in enumerate(clip.skeleton.names):
        k = back.skeleton.index(name)
        assert back.skeleton.rotation_order(k) == clip.skeleton.rotation_order(j), name
    _compare(clip, back)


def test_round_trip_humanoid_in_metres(walk, tmp_path):
    back = read_bvh(_write(tmp_path, walk))
    # Tips come back as End Sites named after their parent.
    assert "neck_End" in back.skeleton.names and "right_ankle_End" in back.skeleton.names
    renamed = {"head": "neck_End", "right_toe": "right_ankle_End", "left_toe": "left_ankle_End",
               "right_wrist": "right_elbow_End", "left_wrist": "left_elbow_End"}
    pa, pb = forward_kinematics(walk), forward_kinematics(back)
    idx = [back.skeleton.index(renamed.get(n, n)) for n in walk.skeleton.names]
    np.testing.assert_allclose(pb.positions[:, idx], pa.positions, atol=1e-4)


def test_round_trip_bandai(bandai, tmp_path):
    clip = read_bvh(bandai / "dataset-1_walk_normal_001.bvh")
    assert clip.n_frames == 195 and clip.fps == pytest.approx(30, rel=1e-4)
    assert clip.translations is not None  # position channels on every joint
    back = read_bvh(_write(tmp_path, clip))
    _compare(clip, back, pos_tol=1e-4)


def test_two_axis_joint_round_trip(tmp_path):
    clip = read_bvh(_simple(tmp_path, "Zrotation Xrotation", arm0="0 0", arm1="30 40"))
    assert clip.skeleton.rotation_order(1) == "ZX"
    back = read_bvh(_write(tmp_path, clip))
    _compare(clip, back)


BAD = [
    ("", "line 1: not a BVH file"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n", "line 4: OFFSET needs 3 numbers"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 2 Xposition Wrotation\n}\n",
     "line 5: unknown channel 'Wrotation'"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xrotation\n}\n",
     "line 5: CHANNELS says 3 but lists 1"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 a\n", "line 4: OFFSET values are not numbers"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xrotation\nMOTION\n",
     "line 6: MOTION before the hierarchy was closed"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xrotation\n}\n}\n",
     "line 7: unbalanced"),
    ("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xrotation\n  BONE x\n}\n",
     "line 6: unexpected 'BONE'"),
]
MOTION_OK = "HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xrotation\n}\nMOTION\n"


@pytest.mark.parametrize("text, message", BAD + [
    (MOTION_OK + "Frames: 2\nFrame Time: 0.1\n1\n2 3\n", "line 11: 2 values, expected 1"),
    (MOTION_OK + "Frames: 2\nFrame Time: 0.1\n1\nx\n", "line 11: 'x' is not a number"),
    (MOTION_OK + "Frames: 2\nFrame Time: 0.1\n1\nnan\n", "line 11: NaN or infinite"),
    (MOTION_OK + "Frames: 4\nFrame Time: 0.1\n1\n2\n", "header says 4 frames but the file has 2"),
    (MOTION_OK + "Frames: 0\nFrame Time: 0.1\n", "no frames"),
    (MOTION_OK + "Frames: 1\nFrame Time: 0\n1\n", "line 9: frame time must be positive"),
    (MOTION_OK + "Frame Time: 0.1\n", "line 8: expected 'Frames:'"),
])
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.bvh"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as exc:
        read_bvh(path)
    assert str(path) in str(exc.value)


def test_text_is_plain_bvh(walk):
    text = bvh_text(walk.frames(0, 2))
    assert text.startswith("HIERARCHY\nROOT root\n")
    assert "End Site" in text and "MOTION\nFrames: 2\nFrame Time: 0.0333" in text


@pytest.mark.parametrize("frames, rows", [(2, 3), (4, 3)])
def test_one_row_more_or_fewer_than_frames_is_read_with_a_note(tmp_path, frames, rows):
    text = MOTION_OK + f"Frames: {frames}\nFrame Time: 0.1\n" + "".join(
        f"{10 * k}\n" for k in range(rows))
    path = tmp_path / "off.bvh"
    path.write_text(text)
    clip = read_bvh(path)
    assert clip.n_frames == rows
    np.testing.assert_allclose(clip.local_rotation(0).as_euler("XYZ", degrees=True)[:, 0],
                               [0, 10, 20], atol=1e-9)
    assert clip.meta["notes"] == [f"the header says {frames} frames but the file has "
                                  f"{rows}; all {rows} were read"]


def test_byte_order_mark_and_tabs_in_frame_time(tmp_path):
    text = MOTION_OK.replace("MOTION\n", "MOTION\r\n") + "Frames:\t2\r\nFrame\tTime:\t0.05\r\n1\r\n2\r\n"
    path = tmp_path / "bom.bvh"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    clip = read_bvh(path)
    assert clip.n_frames == 2 and clip.fps == pytest.approx(20)
    assert "notes" not in clip.meta
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("Frame\tTime:\t", "Frame \t Time\t:  ")
                     .encode("utf-8"))
    assert read_bvh(path).fps == pytest.approx(20)


def test_long_files_are_read_without_a_string_per_value(tmp_path):
    """Peak memory while reading stays within a small multiple of the file size (it was
    ~18x: one Python string per value; a 50,000-frame file took over 1 GB)."""
    import tracemalloc

    from tests.motion.rigs import make_clip

    path = tmp_path / "long.bvh"
    write_bvh(make_clip("mixamo", frames=3000), path, precision=3)
    tracemalloc.start()
    try:
        clip = read_bvh(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert clip.n_frames == 3000
    assert peak < 12 * path.stat().st_size, (peak, path.stat().st_size)
