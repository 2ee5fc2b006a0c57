"""3-D skeleton viewport: orbit (drag), zoom (wheel), ground grid, foot-contact markers.

Bodies are drawn as shaded capsules (a cylinder per bone, a sphere per joint: one mesh,
rebuilt per frame with numpy) with a soft shadow on the ground, so a pose reads at a glance;
a ghost (reference) pose stays a translucent stick figure. Uses pyqtgraph's OpenGL view;
items are created once and updated per frame.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QVBoxLayout, QWidget

BONE = (0.80, 0.84, 0.90, 1.0)
JOINT = (0.24, 0.55, 0.99, 1.0)
CONTACT = (0.98, 0.62, 0.0, 1.0)
GHOST = (0.55, 0.85, 0.60, 0.45)  # a second, translucent skeleton (e.g. a physics reference)
BODY = (0.74, 0.78, 0.86, 1.0)
SHADOW = (0.0, 0.0, 0.0, 0.35)
BONE_RADIUS = 0.045     # metres: display positions are in metres (see studio.motion.core.units)
JOINT_RADIUS = 0.052
_RING = 12              # sides of a bone's cylinder


def _unit_sphere() -> tuple[np.ndarray, np.ndarray]:
    """An icosphere (one subdivision: 42 vertices, 80 faces)."""
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t),
         (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
         (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
         (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    cache: dict[tuple[int, int], int] = {}

    def mid(a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in cache:
            m = verts[a] + verts[b]
            verts.append(m / np.linalg.norm(m))
            cache[key] = len(verts) - 1
        return cache[key]

    faces = []
    for a, b, c in f:
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
    return np.array(verts), np.array(faces, dtype=np.int64)


_SPHERE_V, _SPHERE_F = _unit_sphere()

_BODY_SHADER = "studio_body"


def _register_body_shader() -> str:
    """pyqtgraph's 'shaded' lights from behind the camera, which leaves upright limbs nearly
    black; this one has a key light from the upper left front and a soft fill."""
    from pyqtgraph.opengl import shaders

    if _BODY_SHADER in shaders.ShaderProgram.names:
        return _BODY_SHADER
    shaders.ShaderProgram(_BODY_SHADER, [
        shaders.VertexShader("""
            uniform mat4 u_mvp;
            uniform mat3 u_normal;
            attribute vec4 a_position;
            attribute vec3 a_normal;
            attribute vec4 a_color;
            varying vec4 v_color;
            varying vec3 v_normal;
            void main() {
                v_normal = normalize(u_normal * a_normal);
                v_color = a_color;
                gl_Position = u_mvp * a_position;
            }
        """),
        shaders.FragmentShader("""
            #ifdef GL_ES
            precision mediump float;
            #endif
            varying vec4 v_color;
            varying vec3 v_normal;
            void main() {
                vec3 n = normalize(v_normal);
                float key = max(dot(n, normalize(vec3(-0.45, 0.6, 0.7))), 0.0);
                float fill = max(dot(n, normalize(vec3(0.6, -0.2, 0.5))), 0.0);
                float rim = pow(1.0 - abs(n.z), 3.0);
                vec3 rgb = v_color.rgb * (0.30 + 0.70 * key + 0.25 * fill) + 0.12 * rim;
                gl_FragColor = vec4(min(rgb, vec3(1.0)), v_color.a);
            }
        """)])
    return _BODY_SHADER


def body_mesh(pos: np.ndarray, bones: np.ndarray, bone_r: float = BONE_RADIUS,
              joint_r: float = JOINT_RADIUS) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of capsules: a cylinder per bone (zero-length ones skipped) and a
    sphere per joint that has a bone."""
    pos = np.asarray(pos, dtype=np.float64)
    bones = np.asarray(bones, dtype=np.int64).reshape(-1, 2)
    a, b = pos[bones[:, 0]], pos[bones[:, 1]]
    axis = b - a
    length = np.linalg.norm(axis, axis=1)
    keep = length > 1e-6
    a, axis, length = a[keep], axis[keep], length[keep]
    d = axis / length[:, None]
    ref = np.where(np.abs(d[:, 2:3]) < 0.9, np.array([[0, 0, 1.0]]), np.array([[1.0, 0, 0]]))
    u = np.cross(d, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(d, u)
    th = np.linspace(0, 2 * np.pi, _RING, endpoint=False)
    circle = np.cos(th)[None, :, None] * u[:, None] + np.sin(th)[None, :, None] * v[:, None]
    ring0 = a[:, None] + bone_r * circle                          # (B, K, 3)
    ring1 = ring0 + axis[:, None]
    cyl_v = np.concatenate([ring0, ring1], axis=1).reshape(-1, 3)
    k = np.arange(_RING)
    k1 = (k + 1) % _RING
    quad = np.stack([np.stack([k, k1, _RING + k], 1), np.stack([k1, _RING + k1, _RING + k], 1)],
                    1).reshape(-1, 3)
    cyl_f = (quad[None] + (2 * _RING * np.arange(len(a)))[:, None, None]).reshape(-1, 3)
    used = np.unique(bones[keep].reshape(-1)) if keep.any() else np.arange(len(pos))
    sph_v = (pos[used][:, None] + joint_r * _SPHERE_V[None]).reshape(-1, 3)
    sph_f = (_SPHERE_F[None] + (len(_SPHERE_V) * np.arange(len(used)))[:, None, None]).reshape(-1, 3)
    verts = np.concatenate([cyl_v, sph_v]).astype(np.float32)
    faces = np.concatenate([cyl_f, sph_f + len(cyl_v)]).astype(np.int32)
    return verts, faces


class SkeletonView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        self.gl = gl.GLViewWidget()
        self.gl.setBackgroundColor((17, 18, 20))
        self.gl.setCameraPosition(distance=2.4, elevation=12, azimuth=-60)
        grid = gl.GLGridItem()
        grid.setSize(20, 20)
        grid.setSpacing(0.5, 0.5)
        grid.setColor((70, 74, 82, 160))
        self.gl.addItem(grid)
        self.bones = gl.GLLinePlotItem(mode="lines", width=3, color=BONE, antialias=True)
        self.bones.setVisible(False)              # the stick figure: kept for set_style("sticks")
        self.joints = gl.GLScatterPlotItem(size=7, color=JOINT, pxMode=True)
        self.joints.setVisible(False)
        self.body = gl.GLMeshItem(smooth=True, shader=_register_body_shader(), color=BODY,
                                  glOptions="opaque")
        self.shadow = gl.GLLinePlotItem(mode="lines", width=9, color=SHADOW, antialias=True)
        self.shadow.setGLOptions("translucent")
        self.body.setVisible(False)       # nothing to draw before the first pose (an empty
        self.shadow.setVisible(False)     # GLMeshItem raises in paint)
        self.contacts = gl.GLScatterPlotItem(size=16, color=CONTACT, pxMode=True)
        self.trail = gl.GLLinePlotItem(width=1.5, color=(0.24, 0.55, 0.99, 0.45), antialias=True)
        self.ghost = gl.GLLinePlotItem(mode="lines", width=2, color=GHOST, antialias=True)
        self.ghost.setVisible(False)
        for item in (self.shadow, self.trail, self.ghost, self.body, self.bones, self.joints,
                     self.contacts):
            self.gl.addItem(item)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.gl)
        self.follow = True
        self._display = None

    def set_clip(self, display) -> None:
        self._display = display
        self.set_ghost(None)
        self.trail.setData(pos=np.column_stack([display.focus_path[:, :2],
                                                np.full(display.n_frames, 0.005)]))
        self.show_frame(0)

    def show_frame(self, i: int) -> None:
        d = self._display
        if d is None:
            return
        i = int(np.clip(i, 0, d.n_frames - 1))
        p = d.positions[i]
        self._draw_body(p, d.bones)
        on = d.contact_joints[d.contacts[i]] if d.contacts.size else np.zeros(0, np.int64)
        self.contacts.setData(pos=p[on] if len(on) else np.zeros((0, 3)))
        if self.follow:
            import pyqtgraph as pg

            c = p[d.focus]
            self.gl.opts["center"] = pg.Vector(float(c[0]), float(c[1]), 0.9)
            self.gl.update()

    def _draw_body(self, p: np.ndarray, bones: np.ndarray) -> None:
        """Capsules for the body, its shadow on the ground, and the stick figure kept in step."""
        import pyqtgraph.opengl as gl

        seg = p[np.asarray(bones).reshape(-1)]
        self.bones.setData(pos=seg)
        self.joints.setData(pos=p)
        if len(seg):
            verts, faces = body_mesh(p, bones)
            self.body.setMeshData(meshdata=gl.MeshData(vertexes=verts, faces=faces))
            flat = seg.copy()
            flat[:, 2] = 0.002                      # straight down onto the ground plane
            self.shadow.setData(pos=flat)
        self.body.setVisible(bool(len(seg)))
        self.shadow.setVisible(bool(len(seg)))

    def set_ghost(self, pos: np.ndarray | None, bones: np.ndarray | None = None) -> None:
        """Draw a second skeleton, translucent, at joint positions ``pos`` (J, 3) with bone
        index pairs ``bones`` (B, 2); None hides it."""
        if pos is None or bones is None or not len(bones):
            self.ghost.setVisible(False)
            return
        self.ghost.setData(pos=np.asarray(pos)[np.asarray(bones).reshape(-1)])
        self.ghost.setVisible(True)

    def show_pose(self, pos: np.ndarray, bones: np.ndarray, ghost: np.ndarray | None = None,
                  focus: int = 0) -> None:
        """Draw one live pose that is not part of a clip (a running simulation): joints
        ``pos`` (J, 3), bones (B, 2), an optional ghost pose on the same bones; the camera
        follows joint ``focus``. The clip shown before is let go."""
        self._display = None
        self.trail.setData(pos=np.zeros((0, 3)))
        self.contacts.setData(pos=np.zeros((0, 3)))
        self._draw_body(np.asarray(pos), np.asarray(bones))
        self.set_ghost(ghost, bones)
        if self.follow:
            import pyqtgraph as pg

            c = pos[focus]
            self.gl.opts["center"] = pg.Vector(float(c[0]), float(c[1]), 0.9)
        self.gl.update()

    def grab_frame(self):
        """A QImage of the GL content (QWidget.grab may miss it on some drivers)."""
        return self.gl.grabFramebuffer()
