"""Does an audio encoder fit a U-Net? The pair-compatibility check for lip-sync models.

A SyncTalk_2D pair is two ONNX files exported separately (often by a user, from their own
training run), each described by its own manifest. Each can load fine and the pair still
not work: an encoder giving HuBERT rows beside a U-Net trained on "ave" features, a U-Net
whose manifest says 320 px while the graph takes 160, a mode in the manifest that the
graph's audio input does not have. This module compares what the two *graphs* take and
give (falling back to the manifests where a graph leaves a dimension free) against the
U-Net's contract (``constants.audio_mode``, ``constants.size``), and says what to change.

Used before every render and live session (:class:`studio.talk.lipsync.LipSync` refuses an
incompatible pair) and by ``studio models`` (through :data:`studio.runtime.registry.ROLE_CHECKS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from studio.jobs import UserError
from studio.runtime.manifest import Dim, Manifest
from studio.runtime.manifest import ModelError as ModelErrorType
from studio.talk.features import MODES, FeatureMode

MEL_WINDOW = (1, 80, 16)  # the "ave" encoder's input per row: one 0.2 s log-mel window


@dataclass(frozen=True)
class ModelShapes:
    """A model's input and output shapes as the graph has them; where the graph leaves a
    dimension free, the manifest's entry (an int, or a name such as "B")."""
    manifest: Manifest
    inputs: tuple[tuple[Dim, ...], ...]
    outputs: tuple[tuple[Dim, ...], ...]

    @property
    def where(self) -> str:
        return str(self.manifest.path or self.manifest.name)

    @classmethod
    def from_manifest(cls, m: Manifest, graph_inputs: Sequence[tuple] | None = None,
                      graph_outputs: Sequence[tuple] | None = None) -> "ModelShapes":
        def merge(specs, graph) -> tuple[tuple[Dim, ...], ...]:
            out = []
            for k, spec in enumerate(specs):
                g = tuple(graph[k]) if graph is not None and k < len(graph) else ()
                if len(g) != len(spec.shape):
                    out.append(tuple(spec.shape))
                else:
                    out.append(tuple(gd if isinstance(gd, int) and gd > 0 else sd
                                     for sd, gd in zip(spec.shape, g)))
            return tuple(out)

        return cls(m, merge(m.inputs, graph_inputs), merge(m.outputs, graph_outputs))

    @classmethod
    def of_pool(cls, pool) -> "ModelShapes":
        """From a :class:`~studio.runtime.pool.SessionPool` (its graph's shapes)."""
        return cls.from_manifest(pool.manifest, getattr(pool, "input_shapes", None),
                                 getattr(pool, "output_shapes", None))


@dataclass
class PairCheck:
    """What :func:`check_pair` found: ``problems`` stop a render, ``notes`` do not."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self, what: str = "the lip-sync model pair") -> str:
        return (f"{what} cannot work together:\n  - " + "\n  - ".join(self.problems))


def _fmt(shape: Sequence) -> str:
    return "(" + ", ".join(str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _fixed(shape: Sequence) -> bool:
    return all(isinstance(d, int) for d in shape)


def _modes_with(attr: str, shape: tuple) -> list[FeatureMode]:
    return [m for m in MODES.values() if getattr(m, attr) == tuple(shape)]


def _mode_list(attr: str) -> str:
    return ", ".join(f"{m.name} {_fmt(getattr(m, attr))}" for m in MODES.values())


def check_pair(encoder: ModelShapes, unet: ModelShapes) -> PairCheck:
    """Every reason ``encoder`` and ``unet`` cannot render together, each with its fix."""
    res = PairCheck()
    uc = unet.manifest.constants
    u_where, e_where = unet.where, encoder.where
    mode_name = str(uc.get("audio_mode", "ave"))
    mode = MODES.get(mode_name)
    if mode is None:
        res.problems.append(f"{u_where}: constants.audio_mode is {mode_name!r}; known modes: "
                            f"{', '.join(sorted(MODES))}")
        return res

    # -- the U-Net's own graph against its manifest constants --------------------------------
    if len(unet.inputs) != 2 or not unet.outputs:
        res.problems.append(f"{u_where}: a SyncTalk_2D U-Net takes 2 inputs (image (1, 6, S, S), "
                            f"audio (1, {', '.join(map(str, mode.target_shape))})) and gives the "
                            f"image; this one takes {len(unet.inputs)} and gives "
                            f"{len(unet.outputs)}")
        return res
    image, audio = unet.inputs
    size = uc.get("size")
    if len(image) != 4 or (isinstance(image[1], int) and image[1] != 6):
        res.problems.append(f"{u_where}: image input is {_fmt(image)}; a SyncTalk_2D U-Net takes "
                            "(1, 6, S, S): the reference crop and the masked crop, 3 channels "
                            "each")
    elif _fixed(image[-2:]):
        if image[-2] != image[-1]:
            res.problems.append(f"{u_where}: image input {_fmt(image)} is not square")
        elif size is not None and int(size) != image[-1]:
            res.problems.append(f"{u_where}: constants.size is {size} but the graph's image input "
                                f"is {_fmt(image)}. Fix: set \"size\": {image[-1]} in the "
                                "manifest's constants")
    out = unet.outputs[0]
    if len(out) == 4 and isinstance(out[1], int) and out[1] != 3:
        res.problems.append(f"{u_where}: output is {_fmt(out)}; the U-Net must give one 3-channel "
                            "image (1, 3, S, S)")
    if not encoder.outputs or not encoder.inputs:
        res.problems.append(f"{e_where}: the audio encoder must have an input and an output")
        return res
    audio_tail = tuple(audio[1:])
    if _fixed(audio_tail) and audio_tail != mode.target_shape:
        fits = _modes_with("target_shape", audio_tail)
        if fits:
            mode = fits[0]  # what the graph is: judge the encoder against that below
            enc_fits = not _encoder_problems(encoder, mode)[0]
            fix = (f"Fix: set \"audio_mode\": \"{mode.name}\" in its constants"
                   + (" (the audio encoder beside it already gives "
                      f"'{mode.name}' rows)" if enc_fits else
                      f", and use an audio encoder that gives '{mode.name}' rows "
                      f"{_fmt(mode.row_shape)}"))
        else:
            fix = ("It fits no known mode (" + _mode_list("target_shape") + "): the audio input "
                   "must be 16 encoder rows reshaped to one of these")
        res.problems.append(f"{u_where}: audio mode '{mode_name}' (constants.audio_mode) feeds "
                            f"audio {_fmt(MODES[mode_name].target_shape)}, but the graph's audio "
                            f"input is {_fmt(audio_tail)}. {fix}")
        if not fits:
            return res
        if not enc_fits:
            return res  # the fix above already says which encoder is needed

    # -- the encoder against the mode ------------------------------------------------------------
    problems, notes = _encoder_problems(encoder, mode, u_where)
    res.problems += problems
    res.notes += notes
    return res


def _encoder_problems(encoder: ModelShapes, mode: FeatureMode,
                      u_where: str = "the U-Net") -> tuple[list[str], list[str]]:
    """(problems, notes) of ``encoder`` as the source of ``mode`` rows."""
    from studio.talk.waveform import ENCODER_INPUTS, WAVEFORM, WaveformSpec, encoder_input

    res = PairCheck()
    e_where = encoder.where
    kind = encoder_input(encoder.manifest)
    if kind not in ENCODER_INPUTS:
        res.problems.append(f"{e_where}: constants.input is {kind!r}; it must be \"mel\" (a mel "
                            "window per row, the default) or \"waveform\" (16 kHz samples, a "
                            "HuBERT-style feature extractor)")
        return res.problems, res.notes
    if kind == WAVEFORM:
        out = encoder.outputs[0]
        if len(mode.row_shape) != 2:
            res.problems.append(
                f"{e_where}: a waveform feature extractor gives frames that are paired into "
                f"rows for mode 'hubert', but the U-Net ({u_where}) is in mode '{mode.name}', "
                f"which needs one row of {_fmt(mode.row_shape)} per frame from a mel audio "
                "encoder. Fix: use the audio encoder this U-Net was trained with")
            return res.problems, res.notes
        if len(encoder.inputs[0]) != 2:
            res.problems.append(f"{e_where}: a waveform feature extractor takes (1, N) samples; "
                                f"this one takes {_fmt(encoder.inputs[0])}")
        if len(out) != 3:
            res.problems.append(f"{e_where}: a waveform feature extractor gives (1, T, D) frames; "
                                f"this one gives {_fmt(out)}")
        elif isinstance(out[-1], int) and out[-1] != mode.row_shape[-1]:
            res.problems.append(
                f"{e_where}: the feature extractor gives {out[-1]}-wide frames but mode "
                f"'{mode.name}' needs {mode.row_shape[-1]} (HuBERT-large's last hidden state; "
                "HuBERT-base gives 768). Fix: export the extractor the U-Net was trained with")
        try:
            spec = WaveformSpec.from_manifest(encoder.manifest, encoder.inputs[0])
        except ModelErrorType as exc:
            res.problems.append(str(exc))
            return res.problems, res.notes
        per_row = mode.row_shape[0]
        if abs(spec.frame_rate - per_row * mode.fps) > 1e-6:
            res.problems.append(
                f"{e_where}: the extractor gives frames at {spec.frame_rate:g} Hz "
                f"(constants.sample_rate {spec.sample_rate} / hop {spec.hop}); mode "
                f"'{mode.name}' pairs {per_row} frames per {mode.fps} fps video frame, so it "
                f"needs {per_row * mode.fps} Hz")
        return res.problems, res.notes
    rows = tuple(encoder.outputs[0][1:])
    if _fixed(rows) and rows != mode.row_shape:
        if int(np.prod(rows)) == mode.row_size:
            res.notes.append(f"{e_where}: rows {_fmt(rows)} are reshaped to the mode's "
                             f"{_fmt(mode.row_shape)}")
        else:
            fits = _modes_with("row_shape", rows)
            which = (f" (mode '{fits[0].name}')" if fits else "")
            res.problems.append(
                f"{e_where}: the audio encoder gives rows of {_fmt(rows)}{which} but the U-Net "
                f"({u_where}) is in mode '{mode.name}', which needs one row of "
                f"{_fmt(mode.row_shape)} per video frame. Fix: use the audio encoder this U-Net "
                "was trained with" + (f", or a U-Net trained on '{fits[0].name}' features"
                                      if fits else "")
                + (" (for 'hubert': a HuBERT feature extractor with \"input\": \"waveform\" in "
                   "its constants)" if mode.name == "hubert" else ""))
    enc_in = tuple(encoder.inputs[0][1:])
    if mode.name == "ave" and _fixed(enc_in) and enc_in != MEL_WINDOW:
        res.problems.append(f"{e_where}: input is {_fmt(encoder.inputs[0])}; the 'ave' audio "
                            f"encoder takes mel windows (B, {', '.join(map(str, MEL_WINDOW))}) "
                            "(SyncTalk_2D's AudioEncoder)")
    first = encoder.inputs[0][0] if encoder.inputs[0] else None
    declared = encoder.manifest.inputs[0].shape[0] if encoder.manifest.inputs[0].shape else None
    if isinstance(first, int) and isinstance(declared, str):
        res.notes.append(f"{e_where}: the graph fixes the batch at {first}: the encoder runs "
                         f"{first} row(s) per call (works, slower); re-export with dynamic_axes "
                         "for speed")
    return res.problems, res.notes


def check_pools(encoder_pool, unet_pool) -> PairCheck:
    return check_pair(ModelShapes.of_pool(encoder_pool), ModelShapes.of_pool(unet_pool))


def check_pair_dir(folder: str | Path) -> PairCheck:
    """Open ``folder/audio_encoder`` and ``folder/unet`` (one session each, no warm-up) and
    check them together; a part that does not load is a problem, not an exception."""
    from studio.runtime.pool import SessionPool

    folder = Path(folder)
    pools = {}
    res = PairCheck()
    try:
        for part in ("audio_encoder", "unet"):
            try:
                pools[part] = SessionPool(folder / part, sessions=1, threads=1, warmup=False)
            except UserError as exc:
                res.problems.append(str(exc))
        if len(pools) == 2:
            res = check_pools(pools["audio_encoder"], pools["unet"])
    finally:
        for p in pools.values():
            p.close()
    return res


def registry_check(manifest_path: Path, pool) -> tuple[list[str], list[str]]:
    """``studio models`` hook for a ``talk.unet``: check it against the audio encoder beside
    it (``../audio_encoder``); (problems, notes). No encoder there: nothing to check."""
    enc_dir = Path(manifest_path).parent.parent / "audio_encoder"
    if not (enc_dir / "manifest.json").exists():
        return [], []
    from studio.runtime.pool import SessionPool

    try:
        enc = SessionPool(enc_dir, sessions=1, threads=1, warmup=False)
    except UserError as exc:
        return [f"the audio encoder beside it does not load: {exc}"], []
    try:
        res = check_pools(enc, pool)
    finally:
        enc.close()
    return res.problems, res.notes
