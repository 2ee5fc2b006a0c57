"""BVH (Biovision hierarchy) read and write, for any skeleton.

Conventions, matching Blender, MotionBuilder and the CMU/Mixamo/Bandai-Namco exports:

* Rotation channels are Euler angles in degrees, applied intrinsically in channel order
  (``Zrotation Xrotation Yrotation`` -> ``R = Rz @ Rx @ Ry``); each joint may use its own order,
  and joints with one or two rotation channels are supported.
* Position channels give the joint's local translation and *replace* its OFFSET (true for the
  root and for files that put position channels on every joint, whose values equal the
  offsets unless the bones stretch).
* ``End Site`` blocks become end-site joints named ``<parent>_End`` (no channels), so FK
  reaches the tips. On writing, every leaf joint without channels becomes an End Site again;
  a non-leaf joint without channels is written with three (identity) rotation channels.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial.transform import Rotation

from studio.jobs import UserError, atomic_path
from studio.motion.core.clip import Clip, normalised
from studio.motion.core.skeleton import POSITION_CHANNELS, ROTATION_CHANNELS, Skeleton

_CHANNEL_CASE = {c.lower(): c for c in POSITION_CHANNELS + ROTATION_CHANNELS}


class _Parser:
    """Line-aware reader of the HIERARCHY section (errors carry the line number)."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path, self.lines = path, lines
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[tuple[float, float, float]] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_sites: set[int] = set()

    def fail(self, lineno: int, msg: str) -> UserError:
        return UserError(f"{self.path}: line {lineno}: {msg}")

    def _new_joint(self, name: str, parent: int, lineno: int) -> int:
        if not name:
            raise self.fail(lineno, "joint without a name")
        if name in self.names:
            base, k = name, 2
            while f"{base}_{k}" in self.names:
                k += 1
            name = f"{base}_{k}"
        self.names.append(name)
        self.parents.append(parent)
        self.offsets.append((0.0, 0.0, 0.0))
        self.channels.append(())
        return len(self.names) - 1

    def parse_hierarchy(self) -> int:
        """Parse up to MOTION; return the index of the MOTION line."""
        i = 0
        while i < len(self.lines) and not self.lines[i].strip():
            i += 1
        if i >= len(self.lines) or self.lines[i].split()[0].upper() != "HIERARCHY":
            raise self.fail(i + 1, "not a BVH file (expected HIERARCHY)")
        stack: list[int] = []
        pending: int | None = None
        done_root = False
        i += 1
        while i < len(self.lines):
            lineno = i + 1
            toks = self.lines[i].split()
            i += 1
            if not toks:
                continue
            kw = toks[0].upper()
            if kw == "MOTION":
                if stack or pending is not None:
                    raise self.fail(lineno, "MOTION before the hierarchy was closed "
                                            "(missing '}')")
                if not self.names:
                    raise self.fail(lineno, "no ROOT joint in the hierarchy")
                return i - 1
            rest = toks[1:]
            if kw in ("ROOT", "JOINT"):
                if pending is not None:
                    raise self.fail(lineno, f"expected '{{' after {self.names[pending]!r}")
                if kw == "ROOT" and (stack or done_root):
                    raise self.fail(lineno, "only one ROOT is supported")
                if kw == "JOINT" and not stack:
                    raise self.fail(lineno, "JOINT outside of ROOT")
                if stack and stack[-1] in self.end_sites:
                    raise self.fail(lineno, "an End Site cannot have child joints")
                opens = bool(rest) and rest[-1] == "{"
                name = " ".join(rest[:-1] if opens else rest)
                pending = self._new_joint(name, stack[-1] if stack else -1, lineno)
                done_root = True
                if opens:
                    stack.append(pending)
                    pending = None
            elif kw == "END":
                if not stack or pending is not None:
                    raise self.fail(lineno, "End Site outside of a joint")
                if len(rest) < 1 or rest[0].upper() != "SITE":
                    raise self.fail(lineno, f"expected 'End Site', got {self.lines[i-1].strip()!r}")
                parent = stack[-1]
                if parent in self.end_sites:
                    raise self.fail(lineno, "an End Site cannot have child joints")
                pending = self._new_joint(f"{self.names[parent]}_End", parent, lineno)
                self.end_sites.add(pending)
                if rest[-1] == "{":
                    stack.append(pending)
                    pending = None
            elif kw == "{":
                if pending is None:
                    raise self.fail(lineno, "'{' without a joint")
                stack.append(pending)
                pending = None
            elif kw == "}":
                if not stack:
                    raise self.fail(lineno, "unbalanced '}'")
                stack.pop()
            elif kw == "OFFSET":
                if not stack or pending is not None:
                    raise self.fail(lineno, "OFFSET outside of a joint block")
                if len(rest) != 3:
                    raise self.fail(lineno, f"OFFSET needs 3 numbers, got {len(rest)}")
                try:
                    self.offsets[stack[-1]] = tuple(float(v) for v in rest)  # type: ignore
                except ValueError:
                    raise self.fail(lineno, f"OFFSET values are not numbers: {' '.join(rest)}")
                if not np.all(np.isfinite(self.offsets[stack[-1]])):
                    raise self.fail(lineno, "OFFSET values are NaN or infinite")
            elif kw == "CHANNELS":
                if not stack or pending is not None:
                    raise self.fail(lineno, "CHANNELS outside of a joint block")
                j = stack[-1]
                if j in self.end_sites:
                    raise self.fail(lineno, "an End Site cannot have CHANNELS")
                try:
                    n = int(rest[0])
                except (IndexError, ValueError):
                    raise self.fail(lineno, "CHANNELS needs a count") from None
                chans = rest[1:]
                if len(chans) != n:
                    raise self.fail(lineno, f"CHANNELS says {n} but lists {len(chans)}")
                fixed = []
                for c in chans:
                    if c.lower() not in _CHANNEL_CASE:
                        raise self.fail(lineno, f"unknown channel {c!r}")
                    fixed.append(_CHANNEL_CASE[c.lower()])
                if len(set(fixed)) != len(fixed):
                    raise self.fail(lineno, "a channel is listed twice")
                self.channels[j] = tuple(fixed)
            else:
                raise self.fail(lineno, f"unexpected {toks[0]!r} in the hierarchy")
        raise self.fail(len(self.lines), "file ends before MOTION")


def _parse_header(path: Path, lines: list[str], i: int, key: str) -> tuple[str, int]:
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        raise UserError(f"{path}: line {i + 1}: file ends before '{key}:'")
    line = lines[i].strip()
    # Exporters differ in spacing: "Frame Time:", "Frame\tTime:\t", "FrameTime :".
    if not re.sub(r"\s+", "", line).lower().startswith(key.lower().replace(" ", "") + ":"):
        raise UserError(f"{path}: line {i + 1}: expected '{key}:', got {line[:40]!r}")
    return line.split(":", 1)[1].strip(), i + 1


def read_bvh(path: str | os.PathLike) -> Clip:
    """Read a BVH file into a :class:`Clip`. Raises :class:`UserError` with the file and
    line number on malformed input, NaNs, or a motion with no frames.

    Tolerated, as Blender and assimp do: a UTF-8 byte-order mark, tabs in the MOTION header,
    and a MOTION section with one frame row more or fewer than "Frames:" says (the rows
    present are used and ``clip.meta["notes"]`` says so)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a BVH file") from None
    lines = text.splitlines()
    del text  # the lines hold it all; keep one copy of a long file, not two
    parser = _Parser(path, lines)
    motion = parser.parse_hierarchy()
    value, i = _parse_header(path, lines, motion + 1, "Frames")
    try:
        n_frames = int(value)
    except ValueError:
        raise UserError(f"{path}: line {i}: frame count is not a whole number: {value!r}")
    value, i = _parse_header(path, lines, i, "Frame Time")
    try:
        frame_time = float(value)
    except ValueError:
        raise UserError(f"{path}: line {i}: frame time is not a number: {value!r}")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise UserError(f"{path}: line {i}: frame time must be positive, got {value}")
    if n_frames < 0:
        raise UserError(f"{path}: negative frame count (Frames: {n_frames})")

    skel = Skeleton(parser.names, parser.parents, np.array(parser.offsets), parser.channels)
    n_chan = sum(len(c) for c in skel.channels)
    # Frame rows are parsed in blocks straight into one float array: a token list per
    # value (8 million Python strings for a 50,000-frame, 162-channel file) took ~1 GB.
    linenos = [k + 1 for k in range(i, len(lines)) if not lines[k].isspace() and lines[k]]
    notes: list[str] = []
    if not linenos:
        raise UserError(f"{path}: the clip has no frames (Frames: {n_frames})")
    if len(linenos) == n_frames - 1 or len(linenos) == n_frames + 1:
        # Off by one is a common exporter slip (a counted rest frame, a lost last line).
        notes.append(f"the header says {n_frames} frames but the file has {len(linenos)}; "
                     f"all {len(linenos)} were read")
        n_frames = len(linenos)
    if len(linenos) < n_frames:
        raise UserError(f"{path}: the header says {n_frames} frames but the file has "
                        f"{len(linenos)} (truncated?)")
    if len(linenos) > n_frames:
        raise UserError(f"{path}: line {linenos[n_frames]}: more frame lines than the "
                        f"{n_frames} the header says")
    data = _parse_rows(path, lines, linenos, n_chan)
    if not np.all(np.isfinite(data)):
        f = int(np.argwhere(~np.isfinite(data))[0][0])
        raise UserError(f"{path}: line {linenos[f]}: NaN or infinite value in frame {f}")

    clip = _clip_from_channels(skel, data, 1.0 / frame_time, path.stem)
    if notes:
        clip.meta["notes"] = notes
    clip.check(str(path))
    from studio.motion.core.fk import infer_axes

    up, forward = infer_axes(clip)
    clip.skeleton = Skeleton(skel.names, skel.parents, skel.offsets, skel.channels, up, forward)
    return clip


_BLOCK = 1024  # frame rows parsed at a time


def _parse_rows(path: Path, lines: list[str], linenos: list[int], n_chan: int) -> np.ndarray:
    """(rows, n_chan) floats from the frame lines (1-based ``linenos``), a block at a time;
    errors name the line: a wrong number of values, or a value that is not a number."""
    data = np.empty((len(linenos), n_chan))
    for start in range(0, len(linenos), _BLOCK):
        block = linenos[start:start + _BLOCK]
        toks = [lines[ln - 1].split() for ln in block]
        for t, ln in zip(toks, block):
            if len(t) != n_chan:
                raise UserError(f"{path}: line {ln}: {len(t)} values, expected {n_chan} "
                                "(one per channel)")
        try:
            data[start:start + len(block)] = np.array(toks, dtype=np.float64)
        except ValueError:
            for t, ln in zip(toks, block):
                for v in t:
                    try:
                        float(v)
                    except ValueError:
                        raise UserError(f"{path}: line {ln}: {v!r} is not a number") from None
            raise
    return data


def _clip_from_channels(skel: Skeleton, data: np.ndarray, fps: float, name: str) -> Clip:
    from scipy.spatial.transform import Rotation

    t, n = data.shape[0], len(skel)
    rots = np.zeros((t, n, 4))
    rots[..., 3] = 1.0
    trans = np.broadcast_to(skel.offsets, (t, n, 3)).copy()
    col = 0
    any_pos = False
    for j, chans in enumerate(skel.channels):
        rot_cols = [col + k for k, c in enumerate(chans) if c in ROTATION_CHANNELS]
        for k, c in enumerate(chans):
            if c in POSITION_CHANNELS:
                trans[:, j, POSITION_CHANNELS.index(c)] = data[:, col + k]
                any_pos = any_pos or j > 0
        if rot_cols:
            rots[:, j] = Rotation.from_euler(skel.rotation_order(j), data[:, rot_cols],
                                             degrees=True).as_quat()
        col += len(chans)
    return Clip(skel, fps, trans[:, 0].copy(), normalised(rots),
                translations=trans if any_pos else None, name=name)


def _euler(rot: Rotation, order: str) -> np.ndarray:
    """Euler angles (degrees) for ``order``; orders with fewer than three axes take the
    leading angles of a full decomposition (the other axes' parts are dropped)."""
    full = order + "".join(a for a in "XYZ" if a not in order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: still an exact rotation
        return rot.as_euler(full, degrees=True)[:, :len(order)]


def bvh_text(clip: Clip, precision: int = 6) -> str:
    """The BVH file contents for ``clip`` (see the module notes for conventions)."""
    out = io.StringIO()
    write_bvh_stream(clip, out, precision)
    return out.getvalue()


_WRITE_BLOCK = 4096  # frame rows converted and formatted at a time


def write_bvh_stream(clip: Clip, out, precision: int = 6) -> None:
    """Write the BVH text of ``clip`` to the text stream ``out``, the frame rows a block of
    :data:`_WRITE_BLOCK` frames at a time (a long clip is never formatted as one string)."""
    sk = clip.skeleton
    children = [sk.children(j) for j in range(len(sk))]
    chans = [c if (c or not children[j]) else ("Zrotation", "Xrotation", "Yrotation")
             for j, c in enumerate(sk.channels)]
    fmt = f"{{:.{precision}f}}"
    out.write("HIERARCHY\n")

    order: list[int] = []  # joints in file order: the frame columns follow it

    def emit(j: int, depth: int) -> None:
        order.append(j)
        pad = "  " * depth
        off = " ".join(fmt.format(v) for v in sk.offsets[j])
        if not chans[j]:
            out.write(f"{pad}End Site\n{pad}{{\n{pad}  OFFSET {off}\n{pad}}}\n")
            return
        out.write(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {sk.names[j]}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {off}\n")
        out.write(f"{pad}  CHANNELS {len(chans[j])} {' '.join(chans[j])}\n")
        for c in children[j]:
            emit(c, depth + 1)
        out.write(f"{pad}}}\n")

    emit(0, 0)
    t = clip.n_frames
    out.write(f"MOTION\nFrames: {t}\nFrame Time: {1.0 / clip.fps:.8f}\n")
    from scipy.spatial.transform import Rotation

    for s in range(0, t, _WRITE_BLOCK):
        e = min(t, s + _WRITE_BLOCK)
        local_t = clip.local_translations(s, e)
        cols = []
        for j in order:
            cs = chans[j]
            axes = "".join(c[0] for c in cs if c in ROTATION_CHANNELS)
            ang = _euler(Rotation.from_quat(clip.rotations[s:e, j]), axes) if axes else None
            r = 0
            for c in cs:
                if c in POSITION_CHANNELS:
                    cols.append(local_t[:, j, POSITION_CHANNELS.index(c)])
                else:
                    cols.append(ang[:, r])
                    r += 1
        data = np.stack(cols, axis=1) if cols else np.zeros((e - s, 0))
        np.savetxt(out, data, fmt=f"%.{precision}f", delimiter=" ")


def write_bvh(clip: Clip, path: str | os.PathLike, precision: int = 6) -> None:
    """Write ``clip`` as BVH (temp file, then rename). Lengths are in the clip's units."""
    clip.check(clip.name or str(path))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            write_bvh_stream(clip, fh, precision)
