"""The learned (neural) image codec: ONNX analysis/synthesis transforms, a factorised prior
or a scale hyperprior with integer tables entropy-coded by ``constriction``, the ``.nlc``
container, and a temporal mode (residual P-frames, :mod:`.temporal`).

Engine only (no Qt). The encoder backend is :mod:`studio.codec.encoders.learned_backend`;
the CLI actions are ``studio codec encode`` / ``studio codec decode``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from studio.codec.learned.container import Bitstream, BitstreamError
from studio.codec.learned.model import (LearnedModel, LearnedModelError, find_model,
                                        load_model, rate_points, resolve_model, shipped_dir)
from studio.codec.learned.temporal import DEFAULT_GOP, TemporalDecoder, TemporalEncoder

__all__ = ["Bitstream", "BitstreamError", "LearnedModel", "LearnedModelError", "find_model",
           "load_model", "rate_points", "resolve_model", "shipped_dir", "encode_pictures",
           "decode_file", "iter_decode"]


def encode_pictures(model: LearnedModel, pictures: Iterable[np.ndarray],
                    on_frame: Callable[[int], None] | None = None, temporal: bool = False,
                    gop: int = DEFAULT_GOP) -> Bitstream:
    """(H, W, 3) float RGB pictures in [0, 1], all one size -> a bitstream; ``temporal``:
    P-frames code the residual against the previous decoded frame (version 2 stream)."""
    bs: Bitstream | None = None
    coder = TemporalEncoder(model, gop) if temporal else None
    for i, rgb in enumerate(pictures):
        h, w = rgb.shape[:2]
        if bs is None:
            bs = Bitstream(model.id, w, h, temporal=temporal)
        elif (w, h) != (bs.width, bs.height):
            raise ValueError(f"picture {i} is {w}x{h}; the first was {bs.width}x{bs.height}")
        bs.payloads.append(coder.encode(rgb) if coder else model.encode_rgb(rgb))
        if on_frame is not None:
            on_frame(i + 1)
    if bs is None:
        raise ValueError("no picture to encode")
    return bs


def iter_decode(path: str | os.PathLike, models: list[str | os.PathLike] = ()
                ) -> tuple[Bitstream, LearnedModel, Iterator[np.ndarray]]:
    """Parse and check ``path`` and find its model (errors here, before any picture), then
    the pictures lazily as float RGB."""
    bs = Bitstream.read(path)
    model = find_model(bs.model_id, list(models), where=str(path))
    where = str(Path(path))

    def pictures() -> Iterator[np.ndarray]:
        dec = TemporalDecoder(model) if bs.temporal else None
        for i, p in enumerate(bs.payloads):
            at = f"{where} frame {i}"
            yield dec.decode(p, bs.width, bs.height, at) if dec \
                else model.decode_rgb(p, bs.width, bs.height, where=at)

    return bs, model, pictures()


def decode_file(path: str | os.PathLike, models: list[str | os.PathLike] = ()
                ) -> list[np.ndarray]:
    return list(iter_decode(path, models)[2])
