"""Convert the shipped models to Core ML (.mlpackage, ML Program, FP16) from their recipes'
PyTorch definitions, and check every step. See docs/packaging.md.

    python3 -m venv .venv-coreml
    .venv-coreml/bin/pip install -e '.[coreml]' --no-deps && .venv-coreml/bin/pip install \
        'torch==2.13.0' coremltools onnx onnxruntime numpy
    .venv-coreml/bin/python packaging/coreml.py [--out build/coreml] [--only talk_default/unet]

For each model:

1. build the recipe's torch module (its class definitions are read from the recipe file, so
   the recipe's data-making imports - espeak, OpenCV, the motion corpus - are not needed);
2. load its weights: the recipe's checkpoint when it is on disk, else the shipped ONNX file's
   initializers (by name; convolutions that torch.onnx fused with their BatchNorm by graph
   order, the BatchNorm then set to identity; constants folded by the exporter by shape);
3. check that the torch module reproduces the shipped ONNX model (onnxruntime, CPU) to 1e-4
   on seeded inputs in the manifest's ranges;
4. convert with coremltools (ML Program, FP16 compute, macOS 13 / iOS 16 deployment target,
   the manifest's symbolic batch "B" as a flexible dimension);
5. check the .mlpackage spec: as many inputs and outputs as the manifest, same order, same
   ranks, same fixed dimensions (names aside); and, where coremltools can run a model
   (macOS), that its FP16 predictions agree with onnxruntime to 2e-2.

Writes build/coreml/<model>.mlpackage and build/coreml/report.json; exit 1 when a check fails.
The app itself runs the ONNX files; on Apple Silicon onnxruntime's CoreML execution provider
compiles them to ML Programs (studio/runtime/providers.py). The .mlpackages are for Xcode /
Core ML tooling and for checking that every layer is Core ML-convertible.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ROOT / "models"
RECIPES = MODELS / "recipes"
TOL_TORCH = 1e-4  # torch (FP32) vs onnxruntime: same graph, same weights
TOL_COREML = 2e-2  # Core ML FP16 vs onnxruntime FP32, outputs in 0..1-ish ranges


# --- reading recipe definitions without running the recipe -----------------------------------

def recipe_namespace(path: Path, names: list[str], extra: dict | None = None) -> dict:
    """Exec only the named top-level classes/functions of a recipe file, plus its simple
    top-level constants (assignments that evaluate with torch, numpy and math alone)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    ns: dict = {"__name__": f"recipe_{path.parent.name}_{path.stem}", "torch": torch, "nn": nn,
                "F": F, "np": np, "math": math, "annotations": None, **(extra or {})}
    exec(compile("from __future__ import annotations", str(path), "exec"), ns)
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            try:
                exec(compile(ast.Module([node], []), str(path), "exec"), ns)
            except Exception:  # noqa: BLE001 - constants that need the recipe's data imports
                pass
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name in names:
            exec(compile(ast.Module([node], []), str(path), "exec"), ns)
    missing = [n for n in names if n not in ns]
    if missing:
        raise RuntimeError(f"{path}: no top-level {', '.join(missing)}")
    return ns


# --- the models ------------------------------------------------------------------------------

@dataclass
class Entry:
    key: str  # folder under models/
    recipe: Path
    build: Callable[[dict, dict], "object"]  # (recipe namespace, onnx initializers) -> module
    names: list[str]
    checkpoint: Callable[[], Path | None] = lambda: None
    load_checkpoint: Callable | None = None
    extra: Callable[[], dict] | None = None  # names the class definitions need
    # "trace" (torch.jit.trace) or "export" (torch.export with symbolic dims: for graphs that
    # compute with their input's sizes, e.g. attention heads, which a trace turns into ops
    # coremltools cannot convert)
    frontend: str = "trace"
    dims: dict = field(default_factory=dict)  # symbolic dim -> (lower, upper) for Core ML


def _talk_encoder(ns, inits):
    return ns["AudioEncoder"]()


def _talk_unet(ns, inits):
    return ns["UNetExport"](ns["Renderer"]())


def _talk_ckpt(name):
    def find():
        p = Path("/tmp/talk_default_work") / name
        return p if p.exists() else None
    return find


def _talk_load_encoder(module, path):
    import torch

    module.load_state_dict(torch.load(path, weights_only=False)["model"])


def _talk_load_unet(module, path):
    import torch

    module.r.load_state_dict(torch.load(path, weights_only=False)["model"])


def _deepphase(ns, inits):
    manifest = json.loads((MODELS / "deepphase" / "manifest.json").read_text())
    channels, window = manifest["inputs"][0]["shape"][1:]
    latent = manifest["outputs"][0]["shape"][1]
    conv = [v for k, v in inits.items() if v.ndim == 3 and v.shape[1] == channels][0]
    hidden, _, kernel = conv.shape
    fps = float(ns.get("FPS", 30.0))
    pae = ns["PAE"](channels, latent, window, fps, kernel=kernel, hidden=hidden)
    return ns["Encoder"](pae)


def _transition(ns, inits):
    c = manifest_of("transition")["constants"]
    return ns["TransitionNet"](feat=len(c["mean"]), d=c["d"], layers=c["layers"],
                               heads=c["heads"], ff=c["ff"], context=c["context"])


def _transition_extra() -> dict:
    c = manifest_of("transition")["constants"]
    # class-definition defaults name the motion package's constants; give them the manifest's
    return {"D": types.SimpleNamespace(PLACEMENT_DIM=len(c["mean"])), "CONTEXT": c["context"]}


def _motion_dim(key: str) -> int:
    return int(manifest_of(key)["inputs"][0]["shape"][-1])


def _style_extra(key):
    # the class definitions' defaults name studio.motion.learned.dataset.MOTION_DIM
    return lambda: {"D": types.SimpleNamespace(MOTION_DIM=_motion_dim(key))}


def _style_encoder(ns, inits):
    labels = len(manifest_of("style_vae/encoder")["constants"]["labels"])
    h = inits["vae.style.c1.weight"].shape[0]
    return ns["EncoderGraph"](ns["StyleVAE"](_motion_dim("style_vae/encoder"), labels, h=h))


def _style_decoder(ns, inits):
    labels = len(manifest_of("style_vae/decoder")["constants"]["labels"])
    h, c = inits["vae.decoder.inp.weight"].shape[:2]
    return ns["DecoderGraph"](ns["StyleVAE"](_motion_dim("style_vae/decoder"), labels, h=h, c=c))


def _style_classifier(ns, inits):
    labels = len(manifest_of("style_classifier")["constants"]["labels"])
    return ns["StyleClassifier"](_motion_dim("style_classifier"), labels,
                                 h=inits["c1.weight"].shape[0])


_STYLE = ["inorm", "ContentEncoder", "StyleEncoder", "AdaBlock", "Decoder", "StyleVAE"]

ENTRIES = [
    Entry("talk_default/audio_encoder", RECIPES / "talk_default" / "train.py", _talk_encoder,
          ["AudioEncoder"], _talk_ckpt("encoder.pt"), _talk_load_encoder),
    Entry("talk_default/unet", RECIPES / "talk_default" / "train.py", _talk_unet,
          ["Renderer", "UNetExport"], _talk_ckpt("unet_refine.pt"), _talk_load_unet),
    Entry("deepphase", RECIPES / "deepphase" / "train.py", _deepphase, ["PAE", "Encoder"]),
    Entry("transition", RECIPES / "transition" / "train.py", _transition,
          ["sinusoid", "Attention", "Block", "TransitionNet"], extra=_transition_extra,
          dims={"T": (2, 256)}, frontend="export"),
    Entry("style_vae/encoder", RECIPES / "style" / "train.py", _style_encoder,
          _STYLE + ["EncoderGraph"], extra=_style_extra("style_vae/encoder")),
    Entry("style_vae/decoder", RECIPES / "style" / "train.py", _style_decoder,
          _STYLE + ["DecoderGraph"], extra=_style_extra("style_vae/decoder")),
    Entry("style_classifier", RECIPES / "style" / "train_classifier.py", _style_classifier,
          ["StyleClassifier"], extra=_style_extra("style_classifier")),
]


# --- weights from the ONNX file --------------------------------------------------------------

def onnx_initializers(model) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def execution_order(module, example: tuple) -> list[tuple[str, object]]:
    """(qualified name, leaf module) in the order a forward pass calls them."""
    import torch

    order, hooks = [], []
    names = {m: n for n, m in module.named_modules()}
    for m in module.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(lambda mod, i, o: order.append((names[mod], mod))))
    with torch.no_grad():
        module(*example)
    for h in hooks:
        h.remove()
    return order


def load_from_onnx(module, onnx_model, example: tuple) -> list[str]:
    """Fill ``module``'s parameters and buffers from the ONNX initializers; returns notes."""
    import torch
    import torch.nn as nn

    inits = onnx_initializers(onnx_model)
    used: set[str] = set()
    notes: list[str] = []
    state = module.state_dict()
    assigned: set[str] = set()
    # 1. by name (torch.onnx keeps parameter names for what it did not fold)
    for k, v in state.items():
        if k in inits and tuple(inits[k].shape) == tuple(v.shape):
            v.copy_(torch.from_numpy(inits[k].copy()))
            used.add(k)
            assigned.add(k)
    # 2. convolutions fused with the BatchNorm after them, by graph order
    conv_nodes = [n for n in onnx_model.graph.node if n.op_type == "Conv"]
    order = execution_order(module, example)
    convs = [(n, m) for n, m in order if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    if len(conv_nodes) != len(convs):
        raise RuntimeError(f"{len(convs)} torch convolutions but {len(conv_nodes)} ONNX Conv nodes")
    for (name, conv), node in zip(convs, conv_nodes):
        w = inits[node.input[1]]
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise RuntimeError(f"{name}: weight {tuple(conv.weight.shape)} vs ONNX {node.input[1]} "
                               f"{tuple(w.shape)}")
        if f"{name}.weight" in assigned:
            continue
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w.copy()))
            b = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            if b is not None:
                if conv.bias is None:
                    conv.bias = nn.Parameter(torch.from_numpy(b.copy()))
                else:
                    conv.bias.copy_(torch.from_numpy(b.copy()))
        used.update(i for i in node.input[1:] if i)
        assigned.update({f"{name}.weight", f"{name}.bias"})
    # 2b. Linear layers the exporter wrote as MatMul (+ Add) with a transposed, unnamed weight
    # (3-D inputs), or as an unnamed Gemm: by graph order
    lin_nodes = [n for n in onnx_model.graph.node
                 if (n.op_type == "MatMul" and n.input[1] in inits and n.input[1] not in used)
                 or (n.op_type == "Gemm" and n.input[1] in inits and n.input[1] not in used)]
    linears = [(n, m) for n, m in order if isinstance(m, nn.Linear) and f"{n}.weight" not in assigned]
    if linears:
        if len(linears) != len(lin_nodes):
            raise RuntimeError(f"{len(linears)} unnamed torch Linear layers but {len(lin_nodes)} "
                               "ONNX MatMul/Gemm nodes with a weight")
        for (name, lin), node in zip(linears, lin_nodes):
            w = inits[node.input[1]]
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            w = w if node.op_type == "Gemm" and trans_b else w.T
            if tuple(w.shape) != tuple(lin.weight.shape):
                raise RuntimeError(f"{name}: weight {tuple(lin.weight.shape)} vs ONNX "
                                   f"{node.input[1]} {tuple(w.shape)}")
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            used.add(node.input[1])
            assigned.add(f"{name}.weight")
        notes.append(f"{len(linears)} Linear weights from unnamed MatMul/Gemm initializers, by order")
    # ... and each BatchNorm that followed a fused convolution becomes the identity
    n_bn = 0
    for i, (name, m) in enumerate(order):
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            if not any(f"{name}.{s}" in assigned for s in ("weight", "running_mean")):
                with torch.no_grad():
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                    m.running_mean.zero_()
                    m.running_var.fill_(1.0 - m.eps)
                assigned.update(f"{name}.{s}" for s in ("weight", "bias", "running_mean",
                                                        "running_var", "num_batches_tracked"))
                n_bn += 1
    if n_bn:
        notes.append(f"{n_bn} BatchNorm layers folded into their convolutions by the exporter: "
                     "convolutions took the fused weights, BatchNorms set to identity")
    # 3. the rest (constants the exporter folded, e.g. a parameter seen through unsqueeze) by
    # shape; a buffer the exporter turned into graph constants keeps the value the recipe's
    # constructor computes (DFT tables, time axes: functions of the hyperparameters)
    state = module.state_dict()
    params = {n for n, _ in module.named_parameters()}
    called = {n for n, _ in order}
    kept = []
    for k, v in state.items():
        if k in assigned or k.endswith("num_batches_tracked"):
            continue
        cands = [n for n, a in inits.items() if n not in used
                 and tuple(np.squeeze(a).shape) == tuple(np.squeeze(v.numpy()).shape)]
        owner = k.rsplit(".", 1)[0]
        if not cands and (k not in params or owner not in called):
            kept.append(k)  # a buffer the exporter folded, or a layer the graph never calls
            continue
        if len(cands) != 1:
            raise RuntimeError(f"{k} {tuple(v.shape)}: {len(cands)} ONNX initializers fit "
                               f"({cands[:4]})")
        v.copy_(torch.from_numpy(inits[cands[0]].reshape(tuple(v.shape)).copy()))
        used.add(cands[0])
        assigned.add(k)
        notes.append(f"{k} <- {cands[0]} (by shape)")
    module.load_state_dict(state)
    if kept:
        notes.append("kept as the recipe's constructor makes them (graph constants, or layers "
                     f"the exported graph does not use): {kept}")
    left = sorted(set(inits) - used)
    if left:
        notes.append(f"ONNX initializers not used (constants of the graph): {left[:6]}")
    return notes


def fix_adaptive_pools(module, example: tuple) -> list[str]:
    """coremltools converts adaptive pooling only for a fully known input size (not with a
    flexible batch) or a (1, 1) output: replace each AdaptiveAvgPool2d whose input divides
    evenly into its output by the fixed AvgPool2d it amounts to (as torch.onnx did)."""
    import torch
    import torch.nn as nn

    sizes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o: sizes.__setitem__(mod, tuple(i[0].shape[2:])))
             for m in module.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    with torch.no_grad():
        module(*example)
    for h in hooks:
        h.remove()
    notes = []
    for name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            if child in sizes:
                out = child.output_size if isinstance(child.output_size, tuple) else \
                    (child.output_size, child.output_size)
                ins = sizes[child]
                out = tuple(i if o is None else o for i, o in zip(ins, out))
                if all(i % o == 0 for i, o in zip(ins, out)):
                    k = tuple(i // o for i, o in zip(ins, out))
                    setattr(parent, child_name, nn.AvgPool2d(k, k))
                    notes.append(f"{name + '.' if name else ''}{child_name}: AdaptiveAvgPool2d"
                                 f"{out} on {ins} -> AvgPool2d(kernel={k}, stride={k})")
    return notes


# --- inputs and checks -----------------------------------------------------------------------

def manifest_of(key: str) -> dict:
    return json.loads((MODELS / key / "manifest.json").read_text(encoding="utf-8"))


def example_inputs(manifest: dict, batch: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for spec in manifest["inputs"]:
        # "B" (and any other batch-like name) takes ``batch``; a sequence length "T" takes 21
        shape = [(21 if d == "T" else batch) if isinstance(d, str) else int(d) for d in spec["shape"]]
        lo, hi = spec.get("range", (-1.0, 1.0))
        out.append(rng.uniform(lo, hi, size=shape).astype(np.float32))
    return out


def onnx_run(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: x for i, x in zip(s.get_inputs(), feeds)})


def _program_output_dims(spec) -> dict[str, list]:
    """Output shapes from the ML Program itself (the model description leaves a flexible
    output's shape empty): int for a known dimension, "?" for one that follows an input."""
    found = {}
    for fn in spec.mlProgram.functions.values():
        for blk in fn.block_specializations.values():
            want = set(blk.outputs)
            for op in blk.operations:
                for o in op.outputs:
                    if o.name in want and o.type.WhichOneof("type") == "tensorType":
                        dims = []
                        for d in o.type.tensorType.dimensions:
                            dims.append(int(d.constant.size) if d.WhichOneof("dimension") == "constant"
                                        else "?")
                        found[o.name] = dims
            return {name: found.get(name) for name in blk.outputs}
    return {}


def spec_shapes(mlmodel) -> tuple[list, list]:
    """Per input/output: a list of dims, an int for a fixed one, (lo, hi) for a range, "?"
    for an output dimension that follows a flexible input."""
    spec = mlmodel.get_spec()
    program = _program_output_dims(spec) if spec.WhichOneof("Type") == "mlProgram" else {}

    def dims(feature):
        t = feature.type.multiArrayType
        shape = list(t.shape)
        which = t.WhichOneof("ShapeFlexibility")
        if which == "shapeRange":
            return [r.lowerBound if r.lowerBound == r.upperBound else (r.lowerBound, r.upperBound)
                    for r in t.shapeRange.sizeRanges]
        return [int(d) for d in shape]

    outs = []
    for f in spec.description.output:
        d = dims(f)
        prog = program.get(f.name)
        outs.append(prog if (not d and prog is not None) else d)
    return [dims(f) for f in spec.description.input], outs


def compare_to_manifest(manifest: dict, ins: list, outs: list) -> list[str]:
    """Problems (empty: the spec matches the manifest, names aside)."""
    problems = []
    for side, specs, got in (("input", manifest["inputs"], ins), ("output", manifest["outputs"], outs)):
        if len(specs) != len(got):
            problems.append(f"{len(got)} {side}s in the spec, {len(specs)} in the manifest")
            continue
        for s, g in zip(specs, got):
            want = s["shape"]
            if len(want) != len(g):
                problems.append(f"{side} {s['name']}: rank {len(g)} vs manifest {len(want)}")
                continue
            for d_want, d_got in zip(want, g):
                if isinstance(d_want, str):
                    if not isinstance(d_got, tuple) and d_got not in (-1, 1, "?"):
                        problems.append(f"{side} {s['name']}: {d_want} became fixed {d_got}")
                elif isinstance(d_got, tuple) or int(d_got) != int(d_want):
                    problems.append(f"{side} {s['name']}: dim {d_got} vs manifest {d_want}")
    return problems


def can_predict() -> tuple[bool, str]:
    try:
        import importlib

        importlib.import_module("coremltools.libcoremlpython")
        return sys.platform == "darwin", "" if sys.platform == "darwin" else "not macOS"
    except Exception as exc:  # noqa: BLE001
        return False, f"coremltools cannot run models here ({type(exc).__name__}: {exc})"


def _convert_traced(entry, module, manifest, feeds, example, batch_max):
    import coremltools as ct
    import torch

    traced = torch.jit.trace(module, example, check_trace=False)
    inputs = []
    for s, x in zip(manifest["inputs"], feeds):
        shape = []
        for d, n in zip(s["shape"], x.shape):
            if isinstance(d, str):
                lo, hi = entry.dims.get(d, (1, batch_max))
                shape.append(ct.RangeDim(lo, hi, default=int(n)))
            else:
                shape.append(int(d))
        inputs.append(ct.TensorType(name=s["name"], shape=shape, dtype=np.float32))
    outputs = [ct.TensorType(name=s["name"]) for s in manifest["outputs"]]
    mlmodel = ct.convert(traced, inputs=inputs, outputs=outputs, convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT16,
                         minimum_deployment_target=ct.target.macOS13)
    return mlmodel


def _convert_exported(entry, module, manifest, batch_max):
    import coremltools as ct
    import torch

    dims = {}
    dynamic = []
    for spec in manifest["inputs"]:
        axes = {}
        for i, d in enumerate(spec["shape"]):
            if isinstance(d, str):
                lo, hi = entry.dims.get(d, (1, batch_max))
                dims.setdefault(d, torch.export.Dim(d, min=lo, max=hi))
                axes[i] = dims[d]
        dynamic.append(axes)
    # batch 2: an example of size 1 would pin a dynamic dimension to 1
    fx = tuple(torch.from_numpy(x) for x in example_inputs(manifest, batch=2))
    ep = torch.export.export(module, fx, dynamic_shapes=tuple(dynamic)).run_decompositions({})
    return ct.convert(ep, convert_to="mlprogram", compute_precision=ct.precision.FLOAT16,
                      minimum_deployment_target=ct.target.macOS13)


# --- one model -------------------------------------------------------------------------------

def convert_one(entry: Entry, out_dir: Path, batch_max: int = 64) -> dict:
    import coremltools as ct
    import onnx
    import torch

    t0 = time.perf_counter()
    manifest = manifest_of(entry.key)
    onnx_path = MODELS / entry.key / manifest.get("file", "model.onnx")
    onnx_model = onnx.load(str(onnx_path))
    rep: dict = {"model": entry.key, "onnx": str(onnx_path.relative_to(ROOT)),
                 "recipe": str(entry.recipe.relative_to(ROOT)), "ok": False}
    ns = recipe_namespace(entry.recipe, entry.names, entry.extra() if entry.extra else None)
    module = entry.build(ns, onnx_initializers(onnx_model)).eval()
    feeds = example_inputs(manifest, batch=1)
    example = tuple(torch.from_numpy(x) for x in feeds)
    ck = entry.checkpoint()
    if ck is not None and entry.load_checkpoint is not None:
        entry.load_checkpoint(module, ck)
        rep["weights"] = f"recipe checkpoint {ck}"
    else:
        rep["weights"] = "shipped ONNX initializers (recipe checkpoint not on disk)"
        rep["weight_notes"] = load_from_onnx(module, onnx_model, example)
    module.eval()

    # torch vs onnxruntime, at batch 1 and (for a symbolic batch) at batch 3
    batches = [1] + ([3] if any(isinstance(d, str) for d in manifest["inputs"][0]["shape"]) else [])
    worst = 0.0
    for b in batches:
        fx = example_inputs(manifest, batch=b, seed=b)
        ref = onnx_run(onnx_path, fx)
        with torch.no_grad():
            got = module(*[torch.from_numpy(x) for x in fx])
        got = [got] if isinstance(got, torch.Tensor) else list(got)
        for r, g in zip(ref, got):
            worst = max(worst, float(np.max(np.abs(r - g.numpy()))))
    rep["torch_vs_onnx_max_abs"] = worst
    rep["torch_matches_onnx"] = worst <= TOL_TORCH
    if not rep["torch_matches_onnx"]:
        rep["error"] = f"torch module differs from the ONNX model by {worst:.3g} (> {TOL_TORCH})"
        return rep

    # convert
    rep["conversion_notes"] = fix_adaptive_pools(module, example)
    with torch.no_grad():
        again = module(*example)
    again = [again] if isinstance(again, torch.Tensor) else list(again)
    ref = onnx_run(onnx_path, feeds)
    rep["torch_rewritten_vs_onnx_max_abs"] = max(float(np.max(np.abs(r - g.numpy())))
                                                 for r, g in zip(ref, again))
    if entry.frontend == "export":
        mlmodel = _convert_exported(entry, module, manifest, batch_max)
    else:
        mlmodel = _convert_traced(entry, module, manifest, feeds, example, batch_max)
    mlmodel.short_description = manifest.get("description", "")[:500]
    mlmodel.version = str(manifest.get("version", ""))
    mlmodel.license = manifest.get("license", "")[:500]
    out = out_dir / (entry.key.replace("/", "__") + ".mlpackage")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    mlmodel.save(str(out))
    reloaded = ct.models.MLModel(str(out), skip_model_load=True)
    spec = reloaded.get_spec()
    rep["mlpackage"] = str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)
    rep["spec_type"] = spec.WhichOneof("Type")
    rep["spec_version"] = spec.specificationVersion
    ins, outs = spec_shapes(reloaded)
    rep["spec_inputs"], rep["spec_outputs"] = ins, outs
    rep["manifest_inputs"] = [s["shape"] for s in manifest["inputs"]]
    rep["manifest_outputs"] = [s["shape"] for s in manifest["outputs"]]
    ops = {}
    prog = spec.mlProgram
    for fn in prog.functions.values():
        for blk in fn.block_specializations.values():
            for op in blk.operations:
                ops[op.type] = ops.get(op.type, 0) + 1
    rep["fp16"] = ops.get("cast", 0) > 0  # FP32 inputs cast to FP16 compute
    rep["ops"] = dict(sorted(ops.items()))
    problems = compare_to_manifest(manifest, ins, outs)
    if rep["spec_type"] != "mlProgram":
        problems.append(f"spec type {rep['spec_type']}, expected mlProgram")
    rep["spec_matches_manifest"] = not problems
    rep["problems"] = problems

    ok_predict, why = can_predict()
    if ok_predict:
        fx = example_inputs(manifest, batch=1, seed=7)
        ref = onnx_run(onnx_path, fx)
        names_in = [f.name for f in spec.description.input]
        names_out = [f.name for f in spec.description.output]  # names aside: in spec order
        pred = mlmodel.predict(dict(zip(names_in, fx)))
        diff = max(float(np.max(np.abs(r - pred[n]))) for r, n in zip(ref, names_out))
        rep["coreml_vs_onnx_max_abs"] = diff
        if diff > TOL_COREML:
            problems.append(f"Core ML differs from ONNX by {diff:.3g} (> {TOL_COREML})")
    else:
        rep["coreml_predict"] = f"skipped: {why}"
        # the nearest check here: the same module in FP16 (as the ML Program computes)
        # against onnxruntime FP32, to see that FP16 precision suits the model
        import copy

        try:
            half = copy.deepcopy(module).half()
            fx = example_inputs(manifest, batch=1, seed=7)
            ref = onnx_run(onnx_path, fx)
            with torch.no_grad():
                got = half(*[torch.from_numpy(x).half() for x in fx])
            got = [got] if isinstance(got, torch.Tensor) else list(got)
            rep["torch_fp16_vs_onnx_max_abs"] = max(float(np.max(np.abs(r - g.float().numpy())))
                                                    for r, g in zip(ref, got))
        except Exception as exc:  # noqa: BLE001 - an op without a CPU FP16 kernel
            rep["torch_fp16_vs_onnx_max_abs"] = f"not run: {type(exc).__name__}: {exc}"
    rep["ok"] = not problems
    rep["seconds"] = round(time.perf_counter() - t0, 1)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "coreml"))
    ap.add_argument("--only", action="append", help="model folder(s), e.g. talk_default/unet")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [e for e in ENTRIES if not args.only or e.key in args.only]
    reports, bad = [], 0
    for e in todo:
        try:
            r = convert_one(e, out)
        except Exception as exc:  # noqa: BLE001 - report every model
            r = {"model": e.key, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        reports.append(r)
        bad += not r["ok"]
        status = "OK" if r["ok"] else "FAILED"
        print(f"{e.key}: {status}  weights: {r.get('weights', '?')}")
        if "torch_vs_onnx_max_abs" in r:
            print(f"  torch vs onnxruntime: max |diff| {r['torch_vs_onnx_max_abs']:.2e} "
                  f"(tolerance {TOL_TORCH})")
        if "mlpackage" in r:
            print(f"  {r['mlpackage']}: {r['spec_type']} spec v{r['spec_version']}, "
                  f"inputs {r['spec_inputs']} outputs {r['spec_outputs']}")
            print(f"  manifest: inputs {r['manifest_inputs']} outputs {r['manifest_outputs']} "
                  f"-> {'match' if r['spec_matches_manifest'] else 'MISMATCH'}")
            print("  numeric check of Core ML: "
                  + (f"max |diff| {r['coreml_vs_onnx_max_abs']:.2e}" if "coreml_vs_onnx_max_abs" in r
                     else r.get("coreml_predict", "")))
            if "torch_fp16_vs_onnx_max_abs" in r:
                v = r["torch_fp16_vs_onnx_max_abs"]
                print("  FP16 estimate (torch .half() vs onnxruntime FP32): "
                      + (f"max |diff| {v:.2e}" if isinstance(v, float) else v))
        for p in r.get("problems", []) + ([r["error"]] if "error" in r else []):
            print(f"  problem: {p}")
    (out / "report.json").write_text(json.dumps(reports, indent=2, default=str), encoding="utf-8")
    print(f"{len(todo) - bad} of {len(todo)} converted and checked; report: {out / 'report.json'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
