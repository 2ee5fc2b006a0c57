"""Face detection + face mesh (shipped MediaPipe models converted to ONNX) and tracking."""

import math

import numpy as np
import pytest

from studio.jobs import CancelToken, Cancelled, JobContext, UserError
from studio.paths import SHARED_DATA
from studio.runtime.manifest import ModelError
from studio.talk import face as F


@pytest.fixture(scope="module")
def detector():
    return F.FaceDetector()


@pytest.fixture(scope="module")
def mesh():
    return F.FaceMesh()


def _grid_frames(name="bbaf2n.mpg", limit=None):
    import av

    path = SHARED_DATA / "grid" / name
    if not path.exists():
        pytest.skip(f"reference clip not found: {path}")
    with av.open(str(path)) as c:
        frames = []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if limit and len(frames) >= limit:
                break
    return path, frames


@pytest.fixture(scope="module")
def grid_clip():
    return _grid_frames()


@pytest.fixture(scope="module")
def grid_track(grid_clip, detector, mesh):
    path, frames = grid_clip
    return F.track_faces(frames, source=str(path), detector=detector, mesh=mesh)


# --- pure pieces -----------------------------------------------------------------------------

def test_ssd_anchors_match_blazeface_layout():
    a = F.ssd_anchors()
    assert a.shape == (896, 2)
    # stride 8: 16x16 grid, 2 anchors per cell; then stride 16: 8x8 grid, 6 per cell
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])
    assert np.allclose(a[2], [1.5 / 16, 0.5 / 16])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[517], a[512])
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 6, 2))
    scores = np.array([0.9, 0.6, 0.8])
    out = F.weighted_nms(boxes, kps, scores, 0.3)
    assert len(out) == 2
    assert out[0][2] == pytest.approx(0.9)
    assert out[0][0][0] == pytest.approx(0.6 / 1.5)  # score-weighted mean of x0 = 0 and 1
    assert np.allclose(out[1][0], [50, 50, 60, 60])
    plain = F.weighted_nms(boxes, kps, scores, 0.3, weighted=False)
    assert np.allclose(plain[0][0], [0, 0, 10, 10])


def test_decode_places_box_on_its_anchor(detector):
    reg = np.zeros((1, 896, 16), np.float32)
    logits = np.full((1, 896, 1), -100.0, np.float32)
    j = 300
    reg[0, j, 2:4] = [32, 64]      # w, h in input pixels
    reg[0, j, 4:6] = [-8, 0]       # first keypoint 8 px left of the anchor
    logits[0, j, 0] = 4.0
    boxes, kps, scores = detector.decode(reg, logits)
    ax, ay = detector.anchors[j]
    assert np.allclose(boxes[j], [ax - 0.125, ay - 0.25, ax + 0.125, ay + 0.25])
    assert np.allclose(kps[j, 0], [ax - 8 / 128, ay])
    assert scores[j] == pytest.approx(1 / (1 + math.exp(-4)))
    assert scores[0] < 1e-30  # clipped, no overflow


def test_warp_crop_identity_and_rotation():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 50, 3)).astype(np.uint8)
    crop = F.warp_crop(img, (25.0, 20.0), 20.0, 0.0, 20)   # 1:1 crop of rows 10..29, cols 15..34
    assert np.allclose(crop, img[10:30, 15:35], atol=1e-3)
    flipped = F.warp_crop(img, (25.0, 20.0), 20.0, math.pi, 20)
    assert np.allclose(flipped, img[10:30, 15:35][::-1, ::-1], atol=1e-3)
    outside = F.warp_crop(img, (-100.0, -100.0), 20.0, 0.0, 8)
    assert np.all(outside == 0)
    # crop coordinates map back to the same frame points
    pts = F._to_frame(np.array([[0.0, 0.0], [20.0, 20.0]]), (25.0, 20.0), 20.0, 0.0, 20)
    assert np.allclose(pts, [[15, 10], [35, 30]])


def test_smoothing_lowers_jitter_and_keeps_slow_motion():
    t = np.arange(60)
    rng = np.random.default_rng(1)
    clean = np.stack([np.sin(t / 8.0) * 10, t * 0.5], axis=-1)[:, None, :].repeat(3, axis=1)
    noisy = clean + rng.normal(0, 0.5, clean.shape)
    smooth = F.smooth_landmarks(noisy, 7)
    assert F.jitter(smooth) < 0.4 * F.jitter(noisy)
    assert np.abs(smooth - clean)[5:-5].mean() < np.abs(noisy - clean)[5:-5].mean()
    assert F.smooth_landmarks(noisy[:2], 7).shape == (2, 3, 2)  # too short: unchanged


def test_models_are_checked(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        F.FaceDetector(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="face.detector"):
        F.FaceDetector(F.MESH_DIR)


# --- on real frames ---------------------------------------------------------------------------

def test_detector_and_mesh_find_the_grid_face(grid_clip, detector, mesh):
    _, frames = grid_clip
    frame = frames[0]
    dets = detector.detect(frame)
    assert len(dets) == 1
    d = dets[0]
    x0, y0, x1, y1 = d.box
    assert d.score > 0.8
    assert 60 < (x1 - x0) < 200 and 60 < (y1 - y0) < 200
    right_eye, left_eye, nose, mouth = d.keypoints[:4]
    assert right_eye[0] < left_eye[0] and max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    r = mesh.run(frame, mesh.roi_from_detection(d))
    assert r.score > 0.9 and r.landmarks.shape == (468, 3)
    lm = r.landmarks
    for i in (F.INNER_LIP_TOP, F.INNER_LIP_BOTTOM, *F.MOUTH_CORNERS):
        assert x0 < lm[i, 0] < x1 and y0 < lm[i, 1] < y1
    assert lm[61, 0] < lm[13, 0] < lm[291, 0]       # corners either side of the lip centre
    assert lm[1, 1] < lm[13, 1] < lm[152, 1]        # nose tip above the lips above the chin
    # mesh from its own landmarks is stable (tracking step)
    r2 = mesh.run(frame, mesh.roi_from_landmarks(lm))
    assert np.abs(r2.landmarks[:, :2] - lm[:, :2]).mean() < 1.0


def test_mesh_is_scale_invariant(grid_clip, detector, mesh):
    """A 4x larger frame (the pre-shrink path) gives the same points, 4x."""
    _, frames = grid_clip
    small = frames[10]
    big = small.repeat(4, axis=0).repeat(4, axis=1)
    a = mesh.run(small, mesh.roi_from_detection(detector.detect(small)[0])).landmarks[:, :2]
    b = mesh.run(big, mesh.roi_from_detection(detector.detect(big)[0])).landmarks[:, :2] / 4
    assert np.abs(a - b).mean() < 1.0


def test_mesh_follows_a_tilted_head(grid_clip, detector, mesh):
    _, frames = grid_clip
    frame = frames[0]
    h, w = frame.shape[:2]
    ang = math.radians(25)
    tilted = F.warp_crop(frame, (w / 2, h / 2), float(h), ang, h)  # rotate the middle square
    tilted = np.clip(tilted, 0, 255).astype(np.uint8)
    ref = mesh.run(frame, mesh.roi_from_detection(detector.detect(frame)[0])).landmarks[:, :2]
    res = mesh.run(tilted, mesh.roi_from_detection(detector.detect(tilted)[0]))
    res = mesh.run(tilted, mesh.roi_from_landmarks(res.landmarks))
    assert res.score > 0.5
    # tilted-crop coordinates -> original frame coordinates
    back = F._to_frame(res.landmarks[:, :2], (w / 2, h / 2), float(h), ang, h)
    assert np.abs(back - ref).mean() < 2.0
    assert abs(res.roi.angle + ang) < math.radians(8)  # the face's roll was measured


def test_track_faces_on_a_speaking_clip(grid_clip, grid_track):
    _, frames = grid_clip
    tr = grid_track
    n = len(frames)
    assert tr.landmarks.shape == (n, 468, 2) and tr.raw_landmarks.shape == (n, 468, 2)
    assert tr.boxes.shape == (n, 4) and tr.frame_size == (360, 288)
    assert tr.detected[0] and tr.detected.sum() <= 3          # tracked, not re-detected
    assert tr.scores.min() > 0.5
    lm = tr.landmarks
    for i in (F.INNER_LIP_TOP, F.INNER_LIP_BOTTOM):
        assert np.all((lm[:, i, 0] > tr.boxes[:, 0]) & (lm[:, i, 0] < tr.boxes[:, 2]))
        assert np.all((lm[:, i, 1] > tr.boxes[:, 1]) & (lm[:, i, 1] < tr.boxes[:, 3]))
    opening = F.mouth_opening(lm)
    assert opening.max() - opening.min() > 2.0      # the speaker opens and closes the mouth
    assert opening.std() > 0.5
    assert F.jitter(lm) < 0.7 * F.jitter(tr.raw_landmarks)
    # the face stays put: boxes move little between frames
    assert np.abs(np.diff(tr.boxes, axis=0)).max() < 10


def test_track_faces_redetects_when_the_face_is_lost(grid_clip, detector, mesh):
    _, frames = grid_clip
    h, w = frames[0].shape[:2]
    left = np.zeros((h, 2 * w, 3), np.uint8)
    right = left.copy()
    left[:, :w] = frames[0]
    right[:, w:] = frames[0]  # the face jumps 360 px: the previous crop holds no face
    tr = F.track_faces([left, left, right, right], detector=detector, mesh=mesh,
                       smooth_window=1)
    assert list(tr.detected) == [True, False, True, False]
    assert tr.raw_landmarks[2, 13, 0] == pytest.approx(tr.raw_landmarks[0, 13, 0] + w, abs=1)


def test_no_face_is_a_user_error_naming_file_and_frame(grid_clip, detector, mesh):
    _, frames = grid_clip
    noise = np.random.default_rng(0).integers(0, 255, frames[0].shape).astype(np.uint8)
    assert detector.detect(noise) == []
    with pytest.raises(UserError, match=r"clip\.mp4: no face found in frame 2"):
        F.track_faces([frames[0], frames[1], noise], source="clip.mp4", detector=detector,
                      mesh=mesh)


def test_track_faces_reports_progress_and_cancels(grid_clip, detector, mesh):
    _, frames = grid_clip
    seen = []
    token = CancelToken()

    def on_progress(p):
        seen.append(p.done)
        if p.done >= 3:
            token.cancel()

    ctx = JobContext(on_progress, token, min_interval_s=0)
    with pytest.raises(Cancelled):
        F.track_faces(frames[:20], ctx, total=20, detector=detector, mesh=mesh)
    assert seen[:4] == [0, 1, 2, 3]


# --- small faces and frames without a face ----------------------------------------------------

def _pasted(frame, canvas_wh, frac, at, noise_seed=None):
    """``frame`` (a GRID frame, face ~130 px wide) shrunk so the face is ``frac`` of the
    canvas width, pasted at ``at`` on black (or uniform noise); returns canvas and scale."""
    import cv2

    s = frac * canvas_wh[0] / 130.0
    sm = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    shape = (canvas_wh[1], canvas_wh[0], 3)
    canvas = (np.zeros(shape, np.uint8) if noise_seed is None else
              np.random.default_rng(noise_seed).integers(0, 256, shape).astype(np.uint8))
    canvas[at[1]:at[1] + sm.shape[0], at[0]:at[0] + sm.shape[1]] = sm
    return canvas, s


@pytest.mark.parametrize("canvas_wh, frac, at, noise", [
    ((1920, 1080), 0.06, (1300, 620), None),   # 115 px face in a black 1080p frame
    ((1280, 720), 0.08, (211, 97), 1),         # 102 px face in a noisy 720p frame
])
def test_small_face_in_a_big_frame_is_found(grid_clip, detector, mesh, canvas_wh, frac, at,
                                            noise):
    _, frames = grid_clip
    ref = detector.detect(frames[0])[0].box
    canvas, s = _pasted(frames[0], canvas_wh, frac, at, noise)
    # the whole frame shrunk to 128 px alone misses it (why the tiles exist)
    assert all(d.score < 0.9 for d in detector.detect(canvas, small_faces=False))
    dets = detector.detect(canvas)
    assert dets and dets[0].score > 0.9
    expect = ref * s + np.array([at[0], at[1], at[0], at[1]])
    assert np.abs(dets[0].box - expect).max() < 0.2 * (expect[2] - expect[0])
    result = mesh.run(canvas, mesh.roi_from_detection(dets[0]))
    assert result.score > 0.9
    lip = result.landmarks[F.INNER_LIP_TOP, :2]
    assert expect[0] < lip[0] < expect[2] and expect[1] < lip[1] < expect[3] + 0.2 * s * 130


def test_tracking_skips_frames_without_a_face_at_the_ends(grid_clip, detector, mesh):
    _, frames = grid_clip
    black = np.zeros_like(frames[0])
    seen = []
    tr = F.track_faces([black, black, *frames[:4], black], detector=detector, mesh=mesh,
                       skip_missing_ends=True, on_frame=lambda i, f: seen.append((i, f.mean())),
                       smooth_window=1)
    assert (len(tr), tr.skipped_start, tr.skipped_end, tr.bridged) == (4, 2, 1, 0)
    assert [i for i, _ in seen] == [0, 1, 2, 3] and all(m > 10 for _, m in seen)
    # a short miss between faces is bridged: interpolated landmarks, the frame kept
    tr = F.track_faces([frames[0], black, frames[2]], detector=detector, mesh=mesh,
                       skip_missing_ends=True, smooth_window=1)
    assert (len(tr), tr.bridged) == (3, 1)
    mid = (tr.raw_landmarks[0] + tr.raw_landmarks[2]) / 2
    assert np.abs(tr.raw_landmarks[1] - mid).max() < 1e-3


def test_a_long_gap_between_faces_is_an_error_with_the_fix(grid_clip, detector, mesh):
    _, frames = grid_clip
    black = np.zeros_like(frames[0])
    with pytest.raises(UserError, match=r"clip\.mp4: no face found in frames 2-5 "
                                        r"\(0\.08-0\.24 s\), between .*--start/--end"):
        F.track_faces([frames[0], frames[1]] + [black] * 4 + [frames[2]], source="clip.mp4",
                      detector=detector, mesh=mesh, skip_missing_ends=True, fps=25)
    with pytest.raises(UserError, match=r"clip\.mp4: no face found in any of its 3 frames"):
        F.track_faces([black] * 3, source="clip.mp4", detector=detector, mesh=mesh,
                      skip_missing_ends=True)
    with pytest.raises(UserError, match=r"only 1 frame\(s\) show a face \(frame 1\); at least 3"):
        F.track_faces([black, frames[0], black], detector=detector, mesh=mesh,
                      skip_missing_ends=True, min_frames=3)
