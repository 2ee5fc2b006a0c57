import pytest

from studio.runtime.providers import (COREML, CPU, CUDA, TENSORRT, Machine, choose,
                                      create_session)

MAC = ("Darwin", "arm64")
INTEL_MAC = ("Darwin", "x86_64")
LINUX = ("Linux", "x86_64")


def m(plat, providers, gpus=0):
    return Machine(plat[0], plat[1], tuple(providers), gpus)


@pytest.mark.parametrize("machine,pref,expected", [
    # auto
    (m(MAC, [COREML, CPU]), "auto", [COREML, CPU]),
    (m(MAC, [CPU]), "auto", [CPU]),
    (m(INTEL_MAC, [COREML, CPU]), "auto", [CPU]),  # no Neural Engine on Intel Macs
    (m(LINUX, [CUDA, CPU], gpus=1), "auto", [CUDA, CPU]),
    (m(LINUX, [TENSORRT, CUDA, CPU], gpus=2), "auto", [TENSORRT, CUDA, CPU]),
    (m(LINUX, [CUDA, CPU], gpus=0), "auto", [CPU]),  # onnxruntime-gpu but no GPU
    (m(LINUX, ["AzureExecutionProvider", CPU]), "auto", [CPU]),
    # explicit
    (m(LINUX, [CUDA, CPU], gpus=1), "cpu", [CPU]),
    (m(LINUX, [CPU]), "cuda", [CPU]),
    (m(LINUX, [CUDA, CPU], gpus=0), "cuda", [CPU]),
    (m(LINUX, [CUDA, CPU], gpus=1), "cuda", [CUDA, CPU]),
    (m(LINUX, [CPU]), "coreml", [CPU]),
    (m(INTEL_MAC, [COREML, CPU]), "coreml", [COREML, CPU]),
    (m(MAC, [COREML, CPU]), "CPU", [CPU]),
])
def test_decision_table(machine, pref, expected):
    choice = choose(pref, machine)
    assert [p for p, _ in choice.providers] == expected
    assert choice.providers[-1][0] == CPU  # CPU always last: the fallback
    assert choice.reason


def test_coreml_options_allow_neural_engine():
    choice = choose("auto", m(MAC, [COREML, CPU]))
    opts = dict(choice.providers[0][1])
    assert opts["ModelFormat"] == "MLProgram"
    assert opts["MLComputeUnits"] == "ALL"


def test_unknown_preference_is_rejected():
    with pytest.raises(ValueError, match="unknown execution provider"):
        choose("tpu", m(LINUX, [CPU]))


def test_failing_provider_falls_back_to_cpu(tiny_model, caplog):
    """A provider that cannot create a session must not crash: CPU takes over, with a warning."""
    from studio.runtime.providers import ProviderChoice

    bogus = ProviderChoice((("NoSuchExecutionProvider", {}), (CPU, {})), "test")
    data = (tiny_model.parent / "model.onnx").read_bytes()
    with caplog.at_level("WARNING"):
        sess, note = create_session(data, bogus)
    assert sess.get_providers()[0] == CPU
    assert "falling back to CPU" in note or "not used" in note
    assert any("CPU" in r.message for r in caplog.records)
