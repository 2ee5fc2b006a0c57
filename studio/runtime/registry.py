"""Find the models under ``models/`` and check each one loads against its manifest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from studio.jobs import UserError
from studio.runtime.manifest import Manifest
from studio.runtime.providers import ProviderChoice


@dataclass
class ModelReport:
    manifest_path: Path
    manifest: Manifest | None
    loads: bool
    error: str = ""
    provider: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def discover(models_dir: Path) -> list[Path]:
    """Every manifest.json below ``models_dir`` (recipes' own folders are skipped)."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.rglob("manifest.json") if "recipes" not in p.parts)


def check(manifest_path: Path, choice: ProviderChoice | None = None) -> ModelReport:
    from studio.runtime.pool import SessionPool

    try:
        manifest = Manifest.load(manifest_path)
    except UserError as exc:
        return ModelReport(manifest_path, None, False, str(exc))
    io = ([f"{t.name} {t.shape_text()} {t.dtype}" for t in manifest.inputs],
          [f"{t.name} {t.shape_text()} {t.dtype}" for t in manifest.outputs])
    try:
        pool = SessionPool(manifest, sessions=1, threads=1, choice=choice, warmup=True)
    except UserError as exc:
        return ModelReport(manifest_path, manifest, False, str(exc), "", *io)
    except Exception as exc:  # noqa: BLE001 - a report, not a crash
        return ModelReport(manifest_path, manifest, False, f"{type(exc).__name__}: {exc}", "", *io)
    provider = pool.provider
    pool.close()
    return ModelReport(manifest_path, manifest, True, "", provider, *io)
