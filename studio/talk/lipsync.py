"""The lip-sync core shared by offline render and live mode (SyncTalk_2D contract).

Per frame: crop the face box from the template frame, resize it to S+2*pad, keep the
centre SxS as the *reference*, black out the mouth area for the *masked* copy, feed both
(6 channels, BGR/255) plus the stacked audio feature to the U-Net, and paste the
prediction back into the box with a mask feathered on all four sides of the repainted
(masked) area, so no seam shows. Everything the contract can vary (size, pad, mask, channel
order, which half comes first) comes from the U-Net's manifest ``constants``, so
Wav2Lip-style models are described by the same fields. A pair that cannot work together is
refused up front (:mod:`studio.talk.pair`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from studio.runtime.manifest import Manifest, ModelError
from studio.runtime.pool import SessionPool
from studio.talk import mel as melmod
from studio.talk.features import align_rows, get_mode, stack_features
from studio.talk.waveform import WAVEFORM, WaveformSpec, encoder_input, rows_from_frames
from studio.talk.waveform import extract as waveform_features


@dataclass(frozen=True)
class CropContract:
    size: int = 320  # S: the U-Net's input/output side
    pad: int = 4  # the box is resized to S + 2*pad and the centre SxS is used
    mask: str = "rect"  # "rect": a black rectangle; "lower_half": Wav2Lip's masked lower half
    mask_rect: tuple[int, int, int, int] = (5, 5, 315, 310)  # x0, y0, x1, y1 inside the SxS crop
    input_order: tuple[str, str] = ("reference", "masked")  # channels 0-2, then 3-5
    channel_order: str = "BGR"
    audio_mode: str = "ave"
    feather: float = 0.10  # blend ramp width as a fraction of the box side

    def painted_region(self) -> tuple[float, float, float, float]:
        """The part of the box the model repaints (x0, y0, x1, y1 as fractions of the box,
        pad ring included): the masked area. Outside it the prediction only copies the
        reference, and at its edge the model's output changes abruptly."""
        side = float(self.size + 2 * self.pad)
        if self.mask == "lower_half":
            x0, y0, x1, y1 = 0, self.size // 2, self.size, self.size
        else:
            x0, y0, x1, y1 = self.mask_rect
        p = self.pad
        return ((x0 + p) / side, (y0 + p) / side, (x1 + p) / side, (y1 + p) / side)

    @classmethod
    def from_manifest(cls, m: Manifest) -> "CropContract":
        c = m.constants
        size = int(c.get("size", m.inputs[0].shape[-1] if isinstance(m.inputs[0].shape[-1], int) else 320))
        default_rect = (5, 5, size - 5, size - 10)
        contract = cls(size=size, pad=int(c.get("pad", 4)), mask=str(c.get("mask", "rect")),
                       mask_rect=tuple(int(v) for v in c.get("mask_rect", default_rect)),
                       input_order=tuple(c.get("input_order", ("reference", "masked"))),
                       channel_order=str(c.get("channel_order", "BGR")).upper(),
                       audio_mode=str(c.get("audio_mode", "ave")),
                       feather=float(c.get("feather", 0.10)))
        where = m.path or m.name
        if sorted(contract.input_order) != ["masked", "reference"]:
            raise ModelError(f"{where}: constants.input_order must name 'reference' and 'masked', "
                             f"got {contract.input_order}")
        if contract.mask not in ("rect", "lower_half"):
            raise ModelError(f"{where}: constants.mask must be 'rect' or 'lower_half'")
        if contract.channel_order not in ("BGR", "RGB"):
            raise ModelError(f"{where}: constants.channel_order must be BGR or RGB")
        try:
            get_mode(contract.audio_mode)
        except ValueError as exc:
            raise ModelError(f"{where}: constants.audio_mode: {exc}") from None
        return contract


def mask_out(chw: np.ndarray, contract: CropContract) -> None:
    """Black out the region the model must paint, in place on a (3, S, S) crop."""
    if contract.mask == "lower_half":
        chw[:, contract.size // 2:] = 0
    else:
        x0, y0, x1, y1 = contract.mask_rect
        chw[:, y0:y1, x0:x1] = 0


@lru_cache(maxsize=64)
def feather_mask(h: int, w: int, pad_frac: float, feather: float) -> np.ndarray:
    """(h, w, 1) float32 blend weights: 0 on the box border (and the pad ring the model never
    saw), ramping smoothly to 1 inside. Kept for callers; :meth:`LipSync.paste` now uses
    :func:`blend_weights`, which ramps from the edge of the repainted area instead (this
    mask left the U-Net's own mask edge, e.g. near the crop's bottom, as a visible seam)."""
    ys = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32) / max(h, 1)
    xs = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32) / max(w, 1)
    d = np.minimum(ys[:, None], xs[None, :]) - pad_frac
    t = np.clip(d / max(feather, 1e-6), 0.0, 1.0)
    return (t * t * (3 - 2 * t))[..., None].astype(np.float32)


PAINT_INSET = 0.015  # the blend weight reaches 0 this far (of the box side) inside the edge


@lru_cache(maxsize=64)
def blend_weights(h: int, w: int, region: tuple[float, float, float, float],
                  feather: float, inset: float = PAINT_INSET) -> tuple[np.ndarray, np.ndarray]:
    """(weight of the prediction, weight of the frame), each (h, w) float32, for a box of
    h x w pixels. The prediction's weight is 0 at and outside the edges of the painted
    ``region`` (fractions of the box) and ramps smoothly to 1 over ``feather`` of the box
    side on all four sides (a product of two smoothsteps: rounded corners). Why: the
    U-Net's output jumps at the edge of its mask (e.g. 10 px above the crop's bottom); a
    ramp from the box border left that jump visible as a hard seam over the chin and neck.
    Cached: a render reuses the same few box sizes, so the paste stays one blend."""
    def axis(n: int, lo: float, hi: float) -> np.ndarray:
        u = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
        t = np.clip((np.minimum(u - lo, hi - u) - inset) / max(feather, 1e-6), 0.0, 1.0)
        return t * t * (3 - 2 * t)

    m = (axis(h, region[1], region[3])[:, None] * axis(w, region[0], region[2])[None, :])
    m = np.ascontiguousarray(m, dtype=np.float32)
    m.setflags(write=False)
    rest = (1.0 - m).astype(np.float32)
    rest.setflags(write=False)
    return m, rest


def clamp_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"face box {tuple(box)} is empty inside a {width}x{height} frame")
    return x0, y0, x1, y1


class LipSync:
    """An audio-encoder pool plus a U-Net pool, and the crop/paste rules between them."""

    def __init__(self, encoder: SessionPool, unet: SessionPool) -> None:
        """Refuses (ModelError) a pair that cannot work together, listing every reason with
        its fix (:func:`studio.talk.pair.check_pair`): cheaper than a render that fails in
        onnxruntime, or one that succeeds with a mouth made from the wrong features."""
        from studio.talk.pair import check_pools

        self.encoder, self.unet = encoder, unet
        check = check_pools(encoder, unet)
        if not check.ok:
            raise ModelError(check.message(f"{encoder.manifest.path} and {unet.manifest.path}"))
        self.contract = CropContract.from_manifest(unet.manifest)
        self.mode = get_mode(self.contract.audio_mode)
        self.encoder_input = encoder_input(encoder.manifest)  # "mel" or "waveform"
        self._waveform = (WaveformSpec.from_manifest(encoder.manifest,
                                                     (getattr(encoder, "input_shapes", None)
                                                      or [None])[0])
                          if self.encoder_input == WAVEFORM else None)
        self.notes = check.notes  # e.g. an encoder that runs row by row

    @property
    def fps(self) -> int:
        return self.mode.fps

    def frame_count(self, num_samples: int) -> int:
        """Video frames this pair renders for ``num_samples`` of 16 kHz audio (its feature
        mode's fps). Why here: callers (render, optimise) asked the mel module with this
        pair's fps themselves; the pair owns its frame rate."""
        return melmod.frame_count(num_samples, fps=self.fps)

    # -- audio --------------------------------------------------------------------------
    def audio_rows(self, wav16k: np.ndarray, n_frames: int, batch: int = 32) -> np.ndarray:
        """Encoder rows for ``n_frames`` video frames, aligned the way the model was trained."""
        if self._waveform is not None:  # a HuBERT-style extractor over the whole utterance
            frames = waveform_features(self.encoder, wav16k, self._waveform)
            rows = rows_from_frames(frames, self.mode)
            if len(rows) == 0:  # under ~40 ms of audio: no whole row; silence-like zeros
                rows = np.zeros((1, *self.mode.row_shape), np.float32)
            return align_rows(rows, self.mode, n_frames)
        mel = melmod.melspectrogram(wav16k)
        windows = melmod.mel_windows(mel, n_frames, fps=self.fps)
        rows = self.encoder.run_batched(windows.astype(np.float32), batch=batch)[0]
        # an export may give (N, 1, 512) or (N, 512, 1) for (N, 512): same values
        rows = rows.reshape(len(rows), *self.mode.row_shape)
        return align_rows(rows, self.mode)

    def audio_features(self, rows: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        return stack_features(rows, self.mode, start=start, stop=stop)

    # -- image ----------------------------------------------------------------------------
    def crop(self, frame_rgb: np.ndarray, box) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The model's (1, 6, S, S) image input for one frame, and the clamped box."""
        h, w = frame_rgb.shape[:2]
        x0, y0, x1, y1 = clamp_box(box, w, h)
        c = self.contract
        big = cv2.resize(frame_rgb[y0:y1, x0:x1], (c.size + 2 * c.pad,) * 2,
                         interpolation=cv2.INTER_AREA if (x1 - x0) > c.size else cv2.INTER_LINEAR)
        ref = big[c.pad:c.pad + c.size, c.pad:c.pad + c.size]
        if c.channel_order == "BGR":
            ref = ref[..., ::-1]
        six = np.empty((1, 6, c.size, c.size), np.float32)
        for k, half in enumerate(c.input_order):  # "reference"/"masked", in the model's order
            dst = six[0, 3 * k:3 * k + 3]
            np.multiply(ref.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=dst)
            if half == "masked":
                mask_out(dst, c)
        return six, (x0, y0, x1, y1)

    def paste(self, frame_rgb: np.ndarray, pred: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Blend the (1, 3, S, S) prediction back into a copy of the frame inside ``box``."""
        c = self.contract
        x0, y0, x1, y1 = box
        # the model's channel order -> RGB inside the one float -> uint8 pass (no second,
        # strided copy of the image for OpenCV below)
        chw = pred[0, ::-1] if c.channel_order == "BGR" else pred[0]
        img = np.clip(chw.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        bw, bh = x1 - x0, y1 - y0
        # the pad ring the model never saw gets blend weight 0, so edge-replicate the
        # prediction into it instead of resampling the frame there (one resize, not three)
        big = cv2.copyMakeBorder(img, c.pad, c.pad, c.pad, c.pad, cv2.BORDER_REPLICATE)
        back = cv2.resize(big, (bw, bh), interpolation=cv2.INTER_LINEAR)
        m, rest = blend_weights(bh, bw, c.painted_region(), c.feather)
        out = frame_rgb.copy()
        out[y0:y1, x0:x1] = cv2.blendLinear(frame_rgb[y0:y1, x0:x1], back, rest, m)
        return out

    def predict(self, image6: np.ndarray, feature: np.ndarray) -> np.ndarray:
        return self.unet.run(image6, feature[None] if feature.ndim == 3 else feature)[0]

    def close(self) -> None:
        self.encoder.close()
        self.unet.close()
