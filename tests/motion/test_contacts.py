import numpy as np
import pytest

from studio.jobs import UserError
from studio.motion.core.clip import Clip
from studio.motion.core.contacts import foot_contacts, foot_sliding, leg_length
from studio.motion.core.skeleton import Skeleton
from studio.motion.io.library import load_builtin


def test_walk_contacts_alternate(walk):
    c = foot_contacts(walk)
    assert c.feet == ("left", "right")
    frac = c.fraction()
    assert 0.4 < frac["left"] < 0.75 and 0.4 < frac["right"] < 0.75
    # Walking: some foot is down in (nearly) every frame, both in double support.
    assert c.mask.any(axis=1).mean() > 0.95
    assert 0 < c.mask.all(axis=1).mean() < 0.4
    # Thresholds scale with the 0.83 m humanoid leg.
    assert leg_length(walk) == pytest.approx(0.8314, abs=0.002)
    assert c.height_threshold == pytest.approx(0.0831, abs=0.001)


def test_jump_has_flight_frames():
    jump = load_builtin("jump")
    c = foot_contacts(jump)
    airborne = ~c.mask.any(axis=1)
    assert 0.1 < airborne.mean() < 0.5
    # Flight is one stretch in the middle of the clip, not scattered frames.
    edges = np.flatnonzero(np.diff(airborne.astype(int)))
    assert len(edges) <= 4


def test_units_do_not_matter(walk):
    cm = walk.copy(root_pos=walk.root_pos * 100)
    cm.skeleton = walk.skeleton.scaled(100)
    np.testing.assert_array_equal(foot_contacts(cm).mask, foot_contacts(walk).mask)


def test_sliding_metric_sees_drift(walk):
    base = foot_sliding(walk)
    assert base.mean_speed < 0.1  # metres per second, clean mocap
    assert base.contact_frames > walk.n_frames // 2
    drift = walk.copy()
    drift.root_pos[:, 2] += 0.15 * walk.times  # 15 cm/s sideways while feet are planted
    slid = foot_sliding(drift)
    assert slid.mean_speed - base.mean_speed == pytest.approx(0.15, abs=0.05)
    assert slid.relative > base.relative
    assert slid.distance > base.distance


def test_no_feet_is_a_user_error():
    sk = Skeleton(["a", "b"], [-1, 0], np.zeros((2, 3)), [("Zrotation",), ("Zrotation",)])
    clip = Clip(sk, 30, np.zeros((3, 3)), np.tile([0, 0, 0, 1.0], (3, 2, 1)), name="thing")
    with pytest.raises(UserError, match="thing: no feet found"):
        foot_contacts(clip)
