"""Avatar templates: the format (avatar.py) and building one from a video (prepare.py)."""

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from studio.jobs import Job, JobContext, JobStatus, UserError
from studio.paths import SHARED_DATA
from studio.talk import avatar as A
from studio.talk.face import FaceDetector, FaceMesh, mouth_opening
from studio.talk.prepare import VideoFrames, prepare_avatar

CLIP = "bbaf2n.mpg"


def grid_clip(name=CLIP) -> Path:
    path = SHARED_DATA / "grid" / name
    if not path.exists():
        pytest.skip(f"reference clip not found: {path}")
    return path


@pytest.fixture(scope="module")
def models():
    return FaceDetector(), FaceMesh()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, models):
    """One full GRID clip prepared once for the tests that only read the result."""
    out = tmp_path_factory.mktemp("avatars") / "grid_avatar"
    progress = []
    ctx = JobContext(progress.append, min_interval_s=0)
    res = prepare_avatar(grid_clip(), out, ctx, detector=models[0], mesh=models[1])
    return out, res, progress


def write_video(path: Path, frames, fps=25, codec="libx264"):
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if ".part" in p.name]


# --- format pieces -----------------------------------------------------------------------------

def test_frame_index_ping_pong():
    assert [A.frame_index(i, 4) for i in range(12)] == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert [A.frame_index(i, 1) for i in range(3)] == [0, 0, 0]
    assert [A.frame_index(i, 2) for i in range(5)] == [0, 1, 0, 1, 0]
    with pytest.raises(ValueError):
        A.frame_index(0, 0)


def test_crop_boxes_are_squares_around_the_lower_face(prepared):
    out, _, _ = prepared
    tpl = A.AvatarTemplate.load(out)
    lm, crops = tpl.landmarks, tpl.crop_boxes
    side = crops[:, 2] - crops[:, 0]
    assert np.all(side == crops[:, 3] - crops[:, 1]) and np.all(side > 40)
    for i in (13, 14, 61, 291, 152, 17):  # lips and chin inside
        assert np.all((lm[:, i, 0] > crops[:, 0]) & (lm[:, i, 0] < crops[:, 2]))
        assert np.all((lm[:, i, 1] > crops[:, 1]) & (lm[:, i, 1] < crops[:, 3]))
    # the eyes are not: the box starts at the nose bridge
    assert np.all(lm[:, 33, 1] < crops[:, 1]) and np.all(lm[:, 263, 1] < crops[:, 1])
    assert np.all(crops[:, :2] >= 0) and np.all(crops[:, 2] <= 360) and np.all(crops[:, 3] <= 288)
    # a box that would leave the frame is shifted in, not shrunk
    shifted = A.crop_boxes_from_landmarks(lm[0] - [lm[0, 234, 0] + 5, 0], (360, 288))
    assert shifted[0] == 0 and shifted[2] - shifted[0] == side[0]


# --- prepare on a real clip -------------------------------------------------------------------

def test_prepare_writes_a_valid_template(prepared):
    out, res, progress = prepared
    assert sorted(p.name for p in out.iterdir()) == [
        "audio.wav", "avatar.json", "boxes.npy", "crop_boxes.npy", "frames.mp4", "landmarks.npy"]
    assert not leftovers(out.parent)
    tpl = A.AvatarTemplate.load(out)
    assert (tpl.num_frames, tpl.fps, tpl.width, tpl.height) == (75, 25, 360, 288)
    assert res.num_frames == 75 and not res.has_models and not tpl.has_models
    assert tpl.model_dir("unet") is None
    assert tpl.landmarks.shape == (75, 468, 2) and tpl.landmarks.dtype == np.float32
    assert tpl.boxes.shape == (75, 4) and tpl.crop_boxes.dtype == np.int32
    meta = json.loads((out / "avatar.json").read_text())
    assert meta["source"]["file"] == CLIP and "crop_rule" in meta
    # progress: monotone, reaches the end
    dones = [p.done for p in progress]
    assert dones == sorted(dones) and progress[-1].fraction == 1.0
    assert res.jitter_smoothed < res.jitter_raw


def test_template_frames_match_the_source(prepared):
    out, _, _ = prepared
    tpl = A.AvatarTemplate.load(out)
    frames = tpl.load_frames()
    assert frames.shape == (75, 288, 360, 3) and frames.dtype == np.uint8
    with av.open(str(grid_clip())) as c:
        src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(src) == 75
    for k in (0, 40, 74):  # near-lossless re-encode of the same frame
        assert np.abs(frames[k].astype(int) - src[k]).mean() < 3.0
    assert np.array_equal(tpl.frame(40), frames[40])
    assert np.array_equal(tpl.crop_box(5), tpl.crop_boxes[5]) and tpl.n_frames == 75
    # landmarks on the face: the inner-lip points sit in the face box, the mouth moves
    lm, boxes = tpl.landmarks, tpl.boxes
    for i in (13, 14):
        assert np.all((lm[:, i, 0] > boxes[:, 0]) & (lm[:, i, 0] < boxes[:, 2]))
        assert np.all((lm[:, i, 1] > boxes[:, 1]) & (lm[:, i, 1] < boxes[:, 3]))
    opening = mouth_opening(lm)
    assert opening.max() - opening.min() > 2.0


def test_prepare_archive_with_models_and_seconds(tmp_path, monkeypatch, models):
    from tests.fixtures.tiny_models import talk_pair

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    enc, _ = talk_pair(tmp_path / "pair", size=32)
    pair = enc.parent.parent
    out = tmp_path / "me.avatar"
    res = prepare_avatar(grid_clip("lbax4n.mpg"), out, max_seconds=0.6, models_from=pair,
                         detector=models[0], mesh=models[1])
    assert out.is_file() and res.num_frames == 15 and res.has_models
    assert not leftovers(tmp_path)
    tpl = A.AvatarTemplate.load(out)
    assert tpl.archive == out and tpl.num_frames == 15 and tpl.has_models
    assert (tpl.model_dir("audio_encoder") / "model.onnx").exists()
    assert str(tpl.path).startswith(str(tmp_path / "cache"))
    assert A.AvatarTemplate.load(out).path == tpl.path  # unpacked once, reused
    assert len(list(tpl.iter_frames(10))) == 5


def test_prepare_png_frames(tmp_path, models):
    out = tmp_path / "png_avatar"
    prepare_avatar(grid_clip(), out, max_seconds=0.2, frames_kind="png",
                   detector=models[0], mesh=models[1])
    tpl = A.AvatarTemplate.load(out)
    assert tpl.frames == "frames" and len(list((out / "frames").glob("*.png"))) == 5
    assert tpl.load_frames().shape == (5, 288, 360, 3)


def test_prepare_cancel_leaves_nothing(tmp_path, models):
    out = tmp_path / "cancelled"

    def fn(ctx):
        return prepare_avatar(grid_clip(), out, ctx, detector=models[0], mesh=models[1])

    job = Job("prepare", fn)

    def on_progress(p):
        if p.done >= 5:
            job.cancel()

    res = job.run(on_progress)
    assert res.status is JobStatus.CANCELLED
    assert not out.exists() and not list(tmp_path.iterdir())


def test_no_face_video_is_a_user_error_naming_the_file(tmp_path, models):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3)).astype(np.uint8) for _ in range(5)]
    video = write_video(tmp_path / "noise.mp4", frames)
    grey = write_video(tmp_path / "grey.mp4", [np.full((96, 128, 3), 128, np.uint8)] * 3)
    for v in (video, grey):
        job = Job("prepare", lambda ctx, v=v: prepare_avatar(v, tmp_path / "out", ctx,
                                                             detector=models[0], mesh=models[1]))
        res = job.run()
        assert res.status is JobStatus.FAILED
        assert str(v) in res.error and "no face found in any of its" in res.error
        assert not res.detail  # a UserError: no traceback
    assert not (tmp_path / "out").exists() and not leftovers(tmp_path)


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="missing.mp4: file not found"):
        prepare_avatar(tmp_path / "missing.mp4", tmp_path / "o")
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(UserError, match="junk.mp4"):
        prepare_avatar(junk, tmp_path / "o")
    with pytest.raises(UserError, match="unet/manifest.json"):
        prepare_avatar(grid_clip(), tmp_path / "o", models_from=tmp_path)
    with pytest.raises(UserError, match="positive"):
        prepare_avatar(grid_clip(), tmp_path / "o", max_seconds=0)


# --- reading frames at 25 fps -------------------------------------------------------------------

def _numbered(n, value_step):
    return [np.full((32, 32, 3), min(255, i * value_step), np.uint8) for i in range(n)]


@pytest.mark.parametrize("src_fps, n, expect", [(50, 20, 10), (25, 8, 8), (10, 5, 12)])
def test_video_frames_resample_to_25_fps(tmp_path, src_fps, n, expect):
    step = 12
    video = write_video(tmp_path / f"v{src_fps}.mp4", _numbered(n, step), fps=src_fps)
    frames = list(VideoFrames(video, 25))
    idx = [int(round(f.mean() / step)) for f in frames]
    assert abs(len(frames) - expect) <= 1
    assert idx == sorted(idx) and idx[0] == 0 and idx[-1] >= n - 1 - src_fps // 25
    times = np.arange(len(frames)) / 25.0
    assert np.all(np.abs(np.array(idx) / src_fps - times) <= 0.5 / src_fps + 1e-6)
    limited = list(VideoFrames(video, 25, max_seconds=0.2))
    assert len(limited) == 5


# --- loading validates ------------------------------------------------------------------------

@pytest.fixture
def copy_of(prepared, tmp_path):
    out, _, _ = prepared
    dst = tmp_path / "copy"
    shutil.copytree(out, dst)
    return dst


def test_load_reports_a_missing_file(copy_of):
    (copy_of / "landmarks.npy").unlink()
    with pytest.raises(UserError, match=r"landmarks\.npy: missing"):
        A.AvatarTemplate.load(copy_of)


def test_load_reports_mismatched_frame_counts(copy_of):
    np.save(copy_of / "boxes.npy", np.load(copy_of / "boxes.npy")[:-1])
    with pytest.raises(UserError, match=r"boxes\.npy: has 74 frames but .* says 75"):
        A.AvatarTemplate.load(copy_of)


def test_load_reports_frames_video_mismatch(copy_of):
    meta = json.loads((copy_of / "avatar.json").read_text())
    meta["num_frames"] = 70
    (copy_of / "avatar.json").write_text(json.dumps(meta))
    for name in ("landmarks.npy", "boxes.npy", "crop_boxes.npy"):
        np.save(copy_of / name, np.load(copy_of / name)[:70])
    with pytest.raises(UserError, match=r"frames\.mp4: holds 75 frames but avatar.json says 70"):
        A.AvatarTemplate.load(copy_of)


def test_load_reports_bad_json_shapes_and_half_a_model_pair(copy_of, tmp_path):
    np.save(copy_of / "landmarks.npy", np.zeros((75, 68, 2), np.float32))
    with pytest.raises(UserError, match=r"landmarks\.npy: landmarks must have shape \(T, 468, 2\)"):
        A.AvatarTemplate.load(copy_of)
    (copy_of / "avatar.json").write_text("{not json")
    with pytest.raises(UserError, match=r"avatar\.json: not valid JSON"):
        A.AvatarTemplate.load(copy_of)
    with pytest.raises(UserError, match="not found"):
        A.AvatarTemplate.load(tmp_path / "nope")
    (tmp_path / "x.avatar").write_text("zip? no")
    with pytest.raises(UserError, match=r"x\.avatar: not an avatar template"):
        A.AvatarTemplate.load(tmp_path / "x.avatar")


def test_load_reports_half_a_model_pair(copy_of, tmp_path):
    from tests.fixtures.tiny_models import talk_pair

    enc, _ = talk_pair(tmp_path / "pair", size=32)
    shutil.copytree(enc.parent, copy_of / "models" / "audio_encoder")
    with pytest.raises(UserError, match="not unet"):
        A.AvatarTemplate.load(copy_of)


def test_cli_prepare(tmp_path, capsys):
    from studio.cli import main

    out = tmp_path / "cli_avatar"
    rc = main(["talk", "prepare", str(grid_clip()), "--out", str(out), "--seconds", "0.4"])
    assert rc == 0 and A.AvatarTemplate.load(out).num_frames == 10
    rc = main(["talk", "prepare", str(tmp_path / "none.mp4"), "--out", str(out)])
    assert rc == 1 and "none.mp4: file not found" in capsys.readouterr().err


def test_add_prepare_parser(tmp_path, capsys):
    import argparse

    from studio.talk.prepare import add_prepare_parser

    parser = argparse.ArgumentParser()
    add_prepare_parser(parser.add_subparsers())
    out = tmp_path / "p.avatar"
    args = parser.parse_args(["prepare", str(grid_clip()), "--out", str(out), "--seconds", "0.2"])
    assert args.func(args) == 0 and out.is_file()
    printed = capsys.readouterr().out
    assert "frames kept:     5 at 25 fps" in printed
    for what in ("skipped:", "face size:", "% of the frame width", "landmark jitter:"):
        assert what in printed


# --- real videos: small faces, no face at the start or end, a part of the video -----------------

GRID_FACE_PX = 130  # width of the detector's face box in the 360x288 GRID frames


def grid_frames(name: str, n: int) -> list[np.ndarray]:
    with av.open(str(grid_clip(name))) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                return out
    return out


def small_face(frame: np.ndarray, size=(640, 360), frac=0.08, at=(400, 150)) -> np.ndarray:
    """``frame`` shrunk so its face is ``frac`` of the canvas width, on black."""
    import cv2

    s = frac * size[0] / GRID_FACE_PX
    sm = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    canvas[at[1]:at[1] + sm.shape[0], at[0]:at[0] + sm.shape[1]] = sm
    return canvas


def test_prepare_small_face_with_black_lead_in_and_out(tmp_path, models, capsys):
    """A face 8 % of the frame width (not found by the whole-frame detector alone), after a
    black lead-in of 3 frames and before 2 black frames: the template keeps the 8 face frames
    and says what it skipped."""
    faces = [small_face(f) for f in grid_frames("lbax4n.mpg", 8)]
    black = np.zeros_like(faces[0])
    video = write_video(tmp_path / "small.mp4", [black] * 3 + faces + [black] * 2)
    out = tmp_path / "small_avatar"
    res = prepare_avatar(video, out, detector=models[0], mesh=models[1])
    assert (res.num_frames, res.skipped_start, res.skipped_end) == (8, 3, 2)
    assert 0.05 < res.face_width_frac < 0.13 and res.width == 640
    tpl = A.AvatarTemplate.load(out)
    assert tpl.num_frames == 8
    # the landmarks sit on the pasted face (x 400..542, y 150..263), in every frame
    lm = tpl.landmarks
    assert np.all((lm[:, 13, 0] > 400) & (lm[:, 13, 0] < 545))
    assert np.all((lm[:, 13, 1] > 150) & (lm[:, 13, 1] < 265))
    # frame 0 of the template is the first face frame, not the lead-in
    assert tpl.load_frames()[0].mean() > 5
    meta = json.loads((out / "avatar.json").read_text())
    assert meta["source"]["skipped_start"] == 3 and meta["source"]["skipped_end"] == 2
    assert meta["source"]["first_frame_s"] == pytest.approx(3 / 25)
    text = res.summary()
    assert "3 frame(s) without a face at the start (0.12 s), 2 at the end (0.08 s)" in text
    assert "% of the frame width" in text and "landmark jitter" in text


def test_prepare_too_few_face_frames_is_a_clear_error(tmp_path, models):
    faces = [small_face(f) for f in grid_frames("lbax4n.mpg", 2)]
    black = np.zeros_like(faces[0])
    video = write_video(tmp_path / "short.mp4", [black] * 4 + faces + [black] * 4)
    with pytest.raises(UserError, match=r"short\.mp4: only 2 frame\(s\) show a face "
                                        r"\(frames 4-5 \(0\.16-0\.24 s\)\); at least 5"):
        prepare_avatar(video, tmp_path / "o", detector=models[0], mesh=models[1])
    assert not (tmp_path / "o").exists()


def test_video_frames_start_and_end(tmp_path):
    video = write_video(tmp_path / "v.mp4", _numbered(20, 12))
    idx = [int(round(f.mean() / 12)) for f in VideoFrames(video, 25, start=0.2, end=0.4)]
    assert idx == [5, 6, 7, 8, 9]
    idx = [int(round(f.mean() / 12)) for f in VideoFrames(video, 25, 0.12, start=0.6)]
    assert idx == [15, 16, 17]
    with pytest.raises(UserError, match="past the end"):
        VideoFrames(video, 25, start=5.0)
    with pytest.raises(UserError, match="must come after --start"):
        VideoFrames(video, 25, start=0.4, end=0.2)
    with pytest.raises(UserError, match="--start must be"):
        VideoFrames(video, 25, start=-1)


def test_prepare_start_end_options(tmp_path, capsys):
    import argparse

    from studio.talk.prepare import add_prepare_parser

    parser = argparse.ArgumentParser()
    add_prepare_parser(parser.add_subparsers())
    out = tmp_path / "part"
    args = parser.parse_args(["prepare", str(grid_clip()), "--out", str(out),
                              "--start", "1.0", "--end", "1.4"])
    assert args.func(args) == 0
    tpl = A.AvatarTemplate.load(out)
    assert tpl.num_frames == 10
    meta = json.loads((out / "avatar.json").read_text())
    assert meta["source"]["start_s"] == 1.0 and meta["source"]["first_frame_s"] == 1.0
    with av.open(str(grid_clip())) as c:
        src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert np.abs(tpl.load_frames()[0].astype(int) - src[25]).mean() < 3.0
    assert "source 1.00-1.40 s" in capsys.readouterr().out
