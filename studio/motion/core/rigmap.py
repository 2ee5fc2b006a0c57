"""User-fixed joint mappings: {role: joint name} for one rig, validated and saved per rig.

Automatic matching (``skeleton.find_roles``) cannot be right for every rig, so the user can
say which joint plays which role. A mapping is saved as JSON under the user data folder
(``studio.paths.user_data_dir()/motion/rig-mappings/<key>.json``), keyed by a hash of the
rig's sorted joint names, so every file of the same rig picks it up; ``find_roles`` applies
it on top of the automatic match.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from studio.jobs import UserError, atomic_path
from studio.motion.core.skeleton import CORE_ROLES, ROLES, Skeleton

log = logging.getLogger(__name__)

ROLE_LABELS: dict[str, str] = {
    "hips": "hips / pelvis", "neck": "neck (or the top of the spine)", "head": "head",
    **{f"{s}_{p}": f"{s} {label}" for s in ("left", "right") for p, label in (
        ("upleg", "upper leg (thigh)"), ("leg", "lower leg (shin)"), ("foot", "foot / ankle"),
        ("toe", "toe"), ("arm", "upper arm"), ("forearm", "forearm"), ("hand", "hand / wrist"))},
}
# Roles that may share a joint: a rig without a neck maps neck and head to its head.
_MAY_SHARE = {frozenset(("neck", "head"))}

_cache: dict[Path, tuple[float, dict[str, int] | None]] = {}


def rig_key(skeleton: Skeleton) -> str:
    """A stable id for a rig: the first 16 hex digits of the SHA-1 of its sorted names."""
    text = "\n".join(sorted(skeleton.names))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def mapping_path(skeleton: Skeleton) -> Path:
    from studio.paths import user_data_dir

    return user_data_dir() / "motion" / "rig-mappings" / f"{rig_key(skeleton)}.json"


def validate_mapping(skeleton: Skeleton, mapping: dict[str, str], *, complete: bool = False,
                     source: str = "") -> dict[str, int]:
    """{role: joint index} for a {role: joint name} mapping, or a :class:`UserError` that
    lists every problem: unknown roles, joints not in the rig, end sites, a joint given two
    roles, and (``complete``) core roles left out."""
    where = f"{source}: " if source else ""
    problems: list[str] = []
    out: dict[str, int] = {}
    for role, joint in mapping.items():
        if role not in ROLES:
            problems.append(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
            continue
        j = skeleton.get(str(joint))
        if j is None:
            problems.append(f"{role}: no joint named {joint!r} in the rig")
        elif skeleton.end_sites[j]:
            problems.append(f"{role}: {joint!r} is an end site, not an animated joint")
        else:
            out[role] = j
    by_joint: dict[int, list[str]] = {}
    for role, j in out.items():
        by_joint.setdefault(j, []).append(role)
    for j, roles in by_joint.items():
        if len(roles) > 1 and frozenset(roles) not in _MAY_SHARE:
            problems.append(f"{skeleton.names[j]!r} is given several roles: {', '.join(roles)}")
    if complete:
        missing = [r for r in CORE_ROLES if r not in out]
        if missing:
            problems.append("missing roles: " + ", ".join(f"{r} ({ROLE_LABELS[r]})"
                                                          for r in missing))
    if problems:
        raise UserError(f"{where}joint mapping: " + "; ".join(problems))
    return out


def load_mapping(skeleton: Skeleton) -> dict[str, str] | None:
    """The saved {role: joint name} mapping of this rig, or None. A damaged file is a
    :class:`UserError` naming it."""
    path = mapping_path(skeleton)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mapping = data["mapping"]
        if not isinstance(mapping, dict):
            raise TypeError("mapping is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: not a joint-mapping file ({exc})") from None
    return {str(k): str(v) for k, v in mapping.items()}


def save_mapping(skeleton: Skeleton, mapping: dict[str, str]) -> Path:
    """Validate ``mapping`` and save it for this rig (replacing any earlier one); an empty
    mapping deletes the saved one. Returns the file."""
    path = mapping_path(skeleton)
    if not mapping:
        clear_mapping(skeleton)
        return path
    validate_mapping(skeleton, mapping)
    data = {"rig": rig_key(skeleton), "joints": len(skeleton), "mapping": dict(mapping)}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _cache.pop(path, None)
    return path


def clear_mapping(skeleton: Skeleton) -> None:
    """Forget this rig's saved mapping (automatic matching applies again)."""
    path = mapping_path(skeleton)
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    _cache.pop(path, None)


def saved_mapping(skeleton: Skeleton) -> dict[str, int]:
    """The saved mapping as {role: joint index} ({} when none). Read once per file change,
    since role lookups run often; a damaged or stale file is logged and ignored, so a bad
    file never stops the tools (the UI and ``studio motion roles`` report it)."""
    path = mapping_path(skeleton)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    hit = _cache.get(path)
    if hit is None or hit[0] != mtime:
        try:
            roles = validate_mapping(skeleton, load_mapping(skeleton) or {}, source=str(path))
        except UserError as exc:
            log.warning("%s", exc)
            roles = None
        hit = (mtime, roles)
        _cache[path] = hit
    return dict(hit[1] or {})
