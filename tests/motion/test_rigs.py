"""BVH files from anywhere: rigs from other exporters (made by tests/motion/rigs.py)
through role matching, retargeting, unit guessing and drawing."""

import json

import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.core import rigmap
from studio.motion.core.display import clip_display
from studio.motion.core.fk import forward_kinematics
from studio.motion.core.retarget import _basis, _frame_rotation, retarget, retarget_with_info
from studio.motion.core.skeleton import CORE_ROLES, find_roles, topology_roles
from studio.motion.io.bvh import read_bvh
from studio.runtime import models
from tests.motion.rigs import make_clip, write_rig


def _named(clip):
    return {r: clip.skeleton.names[j] for r, j in find_roles(clip.skeleton).items()}


@pytest.fixture(scope="module")
def reference():
    """The walk retargeted from the plain Mixamo rig: every other rig carries the same
    motion, so it must come out the same."""
    return forward_kinematics(retarget(make_clip("mixamo"))).positions


@pytest.mark.parametrize("kind", ["cmu", "biovision", "makehuman", "makehuman_dot", "noneck",
                                  "unnamed", "static_root"])
@pytest.mark.parametrize("z_up", [False, True])
def test_every_rig_retargets_to_the_same_motion(tmp_path, reference, kind, z_up):
    clip = read_bvh(write_rig(tmp_path, kind, z_up=z_up))
    assert clip.skeleton.up == (2 if z_up else 1)
    out, info = retarget_with_info(clip)
    pos = forward_kinematics(out).positions
    assert np.isfinite(pos).all()
    assert np.abs(pos - reference).max() < 1e-3
    assert info.scale == pytest.approx(0.83 / 84, rel=0.01)  # humanoid leg / rig leg (cm)


def test_zero_length_neck_of_cmu_rigs(tmp_path):
    """CMU's Neck sits on Spine1 (OFFSET 0 0 0): the chest frame takes its axis from the
    next joint up (Neck1) instead of a zero vector."""
    clip = read_bvh(write_rig(tmp_path, "cmu"))
    sk = clip.skeleton
    assert np.all(sk.offsets[sk.index("Neck")] == 0)
    out, info = retarget_with_info(clip)
    assert info.mapping["chest"] == "Spine1"
    # The chest stays upright in a walk: neck above chest within a few degrees.
    pose = forward_kinematics(out)
    v = pose.positions[:, out.skeleton.index("neck")] - pose.positions[:, out.skeleton.index("chest")]
    assert np.degrees(np.arccos(v[:, 1] / np.linalg.norm(v, axis=1))).max() < 5


def test_degenerate_frame_axes_never_make_a_singular_matrix():
    a = np.array([[0.0, 0, 0], [0, 1.0, 0]])
    b = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    basis, w = _basis(a, b)
    assert np.allclose(np.linalg.det(basis), 1.0) and w[0] == 0 and w[1] == pytest.approx(1)
    rot, _ = _frame_rotation(np.array([0, 1.0, 0]), np.array([1.0, 0, 0]), a, b)
    assert len(rot) == 2


@pytest.mark.parametrize("kind, expected", [
    ("biovision", {"left_upleg": "LeftHip", "left_leg": "LeftKnee", "left_foot": "LeftAnkle",
                   "left_arm": "LeftShoulder", "left_forearm": "LeftElbow",
                   "right_arm": "RightShoulder", "right_hand": "RightWrist"}),
    ("makehuman", {"hips": "Root", "left_upleg": "UpLeg_L", "left_leg": "LoLeg_L",
                   "left_arm": "UpArm_L", "right_forearm": "LoArm_R"}),
    ("makehuman_dot", {"left_upleg": "UpLeg.L", "right_leg": "LoLeg.R", "left_arm": "UpArm.L"}),
    ("mixamo", {"left_upleg": "mixamorig:LeftUpLeg", "left_arm": "mixamorig:LeftArm"}),
    ("noneck", {"neck": "Head", "head": "Head", "left_arm": "LeftArm"}),
    ("unnamed", {"hips": "j0", "neck": "j2", "head": "j3", "left_upleg": "j5", "left_foot": "j7",
                 "left_toe": "j8", "left_arm": "j11", "left_hand": "j13", "right_upleg": "j15",
                 "right_arm": "j21"}),
])
def test_roles_of_common_rigs(kind, expected):
    roles = _named(make_clip(kind))
    assert {k: roles.get(k) for k in expected} == expected
    assert all(r in roles for r in CORE_ROLES)


def test_mixamo_names_with_an_underscore_prefix():
    from studio.motion.core.skeleton import normalise_name

    assert normalise_name("mixamorig_LeftUpLeg") == normalise_name("mixamorig:LeftUpLeg") \
        == "leftupleg"
    assert normalise_name("Bip01 L Thigh") == "lthigh"


def test_topology_tells_left_from_right_by_the_toes():
    """Left is up x forward, forward being where the toes point: turning the rig keeps its
    sides, mirroring it swaps them."""
    sk = make_clip("unnamed").skeleton
    turned = sk.with_offsets(sk.offsets * np.array([-1.0, 1.0, -1.0]))  # 180 deg about up
    mirrored = sk.with_offsets(sk.offsets * np.array([-1.0, 1.0, 1.0]))
    a, b, c = topology_roles(sk), topology_roles(turned), topology_roles(mirrored)
    assert a == b
    assert a["left_upleg"] == c["right_upleg"] and a["left_arm"] == c["right_arm"]


def test_missing_roles_error_lists_the_roles(tmp_path):
    clip = make_clip("nolegs")
    with pytest.raises(UserError) as exc:
        retarget(clip, source="upper.bvh")
    msg = str(exc.value)
    assert msg.startswith("upper.bvh: cannot retarget")
    assert "left_upleg, left_leg, left_foot, right_upleg, right_leg, right_foot" in msg
    assert "hips = mixamorig:Hips" in msg and "left_hand = mixamorig:LeftHand" in msg
    assert "studio motion roles" in msg


def test_user_mapping_validated_saved_and_applied(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_USER_DATA", str(tmp_path / "data"))
    clip = make_clip("biovision")
    sk = clip.skeleton
    with pytest.raises(UserError) as exc:
        rigmap.validate_mapping(sk, {"left_arm": "Nope", "elbow": "LeftElbow",
                                     "left_hand": "LeftWrist", "right_hand": "LeftWrist",
                                     "head": "Head_End"})
    msg = str(exc.value)
    assert "no joint named 'Nope'" in msg and "unknown role 'elbow'" in msg
    assert "'LeftWrist' is given several roles: left_hand, right_hand" in msg
    assert "'Head_End' is an end site" in msg
    with pytest.raises(UserError, match="missing roles: hips"):
        rigmap.validate_mapping(sk, {"neck": "Neck"}, complete=True)
    # Say the collar is the upper arm (a deliberate choice the matcher would not make).
    path = rigmap.save_mapping(sk, {"left_arm": "LeftCollar"})
    assert path.parent == tmp_path / "data" / "motion" / "rig-mappings"
    assert path.name == rigmap.rig_key(sk) + ".json"
    assert json.loads(path.read_text())["mapping"] == {"left_arm": "LeftCollar"}
    assert _named(clip)["left_arm"] == "LeftCollar"
    # Same joint names in another order -> same rig key; another file of the rig sees it.
    assert rigmap.rig_key(sk) == rigmap.rig_key(read_bvh(write_rig(tmp_path, "biovision")).skeleton)
    assert rigmap.load_mapping(sk) == {"left_arm": "LeftCollar"}
    rigmap.clear_mapping(sk)
    assert _named(clip)["left_arm"] == "LeftShoulder" and not path.exists()


def test_damaged_mapping_file_is_ignored_by_the_tools(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_USER_DATA", str(tmp_path))
    sk = make_clip("mixamo").skeleton
    path = rigmap.mapping_path(sk)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert _named(make_clip("mixamo"))["hips"] == "mixamorig:Hips"
    with pytest.raises(UserError, match="not a joint-mapping file"):
        rigmap.load_mapping(sk)


@pytest.mark.parametrize("units, name", [(1.0, "centimetres"), (1 / 2.54, "inches"),
                                         (10.0, "millimetres"), (0.01, "metres"),
                                         (1 / 30.48, "feet")])
def test_unit_guess_snaps_to_common_units(units, name):
    d = clip_display(make_clip("mixamo", units=units))
    assert d.units.unit == name
    assert d.facts["units"].startswith(name)
    height = d.positions[..., 2].max()
    assert 1.6 < height < 1.85  # the rig's head end is 1.75 m up


def test_unit_guess_for_cmu_units_and_no_legs():
    d = clip_display(make_clip("cmu", units=1 / 5.64))  # CMU: 1 unit ~ 5.64 cm
    assert d.units.unit == "estimated" and "estimated from leg" in d.units.label
    assert 1.6 < d.positions[..., 2].max() < 1.95
    legless = clip_display(make_clip("nolegs"))  # refused before: "no legs found"
    assert legless.units.unit == "centimetres" and "arm" in legless.units.basis
    assert legless.facts["contacts"] == "no feet found"


def test_camera_follows_the_hips_not_a_static_root(tmp_path):
    from studio.motion.io.render import Camera, camera_target, draw_frame

    d = clip_display(read_bvh(write_rig(tmp_path, "static_root")))
    assert d.focus == 1  # Hips, below the fixed joint_Root
    assert np.ptp(d.positions[:, 0, :2], axis=0).max() < 1e-9  # the root never moves
    cam = Camera()
    targets = np.array([camera_target(d, d.positions[i], cam) for i in range(d.n_frames)])
    np.testing.assert_allclose(targets[:, :2], d.positions[:, 1, :2])
    assert np.linalg.norm(targets[-1] - targets[0]) > 2.0  # 2 s at 1.2 m/s
    assert draw_frame(d, d.n_frames - 1, cam, 160, 96).shape == (96, 160, 3)


def test_mp4_is_rendered_at_the_output_rate(tmp_path):
    import av

    from studio.motion.io.render import frame_times, render_mp4

    clip = make_clip("mixamo", frames=120, fps=120.0)  # one second at 120 fps
    d = clip_display(clip)
    assert len(frame_times(d, 30)) == 30
    assert len(frame_times(d, 30, loops=3)) == 90
    out = render_mp4(d, tmp_path / "w.mp4", width=160, height=96, fps=30)
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))
        assert n == 30 and round(float(v.average_rate)) == 30


def test_learned_tools_take_a_cmu_rig(tmp_path):
    """Phase, blend, transition and style all used to end in "Non-positive determinant"
    on CMU files; each now runs (model-based ones when their model is installed)."""
    from studio.motion.learned import blend, phase, style, transition

    a = read_bvh(write_rig(tmp_path, "cmu", frames=90))
    b = read_bvh(write_rig(tmp_path, "unnamed", frames=90))
    out = blend.blend_clips([a, b], [0.5, 0.5], "aligned", 30.0, phase="contacts")
    assert np.isfinite(out.rotations).all()
    t = transition.transition(a, 30, b, 10, 10, "linear")
    assert t.n_frames == 31 + 10 + 80
    if models.available(phase.ROLE):
        assert phase.compute_phase(a).n_frames == 90
    if models.available(transition.ROLE):
        assert transition.transition(a, 30, a, 10, 10, "model").n_frames == 121
    if style.model_available("vae"):
        assert style.transfer(a, b, 1.0).n_frames == 90


def test_saved_role_takes_its_joint_from_the_automatic_one(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_USER_DATA", str(tmp_path))
    clip = make_clip("mixamo")
    rigmap.save_mapping(clip.skeleton, {"left_hand": "mixamorig:RightHand"})
    roles = _named(clip)
    assert roles["left_hand"] == "mixamorig:RightHand" and "right_hand" not in roles
