"""The model factory: role -> pooled model, cached; clear errors; cheap to import."""

import json
import subprocess
import sys

import pytest

from studio.jobs import UserError
from studio.runtime import models
from studio.runtime.manifest import ModelError


@pytest.fixture
def test_role(monkeypatch):
    monkeypatch.setitem(models.ROLES, "test.conv",
                        models.Role("test.conv", None, "test conv net", "tests/fixtures"))
    return "test.conv"


def test_pool_is_created_once_per_manifest(tiny_model, test_role):
    assert models.available(test_role, tiny_model)
    assert models.available(test_role, tiny_model.parent)  # a folder names its manifest
    a = models.pool(test_role, tiny_model, sessions=1)
    b = models.pool(test_role, tiny_model.parent)
    assert a is b and a.manifest.role == test_role
    assert models.pool_or(test_role, a) is a


def test_missing_unknown_and_wrong_role_are_clear(tiny_model, test_role, tmp_path):
    assert not models.available(test_role, tmp_path / "nothing")
    assert not models.available(test_role)  # no shipped default for this role
    with pytest.raises(UserError, match="test conv net is not installed"):
        models.pool(test_role, tmp_path / "nothing")
    with pytest.raises(ValueError, match="unknown model role"):
        models.pool("no.such.role")
    man = json.loads(tiny_model.read_text())
    man["role"] = models.TRANSITION
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "manifest.json").write_text(json.dumps(man))
    (wrong / "model.onnx").write_bytes(tiny_model.with_name("model.onnx").read_bytes())
    with pytest.raises(ModelError, match="expected 'test.conv'"):
        models.pool(test_role, wrong)


def test_shipped_roles_point_into_models():
    from studio.paths import MODELS_DIR

    for info in models.ROLES.values():
        if info.default is not None:
            assert models.manifest_path(info.role) == MODELS_DIR / info.default / "manifest.json"


def test_importing_the_factory_loads_no_runtime():
    code = ("import sys; import studio.runtime.models; "
            "bad = [m for m in ('onnxruntime', 'numpy', 'scipy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
