"""`studio talk train` (studio/talk/train.py): the shipped pair read into PyTorch, a few
training steps on a GRID clip, resume, cancel, and the message without torch.

Kept fast: a 1.6 s GRID avatar, a handful of steps at batch 2 on 64 px windows."""

from __future__ import annotations

import builtins
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.jobs import Job, JobContext, JobStatus, UserError
from studio.paths import SHARED_DATA
from studio.talk.session import DEFAULT_AVATAR, DEFAULT_MODELS
from tests.ui.conftest import open_panel  # noqa: F401 - fixture

CLIP = "bbaf2n.mpg"
FAST = dict(batch=2, window=64, device="cpu")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def grid_avatar(tmp_path_factory) -> Path:
    """A GRID clip's first 1.6 s prepared as an avatar (frames, landmarks and audio.wav)."""
    from studio.talk.face import FaceDetector, FaceMesh
    from studio.talk.prepare import prepare_avatar

    clip = SHARED_DATA / "grid" / CLIP
    if not clip.exists():
        pytest.skip(f"reference clip not found: {clip}")
    out = tmp_path_factory.mktemp("train") / "grid"
    prepare_avatar(clip, out, max_seconds=1.6, detector=FaceDetector(), mesh=FaceMesh())
    return out


@pytest.fixture
def avatar_copy(grid_avatar, tmp_path) -> Path:
    dst = tmp_path / "avatar"
    shutil.copytree(grid_avatar, dst)
    return dst


def test_prepare_keeps_the_audio(grid_avatar):
    import soundfile as sf

    meta = json.loads((grid_avatar / "avatar.json").read_text())
    assert meta["files"]["audio"] == "audio.wav"
    wav, sr = sf.read(grid_avatar / "audio.wav")
    assert sr == 16000
    assert abs(len(wav) / sr - meta["num_frames"] / meta["fps"]) < 0.01
    assert np.abs(wav).max() > 0.01


def test_onnx_import_reproduces_the_shipped_pair():
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from studio.talk.train import IMPORT_TOLERANCE, import_pair

    _enc, _ren, _un, errors = import_pair(DEFAULT_MODELS)  # checks to 1e-4 itself
    assert set(errors) == {"audio_encoder", "unet"}
    assert max(errors.values()) <= IMPORT_TOLERANCE


def test_train_lowers_the_loss_writes_a_pair_render_uses_and_resumes(avatar_copy, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from studio.talk.render import render_frames
    from studio.talk.session import model_pair_dir, open_session
    from studio.talk.train import TRAINED_FOR_KEY, avatar_audio, train_avatar

    work = tmp_path / "work"
    seen = []
    ctx = JobContext(seen.append, min_interval_s=0)
    res = train_avatar(avatar_copy, ctx, max_steps=8, work_dir=work, lr=1e-3, **FAST)
    assert res.steps == 8 and res.resumed_from_step == 0
    assert res.loss_after < res.loss_before
    assert any("ETA" in p.message for p in seen)
    assert (work / "checkpoint.pt").exists()
    models = avatar_copy / "models"
    man = json.loads((models / "unet" / "manifest.json").read_text())
    assert man["training"]["base"] == str(DEFAULT_MODELS)
    assert man["training"]["steps"] == 8 and man["training"][TRAINED_FOR_KEY]
    assert not [p for p in avatar_copy.iterdir() if ".part" in p.name or ".old" in p.name]

    session = open_session(avatar_copy)
    try:
        assert model_pair_dir(session.avatar, None) == models
        assert Path(session.lipsync.unet.manifest.path).parent == models / "unet"
        assert session.warning is None  # trained for this very avatar
        out = []

        class Sink:
            def write(self, rgb):
                out.append(rgb)

        wav = avatar_audio(session.avatar)[:8000]  # 0.5 s
        render_frames(session.lipsync, session.template, wav, Sink())
        assert len(out) == session.lipsync.frame_count(len(wav)) and out[0].shape == session.template.frame(0).shape
    finally:
        session.close()

    again = train_avatar(avatar_copy, JobContext(), max_steps=3, resume=True, work_dir=work, **FAST)
    assert again.resumed_from_step == 8 and again.steps == 11
    man = json.loads((models / "unet" / "manifest.json").read_text())
    assert man["training"]["steps"] == 11 and len(man["training"]["runs"]) == 2


def test_cancelled_training_leaves_the_avatar_unchanged(avatar_copy, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from studio.talk.train import train_avatar

    before = snapshot(avatar_copy)
    work = tmp_path / "work"
    job = Job("train", lambda ctx: train_avatar(avatar_copy, ctx, max_steps=10_000,
                                                work_dir=work, **FAST))

    def on_progress(p):
        if "step 3" in p.message:  # the encoder or the U-Net phase
            job.cancel()

    result = job.run(on_progress)
    assert result.status is JobStatus.CANCELLED
    assert snapshot(avatar_copy) == before
    assert (work / "checkpoint.pt").exists()  # --resume can continue it


def test_resume_without_a_checkpoint_is_a_user_error(avatar_copy, tmp_path):
    pytest.importorskip("torch")
    from studio.talk.train import train_avatar

    with pytest.raises(UserError, match="no checkpoint to resume"):
        train_avatar(avatar_copy, resume=True, work_dir=tmp_path / "none", max_steps=1)


def _no_torch(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_without_torch_the_cli_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    from studio.cli import main

    _no_torch(monkeypatch)
    rc = main(["talk", "train", "--avatar", str(DEFAULT_AVATAR), "--minutes", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "pip install '.[train]'" in err and "Traceback" not in err


def test_without_torch_the_engine_raises_a_user_error(monkeypatch):
    from studio.talk.train import train_avatar

    _no_torch(monkeypatch)
    with pytest.raises(UserError, match=r"pip install '\.\[train\]'"):
        train_avatar(DEFAULT_AVATAR, max_steps=1)


def test_shipped_pair_on_another_face_warns(grid_avatar):
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.session import pair_warning

    msg = pair_warning(AvatarTemplate.load(grid_avatar, check_frames=False), DEFAULT_MODELS)
    assert msg and "astronaut" in msg and "studio talk train" in msg
    assert pair_warning(AvatarTemplate.load(DEFAULT_AVATAR, check_frames=False),
                        DEFAULT_MODELS) is None


# --- the Talk panel: the note and the Train button (offscreen Qt) ------------------------------

@pytest.fixture
def panel(open_panel, tmp_path, monkeypatch):  # noqa: F811
    import ui.talk.panel as mod

    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path / "cache"))  # checkpoints go here
    monkeypatch.setattr(mod, "studio_folder", lambda *parts: Path(tmp_path / "docs", *parts))
    return open_panel(mod.TalkPanel)


def _wait_avatar(panel, qtbot, avatar: Path, models: Path) -> None:
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.avatar.path == avatar
                    and panel._models_dir() == models, timeout=60000)


def test_panel_notes_the_foreign_pair_and_trains_this_face(panel, qtbot, avatar_copy, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import studio.talk.train as T

    real = T.train_avatar
    monkeypatch.setattr(T, "train_avatar", lambda avatar, ctx, minutes, resume: real(
        avatar, ctx, max_steps=3, resume=resume, **FAST))
    panel.load_avatar(avatar_copy)
    _wait_avatar(panel, qtbot, avatar_copy, DEFAULT_MODELS)
    note = panel.avatar.pair_note
    assert note.isVisibleTo(panel) and "astronaut" in note.text()
    assert panel.avatar.train_button.isEnabled() and not panel.avatar.resume_button.isEnabled()
    panel.avatar.train_button.click()
    assert panel.avatar.train_button.text() == "Cancel training"
    _wait_avatar(panel, qtbot, avatar_copy, avatar_copy / "models")
    assert not panel.avatar.pair_note.isVisibleTo(panel)
    qtbot.waitUntil(lambda: panel.ctx.runner.idle, timeout=30000)
    assert panel.avatar.resume_button.isEnabled()  # the checkpoint is there
    assert panel.avatar.train_button.text() == "Train for this face"


def test_panel_without_torch_explains_how_to_get_it(panel, qtbot, monkeypatch):
    qtbot.waitUntil(lambda: panel.session is not None, timeout=60000)
    errors = []
    panel.ctx.feed.error.connect(lambda title, text: errors.append((title, text)))
    _no_torch(monkeypatch)
    panel.avatar.train_button.click()
    assert errors and "pip install '.[train]'" in errors[0][1]
    assert panel.train_handle is None


def test_the_reference_is_the_frame_itself_with_another_mouth():
    """Outside the mouth region the reference half is the frame's own crop (what a render
    feeds the U-Net); inside it, another frame's mouth (numpy only: no torch needed)."""
    from studio.talk.train import mouth_swapped, mouth_weight

    import cv2

    rng = np.random.default_rng(0)
    own, other = rng.random((2, 160, 160, 3)).astype(np.float32)
    lm = np.zeros((478, 2), np.float32)
    lm[61], lm[291], lm[13], lm[14] = (60, 90), (100, 90), (80, 86), (80, 94)
    w = mouth_weight(lm, (0, 0, 168, 168), 160, 4)
    assert w.max() > 0.9 and w.min() == 0.0
    ref = mouth_swapped(own, other, w, w)
    far = cv2.dilate((w > 0).astype(np.uint8), np.ones((61, 61), np.uint8)) == 0
    assert far.sum() > 5000
    np.testing.assert_allclose(ref[far], own[far], atol=1e-6)
    core = cv2.erode((w > 0.95).astype(np.uint8), np.ones((21, 21), np.uint8)) > 0
    assert core.sum() > 200
    np.testing.assert_allclose(ref[core], other[core], atol=0.05)
