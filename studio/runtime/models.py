"""The one model factory: a role -> a pooled model.

Every learned motion model is opened here (DeepPhase, TransitionNet, StyleVAE encoder and
decoder, the style classifier, the DeepMimic policies' actor and critic), so no engine module
keeps its own ``get_pool`` or session cache::

    from studio.runtime import models

    models.available(models.TRANSITION)            # shipped model installed? (no onnxruntime)
    pool = models.pool(models.TRANSITION)          # SessionPool, created once, then cached
    pool = models.pool(models.DEEPPHASE, "my/deepphase", sessions=1)  # another manifest

``model`` is a manifest, a model folder (holding ``manifest.json``) or None for the role's
shipped model under ``models/``. The pool is created on first use, checked to have the role in
its manifest, and kept for the process (one pool per manifest file, shared with
:func:`studio.runtime.pool.shared_pool`). A missing model is a :class:`UserError` that names
the folder and the recipe that makes it.

This module is cheap to import (no onnxruntime, no numpy): the UI asks :func:`available`
while it builds its widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from studio.jobs import UserError

if TYPE_CHECKING:
    from studio.runtime.pool import SessionPool

DEEPPHASE = "motion.deepphase"
TRANSITION = "motion.transition"
STYLE_ENCODER = "motion.style_encoder"
STYLE_DECODER = "motion.style_decoder"
STYLE_CLASSIFIER = "motion.style_classifier"
POLICY_ACTOR = "motion.policy_actor"
POLICY_CRITIC = "motion.policy_critic"


@dataclass(frozen=True)
class Role:
    """What the factory knows about a role: the shipped model's folder under ``models/``
    (None: there is no default, a model must be named), words for messages and the recipe
    that makes the model."""

    role: str
    default: str | None
    what: str
    recipe: str


ROLES: dict[str, Role] = {r.role: r for r in (
    Role(DEEPPHASE, "deepphase", "DeepPhase model", "models/recipes/deepphase/train.py"),
    Role(TRANSITION, "transition", "TransitionNet model", "models/recipes/transition/train.py"),
    Role(STYLE_ENCODER, "style_vae/encoder", "StyleVAE encoder", "models/recipes/style/train.py"),
    Role(STYLE_DECODER, "style_vae/decoder", "StyleVAE decoder", "models/recipes/style/train.py"),
    Role(STYLE_CLASSIFIER, "style_classifier", "style classifier",
         "models/recipes/style/train_classifier.py"),
    Role(POLICY_ACTOR, None, "DeepMimic policy actor", "models/recipes/deepmimic_policies"),
    Role(POLICY_CRITIC, None, "DeepMimic policy critic", "models/recipes/deepmimic_policies"),
)}


def role_info(role: str) -> Role:
    try:
        return ROLES[role]
    except KeyError:
        raise ValueError(f"unknown model role {role!r} (known: {', '.join(ROLES)})") from None


def manifest_path(role: str, model: str | Path | None = None) -> Path:
    """The manifest for ``role``: ``model`` (a manifest or a model folder) or the shipped one."""
    info = role_info(role)
    if model is None:
        if info.default is None:
            raise UserError(f"the {info.what} has no shipped default: name its manifest")
        from studio.paths import MODELS_DIR

        return MODELS_DIR / info.default / "manifest.json"
    path = Path(model)
    return path if path.suffix == ".json" else path / "manifest.json"


def available(role: str, model: str | Path | None = None) -> bool:
    """Whether the manifest and its ``model.onnx`` are there (nothing is loaded)."""
    try:
        path = manifest_path(role, model)
    except UserError:
        return False
    return path.is_file() and path.with_name("model.onnx").is_file()


def pool(role: str, model: str | Path | None = None, *, sessions: int | None = None,
         threads: int = 1) -> "SessionPool":
    """The long-lived :class:`SessionPool` of ``role``'s model (see the module notes)."""
    info = role_info(role)
    path = manifest_path(role, model)
    if not available(role, path):
        raise UserError(f"{path.parent}: the {info.what} is not installed (make it with "
                        f"{info.recipe})")
    from studio.runtime.pool import shared_pool

    return shared_pool(path, role, what=info.what, sessions=sessions, threads=threads)


def pool_or(role: str, model_or_pool=None, *, sessions: int | None = None) -> "SessionPool":
    """``model_or_pool`` itself when it is already an open pool (anything with ``run``),
    else :func:`pool` of it."""
    if hasattr(model_or_pool, "run"):
        return model_or_pool
    return pool(role, model_or_pool, sessions=sessions)
