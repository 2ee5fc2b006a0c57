"""Find the models under ``models/`` and check each one loads against its manifest."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from studio.jobs import UserError
from studio.runtime.manifest import Manifest
from studio.runtime.providers import ProviderChoice

# Checks beyond "the graph matches its manifest", per role: "module:function" names,
# imported only when a model of that role is checked (the runtime does not import the
# workbenches). ``function(manifest_path, pool) -> (problems, notes)``: a problem means the
# model cannot be used where it sits (e.g. a U-Net that does not fit the audio encoder
# beside it); a note is worth knowing but the model works.
ROLE_CHECKS: dict[str, str] = {
    "talk.unet": "studio.talk.pair:registry_check",
}


@dataclass
class ModelReport:
    manifest_path: Path
    manifest: Manifest | None
    loads: bool
    error: str = ""
    provider: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # it works, but not as declared
    batch_fixed: int | None = None  # the graph fixes a batch axis the manifest calls free

    @property
    def status(self) -> str:
        """One phrase for a listing: "loads on CPU", "runs row by row on CPU (...)",
        "loads on CPU, with N warning(s)" or "FAILS"."""
        if not self.loads:
            return "FAILS"
        where = self.provider.replace("ExecutionProvider", "") or "CPU"
        if self.batch_fixed is not None:
            return (f"runs {self.batch_fixed} row(s) per call on {where}: the manifest declares "
                    "a dynamic batch axis the graph fixes")
        if self.warnings:
            return f"loads on {where}, with {len(self.warnings)} warning(s)"
        return f"loads on {where}"


def discover(models_dir: Path) -> list[Path]:
    """Every manifest.json below ``models_dir`` (recipes' own folders are skipped)."""
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.rglob("manifest.json") if "recipes" not in p.parts)


def _role_check(manifest_path: Path, manifest: Manifest, pool) -> tuple[list[str], list[str]]:
    target = ROLE_CHECKS.get(manifest.role)
    if not target:
        return [], []
    module, _, name = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        return [], [f"the extra check for role '{manifest.role}' is unavailable ({exc})"]
    return fn(manifest_path, pool)


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
    # show the graph's shape beside the manifest's where the graph fixes a free dim
    for lines, shapes, specs in ((io[0], pool.input_shapes, manifest.inputs),
                                 (io[1], pool.output_shapes, manifest.outputs)):
        for k, (spec, g) in enumerate(zip(specs, shapes)):
            if len(g) == len(spec.shape) and any(isinstance(d, str) and isinstance(e, int)
                                                 for d, e in zip(spec.shape, g)):
                lines[k] += f"  (graph: ({', '.join(str(e) for e in g)}))"
    warnings = list(pool.batch_notes)
    batch_fixed = pool.fixed_batch
    try:
        problems, notes = _role_check(manifest_path, manifest, pool)
    except UserError as exc:
        problems, notes = [str(exc)], []
    finally:
        pool.close()
    warnings += [n for n in notes if n not in warnings]
    if problems:
        return ModelReport(manifest_path, manifest, False,
                           "loads, but cannot be used here:\n  - " + "\n  - ".join(problems),
                           provider, *io, warnings=warnings, batch_fixed=batch_fixed)
    return ModelReport(manifest_path, manifest, True, "", provider, *io, warnings=warnings,
                       batch_fixed=batch_fixed)
