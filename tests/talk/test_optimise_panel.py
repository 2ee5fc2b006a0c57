"""The Talk panel's "Optimise models (INT8)" button (offscreen Qt, tiny fixture pair)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.conftest import open_panel  # noqa: F401 - fixture


@pytest.fixture
def panel(open_panel, tmp_path, monkeypatch):  # noqa: F811
    import ui.talk.panel as mod
    from tests.fixtures.tiny_models import tiny_avatar

    monkeypatch.setattr(mod, "studio_folder", lambda *parts: Path(tmp_path / "docs", *parts))
    p = open_panel(mod.TalkPanel)
    avatar = tiny_avatar(tmp_path / "avatar")
    p.load_avatar(avatar)
    p._test_avatar = avatar
    return p


def _wait_session(panel, qtbot, models: Path) -> None:
    qtbot.waitUntil(lambda: panel.session is not None and panel.session.avatar.path
                    == panel._test_avatar and panel._models_dir() == models, timeout=30000)


def test_optimise_button_switches_to_the_int8_pair(panel, qtbot, tmp_path):
    avatar = panel._test_avatar
    _wait_session(panel, qtbot, avatar / "models")
    assert panel.avatar.optimise_button.isEnabled()
    panel.avatar.optimise_button.click()
    out = tmp_path / "docs" / "models" / "avatar-int8"
    _wait_session(panel, qtbot, out)
    assert "INT8" in panel.avatar.label.text()
    assert (avatar / "models" / "unet" / "model.onnx").exists()  # the FP32 pair is kept
    qtbot.waitUntil(lambda: panel.ctx.runner.idle, timeout=10000)
    assert panel.avatar.optimise_button.isEnabled()


def test_a_refused_pair_keeps_the_original(panel, qtbot, tmp_path, monkeypatch):
    from studio.talk import optimise as opt
    from tests.talk.test_optimise import corrupt_one_weight

    real = opt.quantise_int8

    def broken(src, dst, feeds, reduce_range=False, where=None):
        rec = real(src, dst, feeds, reduce_range, where)
        if "unet" in str(src):
            corrupt_one_weight(Path(dst))
        return rec

    monkeypatch.setattr(opt, "quantise_int8", broken)
    errors = []
    panel.ctx.feed.error.connect(lambda title, text: errors.append((title, text)))
    avatar = panel._test_avatar
    _wait_session(panel, qtbot, avatar / "models")
    panel.avatar.optimise_button.click()
    qtbot.waitUntil(lambda: bool(errors), timeout=30000)
    title, text = errors[0]
    assert title == "Kept the original models" and "PSNR" in text and "was not kept" in text
    assert panel._models_dir() == avatar / "models" and "INT8" not in panel.avatar.label.text()
    assert not (tmp_path / "docs" / "models" / "avatar-int8").exists()
