import numpy as np
import pytest

from studio.motion.core.skeleton import Skeleton, find_roles, normalise_name
from studio.motion.io.deepmimic import HUMANOID


def _chain(names, parents):
    n = len(names)
    return Skeleton(names, parents, np.ones((n, 3)), [("Zrotation", "Xrotation", "Yrotation")] * n)


def test_rejects_child_before_parent_and_duplicates():
    with pytest.raises(ValueError, match="parent"):
        _chain(["a", "b", "c"], [-1, 2, 0])
    with pytest.raises(ValueError, match="duplicate"):
        _chain(["a", "b", "b"], [-1, 0, 1])
    with pytest.raises(ValueError, match="channel"):
        Skeleton(["a"], [-1], np.zeros((1, 3)), [("Wrotation",)])


def test_rotation_order_and_end_sites():
    sk = Skeleton(["r", "a", "a_End"], [-1, 0, 1], np.zeros((3, 3)),
                  [("Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation"),
                   ("Xrotation", "Zrotation"), ()])
    assert sk.rotation_order(0) == "YXZ"
    assert sk.rotation_order(1) == "XZ"
    assert sk.has_position(0) and not sk.has_position(1)
    assert sk.end_sites.tolist() == [False, False, True]


def test_normalise_name():
    assert normalise_name("mixamorig:LeftUpLeg") == "leftupleg"
    assert normalise_name("UpperArm_L") == "upperarml"


@pytest.mark.parametrize("names", [
    # CMU
    ["Hips", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head", "LeftShoulder", "LeftArm",
     "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand",
     "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
     "RightToeBase"],
    # Mixamo
    ["mixamorig:" + n for n in (
        "Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "LeftShoulder", "LeftArm",
        "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand",
        "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "RightUpLeg", "RightLeg", "RightFoot",
        "RightToeBase")],
    # Bandai-Namco
    ["joint_Root", "Hips", "Spine", "Chest", "Neck", "Head", "Shoulder_L", "UpperArm_L",
     "LowerArm_L", "Hand_L", "Shoulder_R", "UpperArm_R", "LowerArm_R", "Hand_R", "UpperLeg_L",
     "LowerLeg_L", "Foot_L", "Toes_L", "UpperLeg_R", "LowerLeg_R", "Foot_R", "Toes_R"],
])
def test_roles_found_for_common_rigs(names):
    sk = _chain(names, [-1] + list(range(len(names) - 1)))  # topology is irrelevant here
    roles = {k: sk.names[v] for k, v in find_roles(sk).items()}
    for side, s in (("left", "L"), ("right", "R")):
        arm = roles[f"{side}_arm"]
        # The upper arm, never the clavicle ("LeftShoulder" / "Shoulder_L").
        assert "Shoulder" not in arm and ("Arm" in arm), roles
        assert "Fore" in roles[f"{side}_forearm"] or "Lower" in roles[f"{side}_forearm"]
        assert "Foot" in roles[f"{side}_foot"] and "Toe" in roles[f"{side}_toe"]
        assert side.capitalize() in roles[f"{side}_upleg"] or roles[f"{side}_upleg"].endswith(s)
    assert roles["hips"].endswith("Hips") and roles["neck"].endswith("Neck")
    assert roles["head"].endswith("Head")


def test_humanoid_roles_use_its_own_names():
    roles = {k: HUMANOID.names[v] for k, v in find_roles(HUMANOID).items()}
    assert roles["left_arm"] == "left_shoulder"
    assert roles["right_foot"] == "right_ankle"
    assert roles["right_toe"] == "right_toe"
