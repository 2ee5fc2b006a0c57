"""Choose an onnxruntime execution provider for this machine, and fall back cleanly.

The decision is a pure function of (preference, platform, available providers, GPU
visibility) so it can be unit-tested by faking all four; :func:`probe_machine` fills
them in from the real machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
from dataclasses import dataclass, field
from typing import Sequence

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
COREML = "CoreMLExecutionProvider"

PREFERENCES = ("auto", "coreml", "cuda", "cpu")

# MLProgram lets CoreML schedule on the Neural Engine; ALL keeps ANE + GPU + CPU eligible.
COREML_OPTIONS = {"ModelFormat": "MLProgram", "MLComputeUnits": "ALL",
                  "RequireStaticInputShapes": "0"}


@dataclass(frozen=True)
class Machine:
    """What the decision depends on; faked in tests."""

    system: str  # platform.system(): "Darwin", "Linux", "Windows"
    arch: str  # platform.machine(): "arm64", "x86_64", ...
    available: tuple[str, ...]  # onnxruntime.get_available_providers()
    cuda_devices: int = 0  # GPUs the CUDA driver reports (0: none or no driver)


@dataclass(frozen=True)
class ProviderChoice:
    """An ordered provider list for InferenceSession plus the reason, for `studio devices`."""

    providers: tuple[tuple[str, dict], ...]
    reason: str
    fallback_notes: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> str:
        return self.providers[0][0]

    @property
    def label(self) -> str:
        return short_name(self.primary)

    def as_ort_args(self) -> tuple[list[str], list[dict]]:
        return [p for p, _ in self.providers], [dict(o) for _, o in self.providers]


def short_name(provider: str) -> str:
    return {CPU: "CPU", CUDA: "CUDA", TENSORRT: "TensorRT", COREML: "CoreML"}.get(
        provider, provider.replace("ExecutionProvider", ""))


def choose(preference: str, machine: Machine) -> ProviderChoice:
    """The decision table. CPU is always last in the list so a session can fall back."""
    pref = preference.lower()
    if pref not in PREFERENCES:
        raise ValueError(f"unknown execution provider {preference!r}; choose one of {PREFERENCES}")
    avail = set(machine.available)
    apple_silicon = machine.system == "Darwin" and machine.arch in ("arm64", "aarch64")
    cpu = ((CPU, {}),)

    def coreml() -> ProviderChoice | None:
        if COREML in avail:
            where = "Apple Silicon: Neural Engine via CoreML (MLProgram)" if apple_silicon \
                else "CoreML requested"
            return ProviderChoice(((COREML, dict(COREML_OPTIONS)),) + cpu, where)
        return None

    def cuda() -> ProviderChoice | None:
        if CUDA in avail and machine.cuda_devices > 0:
            gpus = f"{machine.cuda_devices} CUDA GPU(s) visible"
            if TENSORRT in avail:
                return ProviderChoice(((TENSORRT, {}), (CUDA, {})) + cpu,
                                      f"{gpus}; TensorRT present, CUDA and CPU as fallbacks")
            return ProviderChoice(((CUDA, {}),) + cpu, f"{gpus} (onnxruntime-gpu)")
        return None

    if pref == "cpu":
        return ProviderChoice(cpu, "CPU requested")
    if pref == "coreml":
        return coreml() or ProviderChoice(cpu, "CoreML requested but this onnxruntime build has "
                                               "no CoreMLExecutionProvider; using CPU")
    if pref == "cuda":
        if CUDA not in avail:
            why = "CUDA requested but onnxruntime has no CUDAExecutionProvider " \
                  "(install onnxruntime-gpu); using CPU"
        elif machine.cuda_devices == 0:
            why = "CUDA requested but no GPU is visible to the CUDA driver; using CPU"
        else:
            return cuda()  # type: ignore[return-value]
        return ProviderChoice(cpu, why)

    # auto
    if apple_silicon:
        got = coreml()
        if got:
            return got
    got = cuda()
    if got:
        return got
    if CUDA in avail:
        return ProviderChoice(cpu, "onnxruntime-gpu is installed but no GPU is visible; CPU")
    if apple_silicon:
        return ProviderChoice(cpu, "Apple Silicon, but this onnxruntime has no CoreML provider; CPU")
    return ProviderChoice(cpu, f"no accelerator provider on {machine.system} {machine.arch}; CPU")


def _cuda_device_count() -> int:
    """Ask the CUDA driver directly: onnxruntime lists its CUDA provider even with no GPU."""
    name = ctypes.util.find_library("cuda") or "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return 0
    try:
        if lib.cuInit(0) != 0:
            return 0
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return int(count.value)
    except (AttributeError, OSError):
        return 0


def probe_machine() -> Machine:
    import onnxruntime as ort

    available = tuple(ort.get_available_providers())
    gpus = _cuda_device_count() if CUDA in available else 0
    return Machine(platform.system(), platform.machine(), available, gpus)


def create_session(model: str | bytes, choice: ProviderChoice, intra_threads: int = 1,
                   inter_threads: int = 1):
    """Create an InferenceSession with ``choice``; if the accelerated provider fails,
    retry on CPU and log a warning instead of crashing. Returns (session, note)."""
    import onnxruntime as ort

    def options() -> "ort.SessionOptions":
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(intra_threads))
        so.inter_op_num_threads = max(1, int(inter_threads))
        so.log_severity_level = 3
        return so

    providers, provider_options = choice.as_ort_args()
    if providers != [CPU]:
        try:
            sess = ort.InferenceSession(model, sess_options=options(), providers=providers,
                                       provider_options=provider_options)
            used = sess.get_providers()
            if used and used[0] == providers[0]:
                return sess, ""
            note = f"{short_name(providers[0])} was not used by onnxruntime; running on " \
                   f"{short_name(used[0]) if used else 'CPU'}"
            log.warning(note)
            return sess, note
        except Exception as exc:  # noqa: BLE001 - any provider failure falls back to CPU
            note = f"{short_name(providers[0])} failed to create a session ({exc}); falling back to CPU"
            log.warning(note)
            sess = ort.InferenceSession(model, sess_options=options(), providers=[CPU])
            return sess, note
    return ort.InferenceSession(model, sess_options=options(), providers=[CPU]), ""


def describe(machine: Machine, preference: str = "auto") -> str:
    """Human text for `studio devices` and the About box."""
    choice = choose(preference, machine)
    lines = [f"platform: {machine.system} {machine.arch}",
             "providers found: " + ", ".join(short_name(p) for p in machine.available),
             f"CUDA GPUs visible: {machine.cuda_devices}",
             f"{preference} picks: {choice.label}  ({choice.reason})",
             "order tried: " + " -> ".join(short_name(p) for p, _ in choice.providers)]
    return "\n".join(lines)


def provider_names(providers: Sequence[str]) -> list[str]:
    return [short_name(p) for p in providers]
