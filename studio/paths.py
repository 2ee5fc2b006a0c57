"""Where things live: the one place that finds models/, resources/ and the user's folders.

Three layouts are recognised, in this order:

* a frozen bundle (PyInstaller: ``sys.frozen``; the bundled files under ``sys._MEIPASS``,
  else beside the executable): ``<bundle>/models``, ``<bundle>/resources``;
* a source checkout (``python main.py``, ``pip install -e .``): ``models/`` and
  ``resources/`` beside the ``studio/`` package;
* an installed wheel (``pip install .``, ``--user``, ``--target DIR``): the wheel ships them as
  data files under ``<prefix>/share/neural-media-studio/`` (see pyproject.toml), looked for
  under the install target, ``sys.prefix``, the user base and ``sys.base_prefix``.

``STUDIO_MODELS_DIR`` and ``STUDIO_RESOURCES_DIR`` override either folder. Nothing else in
studio/ or ui/ computes these paths from ``__file__``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP_ID = "neural-media-studio"  # folder name for shared data, user data and caches
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # checkout root, or site-packages


def is_frozen() -> bool:
    """True inside a PyInstaller (or similar) bundle."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path | None:
    """The frozen bundle's data folder (``sys._MEIPASS``, else the executable's folder)."""
    if not is_frozen():
        return None
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else Path(sys.executable).resolve().parent


def _install_prefixes() -> list[Path]:
    import site

    out = [SOURCE_ROOT, Path(sys.prefix)]
    try:
        out.append(Path(site.getuserbase()))
    except Exception:  # noqa: BLE001 - site may be stubbed in embedded interpreters
        pass
    out.append(Path(sys.base_prefix))
    return out


@dataclass(frozen=True)
class Layout:
    kind: str  # "frozen", "checkout" or "installed"
    root: Path  # the app's root (bundle folder, checkout root, or site-packages)
    data: Path  # the folder holding models/ and resources/

    @property
    def models(self) -> Path:
        env = os.environ.get("STUDIO_MODELS_DIR")
        return Path(env) if env else self.data / "models"

    @property
    def resources(self) -> Path:
        env = os.environ.get("STUDIO_RESOURCES_DIR")
        return Path(env) if env else self.data / "resources"


def layout() -> Layout:
    """Work out the layout now (reads ``sys`` at call time, so tests can fake a bundle)."""
    b = bundle_dir()
    if b is not None:
        return Layout("frozen", b, b)
    if (SOURCE_ROOT / "resources" / "style.qss").is_file():
        return Layout("checkout", SOURCE_ROOT, SOURCE_ROOT)
    for prefix in _install_prefixes():
        share = prefix / "share" / APP_ID
        if (share / "models").is_dir():
            return Layout("installed", SOURCE_ROOT, share)
    return Layout("checkout", SOURCE_ROOT, SOURCE_ROOT)  # nothing found: say where we looked


_LAYOUT = layout()
ROOT = _LAYOUT.root
MODELS_DIR = _LAYOUT.models
RESOURCES_DIR = _LAYOUT.resources
# Reference data beside the project (tests, evaluation and recipes only; never shipped).
SHARED_DATA = Path(os.environ.get("STUDIO_SHARED_DATA", SOURCE_ROOT.parent / "shared" / "data"))


def user_data_dir() -> Path:
    """Where the app keeps what the user chose (e.g. joint mappings per rig): kept across
    runs and versions, unlike caches. ``STUDIO_USER_DATA``, else ``$XDG_DATA_HOME`` (or
    ``~/.local/share``) / ``neural-media-studio``; on macOS ``~/Library/Application Support``
    and on Windows ``%APPDATA%`` stand in for ``~/.local/share`` (unless XDG_DATA_HOME is
    set). Read at call time so tests can redirect it."""
    return _per_user("STUDIO_USER_DATA", "XDG_DATA_HOME", ("Library", "Application Support"),
                     "APPDATA", (".local", "share"))


def user_cache_dir() -> Path:
    """Where the app keeps what it can rebuild (unpacked avatars, corpus caches).
    ``STUDIO_CACHE_DIR`` as it is, else ``$XDG_CACHE_HOME`` (or ``~/.cache``; macOS
    ``~/Library/Caches``, Windows ``%LOCALAPPDATA%``) / ``neural-media-studio``."""
    return _per_user("STUDIO_CACHE_DIR", "XDG_CACHE_HOME", ("Library", "Caches"),
                     "LOCALAPPDATA", (".cache",))


def _per_user(override: str, xdg: str, mac: tuple[str, ...], windows: str,
              linux: tuple[str, ...]) -> Path:
    """``override`` as it is, else the platform's per-user folder / APP_ID (the XDG variable
    wins on every platform where it is set)."""
    env = os.environ.get(override)
    if env:
        return Path(env)
    base = os.environ.get(xdg)
    if not base:
        if sys.platform == "darwin":
            base = Path.home().joinpath(*mac)
        elif sys.platform == "win32" and os.environ.get(windows):
            base = os.environ[windows]
        else:
            base = Path.home().joinpath(*linux)
    return Path(base) / APP_ID


def bundled_executable(name: str = APP_ID) -> Path | None:
    """In a bundle, the launcher called ``name`` beside the running one (``.exe`` on
    Windows; ``Contents/MacOS`` in a macOS .app), else None."""
    if not is_frozen():
        return None
    exe = Path(sys.executable).resolve()
    for cand in (exe.with_name(name), exe.with_name(name + ".exe")):
        if cand.is_file():
            return cand
    return exe
