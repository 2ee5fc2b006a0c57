"""A learned image codec on disk, and how it codes one RGB picture.

A rate point is a folder::

    codec.json                  the codec manifest: name, quality, pad_multiple, files
    analysis/manifest.json      role codec.analysis  (+ model.onnx): RGB -> latents y
    synthesis/manifest.json     role codec.synthesis (+ model.onnx): y_hat -> RGB
    entropy.npz                 factorised prior as integer tables (studio.codec.learned.entropy)

A scale-hyperprior rate point (``"entropy_model": "hyperprior"``, Balle et al. 2018) adds::

    hyper_analysis/             role codec.hyper_analysis: y -> side latents z
    hyper_synthesis/            role codec.hyper_synthesis: z_hat -> Gaussian scales of y

and its entropy.npz holds the factorised tables for z plus the Gaussian conditional's
per-scale tables for y (``scale_table``, ``g_freqs``, ``g_offset``, ``g_count``).

A codec FAMILY is a folder of rate points (``q1``, ``q2``... each with a codec.json);
quality 1 is the lowest rate. The shipped family is ``models/learned_codec``; ``--codec``
also takes a user's family or single rate point by path (:func:`resolve_model`).

Both networks run through the app's session pool (``shared_pool``), never a private
session. Encoding: pad to the multiple by edge replication, y = analysis(x),
q = round(y - means) (int32), entropy-code q. Decoding: q back from the stream (exact),
y_hat = q + means (float32), synthesis, crop, clip. With a hyperprior: z = hyper_analysis(y)
is coded with the factorised tables first; both sides then compute the scales from z_hat
with hyper_synthesis (always on the CPU provider, so encoder and decoder get the same
floats on one machine and pick the same tables); q is coded with the Gaussian
table of each latent's scale; q = round(y - y_means), y_hat = q + y_means, where the optional
``y_means`` of entropy.npz (zero when absent) keeps the offsets of the factorised model whose
transforms a hyperprior was fitted to. Frame payload: z stream length (4 bytes LE), z stream,
y stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from pathlib import Path

import numpy as np

from studio.codec.learned.entropy import (EntropyError, FactorizedCoder, FactorizedTables,
                                          GaussianCoder, GaussianTables)
from studio.jobs import UserError

SHIPPED_FAMILY = "learned_codec"
ROLE_ANALYSIS = "codec.analysis"
ROLE_SYNTHESIS = "codec.synthesis"
ROLE_HYPER_ANALYSIS = "codec.hyper_analysis"
ROLE_HYPER_SYNTHESIS = "codec.hyper_synthesis"
ENTROPY_MODELS = ("factorized", "hyperprior")
MODEL_FILES = ("analysis/model.onnx", "synthesis/model.onnx", "entropy.npz")
HYPER_FILES = ("hyper_analysis/model.onnx", "hyper_synthesis/model.onnx")
_ZLEN = struct.Struct("<I")


class LearnedModelError(UserError):
    """A learned-codec model folder that cannot be used (names the folder and the problem)."""


def shipped_dir() -> Path:
    from studio import paths   # read at call time: tests and bundles move MODELS_DIR

    return Path(paths.MODELS_DIR) / SHIPPED_FAMILY


def model_id(folder: str | os.PathLike, hyperprior: bool = False) -> bytes:
    """16 bytes of SHA-256 over the files that decide the bitstream."""
    h = hashlib.sha256()
    for rel in MODEL_FILES + (HYPER_FILES if hyperprior else ()):
        p = Path(folder) / rel
        try:
            h.update(p.read_bytes())
        except FileNotFoundError:
            raise LearnedModelError(f"{p}: missing (a learned-codec model needs "
                                    f"{', '.join(MODEL_FILES)} and codec.json)") from None
    return h.digest()[:16]


class LearnedModel:
    """One rate point, loaded: its tables, its id and (lazily) its two session pools."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        cj = self.folder / "codec.json"
        try:
            meta = json.loads(cj.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LearnedModelError(f"{cj}: missing: {self.folder} is not a learned-codec "
                                    f"model folder") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LearnedModelError(f"{cj}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("entropy_model") not in ENTROPY_MODELS:
            got = meta.get("entropy_model") if isinstance(meta, dict) else None
            raise LearnedModelError(f"{cj}: entropy_model is {got!r}; this build codes "
                                    f"{' and '.join(map(repr, ENTROPY_MODELS))}")
        self.meta = meta
        self.hyperprior = meta["entropy_model"] == "hyperprior"
        self.name = str(meta.get("name", self.folder.name))
        self.quality = int(meta.get("quality", 1))
        self.pad = int(meta.get("pad_multiple", 16))
        if self.pad < 1:
            raise LearnedModelError(f"{cj}: pad_multiple must be >= 1")
        self.analysis_manifest = self.folder / str(meta.get("analysis", "analysis/manifest.json"))
        self.synthesis_manifest = self.folder / str(meta.get("synthesis",
                                                             "synthesis/manifest.json"))
        self.hyper_analysis_manifest = self.folder / str(
            meta.get("hyper_analysis", "hyper_analysis/manifest.json"))
        self.hyper_synthesis_manifest = self.folder / str(
            meta.get("hyper_synthesis", "hyper_synthesis/manifest.json"))
        self.id = model_id(self.folder, self.hyperprior)
        entropy = self.folder / str(meta.get("entropy", "entropy.npz"))
        try:
            # factorised: the tables of y; hyperprior: of z, with y's Gaussian tables beside
            self.tables = FactorizedTables.load(entropy)
            self.gaussian = GaussianTables.load(entropy) if self.hyperprior else None
            if self.gaussian is not None and self.latent_channels:
                self.gaussian.offsets(self.latent_channels)    # y_means: one per channel
        except EntropyError as exc:
            raise LearnedModelError(str(exc)) from None
        self._coder: FactorizedCoder | None = None
        self._gcoder: GaussianCoder | None = None
        self._hs_pool = None
        self._lock = threading.Lock()

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    def _once(self, attr: str, make):
        """``self.<attr>``, built by ``make()`` on first use (thread-safe)."""
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, make())
            return getattr(self, attr)

    @property
    def coder(self) -> FactorizedCoder:
        return self._once("_coder", lambda: FactorizedCoder(self.tables))

    @property
    def gaussian_coder(self) -> GaussianCoder:
        return self._once("_gcoder", lambda: GaussianCoder(self.gaussian))

    def _pool(self, manifest: Path, role: str):
        from studio.runtime.pool import shared_pool

        return shared_pool(manifest, role, what=f"learned codec {role.split('.')[-1]}")

    def _hyper_synthesis_pool(self):
        """hyper_synthesis on the CPU provider only: its floats pick the entropy tables, so
        an encoder on a GPU and a decoder on a CPU must not disagree by a rounding."""
        def make():
            from studio.runtime.manifest import Manifest
            from studio.runtime.pool import SessionPool, machine
            from studio.runtime.providers import choose

            man = Manifest.load(self.hyper_synthesis_manifest)
            if man.role != ROLE_HYPER_SYNTHESIS:
                raise LearnedModelError(f"{man.path}: role is {man.role!r}, expected "
                                        f"{ROLE_HYPER_SYNTHESIS!r}")
            return SessionPool(man, sessions=1, threads=1, choice=choose("cpu", machine()))

        return self._once("_hs_pool", make)

    def latent_shape(self, width: int, height: int) -> tuple[int, int]:
        """The latents' (h, w) for a picture: the padded size over 16 (the transforms'
        stride; a hyperprior pads to 64 so that its side latents tile exactly)."""
        return -(-height // self.pad) * self.pad // 16, -(-width // self.pad) * self.pad // 16

    @property
    def latent_channels(self) -> int:
        return int(self.meta.get("latent_channels", 0)) or (
            self.tables.channels if not self.hyperprior else 0)

    # --- one picture ---------------------------------------------------------------------
    def _latents(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) float RGB in [0, 1] -> real latents y (M, h, w) float32."""
        h, w = rgb.shape[:2]
        lh, lw = self.latent_shape(w, h)
        ph, pw = lh * 16, lw * 16
        x = np.pad(np.clip(rgb, 0, 1).astype(np.float32),
                   ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        (y,) = self._pool(self.analysis_manifest, ROLE_ANALYSIS).run(x)
        m = self.latent_channels or y.shape[1]
        if y.shape != (1, m, lh, lw):
            raise LearnedModelError(f"{self.analysis_manifest}: latents of shape {y.shape}, "
                                    f"expected (1, {m}, {lh}, {lw})")
        return y[0]

    def analyse(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) float RGB in [0, 1] -> quantised latents (M, h, w) int32 (factorised)."""
        return np.rint(self._latents(rgb) - self.tables.means[:, None, None]).astype(np.int32)

    def _scale_index(self, zq: np.ndarray, y_shape: tuple) -> np.ndarray:
        z_hat = (zq.astype(np.float32) + self.tables.means[:, None, None])[None]
        (scales,) = self._hyper_synthesis_pool().run(np.ascontiguousarray(z_hat))
        if scales.shape != (1, *y_shape):
            raise LearnedModelError(f"{self.hyper_synthesis_manifest}: scales of shape "
                                    f"{scales.shape}, expected (1, {', '.join(map(str, y_shape))})")
        return self.gaussian.scale_index(scales[0])

    def _encode_hyper(self, rgb: np.ndarray) -> tuple[bytes, np.ndarray]:
        y = self._latents(rgb)
        (z,) = self._pool(self.hyper_analysis_manifest, ROLE_HYPER_ANALYSIS).run(
            np.ascontiguousarray(y[None], dtype=np.float32))
        if z.ndim != 4 or z.shape[1] != self.tables.channels:
            raise LearnedModelError(f"{self.hyper_analysis_manifest}: side latents of shape "
                                    f"{z.shape}, expected (1, {self.tables.channels}, h, w)")
        zq = np.rint(z[0] - self.tables.means[:, None, None]).astype(np.int32)
        zs = self.coder.encode(zq)
        q = np.rint(y - self._y_offsets(y.shape[0])).astype(np.int32)
        ys = self.gaussian_coder.encode(q, self._scale_index(zq, y.shape))
        return _ZLEN.pack(len(zs)) + zs + ys, q

    def _y_offsets(self, channels: int) -> np.ndarray:
        """The quantisation offsets of y, (M, 1, 1)."""
        if self.hyperprior:
            try:
                return self.gaussian.offsets(channels)
            except EntropyError as exc:
                raise LearnedModelError(str(exc)) from None
        return self.tables.means[:, None, None]

    def _decode_hyper(self, payload: bytes, lh: int, lw: int) -> np.ndarray:
        if len(payload) < _ZLEN.size:
            raise EntropyError(f"frame of {len(payload)} bytes has no side-latent length")
        (n,) = _ZLEN.unpack_from(payload, 0)
        if _ZLEN.size + n > len(payload):
            raise EntropyError(f"side-latent stream of {n} bytes runs past the frame's "
                               f"{len(payload)}")
        zq = self.coder.decode(payload[_ZLEN.size:_ZLEN.size + n], lh // 4, lw // 4)
        m = self.latent_channels
        if not m:
            raise EntropyError("codec.json lacks latent_channels (needed by a hyperprior)")
        index = self._scale_index(zq, (m, lh, lw))
        return self.gaussian_coder.decode(payload[_ZLEN.size + n:], index)

    def synthesise(self, q: np.ndarray, width: int, height: int) -> np.ndarray:
        """Quantised latents -> (H, W, 3) float32 RGB in [0, 1]."""
        y_hat = (q.astype(np.float32) + self._y_offsets(q.shape[0]))[None]
        (x,) = self._pool(self.synthesis_manifest, ROLE_SYNTHESIS).run(
            np.ascontiguousarray(y_hat, dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] < height or x.shape[3] < width:
            raise LearnedModelError(f"{self.synthesis_manifest}: output of shape {x.shape} "
                                    f"cannot hold a {width}x{height} picture")
        return np.clip(x[0, :, :height, :width].transpose(1, 2, 0), 0.0, 1.0)

    def encode_q(self, rgb: np.ndarray) -> tuple[bytes, np.ndarray]:
        """(H, W, 3) float RGB -> (frame payload, its quantised latents (M, h, w) int32);
        the temporal mode keeps the latents to code the next frame's change against."""
        if self.hyperprior:
            return self._encode_hyper(rgb)
        q = self.analyse(rgb)
        return self.coder.encode(q), q

    def decode_q(self, payload: bytes, width: int, height: int,
                 where: str = "bitstream") -> np.ndarray:
        """A frame payload -> its quantised latents (exact); errors name ``where``."""
        lh, lw = self.latent_shape(width, height)
        try:
            return self._decode_hyper(payload, lh, lw) if self.hyperprior \
                else self.coder.decode(payload, lh, lw)
        except EntropyError as exc:
            raise UserError(f"{where}: {exc}") from None

    def encode_rgb(self, rgb: np.ndarray) -> bytes:
        return self.encode_q(rgb)[0]

    def decode_rgb(self, payload: bytes, width: int, height: int,
                   where: str = "bitstream") -> np.ndarray:
        return self.synthesise(self.decode_q(payload, width, height, where), width, height)


# --- finding models ------------------------------------------------------------------------

_cache: dict[Path, tuple[tuple, LearnedModel]] = {}
_cache_lock = threading.Lock()


def _files_signature(folder: Path) -> tuple:
    """(file, mtime, size) of what decides the bitstream: a rate point retrained or
    replaced while the app runs is loaded again, not served stale from the cache."""
    sig = []
    for rel in MODEL_FILES + HYPER_FILES + ("codec.json",):
        try:
            st = (folder / rel).stat()
        except OSError:
            continue        # the hyper graphs of a factorised point; missing files: __init__
        sig.append((rel, st.st_mtime_ns, st.st_size))
    return tuple(sig)


def load_model(folder: str | os.PathLike) -> LearnedModel:
    """A rate point, loaded once per process while its files stay the same (its pools live
    as long as the process)."""
    p = Path(folder).resolve()
    sig = _files_signature(p)
    with _cache_lock:
        hit = _cache.get(p)
        if hit is None or hit[0] != sig:
            hit = (sig, LearnedModel(p))
            _cache[p] = hit
        return hit[1]


def rate_points_by_quality(family: str | os.PathLike) -> dict[int, Path]:
    """quality -> rate-point folder, for a family folder (q*/codec.json) or a single point."""
    fam = Path(family)
    cjs = [fam / "codec.json"] if (fam / "codec.json").is_file() else sorted(
        fam.glob("*/codec.json"))
    found: dict[int, Path] = {}
    for cj in cjs:
        try:
            q = int(json.loads(cj.read_text(encoding="utf-8")).get("quality", 0))
        except (OSError, ValueError, AttributeError):
            continue
        found.setdefault(q, cj.parent)
    return dict(sorted(found.items()))


def check_family(family: str | os.PathLike) -> dict[int, Path]:
    """quality -> rate point of a user's learned codec, after checking that every file a
    rate point needs is there; a :class:`LearnedModelError` names the folder and what is
    missing. Checks files only (nothing is loaded)."""
    fam = Path(family)
    if not fam.is_dir():
        raise LearnedModelError(f"{fam}: no such learned-codec folder" if not fam.exists()
                                else f"{fam}: not a folder (a learned codec is a folder of rate "
                                     f"points q1, q2... each with codec.json)")
    points = rate_points_by_quality(fam)
    if not points:
        raise LearnedModelError(
            f"{fam}: not a learned codec: no codec.json here nor in any subfolder (a learned "
            f"codec is a folder of rate points q1, q2... each holding codec.json, "
            f"analysis/manifest.json + model.onnx, synthesis/manifest.json + model.onnx and "
            f"entropy.npz, like models/{SHIPPED_FAMILY})")
    for q, folder in points.items():
        try:
            meta = json.loads((folder / "codec.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LearnedModelError(f"{folder / 'codec.json'}: unreadable ({exc})") from None
        missing = []
        parts = ["analysis", "synthesis"] + (
            ["hyper_analysis", "hyper_synthesis"] if meta.get("entropy_model") == "hyperprior"
            else [])
        for key, default in ((k, f"{k}/manifest.json") for k in parts):
            man = folder / str(meta.get(key, default))
            if not man.is_file():
                missing.append(str(man.relative_to(folder)) if man.is_relative_to(folder)
                               else str(man))
                continue
            try:
                onnx_file = str(json.loads(man.read_text(encoding="utf-8")).get("file",
                                                                                "model.onnx"))
            except (OSError, ValueError, AttributeError) as exc:
                raise LearnedModelError(f"{man}: unreadable manifest ({exc})") from None
            if not (man.parent / onnx_file).is_file():
                missing.append(str((man.parent / onnx_file).relative_to(folder)))
        if not (folder / str(meta.get("entropy", "entropy.npz"))).is_file():
            missing.append(str(meta.get("entropy", "entropy.npz")))
        if missing:
            raise LearnedModelError(f"{fam}: rate point {folder.name} (quality {q}) lacks "
                                    f"{', '.join(missing)}")
    return points


def family_name(family: str | os.PathLike) -> str:
    """The codec's name from its manifests: codec.json ``family`` (or ``label``) if given,
    else the rate points' common name without its ``_q<N>`` suffix, else the folder's."""
    fam = Path(family)
    names = []
    for folder in rate_points_by_quality(fam).values():
        try:
            meta = json.loads((folder / "codec.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for k in ("family", "label"):
            if isinstance(meta.get(k), str) and meta[k].strip():
                return meta[k].strip()
        if isinstance(meta.get("name"), str):
            names.append(re.sub(r"[_ -]?q(uality)?[_ -]?\d+$", "", meta["name"].strip()))
    names = [n for n in names if n]
    return names[0] if names and len(set(names)) == 1 else fam.name


def rate_points(family: str | os.PathLike) -> list[Path]:
    """The rate-point folders of a family, lowest quality (rate) first."""
    return list(rate_points_by_quality(family).values())


def resolve_model(codec: str, quality: int) -> LearnedModel:
    """``--codec learned`` (the shipped family) or a path to a family / rate point, and a
    quality 1..N (1 = lowest rate) -> the rate point's model."""
    family = shipped_dir() if codec in ("learned", SHIPPED_FAMILY) else Path(codec)
    if not family.exists():
        raise LearnedModelError(f"{family}: no such learned-codec model folder")
    if (family / "codec.json").is_file():      # a single rate point: the quality is its own
        return load_model(family)
    points = rate_points_by_quality(family)
    if not points:
        raise LearnedModelError(f"{family}: no learned-codec model here (no codec.json, nor "
                                f"q*/codec.json rate points)")
    if quality not in points:
        have = sorted(points)
        span = f"{have[0]}..{have[-1]}" if have == list(range(have[0], have[-1] + 1)) \
            else ", ".join(map(str, have))
        raise LearnedModelError(f"{family}: no rate point for quality {quality} (has {span})")
    return load_model(points[quality])


def find_model(mid: bytes, extra: list[str | os.PathLike] = (), where: str = "") -> LearnedModel:
    """The model whose id is ``mid``, among ``extra`` folders/families and the shipped ones."""
    searched: list[str] = []
    for fam in [*extra, shipped_dir()]:
        fam = Path(fam)
        searched.append(str(fam))
        for p in rate_points(fam) if fam.exists() else []:
            try:
                m = load_model(p)
            except UserError:
                continue
            if m.id == mid:
                return m
    raise LearnedModelError(f"{where + ': ' if where else ''}made with learned-codec model "
                            f"{mid.hex()}, which is not installed (searched "
                            f"{', '.join(searched)}); pass the model folder with --codec")
