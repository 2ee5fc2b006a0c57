"""A learned image codec on disk, and how it codes one RGB picture.

A rate point is a folder::

    codec.json                  the codec manifest: name, quality, pad_multiple, files
    analysis/manifest.json      role codec.analysis  (+ model.onnx): RGB -> latents y
    synthesis/manifest.json     role codec.synthesis (+ model.onnx): y_hat -> RGB
    entropy.npz                 factorised prior as integer tables (studio.codec.learned.entropy)

A codec FAMILY is a folder of rate points (``q1``, ``q2``... each with a codec.json);
quality 1 is the lowest rate. The shipped family is ``models/learned_codec``; ``--codec``
also takes a user's family or single rate point by path (:func:`resolve_model`).

Both networks run through the app's session pool (``shared_pool``), never a private
session. Encoding: pad to the multiple by edge replication, y = analysis(x),
q = round(y - means) (int32), entropy-code q. Decoding: q back from the stream (exact),
y_hat = q + means (float32), synthesis, crop, clip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import numpy as np

from studio.codec.learned.entropy import EntropyError, FactorizedCoder, FactorizedTables
from studio.jobs import UserError

SHIPPED_FAMILY = "learned_codec"
ROLE_ANALYSIS = "codec.analysis"
ROLE_SYNTHESIS = "codec.synthesis"
MODEL_FILES = ("analysis/model.onnx", "synthesis/model.onnx", "entropy.npz")


class LearnedModelError(UserError):
    """A learned-codec model folder that cannot be used (names the folder and the problem)."""


def shipped_dir() -> Path:
    from studio import paths   # read at call time: tests and bundles move MODELS_DIR

    return Path(paths.MODELS_DIR) / SHIPPED_FAMILY


def model_id(folder: str | os.PathLike) -> bytes:
    """16 bytes of SHA-256 over the files that decide the bitstream."""
    h = hashlib.sha256()
    for rel in MODEL_FILES:
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
        if not isinstance(meta, dict) or meta.get("entropy_model") != "factorized":
            raise LearnedModelError(f"{cj}: entropy_model must be 'factorized' (the only one "
                                    f"this build codes)")
        self.meta = meta
        self.name = str(meta.get("name", self.folder.name))
        self.quality = int(meta.get("quality", 1))
        self.pad = int(meta.get("pad_multiple", 16))
        if self.pad < 1:
            raise LearnedModelError(f"{cj}: pad_multiple must be >= 1")
        self.analysis_manifest = self.folder / str(meta.get("analysis", "analysis/manifest.json"))
        self.synthesis_manifest = self.folder / str(meta.get("synthesis",
                                                             "synthesis/manifest.json"))
        self.id = model_id(self.folder)
        try:
            self.tables = FactorizedTables.load(self.folder / str(meta.get("entropy",
                                                                           "entropy.npz")))
        except EntropyError as exc:
            raise LearnedModelError(str(exc)) from None
        self._coder: FactorizedCoder | None = None
        self._lock = threading.Lock()

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def coder(self) -> FactorizedCoder:
        with self._lock:
            if self._coder is None:
                self._coder = FactorizedCoder(self.tables)
            return self._coder

    def _pool(self, manifest: Path, role: str):
        from studio.runtime.pool import shared_pool

        return shared_pool(manifest, role, what=f"learned codec {role.split('.')[-1]}")

    def latent_shape(self, width: int, height: int) -> tuple[int, int]:
        return -(-height // self.pad), -(-width // self.pad)

    # --- one picture ---------------------------------------------------------------------
    def analyse(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) float RGB in [0, 1] -> quantised latents (M, h, w) int32."""
        h, w = rgb.shape[:2]
        lh, lw = self.latent_shape(w, h)
        x = np.pad(np.clip(rgb, 0, 1).astype(np.float32),
                   ((0, lh * self.pad - h), (0, lw * self.pad - w), (0, 0)), mode="edge")
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        (y,) = self._pool(self.analysis_manifest, ROLE_ANALYSIS).run(x)
        if y.shape != (1, self.tables.channels, lh, lw):
            raise LearnedModelError(f"{self.analysis_manifest}: latents of shape {y.shape}, "
                                    f"expected (1, {self.tables.channels}, {lh}, {lw})")
        return np.rint(y[0] - self.tables.means[:, None, None]).astype(np.int32)

    def synthesise(self, q: np.ndarray, width: int, height: int) -> np.ndarray:
        """Quantised latents -> (H, W, 3) float32 RGB in [0, 1]."""
        y_hat = (q.astype(np.float32) + self.tables.means[:, None, None])[None]
        (x,) = self._pool(self.synthesis_manifest, ROLE_SYNTHESIS).run(
            np.ascontiguousarray(y_hat, dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] < height or x.shape[3] < width:
            raise LearnedModelError(f"{self.synthesis_manifest}: output of shape {x.shape} "
                                    f"cannot hold a {width}x{height} picture")
        return np.clip(x[0, :, :height, :width].transpose(1, 2, 0), 0.0, 1.0)

    def encode_rgb(self, rgb: np.ndarray) -> bytes:
        return self.coder.encode(self.analyse(rgb))

    def decode_rgb(self, payload: bytes, width: int, height: int,
                   where: str = "bitstream") -> np.ndarray:
        lh, lw = self.latent_shape(width, height)
        try:
            q = self.coder.decode(payload, lh, lw)
        except EntropyError as exc:
            raise UserError(f"{where}: {exc}") from None
        return self.synthesise(q, width, height)


# --- finding models ------------------------------------------------------------------------

_cache: dict[Path, LearnedModel] = {}
_cache_lock = threading.Lock()


def load_model(folder: str | os.PathLike) -> LearnedModel:
    """A rate point, loaded once per process (its pools live as long as the process)."""
    p = Path(folder).resolve()
    with _cache_lock:
        m = _cache.get(p)
        if m is None:
            m = LearnedModel(p)
            _cache[p] = m
        return m


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
        for key, default in (("analysis", "analysis/manifest.json"),
                             ("synthesis", "synthesis/manifest.json")):
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
