"""The built-in clip library: the DeepMimic humanoid clips that ship inside pybullet_data.

The clips are read in place from the installed package (never copied into the project), so
the library is whatever the installed pybullet version provides.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from studio.jobs import UserError
from studio.motion.core.clip import Clip

PREFIX = "humanoid3d_"


def data_dir() -> Path:
    """pybullet_data's folder, found without importing pybullet itself."""
    spec = importlib.util.find_spec("pybullet_data")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the built-in motion clips come with the 'pybullet' package, which is "
                        "not installed (pip install pybullet)")
    return Path(list(spec.submodule_search_locations)[0])


def clips_dir() -> Path:
    return data_dir() / "data" / "motions"


def humanoid_urdf() -> Path:
    """pybullet's DeepMimic humanoid definition (load it with ``globalScaling=0.25``)."""
    return data_dir() / "humanoid" / "humanoid.urdf"


def builtin_clips() -> dict[str, Path]:
    """Built-in humanoid clips, name -> file, sorted by name (``"walk"`` for
    ``humanoid3d_walk.txt``)."""
    folder = clips_dir()
    return {p.stem[len(PREFIX):]: p for p in sorted(folder.glob(f"{PREFIX}*.txt"))}


def builtin_path(name: str) -> Path:
    clips = builtin_clips()
    key = name[len(PREFIX):] if name.startswith(PREFIX) else name
    key = key[:-4] if key.endswith(".txt") else key
    if key not in clips:
        raise UserError(f"{name}: no built-in clip by that name (have: {', '.join(clips)})")
    return clips[key]


def load_builtin(name: str) -> Clip:
    """Read a built-in clip by name, e.g. ``load_builtin("walk")``."""
    from studio.motion.io.deepmimic import read_deepmimic

    clip = read_deepmimic(builtin_path(name))
    clip.name = name[len(PREFIX):] if name.startswith(PREFIX) else name
    return clip
