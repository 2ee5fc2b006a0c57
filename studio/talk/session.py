"""Open what a talk render or live session needs: the avatar's frames and the model pair.

Model pair precedence: an explicit folder, else the avatar's own ``models/``, else the
shipped default pair (``models/talk_default``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.jobs import UserError
from studio.paths import MODELS_DIR, RESOURCES_DIR
from studio.runtime.pool import SessionPool
from studio.settings import EngineSettings
from studio.talk.avatar import MODEL_PARTS, AvatarTemplate
from studio.talk.lipsync import LipSync
from studio.talk.render import ArrayTemplate

DEFAULT_AVATAR = RESOURCES_DIR / "avatars" / "default"
DEFAULT_MODELS = MODELS_DIR / "talk_default"


def model_pair_dir(avatar: AvatarTemplate | None, models: str | Path | None) -> Path:
    if models:
        d = Path(models)
    elif avatar is not None and avatar.has_models:
        d = avatar.path / "models"
    else:
        d = DEFAULT_MODELS
    missing = [p for p in MODEL_PARTS if not (d / p / "manifest.json").exists()]
    if missing:
        raise UserError(f"{d}: no lip-sync model pair here (missing {', '.join(missing)}/"
                        "manifest.json); give a model folder (--models) or use an avatar that carries one")
    return d


def open_lipsync(models_dir: Path, settings: EngineSettings | None = None) -> LipSync:
    settings = settings or EngineSettings()
    # The encoder runs batched once per clip: one session is enough; the U-Net gets the pool.
    enc = SessionPool(models_dir / "audio_encoder", settings, sessions=1)
    unet = SessionPool(models_dir / "unet", settings)
    try:
        return LipSync(enc, unet)  # refuses a pair that cannot work together
    except Exception:
        enc.close()
        unet.close()
        raise


def pair_warning(avatar: AvatarTemplate, models_dir: Path) -> str | None:
    """One line when the pair was trained for another face than ``avatar`` (None when it was
    trained for it, or when its manifest does not say). Why: the shipped pair on a user's
    face paints the astronaut's lower face, and the render used to finish without a word."""
    import json

    try:
        m = json.loads((Path(models_dir) / "unet" / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    training = m.get("training") or {}
    name = avatar.meta.get("name") or Path(avatar.archive or avatar.path).stem
    fix = f"train this avatar's own pair: studio talk train --avatar {avatar.archive or avatar.path}"
    trained_for = training.get("avatar_fingerprint")
    if trained_for:
        from studio.talk.train import avatar_fingerprint

        if trained_for == avatar_fingerprint(avatar):
            return None
        return (f"the lip-sync pair {m.get('name')} was trained for the avatar "
                f"'{training.get('avatar')}', not for '{name}': the mouth may not look like "
                f"this face; {fix}")
    if str(m.get("name", "")).startswith("talk_default"):  # the shipped pair (or a copy)
        try:
            if avatar.path.resolve() == DEFAULT_AVATAR.resolve():
                return None
        except OSError:
            pass
        return (f"the lip-sync pair {m.get('name')} was trained for the default (astronaut) "
                f"avatar only, not for '{name}': its lower face will look like the astronaut's; "
                f"{fix}")
    return None


@dataclass
class TalkSession:
    avatar: AvatarTemplate
    template: ArrayTemplate
    lipsync: LipSync
    warning: str | None = None  # pair_warning: the pair was trained for another face

    def close(self) -> None:
        self.lipsync.close()


def open_session(avatar_path: str | Path | None = None, models: str | Path | None = None,
                 settings: EngineSettings | None = None) -> TalkSession:
    path = Path(avatar_path) if avatar_path else DEFAULT_AVATAR
    if not path.exists() and avatar_path is None:
        raise UserError(f"{path}: the default avatar is not installed; pass --avatar")
    avatar = AvatarTemplate.load(path)
    frames = list(avatar.load_frames())
    template = ArrayTemplate(frames, avatar.crop_boxes.astype("float32"))
    models_dir = model_pair_dir(avatar, models)
    return TalkSession(avatar, template, open_lipsync(models_dir, settings),
                       pair_warning(avatar, models_dir))
