"""Model I/O contracts: one ``manifest.json`` beside each ``.onnx``.

A manifest says what a model is for (its role), what goes in and comes out (names,
shapes, dtypes, value ranges) and the pre/post-processing constants the engine needs.
Loading checks the ONNX graph against it and reports every mismatch precisely. Inputs
are matched by *position*, not by name: exports in the wild rename them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

from studio.jobs import UserError

Dim = Union[int, str]  # an int is fixed; a string is a named free dimension ("B", "T")

# onnxruntime type strings -> numpy dtype names
ORT_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
    "tensor(uint8)": "uint8", "tensor(bool)": "bool", "tensor(int16)": "int16",
}


class ModelError(UserError):
    """A model file or manifest that cannot be used, with the reason."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"
    range: tuple[float, float] | None = None
    description: str = ""
    # optional concrete shape for warm-up calls, where a free dim must be more than 1 (a
    # waveform model needs at least its receptive field of samples)
    example: tuple[int, ...] | None = None

    @classmethod
    def from_json(cls, d: dict, where: str) -> "TensorSpec":
        try:
            shape = tuple(d["shape"])
            if not all(isinstance(s, (int, str)) for s in shape):
                raise TypeError("shape entries must be ints or names")
            rng = d.get("range")
            ex = d.get("example")
            if ex is not None:
                ex = tuple(int(v) for v in ex)
                if len(ex) != len(shape) or any(isinstance(s, int) and s != e
                                                 for s, e in zip(shape, ex)):
                    raise ValueError(f"example {list(ex)} does not fit shape {list(shape)}")
            return cls(name=str(d["name"]), shape=shape, dtype=str(d.get("dtype", "float32")),
                       range=(float(rng[0]), float(rng[1])) if rng else None,
                       description=str(d.get("description", "")), example=ex)
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ModelError(f"{where}: bad tensor entry {d!r}: {exc}") from None

    def shape_text(self) -> str:
        return "(" + ", ".join(str(s) for s in self.shape) + ")"

    def concrete_shape(self, free: int = 1) -> tuple[int, ...]:
        return tuple(s if isinstance(s, int) else free for s in self.shape)

    def warmup_shape(self) -> tuple[int, ...]:
        """The ``example`` shape if the manifest gives one, else free dims as 1."""
        return tuple(self.example) if self.example else self.concrete_shape(1)


@dataclass
class Manifest:
    name: str
    role: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    file: str = "model.onnx"
    version: str = "1"
    description: str = ""
    license: str = ""
    constants: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the manifest file this came from

    @property
    def model_path(self) -> Path:
        base = self.path.parent if self.path else Path(".")
        return base / self.file

    @classmethod
    def from_dict(cls, d: dict, path: Path | None = None) -> "Manifest":
        where = str(path) if path else "manifest"
        missing = [k for k in ("name", "role", "inputs", "outputs") if k not in d]
        if missing:
            raise ModelError(f"{where}: missing required field(s): {', '.join(missing)}")
        if not isinstance(d["inputs"], list) or not isinstance(d["outputs"], list):
            raise ModelError(f"{where}: 'inputs' and 'outputs' must be lists")
        return cls(
            name=str(d["name"]), role=str(d["role"]),
            inputs=[TensorSpec.from_json(t, where) for t in d["inputs"]],
            outputs=[TensorSpec.from_json(t, where) for t in d["outputs"]],
            file=str(d.get("file", "model.onnx")), version=str(d.get("version", "1")),
            description=str(d.get("description", "")), license=str(d.get("license", "")),
            constants=dict(d.get("constants", {})), training=dict(d.get("training", {})),
            path=path)

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        p = Path(path)
        if p.is_dir():
            p = p / "manifest.json"
        elif p.suffix == ".onnx":
            p = p.with_name("manifest.json")
        if not p.exists():
            raise ModelError(f"{p}: no manifest found (each model needs a manifest.json "
                             "beside its .onnx)")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{p}: not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ModelError(f"{p}: a manifest must be a JSON object")
        return cls.from_dict(data, p.resolve())

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("path")
        for key in ("inputs", "outputs"):
            for t in d[key]:
                t["shape"] = list(t["shape"])
                if t["range"] is None:
                    del t["range"]
                else:
                    t["range"] = list(t["range"])
                if t.get("example") is None:
                    t.pop("example", None)
                else:
                    t["example"] = list(t["example"])
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def _dims_compatible(expected: Dim, found: Any) -> bool:
    if isinstance(expected, str) or not isinstance(found, int):
        return True  # a free dim on either side matches anything
    return expected == found


def check_against_session(manifest: Manifest, session) -> list[str]:
    """All mismatches between manifest and graph, by position; empty when they agree."""
    problems: list[str] = []
    for kind, specs, found in (("input", manifest.inputs, session.get_inputs()),
                               ("output", manifest.outputs, session.get_outputs())):
        if len(specs) != len(found):
            problems.append(f"the manifest lists {len(specs)} {kind}(s) but the model has "
                            f"{len(found)} ({', '.join(f.name for f in found)})")
            continue
        for i, (spec, node) in enumerate(zip(specs, found)):
            label = f"{kind} {i} '{spec.name}'" + (f" (graph name '{node.name}')"
                                                     if node.name != spec.name else "")
            shape = list(node.shape)
            dtype = ORT_DTYPES.get(node.type, node.type)
            if dtype != spec.dtype:
                problems.append(f"{label}: dtype expected {spec.dtype}, found {dtype}")
            if len(shape) != len(spec.shape):
                problems.append(f"{label}: shape expected {spec.shape_text()}, found "
                                f"({', '.join(str(s) for s in shape)}) - rank differs")
            elif not all(_dims_compatible(e, f) for e, f in zip(spec.shape, shape)):
                problems.append(f"{label}: shape expected {spec.shape_text()}, found "
                                f"({', '.join(str(s) for s in shape)})")
    return problems


def graph_shapes(nodes) -> list[tuple[Dim | None, ...]]:
    """Shapes of onnxruntime ``NodeArg`` s as tuples: an int where the graph fixes a
    dimension, its name (or None) where it is free."""
    return [tuple(d if isinstance(d, (int, str)) else None for d in (n.shape or ()))
            for n in nodes]


def fixed_batch(manifest: Manifest, session) -> int | None:
    """The batch size the graph fixes on its inputs' first axis where the manifest declares
    that axis free (e.g. ``"B"``), or None. Why: torch.onnx exports without
    ``dynamic_axes`` bake in the example batch (usually 1); the manifest check accepts
    that (a named dim matches anything) but a batched call then fails inside
    onnxruntime. Callers that batch should run ``fixed_batch`` rows per call instead."""
    for spec, shape in zip(manifest.inputs, graph_shapes(session.get_inputs())):
        if spec.shape and shape and isinstance(spec.shape[0], str) and isinstance(shape[0], int):
            return int(shape[0])
    return None


def batch_notes(manifest: Manifest, session) -> list[str]:
    """What :func:`fixed_batch` found, in words and with the fix, for ``studio models``
    and the logs (one note per model; empty when the manifest and graph agree)."""
    where, fixed, names = [], None, {}
    for kind, specs, nodes in (("input", manifest.inputs, session.get_inputs()),
                               ("output", manifest.outputs, session.get_outputs())):
        for i, (spec, node) in enumerate(zip(specs, nodes)):
            shape = graph_shapes([node])[0]
            if spec.shape and shape and isinstance(spec.shape[0], str) and isinstance(shape[0], int):
                where.append(f"{kind} {i} '{spec.name}'")
                fixed = shape[0] if fixed is None else fixed
                names[node.name] = spec.shape[0]
    if not where:
        return []
    axes = ", ".join(f"'{n}': {{0: '{d}'}}" for n, d in names.items())
    return [f"the manifest declares a free batch axis on {' and '.join(where)} but the graph "
            f"fixes it at {fixed} (exported without dynamic_axes): it runs {fixed} row(s) per "
            f"call, which works but is slower. Fix: re-export with torch.onnx.export(..., "
            f"dynamic_axes={{{axes}}}), or write {fixed} for that axis in the manifest"]


def check_inputs(manifest: Manifest, arrays: tuple) -> None:
    """Validate call-time arrays against the manifest (by position), with a precise error."""
    if len(arrays) != len(manifest.inputs):
        raise ModelError(f"{manifest.name}: expected {len(manifest.inputs)} input(s) "
                         f"({', '.join(t.name for t in manifest.inputs)}), got {len(arrays)}")
    for i, (spec, arr) in enumerate(zip(manifest.inputs, arrays)):
        if arr.ndim != len(spec.shape) or not all(
                _dims_compatible(e, int(f)) for e, f in zip(spec.shape, arr.shape)):
            raise ModelError(f"{manifest.name}: input {i} '{spec.name}' expects shape "
                             f"{spec.shape_text()}, got {tuple(arr.shape)}")
        if str(arr.dtype) != spec.dtype:
            raise ModelError(f"{manifest.name}: input {i} '{spec.name}' expects {spec.dtype}, "
                             f"got {arr.dtype}")
