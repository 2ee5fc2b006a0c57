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


@dataclass
class TalkSession:
    avatar: AvatarTemplate
    template: ArrayTemplate
    lipsync: LipSync

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
    return TalkSession(avatar, template, open_lipsync(model_pair_dir(avatar, models), settings))
