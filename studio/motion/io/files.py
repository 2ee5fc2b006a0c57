"""Open and save clips by file type, and the convert job the CLI and the UI share."""

from __future__ import annotations

import os
from pathlib import Path

from studio.jobs import Job, JobContext, UserError
from studio.motion.core.clip import Clip, resample

BVH_SUFFIXES = (".bvh",)
DEEPMIMIC_SUFFIXES = (".txt", ".json")


def sniff_format(path: Path) -> str:
    """"bvh" or "deepmimic", from the suffix or else the first bytes."""
    suffix = path.suffix.lower()
    if suffix in BVH_SUFFIXES:
        return "bvh"
    if suffix in DEEPMIMIC_SUFFIXES:
        return "deepmimic"
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if head.upper().startswith(b"HIERARCHY"):
        return "bvh"
    if head.startswith(b"{"):
        return "deepmimic"
    raise UserError(f"{path}: unknown motion format (expected a .bvh or a DeepMimic .txt file)")


def load_clip(path_or_name: str | os.PathLike) -> Clip:
    """Read a BVH or DeepMimic file; a bare name such as ``walk`` opens a built-in clip."""
    path = Path(path_or_name)
    if not path.exists():
        from studio.motion.io.library import builtin_clips, load_builtin

        if str(path_or_name) in builtin_clips():
            return load_builtin(str(path_or_name))
        raise UserError(f"{path}: file not found (nor a built-in clip name; "
                        "see 'studio motion list')")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a motion file")
    if sniff_format(path) == "bvh":
        clip = _read_bvh_cached(path)
    else:
        from studio.motion.io.deepmimic import read_deepmimic

        clip = read_deepmimic(path)
    _read_licence(clip, path)
    return clip


def _read_bvh_cached(path: Path) -> Clip:
    """A long BVH file is parsed once; later opens memory-map the parsed arrays
    (:mod:`studio.motion.io.cache`). Short files are read as they are."""
    from studio.motion.io import cache
    from studio.motion.io.bvh import read_bvh

    if not cache.wanted(path):
        return read_bvh(path)
    clip = cache.load_cached(path)
    if clip is None:
        clip = read_bvh(path)
        cache.store(path, clip)
    return clip


def licence_path(path: Path) -> Path:
    """Where a clip's licence travels: BVH and DeepMimic files have no place for it."""
    return path.with_name(path.name + ".licence.json")


def _write_licence(clip: Clip, path: Path) -> None:
    side = licence_path(path)
    text = clip.meta.get("license")
    if text:
        import json
        side.write_text(json.dumps({"license": text, "clip": clip.name}, indent=1) + "\n",
                        encoding="utf-8")
    elif side.exists():
        side.unlink()


def _read_licence(clip: Clip, path: Path) -> None:
    side = licence_path(path)
    if side.exists() and "license" not in clip.meta:
        import json
        try:
            clip.meta["license"] = str(json.loads(side.read_text("utf-8"))["license"])
        except (OSError, ValueError, KeyError, TypeError):
            clip.meta["license"] = f"see {side.name} (unreadable)"



def load_source(src: Clip | str | os.PathLike | None, name: str) -> Clip:
    """A clip library entry as a Clip: a Clip already (made in the studio) as it is, a file or
    built-in clip read and given the entry's ``name``; None (no such entry) is a UserError."""
    if src is None:
        raise UserError(f"{name}: not in the clip library")
    if isinstance(src, (str, os.PathLike)):
        clip = load_clip(src)
        clip.name = name
        return clip
    return src

def save_clip(clip: Clip, path: str | os.PathLike) -> None:
    """Write by suffix: ``.bvh`` or DeepMimic ``.txt``/``.json`` (temp file, then rename)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in BVH_SUFFIXES:
        from studio.motion.io.bvh import write_bvh

        write_bvh(clip, path)
    elif suffix in DEEPMIMIC_SUFFIXES:
        from studio.motion.io.deepmimic import write_deepmimic

        write_deepmimic(clip, path)
    else:
        raise UserError(f"{path}: cannot tell the output format from the suffix "
                        "(use .bvh or .txt)")
    _write_licence(clip, path)   # a non-commercial clip stays marked when it comes back


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, fps: float | None = None,
            retarget: bool = False, ctx: JobContext | None = None) -> Clip:
    """Read ``src``, optionally retarget it to the DeepMimic humanoid and resample it to
    ``fps``, write ``dst``; returns the written clip."""
    ctx = ctx or JobContext()
    ctx.progress(0, 4, "reading")
    clip = load_clip(src)
    if retarget:
        from studio.motion.core.retarget import retarget as to_humanoid

        ctx.progress(1, 4, "retargeting")
        clip = to_humanoid(clip, source=str(src))
    if fps is not None:
        ctx.progress(2, 4, "resampling")
        clip = resample(clip, fps)
    ctx.progress(3, 4, "writing")
    save_clip(clip, dst)
    ctx.progress(4, 4, "done", force=True)
    return clip


def convert_job(src: str | os.PathLike, dst: str | os.PathLike, *, fps: float | None = None,
                retarget: bool = False) -> Job:
    """:func:`convert` as a :class:`Job` (for ``ui.workers`` and the CLI)."""
    return Job(f"convert {Path(src).name}",
               lambda ctx: convert(src, dst, fps=fps, retarget=retarget, ctx=ctx))
