"""``studio talk train``: fine-tune a lip-sync pair on an avatar's own video and audio.

Why: the shipped pair (``models/talk_default``) was trained on the astronaut avatar only; on
anyone else's face it paints the astronaut's lower face. SyncTalk_2D trains one U-Net per
person; here the shipped pair is the *starting point*, so a few minutes on a CPU already give
this person's mouth, and longer gives a sharper one.

How:

1. The shipped ONNX pair is read back into PyTorch modules (the architectures of
   ``models/recipes/talk_default/train.py`` with BatchNorm folded into the convolutions,
   which is how ``torch.onnx.export`` wrote them): initializers are mapped to the modules'
   parameters by name where the exporter kept the name, else by the order of the Conv nodes
   (shapes checked), and the modules must reproduce onnxruntime's outputs to 1e-4 before any
   training starts (:func:`import_pair`).
2. Data: the avatar's frames cut exactly as :meth:`LipSync.crop` cuts them, its 16 kHz audio
   (``audio.wav``, kept by ``prepare``; or ``audio=`` a file), and the mouth shape of every
   frame measured from its face-mesh landmarks (openness, width, rounding: the three numbers
   the shipped encoder's rows carry).
3. The audio encoder is fine-tuned briefly (a small share of the time) to predict this
   person's measured mouth shape from their voice; the U-Net is fine-tuned to paint the real
   mouth of frame k from a *different* frame of the same person (the reference: mostly one
   whose mouth is clearly more open or closed, so copying it costs) and the measured shape
   (L1 + 6x L1 in the mouth region + a penalty on taking the mouth from the reference, 96 px windows
   round the mouth on 80 % of the steps: 2-3x cheaper).
4. Checkpoints go to a work folder outside the avatar (resumable with ``resume=True``; a
   cancel saves one too). Only at the end is the pair exported to ONNX, checked against the
   torch modules, given manifests (base, avatar, steps, minutes, device) and renamed into
   ``AVATAR/models``: a cancelled or failed training leaves the avatar as it was.

Torch is an optional extra (``pip install '.[train]'``): without it :func:`require_torch`
raises a :class:`UserError` that says how to get it. :func:`evaluate_held_out` needs no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from studio.jobs import Cancelled, JobContext, UserError
from studio.talk.avatar import MODEL_PARTS, AvatarTemplate

INSTALL_HINT = ("training needs PyTorch, an optional extra of this app: run "
                "`pip install '.[train]'` in the app's folder (or `pip install torch==2.13.0`; "
                "on a machine without an NVIDIA GPU use the CPU build, it is far smaller)")
AUDIO_FILE = "audio.wav"          # written by studio.talk.prepare.keep_audio
TRAINED_FOR_KEY = "avatar_fingerprint"
IMPORT_TOLERANCE = 1e-4           # torch vs onnxruntime, max abs difference
ENCODER_SHARE = 0.15              # of the time budget spent on the audio encoder
CHECKPOINT_EVERY_S = 60.0
LOSS_MOUTH_WEIGHT = 6.0
ALPHA_WEIGHT = 1.0                # penalty on copying the reference inside the mouth region
SWAP_SOFTNESS = 5.0               # px (Gaussian sigma) of the reference's mouth-swap edge
WINDOW = 96                       # training window round the mouth (80 % of the steps: 2-3x cheaper)


def require_torch():
    """Import torch or raise a UserError saying how to install it (no traceback)."""
    try:
        import torch
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return torch


def torch_available() -> bool:
    try:
        require_torch()
    except UserError:
        return False
    return True


# --- the avatar's identity (render/live warn when a pair was trained for someone else) -------

def avatar_fingerprint(avatar: AvatarTemplate) -> str:
    """A short hash of what makes this avatar itself (frame count, size, landmarks): stored in
    the trained manifests, compared by :func:`studio.talk.session.pair_warning`."""
    h = hashlib.sha1()
    h.update(f"{avatar.num_frames}x{avatar.width}x{avatar.height}".encode())
    h.update(np.ascontiguousarray(avatar.landmarks[:: max(1, avatar.num_frames // 16)],
                                  dtype=np.float32).round(1).tobytes())
    return h.hexdigest()[:16]


# --- torch modules (the recipe's architectures, BatchNorm folded) ------------------------------

@lru_cache(maxsize=1)
def _nets():
    """The module classes, built on first use so this module imports without torch."""
    torch = require_torch()
    nn = torch.nn
    F = torch.nn.functional

    def cbr(i: int, o: int, s=1):
        # recipe: Conv2d + BatchNorm2d + ReLU; the export folded the BatchNorm into the conv
        return nn.Sequential(nn.Conv2d(i, o, 3, s, 1), nn.ReLU(inplace=True))

    class AudioEncoder(nn.Module):
        """(B,1,80,16) mel window -> (B,512) row [openness, width, rounding, 0...]."""

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(cbr(1, 24, 1), cbr(24, 32, 2), cbr(32, 64, 2),
                                     cbr(64, 96, 2), cbr(96, 128, (2, 1)),
                                     nn.AdaptiveAvgPool2d((5, 1)))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(640, 128), nn.ReLU(inplace=True),
                                      nn.Linear(128, 3))

        def params(self, mel):
            z = self.head(self.net(mel))
            return torch.cat([torch.sigmoid(z[:, :1]), torch.tanh(z[:, 1:2]),
                              torch.sigmoid(z[:, 2:3])], dim=1)

        def forward(self, mel):
            return F.pad(self.params(mel), (0, 509))

    class Renderer(nn.Module):
        """Conditioned U-Net: 6-channel crop (reference, masked; BGR/255) + mouth shape (3)."""

        def __init__(self, c=(24, 40, 64, 96)) -> None:
            super().__init__()
            self.e1 = nn.Sequential(cbr(6, c[0], 2), cbr(c[0], c[0]))
            self.e2 = nn.Sequential(cbr(c[0], c[1], 2), cbr(c[1], c[1]))
            self.e3 = nn.Sequential(cbr(c[1], c[2], 2), cbr(c[2], c[2]))
            self.e4 = nn.Sequential(cbr(c[2], c[3], 2), cbr(c[3], c[3]))
            self.cond = nn.Sequential(nn.Linear(3, 64), nn.ReLU(inplace=True), nn.Linear(64, 64),
                                      nn.ReLU(inplace=True))
            self.f4 = nn.Linear(64, 2 * c[3])
            self.f3 = nn.Linear(64, 2 * c[2])
            self.f2 = nn.Linear(64, 2 * c[1])
            self.d3 = cbr(c[3] + c[2], c[2])
            self.d2 = cbr(c[2] + c[1], c[1])
            self.d1 = cbr(c[1] + c[0], c[0])
            self.d0 = nn.Sequential(nn.Conv2d(c[0] + 6, 16, 3, 1, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(16, 4, 3, 1, 1))

        @staticmethod
        def film(x, f):
            g, b = f.chunk(2, dim=1)
            return x * (1 + g[..., None, None]) + b[..., None, None]

        def forward(self, image, p):
            rgb, a = self.parts(image, p)
            return a * rgb + (1 - a) * image[:, :3]

        def parts(self, image, p):
            """(painted rgb, alpha): the output is alpha * rgb + (1 - alpha) * reference."""
            h = self.cond(p)
            x1 = self.e1(image)
            x2 = self.film(self.e2(x1), self.f2(h))
            x3 = self.film(self.e3(x2), self.f3(h))
            x4 = self.film(self.e4(x3), self.f4(h))

            def up(t):
                return F.interpolate(t, scale_factor=2.0, mode="nearest")
            y = self.d3(torch.cat([up(x4), x3], 1))
            y = self.d2(torch.cat([up(y), x2], 1))
            y = self.d1(torch.cat([up(y), x1], 1))
            y = self.d0(torch.cat([up(y), image], 1))
            return torch.sigmoid(y[:, :3]), torch.sigmoid(y[:, 3:4])

    class UNetExport(nn.Module):
        """The app-facing graph: reads the mouth shape from the 16 stacked encoder rows."""

        def __init__(self, r: Renderer, w) -> None:
            super().__init__()
            self.r = r
            self.register_buffer("w", torch.as_tensor(w, dtype=torch.float32).view(1, 16, 1))

        def forward(self, image, audio):
            rows = audio.reshape(1, 16, 512)[:, :, :3]
            return self.r(image, (rows * self.w).sum(dim=1))

    return torch, AudioEncoder, Renderer, UNetExport


# --- ONNX -> torch -------------------------------------------------------------------------------

def _onnx_weights(path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, str | None]]]:
    """All initializers by name, and (weight, bias) initializer names of each Conv node in
    graph order (the order the exporter traced the modules in)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise UserError("reading the shipped weights needs the onnx package, part of the "
                        "train extra: pip install '.[train]'") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several kinds for a bad file
        raise UserError(f"{path}: not a readable ONNX model ({exc})") from None
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [(n.input[1], n.input[2] if len(n.input) > 2 else None)
             for n in model.graph.node if n.op_type == "Conv"]
    return inits, convs


def _load_module(module, path: Path, prefix: str = "") -> None:
    """Copy ``path``'s initializers into ``module``: by name (``prefix`` + parameter name)
    where the exporter kept it, else conv by conv in graph order. Raises a UserError naming
    the file when anything is left over or does not fit."""
    torch = require_torch()
    inits, convs = _onnx_weights(path)
    state = module.state_dict()
    new: dict[str, Any] = {}
    for key in state:
        if prefix + key in inits:
            new[key] = inits[prefix + key]
    conv_keys = [name for name, m in module.named_modules()
                 if isinstance(m, torch.nn.Conv2d)]
    if len(conv_keys) != len(convs):
        raise UserError(f"{path}: has {len(convs)} convolutions, the {type(module).__name__} "
                        f"of the default recipe has {len(conv_keys)}; this is not a pair "
                        "trained by the default recipe (only those can be fine-tuned here)")
    for name, (w, b) in zip(conv_keys, convs):
        for suffix, init in (("weight", w), ("bias", b)):
            key = f"{name}.{suffix}"
            if key in new:
                continue
            if init is None or init not in inits:
                raise UserError(f"{path}: convolution {name} has no {suffix} initializer")
            new[key] = inits[init]
    missing = [k for k in state if k not in new]
    if missing:
        raise UserError(f"{path}: no weights found for {', '.join(missing[:6])}"
                        + (" ..." if len(missing) > 6 else ""))
    for k, v in new.items():
        if tuple(v.shape) != tuple(state[k].shape):
            raise UserError(f"{path}: {k} has shape {tuple(v.shape)}, the recipe's module "
                            f"expects {tuple(state[k].shape)}")
    module.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in new.items()})


def _ort(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check_import(models_dir: Path, enc, unet_export, tol: float = IMPORT_TOLERANCE,
                 seed: int = 0) -> dict[str, float]:
    """Max |torch - onnxruntime| of both modules on random inputs; UserError above ``tol``."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    mel = rng.uniform(-4, 4, (4, 1, 80, 16)).astype(np.float32)
    image = rng.uniform(0, 1, (1, 6, 160, 160)).astype(np.float32)
    audio = np.zeros((1, 16, 512), np.float32)
    audio[0, :, 0] = rng.uniform(0, 1, 16)
    audio[0, :, 1] = rng.uniform(-1, 1, 16)
    audio[0, :, 2] = rng.uniform(0, 1, 16)
    audio = audio.reshape(1, 32, 16, 16)
    out = {}
    for part, module, feeds in (("audio_encoder", enc, (mel,)),
                                ("unet", unet_export, (image, audio))):
        sess = _ort(models_dir / part / "model.onnx")
        names = [i.name for i in sess.get_inputs()]
        ref = sess.run(None, dict(zip(names, feeds)))[0]
        module.eval()
        with torch.no_grad():
            got = module(*(torch.from_numpy(f) for f in feeds)).numpy()
        err = float(np.abs(got.reshape(ref.shape) - ref).max())
        out[part] = err
        if not err <= tol:
            raise UserError(f"{models_dir / part / 'model.onnx'}: the PyTorch copy differs from "
                            f"the ONNX model by {err:.2e} (allowed {tol:g}); its weights cannot "
                            "be fine-tuned here")
    return out


def row_weights(models_dir: Path) -> np.ndarray:
    """The U-Net's 16 row weights (manifest ``row_positions``/``row_weights``)."""
    from studio.runtime.manifest import Manifest

    m = Manifest.load(models_dir / "unet")
    c = m.constants
    if c.get("audio_mode", "ave") != "ave" or "row_positions" not in c:
        raise UserError(f"{m.path}: only pairs made by the default recipe (audio_mode 'ave' "
                        "with row_positions/row_weights) can be fine-tuned here")
    w = np.zeros(16, np.float32)
    for pos, wt in zip(c["row_positions"], c["row_weights"]):
        w[int(pos)] = float(wt)
    return w


def import_pair(models_dir: str | Path, check: bool = True):
    """(encoder, renderer, unet_export, max errors) read from an ONNX pair made by the default
    recipe; ``check`` runs :func:`check_import` (to 1e-4)."""
    _torch, AudioEncoder, Renderer, UNetExport = _nets()
    d = Path(models_dir)
    for part in MODEL_PARTS:
        if not (d / part / "model.onnx").exists():
            raise UserError(f"{d / part / 'model.onnx'}: missing; the base pair needs "
                            "audio_encoder/ and unet/")
    enc, ren = AudioEncoder(), Renderer()
    _load_module(enc, d / "audio_encoder" / "model.onnx")
    _load_module(ren, d / "unet" / "model.onnx", prefix="r.")
    un = UNetExport(ren, row_weights(d))
    errors = check_import(d, enc, un) if check else {}
    return enc, ren, un, errors


# --- data ------------------------------------------------------------------------------------------

def mouth_params(lm: np.ndarray) -> np.ndarray:
    """(T, 468, 2) landmarks -> (T, 3) openness 0..1, width -1..1, rounding 0..1 (the shipped
    encoder's row layout): inner-lip gap / mouth width scaled so the clip's 5th..95th
    percentiles map to 0..1; width and rounding from the mouth/face width ratio."""
    mw = np.linalg.norm(lm[:, 291] - lm[:, 61], axis=1)
    gap = np.linalg.norm(lm[:, 14] - lm[:, 13], axis=1) / np.maximum(mw, 1e-6)
    fw = np.linalg.norm(lm[:, 454] - lm[:, 234], axis=1)
    ratio = mw / np.maximum(fw, 1e-6)
    lo, hi = np.percentile(gap, 5), np.percentile(gap, 95)
    o = np.clip((gap - lo) / max(hi - lo, 1e-6), 0, 1)
    z = (ratio - np.median(ratio)) / max(float(np.std(ratio)), 1e-6)
    w = np.clip(0.35 * z, -1, 1)
    r = np.clip(-0.35 * z, 0, 1) * (o < 0.6)
    return np.stack([o, w, r], 1).astype(np.float32)


def avatar_audio(avatar: AvatarTemplate, audio: str | Path | None = None) -> np.ndarray:
    """The avatar's speech at 16 kHz: ``audio`` (any audio or video file) or the avatar's own
    ``audio.wav``; padded/cut to the frames' duration."""
    from studio.media.audio_io import load_audio

    if audio is not None:
        src = Path(audio)
    else:
        name = avatar.meta.get("files", {}).get("audio", AUDIO_FILE)
        src = avatar.path / name
        if not src.exists():
            raise UserError(f"{src}: missing; this avatar was prepared without its audio (an "
                            "older version, or a silent video). Give the source video's sound "
                            "with --audio VIDEO_OR_WAV, or prepare the avatar again")
    wav = load_audio(src, 16000).samples
    n = int(round(avatar.num_frames / avatar.fps * 16000))
    out = np.zeros(n, np.float32)
    out[:min(n, len(wav))] = wav[:n]
    if not np.any(out):
        raise UserError(f"{src}: silent; training needs the avatar's speech")
    return out


def crop_frame(frame: np.ndarray, box, size: int, pad: int) -> np.ndarray:
    """Exactly :meth:`LipSync.crop`'s reference crop (RGB, size x size)."""
    from studio.talk.lipsync import clamp_box

    h, w = frame.shape[:2]
    x0, y0, x1, y1 = clamp_box(box, w, h)
    big = cv2.resize(frame[y0:y1, x0:x1], (size + 2 * pad,) * 2,
                     interpolation=cv2.INTER_AREA if (x1 - x0) > size else cv2.INTER_LINEAR)
    return big[pad:pad + size, pad:pad + size]


def mouth_weight(lm: np.ndarray, box, size: int, pad: int) -> np.ndarray:
    """(size, size) soft weight of the mouth region inside the crop (the recipe's rule)."""
    x0, y0, x1, _ = (float(v) for v in box)
    sc = (size + 2 * pad) / (x1 - x0)
    cx, cy = (lm[61, 0] + lm[291, 0]) / 2, (lm[13, 1] + lm[14, 1]) / 2
    hw = (lm[291, 0] - lm[61, 0]) / 2
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    X, Y = (xs + pad + 0.5) / sc + x0, (ys + pad + 0.5) / sc + y0
    m = (np.abs(X - cx) < 1.25 * hw) & (Y > cy - 0.7 * hw) & (Y < cy + 1.9 * hw)
    return cv2.GaussianBlur(m.astype(np.float32), (0, 0), 3)


def mouth_swapped(own: np.ndarray, other: np.ndarray, w_own: np.ndarray,
                  w_other: np.ndarray) -> np.ndarray:
    """The reference half as training and scoring build it: a frame's own crop with another
    frame's mouth region blended in (``w_*``: soft mouth weights in 0..1, crop-sized; batches
    broadcast). Why: at render time the reference is the template frame itself, right in pose
    and skin but with a mouth that has nothing to do with the audio. A whole other frame as
    reference (SyncTalk_2D's training) teaches a small U-Net in CPU minutes to repaint the
    whole lower face, soft everywhere (seen: nose and chin blurred); with this reference it
    copies everything outside the mouth and paints only the mouth."""
    m = np.maximum(w_own, w_other).astype(np.float32)
    flat = m.reshape(-1, *m.shape[-2:])
    for i in range(len(flat)):   # a wide, soft edge: no seam for the U-Net to learn
        top = float(flat[i].max())
        flat[i] = cv2.GaussianBlur(flat[i], (0, 0), SWAP_SOFTNESS)
        flat[i] *= top / max(float(flat[i].max()), 1e-6)
    m = np.clip(flat.reshape(m.shape), 0.0, 1.0)[..., None]
    return own * (1.0 - m) + other * m


@dataclass
class TrainData:
    """Everything the loop samples from, precomputed once (uint8 crops: small)."""
    crops: np.ndarray        # (T, S, S, 3) uint8 BGR
    weights: np.ndarray      # (T, S, S) uint8 mouth weight * 255
    params: np.ndarray       # (T, 3) measured mouth shape
    windows: np.ndarray      # (N, 1, 80, 16) mel windows, one per video frame
    targets: np.ndarray      # (N, 3) mouth shape at each window's centre
    train_frames: int        # frames [0, train_frames) are trained on; the rest held out
    mask_rect: tuple[int, int, int, int]
    size: int
    centre: tuple[int, int]  # median mouth centre in the crop (x, y)


def build_data(avatar: AvatarTemplate, wav: np.ndarray, models_dir: Path, hold_out: float,
               ctx: JobContext) -> TrainData:
    from studio.runtime.manifest import Manifest
    from studio.talk import mel as melmod
    from studio.talk.lipsync import CropContract

    contract = CropContract.from_manifest(Manifest.load(models_dir / "unet"))
    if contract.mask != "rect" or contract.channel_order != "BGR":
        raise UserError(f"{models_dir / 'unet'}: only the default recipe's crop contract "
                        "(rect mask, BGR) can be fine-tuned here")
    S, pad = contract.size, contract.pad
    n = avatar.num_frames
    crops = np.empty((n, S, S, 3), np.uint8)
    weights = np.empty((n, S, S), np.uint8)
    for k, frame in enumerate(avatar.iter_frames()):
        if k % 10 == 0:
            ctx.progress(k, n, f"cutting frame {k}/{n}")
        crops[k] = crop_frame(frame, avatar.crop_boxes[k], S, pad)[..., ::-1]
        weights[k] = np.clip(mouth_weight(avatar.landmarks[k], avatar.crop_boxes[k], S, pad)
                             * 255 + 0.5, 0, 255).astype(np.uint8)
    params = mouth_params(avatar.landmarks)
    fps = avatar.fps
    nf = melmod.frame_count(len(wav), fps=fps)
    windows = melmod.mel_windows(melmod.melspectrogram(wav), nf, fps=fps).astype(np.float32)
    win_centre = (melmod.WINDOW - 1) / 2 / melmod.MEL_FPS
    t_frames = (np.arange(n) + 0.5) / fps
    targets = np.stack([np.interp(np.arange(nf) / fps + win_centre, t_frames, params[:, j])
                        for j in range(3)], 1).astype(np.float32)
    train_frames = n - int(round(n * hold_out)) if hold_out > 0 else n
    if train_frames < 8:
        raise UserError(f"{avatar.path}: only {train_frames} frames to train on; use a longer "
                        "video (a minute or more is best)")
    w = weights.astype(np.float32).mean(axis=0)
    ys, xs = np.nonzero(w > 0.5 * w.max())
    centre = (int(np.median(xs)), int(np.median(ys))) if len(xs) else (S // 2, int(S * 0.6))
    return TrainData(crops, weights, params, windows, targets, train_frames,
                     tuple(int(v) for v in contract.mask_rect), S, centre)


# --- training ---------------------------------------------------------------------------------------

CONTRAST = 0.35   # openness difference of a "contrasting" reference frame
P_CONTRAST = 0.7  # share of references picked to contrast with the target's mouth


def reference_frames(k: np.ndarray, openness: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A reference frame for each target frame ``k``: mostly one whose mouth differs clearly
    (openness apart by >= CONTRAST), else any other frame. Why: with random references the
    quickest way down the loss is to copy the reference's mouth (measured: after 110 steps
    the U-Net's output moved by 0.004 between a closed and an open mouth shape), so it never
    learns to follow the audio in a few minutes; a contrasting reference makes copying cost."""
    n = len(openness)
    out = (k + rng.integers(1, max(n, 2), len(k))) % max(n, 1)
    for j, kk in enumerate(k):
        if rng.random() < P_CONTRAST:
            far = np.flatnonzero(np.abs(openness - openness[kk]) >= CONTRAST)
            if len(far):
                out[j] = far[rng.integers(len(far))]
    return out


@dataclass
class TrainResult:
    """What :func:`train_avatar` did (also written, in part, into the manifests)."""
    avatar: str
    models: str
    steps: int
    encoder_steps: int
    seconds: float                 # training time, all runs together (resumes add up)
    run_seconds: float             # this run
    batch: int
    device: str
    loss_before: float             # fixed batch of training frames, before this run
    loss_after: float              # the same batch after it
    import_error: dict[str, float] = field(default_factory=dict)
    resumed_from_step: int = 0
    held_out: dict | None = None   # evaluate_held_out of the result (hold_out > 0)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"trained {self.models}: {self.steps} U-Net steps (batch {self.batch}) and "
                 f"{self.encoder_steps} encoder steps, {self.seconds / 60:.1f} min on "
                 f"{self.device}" + (f" (resumed at step {self.resumed_from_step})"
                                     if self.resumed_from_step else ""),
                 f"  loss on a fixed batch of its frames: {self.loss_before:.4f} -> "
                 f"{self.loss_after:.4f}"]
        if self.held_out:
            h = self.held_out
            lines.append(f"  held-out last {h['frames']} frames: lip gap vs speech energy r "
                         f"{h['r_energy']:+.3f} (real video {h['r_energy_real']:+.3f}), vs the real lip gap "
                         f"{h['r_gap_real']:+.3f}, mouth L1 "
                         f"{h['mouth_l1']:.1f}, sharpness {h['sharpness']:.2f}x the template, "
                         f"audio effect {h['audio_effect']:.1f}")
        return "\n".join(lines)


def default_work_dir(avatar: AvatarTemplate) -> Path:
    """Where checkpoints live: the user cache, one folder per avatar (never the avatar)."""
    from studio.paths import user_cache_dir

    src = avatar.archive or avatar.path
    key = hashlib.sha1(str(Path(src).resolve()).encode()).hexdigest()[:12]
    return user_cache_dir() / "train" / f"{Path(src).stem}-{key}"


def pick_device(device: str = "auto") -> str:
    torch = require_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: PyTorch sees no CUDA GPU here (a CPU build of torch, "
                        "or no driver); use --device cpu")
    return device


def _fmt_eta(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def train_avatar(avatar_path: str | Path, ctx: JobContext | None = None, *,
                 minutes: float = 5.0, resume: bool = False, audio: str | Path | None = None,
                 base: str | Path | None = None, batch: int = 4, device: str = "auto",
                 hold_out: float = 0.0, max_steps: int | None = None,
                 work_dir: str | Path | None = None, window: int = WINDOW,
                 lr: float = 1e-3, seed: int = 0, evaluate: bool | None = None) -> TrainResult:
    """Fine-tune a lip-sync pair for the avatar (a job function). ``minutes`` (or
    ``max_steps``) is this run's training time; ``resume`` continues the last checkpoint
    (steps, optimiser, time add up). ``base``: the pair to start from (default: the shipped
    one). ``hold_out``: the last fraction of the frames and audio is never trained on and
    is scored at the end (:func:`evaluate_held_out`). The pair lands in ``AVATAR/models``
    only when everything succeeded."""
    from studio.talk.session import DEFAULT_MODELS

    ctx = ctx or JobContext()
    require_torch()  # before anything else: the message says how to install it
    torch, *_ = _nets()
    if not (minutes > 0 or max_steps):
        raise UserError(f"--minutes must be a positive number, not {minutes}")
    if not 0.0 <= hold_out < 0.9:
        raise UserError(f"--hold-out must be between 0 and 0.9, not {hold_out}")
    dev = pick_device(device)
    if dev == "cpu":
        # OMP_NUM_THREADS, when set, wins: it is how a user leaves cores to other work
        env = os.environ.get("OMP_NUM_THREADS", "")
        torch.set_num_threads(int(env) if env.isdigit() and int(env) > 0
                              else max(1, min(4, os.cpu_count() or 1)))
    t_run = time.perf_counter()
    ctx.progress(0, 1, "loading the avatar", force=True)
    avatar = AvatarTemplate.load(avatar_path)
    base_dir = Path(base) if base else DEFAULT_MODELS
    work = Path(work_dir) if work_dir else default_work_dir(avatar)
    ck_path = work / "checkpoint.pt"
    ctx.progress(0, 1, "reading the base pair into PyTorch", force=True)
    ckpt = None
    if resume:
        if not ck_path.exists():
            raise UserError(f"{ck_path}: no checkpoint to resume for {avatar.path}; train "
                            "without --resume first")
        try:
            ckpt = torch.load(ck_path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a damaged file, any reason
            raise UserError(f"{ck_path}: damaged checkpoint ({exc}); train without --resume") from None
        if ckpt.get("fingerprint") != avatar_fingerprint(avatar):
            raise UserError(f"{ck_path}: this checkpoint belongs to another avatar "
                            f"({ckpt.get('avatar')}); train without --resume")
        base_dir = Path(ckpt["base"])
        hold_out = float(ckpt["hold_out"])
    enc, ren, un, errors = import_pair(base_dir)
    wav = avatar_audio(avatar, audio if audio else (ckpt or {}).get("audio"))
    data = build_data(avatar, wav, base_dir, hold_out, ctx.stage(0, 1, "preparing"))
    enc.to(dev)
    ren.to(dev)
    opt_u = torch.optim.AdamW(ren.parameters(), lr, weight_decay=1e-5)
    opt_e = torch.optim.AdamW(enc.parameters(), lr * 0.4, weight_decay=1e-5)
    state = {"step": 0, "enc_step": 0, "seconds": 0.0, "runs": [], "log": []}
    if ckpt is not None:
        enc.load_state_dict(ckpt["encoder"])
        ren.load_state_dict(ckpt["renderer"])
        opt_u.load_state_dict(ckpt["opt_unet"])
        opt_e.load_state_dict(ckpt["opt_encoder"])
        state = ckpt["state"]
    start_step = state["step"]
    rng = np.random.default_rng(seed + start_step)
    tr = data.train_frames
    S = data.size
    mx0, my0, mx1, my1 = data.mask_rect

    def to_t(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    def batch_of(k: np.ndarray, kr: np.ndarray, win: int | None):
        tgt = data.crops[k].astype(np.float32) / 255.0          # (B,S,S,3)
        ref = mouth_swapped(tgt, data.crops[kr].astype(np.float32) / 255.0,
                            data.weights[k].astype(np.float32) / 255.0,
                            data.weights[kr].astype(np.float32) / 255.0)
        masked = tgt.copy()
        masked[:, my0:my1, mx0:mx1] = 0
        x = np.concatenate([ref, masked], axis=3).transpose(0, 3, 1, 2)
        t = tgt.transpose(0, 3, 1, 2)
        w = data.weights[k].astype(np.float32)[:, None] / 255.0
        if win and win < S:
            cx, cy = data.centre
            ox = int(np.clip(cx - win // 2 + rng.integers(-8, 9), 0, S - win))
            oy = int(np.clip(cy - win // 2 + rng.integers(-8, 9), 0, S - win))
            x, t, w = (v[..., oy:oy + win, ox:ox + win] for v in (x, t, w))
        return to_t(x), to_t(t), to_t(data.params[k]), to_t(w)

    def loss_of(x, t, p, w):
        rgb, a = ren.parts(x, p)
        y = a * rgb + (1 - a) * x[:, :3]
        l1 = (y - t).abs()
        # the mouth must be painted, not taken from the reference: without this term the
        # first steps on a new face drive alpha to 0 (the shipped pair paints the astronaut,
        # the reference is closer) and the saturated sigmoid never lets the mouth learn
        keep = ((1 - a) * w).sum() / (w.sum() + 1e-6)
        return (l1.mean() + LOSS_MOUTH_WEIGHT * (l1 * w).sum() / (w.sum() * 3 + 1e-6)
                + ALPHA_WEIGHT * keep)

    # a fixed batch to show the loss going down (same frames before and after)
    fixed_rng = np.random.default_rng(1234)
    fk = fixed_rng.integers(0, tr, min(8, tr))
    fkr = (fk + fixed_rng.integers(1, tr, len(fk))) % tr
    fixed = batch_of(fk, fkr, None)

    def fixed_loss() -> float:
        ren.eval()
        with torch.no_grad():
            return float(loss_of(*fixed))

    loss_before = fixed_loss()
    budget = minutes * 60.0 if minutes and minutes > 0 else float("inf")
    enc_budget = ENCODER_SHARE * budget
    n_win = min(len(data.windows), tr)
    W = to_t(data.windows[:n_win])
    T = to_t(data.targets[:n_win])
    loss_w = torch.tensor([3.0, 1.0, 1.0], device=dev)
    t0 = time.perf_counter()
    last_ck = t0
    run_steps = 0
    enc_run_steps = 0
    run_loss = None

    def save_checkpoint() -> None:
        work.mkdir(parents=True, exist_ok=True)
        state["seconds_run"] = time.perf_counter() - t0
        tmp = ck_path.with_suffix(".part")
        torch.save({"encoder": enc.state_dict(), "renderer": ren.state_dict(),
                    "opt_unet": opt_u.state_dict(), "opt_encoder": opt_e.state_dict(),
                    "state": state, "base": str(base_dir.resolve()), "hold_out": hold_out,
                    "audio": str(Path(audio).resolve()) if audio else None,
                    "avatar": str(avatar.archive or avatar.path),
                    "fingerprint": avatar_fingerprint(avatar)}, tmp)
        os.replace(tmp, ck_path)

    def tick(elapsed: float, what: str = "") -> None:
        if max_steps:
            done, total = run_steps, max_steps
            eta = (elapsed / max(run_steps, 1)) * (max_steps - run_steps)
        else:
            done, total, eta = min(elapsed, budget), budget, budget - elapsed
        msg = ((what or f"step {state['step']}")
               + (f", loss {run_loss:.4f}" if run_loss is not None else "")
               + f", ETA {_fmt_eta(eta + 15)}")
        ctx.progress(done, total, msg)

    try:
        # 1. the encoder: this voice -> this face's measured mouth shape (a short share)
        enc_steps_goal = max(1, (max_steps or 0) // 4) if max_steps else None
        while True:
            elapsed = time.perf_counter() - t0
            if enc_steps_goal is not None and enc_run_steps >= enc_steps_goal:
                break
            if enc_steps_goal is None and elapsed >= enc_budget:
                break
            enc.train()
            idx = torch.from_numpy(rng.integers(0, n_win, min(64, n_win))).to(dev)
            x = W[idx] + 0.05 * torch.randn(len(idx), 1, 1, 1, device=dev)
            loss = ((enc.params(x) - T[idx]).abs() * loss_w).mean()
            opt_e.zero_grad()
            loss.backward()
            opt_e.step()
            enc_run_steps += 1
            state["enc_step"] += 1
            tick(elapsed, f"tuning the audio encoder to this voice (step {enc_run_steps})")
        enc.eval()
        # 2. the U-Net: this person's mouth from another frame of theirs + the measured shape
        while True:
            elapsed = time.perf_counter() - t0
            if max_steps and run_steps >= max_steps:
                break
            if not max_steps and elapsed >= budget:
                break
            k = rng.integers(0, tr, batch)
            kr = reference_frames(k, data.params[:tr, 0], rng)
            use_win = window if rng.random() < 0.8 else None
            ren.train()
            loss = loss_of(*batch_of(k, kr, use_win))
            opt_u.zero_grad()
            loss.backward()
            opt_u.step()
            run_steps += 1
            state["step"] += 1
            lv = loss.item()
            run_loss = lv if run_loss is None else 0.95 * run_loss + 0.05 * lv
            if state["step"] % 25 == 0:
                state["log"].append({"step": state["step"], "loss": run_loss,
                                     "seconds": state["seconds"] + elapsed})
            tick(elapsed)
            if time.perf_counter() - last_ck > CHECKPOINT_EVERY_S:
                state_seconds = state["seconds"]
                state["seconds"] = state_seconds + (time.perf_counter() - t0)
                save_checkpoint()
                state["seconds"] = state_seconds
                last_ck = time.perf_counter()
    except Cancelled:
        state["seconds"] += time.perf_counter() - t0
        state["runs"].append({"steps": run_steps, "seconds": time.perf_counter() - t0,
                              "cancelled": True})
        save_checkpoint()  # so --resume continues from here
        raise
    run_s = time.perf_counter() - t0
    state["seconds"] += run_s
    state["runs"].append({"steps": run_steps, "encoder_steps": enc_run_steps, "seconds": run_s,
                          "device": dev, "batch": batch})
    save_checkpoint()
    loss_after = fixed_loss()
    ctx.progress(1, 1, "exporting the pair", force=True)
    ren.cpu().eval()
    enc.cpu().eval()
    un.cpu().eval()
    result = TrainResult(str(avatar.archive or avatar.path), "", state["step"], state["enc_step"],
                         state["seconds"], time.perf_counter() - t_run, batch, dev, loss_before,
                         loss_after, errors, start_step)
    _install_pair(avatar, enc, un, base_dir, state, result, hold_out, wav, ctx,
                  evaluate if evaluate is not None else hold_out > 0)
    result.run_seconds = time.perf_counter() - t_run
    return result


def _export(enc, un, folder: Path) -> None:
    torch = require_torch()
    import warnings

    for part in MODEL_PARTS:
        (folder / part).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(enc, (torch.zeros(1, 1, 80, 16),), str(folder / "audio_encoder" / "model.onnx"),
                          input_names=["mel"], output_names=["feature"], opset_version=17,
                          dynamic_axes={"mel": {0: "B"}, "feature": {0: "B"}}, dynamo=False)
        torch.onnx.export(un, (torch.zeros(1, 6, 160, 160), torch.zeros(1, 32, 16, 16)),
                          str(folder / "unet" / "model.onnx"), input_names=["image", "audio"],
                          output_names=["pred"], opset_version=17, dynamo=False)


def _install_pair(avatar: AvatarTemplate, enc, un, base_dir: Path, state: dict,
                  result: TrainResult, hold_out: float, wav: np.ndarray, ctx: JobContext,
                  evaluate: bool) -> None:
    """Export into a temporary folder beside the avatar's ``models/``, check it (torch vs
    onnxruntime, manifests, the pair check), then swap it in with renames."""
    from studio.runtime.manifest import Manifest
    from studio.talk.session import open_lipsync

    root = avatar.path
    tmp = Path(tempfile.mkdtemp(prefix=".models.", suffix=".part", dir=root))
    try:
        _export(enc, un, tmp)
        check_import(tmp, enc, un)
        name = avatar.meta.get("name") or Path(avatar.archive or avatar.path).stem
        src = avatar.meta.get("source", {}).get("file")
        fp = avatar_fingerprint(avatar)
        import torch as _torch

        train_info = {
            "recipe": "studio talk train (studio/talk/train.py)",
            "avatar": name, TRAINED_FOR_KEY: fp, "source": src,
            "frames": avatar.num_frames,
            "train_frames": avatar.num_frames - int(round(avatar.num_frames * hold_out))
            if hold_out > 0 else avatar.num_frames,
            "hold_out": hold_out,
            "base": str(base_dir), "minutes": round(state["seconds"] / 60, 2),
            "device": result.device, "framework": f"PyTorch {_torch.__version__}",
            "runs": state["runs"],
        }
        for part, extra in (("audio_encoder", {"steps": state["enc_step"]}),
                            ("unet", {"steps": state["step"], "batch": result.batch,
                                      "loss": "L1 + 6 x L1 in the mouth region",
                                      "final_loss": state["log"][-1]["loss"] if state["log"] else None})):
            m = Manifest.load(base_dir / part)
            base_name = m.name
            m.name = f"{name}_{part}"
            m.description = (f"Fine-tuned for the avatar '{name}' by `studio talk train` from "
                             f"{base_name}. " + m.description.replace(
                                 " Trained for the default avatar only.", ""))
            m.license = ("Derived from the base pair's weights; carries the rights of the "
                         f"avatar's source video ({src or name}) too.")
            m.training = {**train_info, "base_model": base_name, **extra}
            m.path = None
            m.save(tmp / part / "manifest.json")
        lip = open_lipsync(tmp)  # manifests + graphs + pair check, as render will
        lip.close()
        ctx.check()
        if evaluate and hold_out > 0:
            ctx.progress(0, 1, "scoring the held-out frames", force=True)
            result.held_out = evaluate_held_out(avatar, tmp, wav, hold_out, ctx=ctx).to_dict()
            for part in MODEL_PARTS:
                m = Manifest.load(tmp / part)
                m.training["held_out"] = result.held_out
                m.path = None
                m.save(tmp / part / "manifest.json")
        ctx.check()
        target = root / "models"
        old = root / f".models.old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        if avatar.archive is not None:  # an .avatar file: pack the folder again
            from studio.jobs import atomic_path
            from studio.talk.avatar import pack_avatar

            with atomic_path(avatar.archive) as part:
                pack_avatar(root, part)
        result.models = str(target if avatar.archive is None else f"{avatar.archive}:models")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- measuring a pair on the avatar's held-out frames (no torch) -------------------------------

@dataclass
class HeldOutScore:
    frames: int
    first_frame: int
    r_energy: float        # Pearson r, rendered lip gap (pixels) vs speech energy per frame
    r_energy_real: float   # the same for the real video's frames (what a perfect pair reaches)
    r_gap_real: float      # Pearson r, rendered lip gap vs the real video's lip gap, same frames
    mouth_l1: float        # mean |rendered - real| in the mouth region, 0..255
    sharpness: float       # Laplacian variance in the mouth region, rendered / real
    audio_effect: float    # mean |open - closed| output in the painted area, 0..255: ~0 = the
                           # U-Net ignores its audio input (copies the reference)

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) if isinstance(v, float) else v
                for k, v in asdict(self).items()}


def evaluate_held_out(avatar: AvatarTemplate | str | Path, models_dir: str | Path,
                      wav: np.ndarray | None = None, hold_out: float = 0.2,
                      ctx: JobContext | None = None) -> HeldOutScore:
    """Score a pair on the last ``hold_out`` of the avatar's own audio and frames, which
    training never saw. Frame i (masked) is repainted from audio i with the *reference* half
    built as a render has it (frame i's own crop) except for the mouth region, which comes
    from one fixed frame of the trained part, the one with the most closed mouth
    (:func:`mouth_swapped`): with frame i's own mouth in the reference, or one that changes
    with time, a pair that merely copies the reference's mouth would score well (seen: r
    +0.71 from a U-Net that ignored its audio input). The result is pasted into frame i and compared with the real frame i:
    lip gap vs speech energy (studio.talk.eval_sync's pixel measure, as the optimise gate
    uses it), the same for the real frames, rendered vs real lip gap, mouth-region L1 and
    the sharpness (Laplacian variance) ratio in the mouth region."""
    from studio.talk.eval_sync import mouth_opening_pixels, mouth_region, pearson
    from studio.talk.optimise import speech_energy
    from studio.talk.session import open_lipsync

    ctx = ctx or JobContext()
    if not isinstance(avatar, AvatarTemplate):
        avatar = AvatarTemplate.load(avatar)
    if wav is None:
        wav = avatar_audio(avatar)
    n = avatar.num_frames
    first = n - max(2, int(round(n * hold_out)))
    lip = open_lipsync(Path(models_dir))
    try:
        rows = lip.audio_rows(wav, n)
        gap, gap_real, l1, sharp_r, sharp_t = [], [], [], [], []
        j = int(np.argmin(mouth_params(avatar.landmarks[:max(first, 1)])[:, 0]))
        ref = lip.crop(next(avatar.iter_frames(j, j + 1)), avatar.crop_boxes[j])[0]
        S, pad = lip.contract.size, lip.contract.pad
        w_j = mouth_weight(avatar.landmarks[j], avatar.crop_boxes[j], S, pad)
        r_at = 0 if lip.contract.input_order[0] == "reference" else 3
        shut = np.zeros_like(rows)
        wide = np.zeros_like(rows)
        wide.reshape(len(rows), -1)[:, 0] = 1.0  # the default recipe's row: openness first
        mx0, my0, mx1, my1 = lip.contract.mask_rect
        effect = []
        for k, frame in enumerate(avatar.iter_frames(first)):
            i = first + k
            ctx.progress(k, n - first, f"scoring frame {k + 1}/{n - first}")
            image6, box = lip.crop(frame, avatar.crop_boxes[i])
            w_i = mouth_weight(avatar.landmarks[i], avatar.crop_boxes[i], S, pad)
            image6[0, r_at:r_at + 3] = mouth_swapped(
                image6[0, r_at:r_at + 3].transpose(1, 2, 0),
                ref[0, r_at:r_at + 3].transpose(1, 2, 0), w_i, w_j).transpose(2, 0, 1)
            pred = lip.predict(image6, lip.audio_features(rows, i, i + 1))
            if k % 3 == 0:
                a0 = lip.predict(image6, lip.audio_features(shut, i, i + 1))
                a1 = lip.predict(image6, lip.audio_features(wide, i, i + 1))
                effect.append(float(np.abs(a1 - a0)[..., my0:my1, mx0:mx1].mean()) * 255.0)
            out = lip.paste(frame, pred, box)
            lm = avatar.landmarks[i]
            gap.append(mouth_opening_pixels(out, lm))
            gap_real.append(mouth_opening_pixels(frame, lm))
            x0, y0, x1, y1, _w = mouth_region(lm, frame.shape)
            a = out[y0:y1, x0:x1].astype(np.float32)
            b = frame[y0:y1, x0:x1].astype(np.float32)
            l1.append(float(np.abs(a - b).mean()))
            ga = cv2.cvtColor(out[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
            gb = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
            sharp_r.append(float(cv2.Laplacian(ga, cv2.CV_64F).var()))
            sharp_t.append(float(cv2.Laplacian(gb, cv2.CV_64F).var()))
    finally:
        lip.close()
    energy = speech_energy(wav, n, avatar.fps)[first:]
    return HeldOutScore(n - first, first, pearson(np.asarray(gap), energy),
                        pearson(np.asarray(gap_real), energy),
                        pearson(np.asarray(gap), np.asarray(gap_real)), float(np.mean(l1)),
                        float(np.mean(sharp_r) / max(np.mean(sharp_t), 1e-9)),
                        float(np.mean(effect)))


def trained_info(models_dir: str | Path) -> dict:
    """The ``training`` block of a pair's U-Net manifest ({} when unreadable)."""
    try:
        return json.loads((Path(models_dir) / "unet" / "manifest.json").read_text(
            encoding="utf-8")).get("training", {}) or {}
    except (OSError, ValueError):
        return {}
