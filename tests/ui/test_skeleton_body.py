"""The Motion viewport draws bodies as capsules (a cylinder per bone, a sphere per joint)."""

import numpy as np

from ui.widgets.skeleton_view import body_mesh


def test_capsules_wrap_every_bone_and_skip_zero_length_ones():
    pos = np.array([[0, 0, 1.0], [0, 0, 1.5], [0, 0, 1.5], [0.3, 0, 1.5]])
    bones = np.array([[0, 1], [1, 2], [2, 3]])        # bone 1-2 has zero length (a CMU Neck)
    verts, faces = body_mesh(pos, bones, bone_r=0.05, joint_r=0.06)
    assert faces.max() < len(verts) and np.isfinite(verts).all()
    # every vertex lies on a capsule: within the radius of some bone segment
    def dist(p, a, b):
        t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
        return np.linalg.norm(p - (a + t * (b - a)))
    for v in verts:
        assert min(dist(v, pos[a], pos[b]) for a, b in bones) <= 0.06 + 1e-6
    # the first bone runs up the z axis: its faces' normals point away from that axis (outward,
    # so the shader lights the outside)
    for f in faces[:24]:
        a, b, c = verts[f]
        n = np.cross(b - a, c - a)
        radial = ((a + b + c) / 3) * np.array([1, 1, 0])
        assert np.dot(n, radial) > 0
