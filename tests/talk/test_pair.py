"""Lip-sync pairs a user exports: an encoder with a static batch, and pairs that do not fit.

Tiny graphs built here with the onnx helper API (random weights, never shipped)."""

import json
from pathlib import Path

import numpy as np
import pytest

from studio.runtime.manifest import Manifest, ModelError, TensorSpec
from studio.runtime.pool import SessionPool
from studio.runtime.registry import check
from studio.talk.lipsync import LipSync
from studio.talk.pair import check_pair_dir
from studio.talk.render import ArrayTemplate, render_frames


def fix_batch(model_path: Path, batch: int = 1) -> None:
    """Rewrite an exported model as torch.onnx does without dynamic_axes: batch baked in."""
    import onnx

    m = onnx.load(str(model_path))
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].ClearField("dim_param")
        v.type.tensor_type.shape.dim[0].dim_value = batch
    onnx.save(m, str(model_path))


def encoder(folder: Path, rows: int = 512, batch="B") -> Path:
    """A (B, 1, 80, 16) -> (B, rows) encoder with its manifest."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = (np.random.default_rng(1).standard_normal((80 * 16, rows)) * 0.05).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Flatten", ["mel"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["feature"])],
        "enc", [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [batch, 1, 80, 16])],
        [helper.make_tensor_value_info("feature", TensorProto.FLOAT, [batch, rows])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    Manifest(name="enc", role="talk.audio_encoder",
             inputs=[TensorSpec("mel", ("B", 1, 80, 16))],
             outputs=[TensorSpec("feature", ("B", rows))]).save(folder / "manifest.json")
    return folder / "manifest.json"


@pytest.fixture
def pair(tmp_path):
    from tests.fixtures.tiny_models import talk_pair

    return talk_pair(tmp_path / "pair", size=32)


def speech(seconds: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


class Collect:
    def __init__(self):
        self.frames = []

    def write(self, f):
        self.frames.append(f)


def tiny_template():
    rng = np.random.default_rng(0)
    return ArrayTemplate([rng.integers(0, 255, (64, 80, 3), np.uint8) for _ in range(3)],
                         np.array([[10, 8, 58, 56]] * 3, np.float32))


# --- an encoder exported with a static batch of 1 -------------------------------------------------

def test_static_batch_encoder_renders_like_a_dynamic_one(pair, tmp_path):
    enc, unet = pair
    wav = speech(0.6)
    dyn = LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=1))
    a = Collect()
    render_frames(dyn, tiny_template(), wav, a)
    fix_batch(enc.parent / "model.onnx", 1)  # the manifest still says ("B", 1, 80, 16)
    pool = SessionPool(enc, sessions=1)
    assert pool.fixed_batch == 1
    static = LipSync(pool, SessionPool(unet, sessions=1))
    assert any("row(s) per call" in n for n in static.notes)
    b = Collect()
    render_frames(static, tiny_template(), wav, b)
    assert len(a.frames) == len(b.frames) == 15
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    # a direct call with the wrong batch says what is wrong, not onnxruntime's text
    with pytest.raises(ModelError, match="graph fixes it at 1; use run_batched"):
        pool.run(np.zeros((4, 1, 80, 16), np.float32))


def test_a_fixed_batch_of_four_is_filled_and_trimmed(tmp_path):
    man = encoder(tmp_path / "enc", batch=4)
    dyn = encoder(tmp_path / "dyn")
    x = np.random.default_rng(2).standard_normal((10, 1, 80, 16)).astype(np.float32)
    got = SessionPool(man, sessions=1).run_batched(x, batch=32)[0]
    want = SessionPool(dyn, sessions=1).run_batched(x, batch=32)[0]
    assert got.shape == (10, 512) and np.allclose(got, want, atol=1e-5)


def test_studio_models_does_not_say_loads_for_a_fixed_batch(pair):
    enc, _ = pair
    fix_batch(enc.parent / "model.onnx", 1)
    r = check(enc)
    assert r.loads and r.batch_fixed == 1
    assert not r.status.startswith("loads") and "row(s) per call" in r.status
    assert any("free batch axis on input 0 'mel' and output 0 'feature' but the graph "
               "fixes it at 1" in w and "dynamic_axes={'mel': {0: 'B'}" in w for w in r.warnings)
    assert r.inputs[0].endswith("(graph: (1, 1, 80, 16))")
    good = check(pair[1])  # the U-Net beside it: fits the encoder, batch 1 declared as 1
    assert good.loads and good.status.startswith("loads on") and not good.error


# --- pairs that do not fit --------------------------------------------------------------------------

def _set_constant(manifest: Path, key: str, value) -> None:
    d = json.loads(manifest.read_text())
    d["constants"][key] = value
    manifest.write_text(json.dumps(d))


def test_encoder_rows_that_do_not_fit_the_unet_are_refused(pair, tmp_path):
    enc, unet = pair
    wide = encoder(enc.parent, rows=1024)  # replaces the pair's encoder
    with pytest.raises(ModelError) as ei:
        LipSync(SessionPool(wide, sessions=1), SessionPool(unet, sessions=1))
    msg = str(ei.value)
    assert "cannot work together" in msg and "rows of (1024,)" in msg
    assert "mode 'ave', which needs one row of (512,)" in msg
    assert "Fix: use the audio encoder this U-Net was trained with" in msg
    res = check_pair_dir(unet.parent.parent)
    assert not res.ok and "rows of (1024,)" in res.problems[0]
    r = check(unet)  # studio models: the U-Net cannot be used with this encoder
    assert not r.loads and r.status == "FAILS" and "rows of (1024,)" in r.error


def test_wrong_audio_mode_and_size_are_refused_with_the_fix(pair):
    enc, unet = pair
    _set_constant(unet, "audio_mode", "hubert")
    _set_constant(unet, "size", 48)
    with pytest.raises(ModelError) as ei:
        LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=1))
    msg = str(ei.value)
    assert "constants.size is 48 but the graph's image input is (1, 6, 32, 32)" in msg
    assert 'Fix: set "size": 32' in msg
    assert "audio mode 'hubert' (constants.audio_mode)" in msg and "audio input is (32, 16, 16)" in msg
    assert 'Fix: set "audio_mode": "ave"' in msg
    # and before a render: opening the pair for a session refuses it the same way
    from studio.talk.session import open_lipsync

    with pytest.raises(ModelError, match="cannot work together"):
        open_lipsync(unet.parent.parent)


def test_shipped_pair_fits():
    from studio.talk.session import DEFAULT_MODELS

    if not (DEFAULT_MODELS / "unet" / "manifest.json").exists():
        pytest.skip("shipped pair not installed")
    res = check_pair_dir(DEFAULT_MODELS)
    assert res.ok, res.problems


# --- "hubert": a waveform feature extractor described by its manifest ----------------------------

def extractor(folder: Path, width: int = 1024, reshape_to: int | None = None,
              constants: dict | None = None) -> tuple[Path, np.ndarray]:
    """A HuBERT stand-in: (1, N) samples -> Conv1D(k=400, s=320) -> (1, T, width) at 50 Hz,
    like HuBERT's CNN front-end (random weights). ``reshape_to`` adds a Reshape that only
    works for exactly that many samples (an export that cannot take other lengths)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = (np.random.default_rng(4).standard_normal((width, 1, 400)) * 0.05).astype(np.float32)
    nodes = [helper.make_node("Unsqueeze", ["waveform", "ax1"], ["x3"]),
             helper.make_node("Conv", ["x3", "w"], ["c"], kernel_shape=[400], strides=[320]),
             helper.make_node("Transpose", ["c"], ["features"], perm=[0, 2, 1])]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([1], np.int64), "ax1")]
    if reshape_to:
        nodes.insert(0, helper.make_node("Reshape", ["wave_in", "fixed"], ["waveform"]))
        inits.append(numpy_helper.from_array(np.array([1, reshape_to], np.int64), "fixed"))
    g = helper.make_graph(
        nodes, "hubert_standin",
        [helper.make_tensor_value_info("wave_in" if reshape_to else "waveform",
                                       TensorProto.FLOAT, [1, "N"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, "T", width])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    Manifest(name="hubert", role="talk.audio_encoder",
             inputs=[TensorSpec("waveform", (1, "N"), example=(1, 16000))],
             outputs=[TensorSpec("features", (1, "T", width))],
             constants={"input": "waveform", "sample_rate": 16000, **(constants or {})}
             ).save(folder / "manifest.json")
    return folder / "manifest.json", w[:, 0, :]


def hubert_unet(pair) -> Path:
    """The fixture U-Net with a (1, 32, 32, 32) audio input and audio_mode "hubert"."""
    import onnx

    _, unet = pair
    m = onnx.load(str(unet.parent / "model.onnx"))
    dims = m.graph.input[1].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 32, 32
    onnx.save(m, str(unet.parent / "model.onnx"))
    d = json.loads(unet.read_text())
    d["inputs"][1]["shape"] = [1, 32, 32, 32]
    d["constants"]["audio_mode"] = "hubert"
    unet.write_text(json.dumps(d))
    return unet


def reference_rows(wav: np.ndarray, w: np.ndarray, n_frames: int) -> np.ndarray:
    """SyncTalk_2D's hubert rows, in numpy: normalise, frames t = W x[320t : 320t + 400],
    T = (N - 80) // 320, drop an odd last frame, pair into (2, 1024) rows."""
    x = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
    t = (len(x) - 80) // 320
    frames = np.stack([w @ x[320 * i:320 * i + 400] for i in range(t)])
    rows = frames[:t // 2 * 2].reshape(-1, 2, 1024)
    return rows[np.minimum(np.arange(n_frames), len(rows) - 1)]


def test_hubert_extractor_rows_as_synctalk_builds_them(pair, tmp_path):
    unet = hubert_unet(pair)
    man, w = extractor(tmp_path / "hubert")
    ls = LipSync(SessionPool(man, sessions=1), SessionPool(unet, sessions=1))
    assert ls.encoder_input == "waveform" and ls.mode.name == "hubert"
    wav = speech(1.0) + 0.01 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    rows = ls.audio_rows(wav, 25)
    assert rows.shape == (25, 2, 1024)
    assert np.allclose(rows, reference_rows(wav.astype(np.float64), w, 25), atol=2e-3)
    # long audio is cut into overlapping chunks: the same rows
    chunked, _ = extractor(tmp_path / "chunked", constants={"chunk_samples": 3200})
    ls2 = LipSync(SessionPool(chunked, sessions=1), SessionPool(unet, sessions=1))
    assert np.allclose(ls2.audio_rows(wav, 25), rows, atol=1e-4)
    # and it renders
    out = Collect()
    render_frames(ls, tiny_template(), wav[:9600], out)
    assert len(out.frames) == 15


def test_hubert_pair_problems_are_clear(pair, tmp_path):
    unet = hubert_unet(pair)
    enc, _ = pair  # the mel encoder: wrong for hubert
    with pytest.raises(ModelError, match=r"rows of \(512,\).*needs one row of \(2, 1024\).*"
                                         r"\"input\": \"waveform\""):
        LipSync(SessionPool(enc, sessions=1), SessionPool(unet, sessions=1))
    base, _ = extractor(tmp_path / "base", width=768)
    with pytest.raises(ModelError, match="gives 768-wide frames but mode 'hubert' needs 1024"):
        LipSync(SessionPool(base, sessions=1), SessionPool(unet, sessions=1))


def test_a_failing_extractor_never_shows_onnxruntime_text(pair, tmp_path):
    unet = hubert_unet(pair)
    man, _ = extractor(tmp_path / "fixed", reshape_to=16000)  # the manifest says (1, "N")
    ls = LipSync(SessionPool(man, sessions=1), SessionPool(unet, sessions=1))
    with pytest.raises(ModelError) as ei:
        ls.audio_rows(speech(0.5), 12)
    msg = str(ei.value)
    assert str(man.parent / "model.onnx") in msg and "8000 samples (0.50 s)" in msg
    assert "fixed length" in msg
    assert "ONNXRuntime" not in msg and "onnxruntime" not in msg and "Reshape" not in msg


def test_live_mode_refuses_a_waveform_extractor(pair, tmp_path):
    from studio.talk.live import LiveEngine

    unet = hubert_unet(pair)
    man, _ = extractor(tmp_path / "hubert")
    ls = LipSync(SessionPool(man, sessions=1), SessionPool(unet, sessions=1))
    with pytest.raises(ModelError, match="live mode needs a mel-window audio encoder"):
        LiveEngine(ls, tiny_template())
    r = check(man)  # studio models: warms up with the manifest's example shape
    assert r.loads and r.status.startswith("loads on"), r.error
