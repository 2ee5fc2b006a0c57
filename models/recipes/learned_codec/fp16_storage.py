"""Store an exported rate point's ONNX weights as float16 (half the download), computing in
float32 as before.

    python models/recipes/learned_codec/fp16_storage.py models/learned_codec/q1 [...]

Every float32 initializer of more than 16 values becomes a float16 initializer followed by a
``Cast`` to float32 under the original name, so the graph's arithmetic is unchanged; only
the weights are rounded to float16 (relative error <= 2^-11). The cast is exact and
deterministic, so decoding stays bit-exact across processes. Run it BEFORE evaluating: the
rounded weights are the shipped model (and its model id).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def halve(path: Path) -> tuple[int, int]:
    model = onnx.load(str(path))
    g = model.graph
    before = path.stat().st_size
    keep, casts = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or arr.size <= 16:
            keep.append(init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=init.name + "_cast"))
    if not casts:
        return before, before
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return before, path.stat().st_size


def main() -> None:
    for folder in sys.argv[1:]:
        for kind in ("analysis", "synthesis", "hyper_analysis", "hyper_synthesis"):
            p = Path(folder) / kind / "model.onnx"
            if kind.startswith("hyper") and not p.exists():
                continue
            b, a = halve(p)
            print(f"{p}: {b} -> {a} bytes")


if __name__ == "__main__":
    main()
