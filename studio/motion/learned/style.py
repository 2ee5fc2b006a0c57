"""Motion style: StyleVAE codes, style transfer and a style classifier.

StyleVAE (``models/style_vae``, trained by ``models/recipes/style/train.py``) separates a
2-second motion window (60 frames at 30 fps x 82 motion features, see
``studio.motion.learned.dataset``) into

* a *content* code that keeps time (a temporal conv encoder with instance normalisation, so
  per-channel statistics - much of what style is - are removed), and
* a *style* code: a VAE latent pooled over time, 256-d mean and log-variance.

The decoder re-creates the motion from a content code and a style code (AdaIN). The engine runs
two ONNX graphs through :class:`~studio.runtime.pool.SessionPool`:

* ``style_vae/encoder`` (role ``motion.style_encoder``): window -> (mean, logvar) of the style;
* ``style_vae/decoder`` (role ``motion.style_decoder``): (content window, style code) -> window
  (the content encoder and the decoder in one graph).

Use::

    codes = style_codes(clip)                     # (W, 256): one style mean per window
    out = transfer(content_clip, style_clip, strength=1.0)
    label, probs = classify(out)                  # the style classifier (15 Bandai styles)

Long clips are cut into windows every 30 frames (half overlapping) and put back together with a
smooth cross-fade; the root path is integrated from the decoded velocities and starts where
the content clip starts. ``strength`` interpolates the style code from the content's own
(0: the StyleVAE reconstruction of the content, or the content itself with
``residual=True``) to the style clip's (1).

Licence: the shipped StyleVAE and style classifier were trained on
Bandai-Namco-Research-Motiondataset-1 (CC BY-NC 4.0): non-commercial use only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from studio.jobs import Job, JobContext, UserError
from studio.motion.core.clip import Clip
from studio.motion.learned import dataset as D
from studio.runtime import models as model_factory

ENCODER_ROLE = model_factory.STYLE_ENCODER
DECODER_ROLE = model_factory.STYLE_DECODER
CLASSIFIER_ROLE = model_factory.STYLE_CLASSIFIER
PROJECTION_FILE = "style_vae/style_codes_pca.json"
NONCOMMERCIAL = ("generated with StyleVAE (trained on Bandai-Namco-Research-Motiondataset-1, "
                 "CC BY-NC 4.0): non-commercial use only")



# -- models ----------------------------------------------------------------------------------------

def model_available(which: str = "vae") -> bool:
    """Whether the shipped models are installed: ``"vae"`` (encoder + decoder) or
    ``"classifier"``."""
    roles = (ENCODER_ROLE, DECODER_ROLE) if which == "vae" else (CLASSIFIER_ROLE,)
    return all(model_factory.available(r) for r in roles)


class StyleModels:
    """The encoder and decoder pools (and the constants they share)."""

    def __init__(self, encoder=None, decoder=None, sessions: int | None = None) -> None:
        self.encoder = model_factory.pool_or(ENCODER_ROLE, encoder, sessions=sessions)
        self.decoder = model_factory.pool_or(DECODER_ROLE, decoder, sessions=sessions)
        c = self.encoder.manifest.constants
        self.window = int(c["window"])
        self.stride = int(c.get("stride", self.window // 2))
        self.mean = np.asarray(c["mean"], np.float64)
        self.std = np.asarray(c["std"], np.float64)
        self.code_dim = int(c.get("code_dim", 256))


# -- windows ----------------------------------------------------------------------------------------

def clip_features(clip: Clip, source: str = "") -> tuple[np.ndarray, Clip]:
    """(T, 82) motion features of ``clip`` on the humanoid at 30 fps, and that clip."""
    hum = D.humanoid_clip(clip, source or clip.name or "clip")
    pos, quat = D.clip_arrays(hum)
    return D.motion_features(pos, quat), hum


def windows_of(feats: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, list[int]]:
    """(W, window, F) windows of (T, F) features (shorter clips padded by repeating their
    last frame) and their start frames."""
    x = D.pad_frames(feats, window)
    starts = D.sliding_windows(len(x), window, stride)
    return np.stack([x[s:s + window] for s in starts]), starts


def overlap_add(wins: np.ndarray, starts: list[int], n_frames: int) -> np.ndarray:
    """Put overlapping windows (W, L, F) back into (n_frames, F) with a smooth cross-fade."""
    length = wins.shape[1]
    total = max(n_frames, starts[-1] + length)
    acc = np.zeros((total, wins.shape[2]))
    wsum = np.zeros((total, 1))
    w = np.hanning(length + 2)[1:-1][:, None]
    for win, s in zip(wins, starts):
        acc[s:s + length] += win * w
        wsum[s:s + length] += w
    return (acc / np.maximum(wsum, 1e-9))[:n_frames]


def _normalised_windows(models: StyleModels, feats: np.ndarray):
    wins, starts = windows_of(feats, models.window, models.stride)
    return ((wins - models.mean) / models.std).astype(np.float32), starts


# -- style codes -------------------------------------------------------------------------------------

def style_codes(clip: Clip, *, models: StyleModels | None = None, source: str = "",
                return_logvar: bool = False, batch: int = 32):
    """(W, 256) style means of ``clip``'s windows (every 30 frames; one window for clips of
    2 s or less). With ``return_logvar`` also the (W, 256) log-variances."""
    models = models or StyleModels()
    feats, _ = clip_features(clip, source)
    x, _ = _normalised_windows(models, feats)
    mu, logvar = models.encoder.run_batched(x, batch=batch)
    return (mu, logvar) if return_logvar else mu


def style_code(clip: Clip, **kwargs) -> np.ndarray:
    """(256,) the clip's style: the mean of its window codes."""
    return style_codes(clip, **kwargs).mean(axis=0)


# -- transfer ----------------------------------------------------------------------------------------

def transfer(content_clip: Clip, style_clip: Clip | None, strength: float = 1.0, *,
             style: np.ndarray | None = None, residual: bool = False,
             keep_root: bool = False, models: StyleModels | None = None,
             ctx: JobContext | None = None, batch: int = 32) -> Clip:
    """``content_clip`` performed in the style of ``style_clip`` (or of the style code
    ``style``), on the humanoid at 30 fps.

    ``strength`` 0..1 interpolates each window's style code from the content's own code to the
    target one. ``residual``: add only the change the style makes (decode(target) -
    decode(own)) to the content's features, so strength 0 gives the content exactly and
    details the VAE blurs survive. ``keep_root``: keep the content's root path (ground
    velocity and turning) and take only the pose (and root height) from the model.
    """
    ctx = ctx or JobContext()
    if not 0.0 <= float(strength) <= 1.0:
        raise UserError(f"style strength must be between 0 and 1, got {strength}")
    if style_clip is None and style is None:
        raise UserError("style transfer needs a style clip or a style code")
    models = models or StyleModels()
    ctx.progress(0, 4, "encoding")
    feats, hum = clip_features(content_clip, content_clip.name or "content clip")
    x, starts = _normalised_windows(models, feats)
    own = models.encoder.run_batched(x, batch=batch)[0]
    if style is None:
        style = style_code(style_clip, models=models, source=style_clip.name or "style clip")
    style = np.asarray(style, np.float32).reshape(1, -1)
    if style.shape[1] != own.shape[1]:
        raise UserError(f"style code has {style.shape[1]} values, the model uses {own.shape[1]}")
    s = float(strength)
    z = ((1.0 - s) * own + s * style).astype(np.float32)
    ctx.progress(2, 4, "decoding")
    y = models.decoder.run_batched(x, z, batch=batch)[0].astype(np.float64)
    if residual:
        y0 = models.decoder.run_batched(x, own.astype(np.float32), batch=batch)[0]
        y = x.astype(np.float64) + (y - y0)
    out = overlap_add(y * models.std + models.mean, starts, len(feats))
    if keep_root:
        out[:, [0, 1, 3]] = feats[:, [0, 1, 3]]
    ctx.progress(3, 4, "rebuilding the clip")
    p0, h0 = D.ground_frame(hum.root_pos[0], D.clip_arrays(hum)[1][0, 0])
    pos, quat = D.features_to_arrays(out, p0, float(h0))
    name = f"{content_clip.name or 'content'} as {getattr(style_clip, 'name', '') or 'style'}"
    meta = {"style_transfer": {"strength": s, "residual": residual, "keep_root": keep_root,
                               "style_clip": getattr(style_clip, "name", "")},
            "license": NONCOMMERCIAL}
    result = D.arrays_to_clip(pos, quat, D.FPS, name, meta)
    ctx.progress(4, 4, "done", force=True)
    return result


def transfer_job(content_clip: Clip, style_clip: Clip, strength: float = 1.0, **kwargs) -> Job:
    """:func:`transfer` as a :class:`Job` for ``ui.workers``."""
    return Job(f"style transfer {content_clip.name or 'content'}",
               lambda ctx: transfer(content_clip, style_clip, strength, ctx=ctx, **kwargs))


# -- classifier --------------------------------------------------------------------------------------

def classify(clip: Clip, *, pool=None, model: str | Path | None = None, source: str = "",
             batch: int = 32) -> tuple[str, dict[str, float]]:
    """The style of ``clip`` by the style classifier (trained on real Bandai clips): the label
    with the highest mean window logit, and the softmax of those means per label."""
    pool = pool or model_factory.pool(CLASSIFIER_ROLE, model)
    c = pool.manifest.constants
    labels = list(c["labels"])
    feats, _ = clip_features(clip, source)
    wins, _ = windows_of(feats, int(c["window"]), int(c.get("stride", int(c["window"]) // 2)))
    x = ((wins - np.asarray(c["mean"])) / np.asarray(c["std"])).astype(np.float32)
    logits = pool.run_batched(x, batch=batch)[0].mean(axis=0)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return labels[int(np.argmax(logits))], {lab: float(v) for lab, v in zip(labels, p)}


# -- the style map for the UI -----------------------------------------------------------------------

def style_projection(path: str | Path | None = None) -> dict:
    """The 2-D PCA of the style codes of every corpus clip (written by the recipe's
    evaluation): ``{"axes": ..., "points": [{"name", "style", "content", "source", "split",
    "x", "y"}, ...]}``."""
    from studio.paths import MODELS_DIR

    p = Path(path) if path is not None else MODELS_DIR / PROJECTION_FILE
    if not p.exists():
        raise UserError(f"{p}: no style map (run models/recipes/style/evaluate.py)")
    return json.loads(p.read_text(encoding="utf-8"))


def project_code(code: np.ndarray, projection: dict) -> tuple[float, float]:
    """Where a style code (256,) lands on the style map."""
    mean = np.asarray(projection["mean"])
    comps = np.asarray(projection["components"])
    xy = comps @ (np.asarray(code, np.float64) - mean)
    return float(xy[0]), float(xy[1])
