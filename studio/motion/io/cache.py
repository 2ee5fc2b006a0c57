"""A parse-once cache for long BVH files: the clip's arrays as ``.npy`` files that later
opens memory-map.

Parsing a 50,000-frame BVH (62 MB of text) costs seconds and a few hundred MB; the parsed
clip (root positions, quaternions, animated translations: float64, exactly what the reader
returns) is written once to ``<user cache>/motion/bvh/<key>/`` and every later open maps
it with ``np.load(mmap_mode="c")``: it takes milliseconds, and only the frames a command
touches are read from disk (copy-on-write, so code that edits a clip in place still works
on its private copy). The key is the SHA-1 of the file's resolved path, size and
modification time (and the cache format), so an edited or replaced file is parsed again.

Only files of :data:`MIN_BYTES` or more are cached: short clips parse in milliseconds and
stay exactly as before. A damaged or half-written entry is ignored (and rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from studio.motion.core.clip import Clip
from studio.motion.core.skeleton import Skeleton

log = logging.getLogger(__name__)

FORMAT = 1
MIN_BYTES = 2_000_000  # about 1,500 frames of a 27-joint, 6-channel-per-joint rig
KEEP = 16  # cached clips kept; the least recently used go first


def cache_root() -> Path:
    from studio.paths import user_cache_dir

    return user_cache_dir() / "motion" / "bvh"


def cache_key(path: Path) -> str:
    """Path + size + mtime (+ format): any change to the file gives a new key."""
    st = path.stat()
    ident = f"{FORMAT}\0{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha1(ident.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def cache_dir(path: Path) -> Path:
    return cache_root() / cache_key(path)


def wanted(path: Path) -> bool:
    try:
        return path.stat().st_size >= MIN_BYTES
    except OSError:
        return False


def load_cached(path: Path) -> Clip | None:
    """The clip of ``path`` from the cache (arrays memory-mapped), or None when not cached."""
    d = cache_dir(path)
    meta_file = d / "meta.json"
    if not meta_file.is_file():
        return None
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
        sk = Skeleton(meta["names"], meta["parents"], np.array(meta["offsets"], float),
                      [tuple(c) for c in meta["channels"]], int(meta["up"]),
                      tuple(meta["forward"]))
        root = np.load(d / "root_pos.npy", mmap_mode="c")
        rots = np.load(d / "rotations.npy", mmap_mode="c")
        trans = (np.load(d / "translations.npy", mmap_mode="c")
                 if meta["translations"] else None)
        clip = Clip(sk, float(meta["fps"]), root, rots, trans, name=meta["name"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("motion cache entry %s is unusable (%s); parsing %s again", d, exc, path)
        return None
    if meta.get("notes"):
        clip.meta["notes"] = list(meta["notes"])
    clip.meta["cached"] = str(d)
    try:
        os.utime(meta_file)  # least recently used goes first
    except OSError:
        pass
    return clip


def store(path: Path, clip: Clip) -> Path | None:
    """Write ``clip`` (just parsed from ``path``) to the cache; returns the entry's folder,
    or None when it cannot be written (the cache is an optimisation: never an error)."""
    d = cache_dir(path)
    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        sk = clip.skeleton
        np.save(tmp / "root_pos.npy", np.ascontiguousarray(clip.root_pos))
        np.save(tmp / "rotations.npy", np.ascontiguousarray(clip.rotations))
        if clip.translations is not None:
            np.save(tmp / "translations.npy", np.ascontiguousarray(clip.translations))
        meta = {"format": FORMAT, "source": str(path.resolve()), "name": clip.name,
                "fps": clip.fps, "names": list(sk.names), "parents": list(sk.parents),
                "offsets": sk.offsets.tolist(), "channels": [list(c) for c in sk.channels],
                "up": sk.up, "forward": list(sk.forward),
                "translations": clip.translations is not None,
                "notes": list(clip.meta.get("notes", ()))}
        # meta.json last: an entry without it is never read
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
    except OSError as exc:
        log.warning("cannot cache %s in %s: %s", path, d, exc)
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    _prune()
    return d


def _prune() -> None:
    """Keep the :data:`KEEP` most recently used entries."""
    root = cache_root()
    try:
        entries = [p for p in root.iterdir() if (p / "meta.json").is_file()]
        entries.sort(key=lambda p: (p / "meta.json").stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
