"""Audio encoders that take the raw 16 kHz waveform: a HuBERT feature extractor for "hubert".

SyncTalk_2D's "hubert" mode does not use a mel window per frame: HuBERT-large
(``facebook/hubert-large-ls960-ft``, last hidden state) turns the whole utterance into
(T, 1024) features at 50 Hz, and ``make_even_first_dim(h).reshape(-1, 2, 1024)`` pairs them
into one (2, 1024) row per 25 fps video frame. This module does the same around an ONNX
export of the extractor, described by its manifest:

``inputs``: ``[{"name": "waveform", "shape": [1, "N"]}]`` (or ``[1, 16000]`` for an export
with a fixed length); ``outputs``: ``[{"name": "features", "shape": [1, "T", 1024]}]``;
``constants``: ``"input": "waveform"`` (what marks it), and optionally ``"sample_rate"``
(16000), ``"normalize"`` (true: zero mean, unit variance over the utterance, as
``Wav2Vec2FeatureExtractor`` does for this model), ``"hop"`` (320 samples per output frame),
``"receptive_field"`` (400 samples for the first frame) and ``"chunk_samples"`` (320000:
samples per call for long audio, as SyncTalk_2D's ``get_hubert_from_16k_speech`` cuts it).

Chunks overlap by ``receptive_field - hop`` samples, so each output frame is computed once
and the chunks join without a seam. Any failure inside the model is reported as a
:class:`~studio.runtime.manifest.ModelError` naming the file and what was asked of it; the
raw onnxruntime text is logged, never shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from studio.runtime.manifest import Manifest, ModelError
from studio.talk.features import FeatureMode

log = logging.getLogger(__name__)

WAVEFORM = "waveform"
MEL = "mel"
ENCODER_INPUTS = (MEL, WAVEFORM)


def encoder_input(m: Manifest) -> str:
    """What an audio encoder takes: "mel" (a (1, 80, 16) window per row, the default) or
    "waveform" (16 kHz samples, e.g. HuBERT)."""
    return str(m.constants.get("input", MEL)).lower()


@dataclass(frozen=True)
class WaveformSpec:
    sample_rate: int = 16000
    normalize: bool = True
    hop: int = 320
    receptive_field: int = 400
    chunk_samples: int = 320000
    fixed_length: int | None = None  # the graph takes exactly this many samples per call

    @classmethod
    def from_manifest(cls, m: Manifest, graph_input: tuple | None = None) -> "WaveformSpec":
        c = m.constants
        fixed = None
        shape = tuple(graph_input) if graph_input else tuple(m.inputs[0].shape)
        if shape and isinstance(shape[-1], int) and shape[-1] > 0:
            fixed = int(shape[-1])
        spec = cls(sample_rate=int(c.get("sample_rate", 16000)),
                   normalize=bool(c.get("normalize", True)), hop=int(c.get("hop", 320)),
                   receptive_field=int(c.get("receptive_field", 400)),
                   chunk_samples=int(c.get("chunk_samples", 320000)), fixed_length=fixed)
        where = m.path or m.name
        if spec.hop <= 0 or spec.receptive_field < spec.hop:
            raise ModelError(f"{where}: constants.hop ({spec.hop}) must be > 0 and at most "
                             f"constants.receptive_field ({spec.receptive_field})")
        if fixed is not None and fixed < spec.receptive_field:
            raise ModelError(f"{where}: the graph takes {fixed} samples per call, fewer than "
                             f"one output frame needs ({spec.receptive_field})")
        return spec

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    def frames_for(self, n_samples: int) -> int:
        """Output frames for ``n_samples`` of audio: ``(n - (k - s)) // s`` (HuBERT's CNN is
        one big Conv1D of kernel k = 400, stride s = 320)."""
        return max(0, (int(n_samples) - (self.receptive_field - self.hop)) // self.hop)


def normalize(wav: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (``Wav2Vec2FeatureExtractor(do_normalize=True)``)."""
    x = np.asarray(wav, dtype=np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    return ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)


def extract(pool, wav16k: np.ndarray, spec: WaveformSpec) -> np.ndarray:
    """(T, D) features of the whole waveform, T = ``spec.frames_for(len(wav))``, computed in
    overlapping chunks (``chunk_samples``, or the graph's fixed length)."""
    x = normalize(wav16k) if spec.normalize else np.asarray(wav16k, np.float32)
    total = spec.frames_for(len(x))
    # SyncTalk_2D's cut: chunk_samples + (k - s) samples give chunk_samples / s frames
    per_call = spec.fixed_length or (max(spec.chunk_samples, spec.hop)
                                     + spec.receptive_field - spec.hop)
    frames_per_call = spec.frames_for(per_call)
    where = pool.manifest.model_path
    out: list[np.ndarray] = []
    got = 0
    while got < total:
        start = got * spec.hop
        piece = x[start:start + per_call]
        if spec.fixed_length and len(piece) < per_call:  # pad the last call to the fixed size
            piece = np.concatenate([piece, np.zeros(per_call - len(piece), np.float32)])
        want = min(frames_per_call, total - got)
        try:
            res = pool.run(np.ascontiguousarray(piece[None], np.float32), validate=False)[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types; logged, not shown
            log.warning("feature extractor %s failed: %s", where, exc)
            raise ModelError(
                f"{where}: the audio feature extractor failed on {len(piece)} samples "
                f"({len(piece) / spec.sample_rate:.2f} s) of audio. Its manifest says it takes "
                f"{pool.manifest.inputs[0].shape_text()} samples; if the export only accepts a "
                "fixed length, write that length into the manifest's input shape (and "
                "constants.chunk_samples), or re-export with a dynamic length axis") from None
        res = np.asarray(res)
        if res.ndim == 3:
            res = res[0]
        if res.ndim != 2 or len(res) < want:
            raise ModelError(f"{where}: the audio feature extractor gave {tuple(res.shape)} for "
                             f"{len(piece)} samples; expected ({want}+, D) frames at "
                             f"{spec.frame_rate:g} Hz (check constants.hop and "
                             "constants.receptive_field)")
        out.append(res[:want].astype(np.float32))
        got += want
    if not out:
        return np.zeros((0, int(pool.manifest.outputs[0].shape[-1])
                            if isinstance(pool.manifest.outputs[0].shape[-1], int) else 0),
                        np.float32)
    return np.concatenate(out, axis=0)


def rows_from_frames(frames: np.ndarray, mode: FeatureMode) -> np.ndarray:
    """(T, D) extractor frames -> (T // k, k, D) rows, k frames per video frame (2 for
    50 Hz features at 25 fps): SyncTalk_2D's ``make_even_first_dim(h).reshape(-1, 2, 1024)``,
    which drops a last odd frame."""
    k = mode.row_shape[0]
    n = len(frames) // k
    return np.ascontiguousarray(frames[:n * k]).reshape(n, *mode.row_shape)
