import json

import numpy as np
import pytest

from studio.runtime.manifest import Manifest, ModelError
from studio.runtime.pool import SessionPool
from studio.runtime.registry import check, discover
from studio.settings import EngineSettings


def test_manifest_round_trip(tiny_model):
    m = Manifest.load(tiny_model)
    assert m.inputs[0].shape == ("B", 3, 32, 32)
    assert m.inputs[0].range == (0.0, 1.0)
    again = Manifest.from_dict(m.to_dict())
    assert again.inputs == m.inputs and again.outputs == m.outputs


def test_loads_and_matches(tiny_model):
    pool = SessionPool(tiny_model, EngineSettings(pool_size=1))
    out = pool.run(np.zeros((2, 3, 32, 32), np.float32))
    assert out[0].shape == (2, 3, 32, 32)


def _edit(path, fn):
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def test_shape_mismatch_names_input_expected_and_found(tiny_model):
    _edit(tiny_model, lambda d: d["inputs"][0].__setitem__("shape", ["B", 6, 32, 32]))
    with pytest.raises(ModelError) as ei:
        SessionPool(tiny_model, sessions=1)
    msg = str(ei.value)
    assert "input 0 'image'" in msg
    assert "expected (B, 6, 32, 32)" in msg and "found (B, 3, 32, 32)" in msg


def test_rank_dtype_and_count_mismatch(tiny_model):
    def bad(d):
        d["outputs"][0]["shape"] = ["B", 3, 32]
        d["outputs"][0]["dtype"] = "float16"
        d["inputs"].append({"name": "audio", "shape": [1, 512]})
    _edit(tiny_model, bad)
    with pytest.raises(ModelError) as ei:
        SessionPool(tiny_model, sessions=1)
    msg = str(ei.value)
    assert "lists 2 input(s) but the model has 1" in msg
    assert "output 0 'output': dtype expected float16, found float32" in msg
    assert "rank differs" in msg


def test_inputs_bound_by_position_not_name(tiny_model):
    """Exports in the wild rename inputs: a renamed manifest input still binds."""
    _edit(tiny_model, lambda d: d["inputs"][0].__setitem__("name", "face"))
    pool = SessionPool(tiny_model, sessions=1)
    assert pool.run(np.ones((1, 3, 32, 32), np.float32))[0].shape == (1, 3, 32, 32)


def test_call_time_shape_error_is_precise(tiny_model):
    pool = SessionPool(tiny_model, sessions=1)
    with pytest.raises(ModelError, match=r"input 0 'image' expects shape \(B, 3, 32, 32\), got \(1, 3, 16, 16\)"):
        pool.run(np.zeros((1, 3, 16, 16), np.float32))


def test_truncated_and_non_onnx_files(tiny_model):
    onnx_path = tiny_model.parent / "model.onnx"
    data = onnx_path.read_bytes()
    onnx_path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        SessionPool(tiny_model, sessions=1)
    onnx_path.write_bytes(b"\x89PNG\r\n\x1a\n not a model at all")
    with pytest.raises(ModelError, match=str(onnx_path.name)):
        SessionPool(tiny_model, sessions=1)
    onnx_path.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        SessionPool(tiny_model, sessions=1)


def test_bad_manifests(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        Manifest.load(tmp_path / "a")
    (tmp_path / "a" / "manifest.json").write_text(json.dumps({"name": "x", "inputs": []}))
    with pytest.raises(ModelError, match="missing required field.*role.*outputs"):
        Manifest.load(tmp_path / "a")
    with pytest.raises(ModelError, match="no manifest found"):
        Manifest.load(tmp_path / "nowhere")


def test_registry_reports_good_and_bad(tmp_path):
    from tests.fixtures.tiny_models import conv_net

    conv_net(tmp_path / "good", size=16, width=4, depth=1)
    bad = conv_net(tmp_path / "bad", size=16, width=4, depth=1)
    (bad.parent / "model.onnx").write_bytes(b"garbage")
    found = discover(tmp_path)
    assert [p.parent.name for p in found] == ["bad", "good"]
    reports = {p.parent.name: check(p) for p in found}
    assert reports["good"].loads and reports["good"].inputs == ["image (B, 3, 16, 16) float32"]
    assert not reports["bad"].loads and "not a loadable ONNX model" in reports["bad"].error
