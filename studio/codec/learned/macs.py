"""Multiply-accumulates per pixel of an ONNX graph, counted from the graph itself.

Why from the graph: the decoder-budget filter compares models from anywhere (ours, a
user's), so the number must come from what will actually run, not from a paper. The walk
counts Conv, ConvTranspose, MatMul and Gemm (every other op is cheap next to them, GDN's
normalisation included: CompressAI exports it as a 1x1 Conv, which is counted) after ONNX
shape inference on a concrete input size. Needs the ``onnx`` package (a test/recipe
dependency): imported only here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from studio.jobs import UserError


def _dims(vi) -> list[int] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    out = []
    for d in t.shape.dim:
        if not d.HasField("dim_value"):
            return None
        out.append(int(d.dim_value))
    return out


def count_macs(model_path: str | os.PathLike, input_shape: tuple[int, ...]) -> int:
    """Total MACs of one run with input 0 of ``input_shape`` (other inputs must be fixed)."""
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise UserError("counting MACs needs the 'onnx' package (pip install onnx)") from None
    p = Path(model_path)
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # noqa: BLE001 - any parse failure names the file
        raise UserError(f"{p}: not a readable ONNX model ({exc})") from None
    g = model.graph
    inits = {i.name for i in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits]
    if not real_inputs:
        raise UserError(f"{p}: the graph has no input")
    dims = real_inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise UserError(f"{p}: input '{real_inputs[0].name}' has rank {len(dims)}, got a "
                        f"shape of rank {len(input_shape)}")
    for d, v in zip(dims, input_shape):
        d.ClearField("dim_param")
        d.dim_value = int(v)
    inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    shapes: dict[str, list[int] | None] = {}
    for vi in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        shapes[vi.name] = _dims(vi)
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    total = 0
    for node in inferred.graph.node:
        op = node.op_type
        if op not in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            continue
        ins = [shapes.get(n) for n in node.input]
        outs = [shapes.get(n) for n in node.output]
        if any(s is None for s in ins[:2]) or outs[0] is None:
            raise UserError(f"{p}: cannot infer the shapes around {op} node "
                            f"'{node.name or node.output[0]}'")
        w = ins[1]   # Conv: (Cout, Cin/group, k...); ConvTranspose: (Cin, Cout/group, k...)
        if op == "Conv":        # every output element: Cin/group * kernel MACs
            total += math.prod(outs[0]) * w[1] * math.prod(w[2:])
        elif op == "ConvTranspose":   # every input element scatters Cout/group * kernel
            total += math.prod(ins[0]) * w[1] * math.prod(w[2:])
        elif op == "MatMul":
            total += math.prod(outs[0]) * ins[0][-1]
        else:  # Gemm
            trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
            k = ins[0][0] if trans_a else ins[0][-1]
            total += math.prod(outs[0]) * k
    return int(total)


def macs_per_pixel(model_path: str | os.PathLike, role: str, channels: int = 3,
                   latent_channels: int | None = None, pad: int = 16,
                   size: tuple[int, int] = (256, 256)) -> float:
    """MACs per picture pixel: for an analysis graph the input is the (1, 3, H, W) picture;
    for a synthesis graph (and a hyperprior's hyper-analysis) the input is the
    (1, M, H/pad, W/pad) latent grid (pad 16 for y, 64 for a hyperprior's side latents z)."""
    h, w = size
    if role.endswith(("synthesis", "hyper_analysis")):
        if not latent_channels:
            raise ValueError("latent_channels is needed for a synthesis graph")
        shape = (1, latent_channels, h // pad, w // pad)
    else:
        shape = (1, channels, h, w)
    return count_macs(model_path, shape) / float(h * w)
