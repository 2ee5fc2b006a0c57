"""`studio talk optimise`: INT8 copies of a lip-sync pair, the quality gate, the kept original.

Tiny random-weight fixtures (tests/fixtures/tiny_models.py): seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.talk import optimise as opt
from studio.talk.optimise import GateFailed, optimise_pair, quality_gate, split_frames


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def corrupt_one_weight(model: Path, factor: float = -3.0) -> str:
    """Scale the largest weight tensor of ``model`` (an int8 one is sign-flipped): the kind
    of drift a broken quantisation gives. Returns the tensor's name."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(model))
    inits = [t for t in m.graph.initializer
             if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT8)]
    big = max(inits, key=lambda t: int(np.prod(t.dims)))
    arr = numpy_helper.to_array(big)
    if arr.dtype == np.int8:
        new = np.clip(-arr.astype(np.int16) * 2, -127, 127).astype(np.int8)
    else:
        new = (arr * factor).astype(arr.dtype)
    big.CopyFrom(numpy_helper.from_array(new, big.name))
    onnx.save(m, str(model))
    return big.name


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tests.fixtures.tiny_models import talk_pair, tiny_avatar

    root = tmp_path_factory.mktemp("optimise")
    talk_pair(root / "fp32", size=64)
    tiny_avatar(root / "avatar", size=64, frames=10)
    return root


@pytest.fixture(scope="module")
def forced(setup):
    """The tiny pair optimised with --force (through the command line)."""
    from studio.cli import main

    before = {p: sha(setup / "fp32" / p / "model.onnx") for p in ("audio_encoder", "unet")}
    rc = main(["talk", "optimise", "--models", str(setup / "fp32"), "--out",
               str(setup / "int8"), "--avatar", str(setup / "avatar"), "--force", "-q"])
    assert rc == 0
    return setup / "int8", before


def test_force_writes_an_int8_pair_and_records_it(forced):
    out, _ = forced
    for part in ("audio_encoder", "unet"):
        d = json.loads((out / part / "manifest.json").read_text())
        rec = d[opt.OPT_KEY]
        assert rec["precision"] == "int8"
        q = rec["quantisation"]
        assert q["format"] == "QDQ" and q["weights"] == "QInt8 per-channel"
        assert q["activations"] == "QUInt8" and q["calibration_items"] > 0
        assert "avatar crops" in q["calibration"] or "crops" in q["calibration"]
        assert rec["graph_optimisation"].startswith("onnxruntime ORT_ENABLE_EXTENDED")
        assert rec["gate"] == {"skipped": "--force (not checked against FP32)"}
        assert len(rec["source"]["sha256"]) == 64
        assert "[INT8 by studio talk optimise]" in d["description"]
    assert opt.is_optimised(out)


def test_int8_graph_is_quantised(forced):
    import onnx

    out, _ = forced
    ops = {n.op_type for n in onnx.load(str(out / "unet" / "model.onnx")).graph.node}
    # QDQ pairs fused into integer kernels by the saved graph optimisation
    assert ops & {"QLinearConv", "ConvInteger", "QuantizeLinear", "DequantizeLinear"}, ops
    assert "Conv" not in ops or "QuantizeLinear" in ops


def test_fp32_original_is_kept(forced, setup):
    _, before = forced
    for part in ("audio_encoder", "unet"):
        assert sha(setup / "fp32" / part / "model.onnx") == before[part]
        d = json.loads((setup / "fp32" / part / "manifest.json").read_text())
        assert opt.OPT_KEY not in d
    assert not opt.is_optimised(setup / "fp32")


def test_int8_pair_renders(forced, setup):
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.render import render_frames
    from studio.talk.session import open_lipsync

    out, _ = forced
    ls = open_lipsync(out)
    frames = []

    class Sink:
        def write(self, f):
            frames.append(f)

    tpl = AvatarTemplate.load(setup / "avatar")
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    try:
        stats = render_frames(ls, tpl, wav, Sink())
    finally:
        ls.close()
    assert stats.frames == len(frames) == 25
    assert frames[0].shape == (tpl.height, tpl.width, 3) and frames[0].dtype == np.uint8


def test_gate_passes_a_faithful_pair(setup, tmp_path):
    res = optimise_pair(setup / "fp32", tmp_path / "int8", avatar=setup / "avatar")
    assert res.gate is not None and res.gate.passed, res.gate and res.gate.problems
    assert res.gate.psnr_db >= opt.PSNR_MIN_DB
    d = json.loads((tmp_path / "int8" / "unet" / "manifest.json").read_text())
    assert d[opt.OPT_KEY]["gate"]["passed"] is True
    assert d[opt.OPT_KEY]["gate"]["frames"] == res.gate.frames > 10


def test_gate_refuses_a_drifting_pair(setup, tmp_path, monkeypatch):
    """A quantised U-Net with one corrupted weight tensor: not written, and the error says
    which number failed and that the FP32 pair stays in use."""
    real = opt.quantise_int8

    def broken(src, dst, feeds, reduce_range=False, where=None):
        rec = real(src, dst, feeds, reduce_range, where)
        if "unet" in str(src):
            corrupt_one_weight(Path(dst))
        return rec

    monkeypatch.setattr(opt, "quantise_int8", broken)
    before = sha(setup / "fp32" / "unet" / "model.onnx")
    with pytest.raises(GateFailed) as err:
        optimise_pair(setup / "fp32", tmp_path / "int8", avatar=setup / "avatar")
    msg = str(err.value)
    assert "was not kept" in msg and "PSNR" in msg and "needs >= 38" in msg
    assert "FP32 pair stays in use" in msg and "--force" in msg
    assert str(setup / "fp32") in msg
    assert not err.value.report.passed
    assert not (tmp_path / "int8").exists()
    assert not list(tmp_path.glob(".int8.*"))  # no scratch left behind
    assert sha(setup / "fp32" / "unet" / "model.onnx") == before


def test_quality_gate_direct(forced, setup, tmp_path):
    """quality_gate on its own: a corrupted copy of the optimised pair fails on PSNR."""
    from studio.media.audio_io import load_audio
    from studio.paths import RESOURCES_DIR
    from studio.talk.avatar import AvatarTemplate
    from studio.talk.session import open_lipsync

    out, _ = forced
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    corrupt_one_weight(bad / "unet" / "model.onnx")
    wav = load_audio(RESOURCES_DIR / "audio" / "hello.wav", 16000).samples
    tpl = AvatarTemplate.load(setup / "avatar")
    ref, cand = open_lipsync(setup / "fp32"), open_lipsync(bad)
    try:
        rep = quality_gate(ref, cand, tpl, wav, range(150, 180))
    finally:
        ref.close()
        cand.close()
    assert rep.frames == 30 and not rep.passed
    assert rep.psnr_db < 38 and "PSNR" in rep.problems[0]


def test_refuses_writing_over_the_original(setup):
    from studio.jobs import UserError

    with pytest.raises(UserError, match="another folder"):
        optimise_pair(setup / "fp32", setup / "fp32", avatar=setup / "avatar", force=True)
    with pytest.raises(UserError, match="missing"):
        optimise_pair(setup / "avatar", setup / "x", force=True)


def test_refuses_optimising_an_optimised_pair(forced, setup, tmp_path):
    from studio.jobs import UserError

    out, _ = forced
    with pytest.raises(UserError, match="already optimised"):
        optimise_pair(out, tmp_path / "again", avatar=setup / "avatar", force=True)


def test_split_frames_never_overlap():
    cal, held = split_frames(217, 64, 75)
    assert len(cal) == 64 and len(held) == 217 - 144
    assert max(cal) < min(held) and held == list(range(held[0], held[0] + len(held)))
    cal, held = split_frames(300, 64, 40)
    assert len(held) == 40 and not set(cal) & set(held)


def test_speech_energy_follows_loudness():
    wav = np.zeros(16000, np.float32)
    wav[6400:9600] = 0.5
    e = opt.speech_energy(wav, 25, 25)
    assert e.shape == (25,) and e[:10].max() == 0 and e[10:15].min() == pytest.approx(0.5)


def test_fp16_pair_keeps_float32_io(setup, tmp_path):
    """FP16 (for GPU / CoreML providers): float16 inside, float32 in and out, so the
    original manifests still describe it; the gate judges it like INT8."""
    import onnx

    res = optimise_pair(setup / "fp32", tmp_path / "fp16", avatar=setup / "avatar",
                        precision="fp16")
    assert res.gate is not None and res.gate.passed and res.gate.psnr_db > 45
    m = onnx.load(str(tmp_path / "fp16" / "unet" / "model.onnx"))
    assert {i.type.tensor_type.elem_type for i in m.graph.input} == {onnx.TensorProto.FLOAT}
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer)
    rec = json.loads((tmp_path / "fp16" / "unet" / "manifest.json").read_text())[opt.OPT_KEY]
    assert rec["precision"] == "fp16" and rec["conversion"]["keep_io_types"] is True
    assert rec["graph_optimisation"].startswith("onnxruntime ORT_ENABLE_BASIC")


def test_a_failing_step_names_the_users_file(setup, tmp_path, monkeypatch):
    """Errors name the model the user gave, not a scratch copy."""
    from studio.jobs import UserError

    real = opt.quantise_int8
    monkeypatch.setattr(opt, "quantise_int8", lambda *a, **k: real(a[0], a[1], [], **k))
    with pytest.raises(UserError) as err:
        optimise_pair(setup / "fp32", tmp_path / "x", avatar=setup / "avatar", force=True)
    msg = str(err.value)
    assert msg.startswith(str(setup / "fp32" / "audio_encoder" / "model.onnx"))
    assert "no calibration data" in msg and not (tmp_path / "x").exists()


def test_synctalk_fixture_is_a_valid_pair(tmp_path):
    """The benchmark's SyncTalk_2D-architecture pair passes the app's pair check and runs."""
    from studio.runtime.pool import SessionPool
    from studio.talk.lipsync import LipSync
    from studio.talk.pair import check_pair_dir
    from tests.fixtures.synctalk_models import synctalk_pair

    synctalk_pair(tmp_path, size=160)
    check = check_pair_dir(tmp_path)
    assert check.ok, check.problems
    ls = LipSync(SessionPool(tmp_path / "audio_encoder", sessions=1, threads=1),
                 SessionPool(tmp_path / "unet", sessions=1, threads=1))
    try:
        rows = ls.audio_rows(np.zeros(16000, np.float32), 25)
        image6, _ = ls.crop(np.zeros((200, 200, 3), np.uint8), (20, 20, 180, 180))
        pred = ls.predict(image6, ls.audio_features(rows, 3, 4))
    finally:
        ls.close()
    assert rows.shape == (25, 512) and pred.shape == (1, 3, 160, 160)
    assert 0.0 <= float(pred.min()) and float(pred.max()) <= 1.0


def test_cli_refusal_exits_1_with_the_reason(setup, tmp_path, monkeypatch, capsys):
    from studio.cli import main

    real = opt.quantise_int8

    def broken(src, dst, feeds, reduce_range=False, where=None):
        rec = real(src, dst, feeds, reduce_range, where)
        if "unet" in str(src):
            corrupt_one_weight(Path(dst))
        return rec

    monkeypatch.setattr(opt, "quantise_int8", broken)
    rc = main(["talk", "optimise", "--models", str(setup / "fp32"), "--out",
               str(tmp_path / "int8"), "--avatar", str(setup / "avatar"), "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and "was not kept" in err and "PSNR" in err
    assert not (tmp_path / "int8").exists()


def test_reduce_range_is_recorded(setup, tmp_path):
    optimise_pair(setup / "fp32", tmp_path / "rr", avatar=setup / "avatar", force=True,
                  reduce_range=True, calib_frames=8)
    rec = json.loads((tmp_path / "rr" / "unet" / "manifest.json").read_text())[opt.OPT_KEY]
    assert rec["quantisation"]["reduce_range"] is True
    assert rec["quantisation"]["calibration_items"] == 8
