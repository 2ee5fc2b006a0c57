"""The ``studio`` command: every workbench headless, plus machine and model checks."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from studio import __version__
from studio.paths import MODELS_DIR, ROOT

WORKBENCHES = {
    "talk": "talking-head lip-sync: prepare avatars, render audio to video",
    "motion": "motion clips: inspect, convert, phase, blend",
    "codec": "codec comparison: rate-distortion sweeps, metrics, BD-rate",
}


def _cmd_devices(args: argparse.Namespace) -> int:
    from studio.runtime.pool import machine
    from studio.runtime.providers import PREFERENCES, choose, describe

    m = machine()
    print(describe(m, "auto"))
    print()
    for pref in PREFERENCES[1:]:
        c = choose(pref, m)
        print(f"  {pref:<7} -> {c.label:<8} {c.reason}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from studio.runtime.registry import check, discover

    root = Path(args.dir) if args.dir else MODELS_DIR
    manifests = discover(root)
    if not manifests:
        print(f"no models found under {root} (each model is a folder with model.onnx and "
              "manifest.json)")
        return 0
    bad = 0
    for mp in manifests:
        r = check(mp)
        rel = mp.parent.relative_to(root) if mp.is_relative_to(root) else mp.parent
        status = r.status  # "loads on CPU", "runs 1 row(s) per call on CPU: ...", "FAILS"
        print(f"{rel}  [{status}]")
        if r.manifest:
            print(f"  role: {r.manifest.role}  version: {r.manifest.version}"
                  + (f"  licence: {r.manifest.license}" if r.manifest.license else ""))
            if r.manifest.description:
                print(f"  {r.manifest.description}")
        for line in r.inputs:
            print(f"  in : {line}")
        for line in r.outputs:
            print(f"  out: {line}")
        if not r.loads:
            bad += 1
            print("  error: " + r.error.replace("\n", "\n  "))
        for w in r.warnings:
            print("  warning: " + w)
    return 1 if bad else 0


def _cmd_screenshot(args: argparse.Namespace) -> int:
    # ui/ sits above studio/: run it as its own process rather than importing it here. In a
    # bundle there is no script to give an interpreter: the GUI launcher has the sub-command.
    from studio.paths import bundled_executable, is_frozen

    out = str(Path(args.out).resolve())
    env = dict(os.environ)
    if is_frozen():
        cmd = [str(bundled_executable()), "screenshot", "--out", out, "--size", args.size]
    else:
        cmd = [sys.executable, "-m", "ui.screenshot", "--out", out, "--size", args.size]
        if (ROOT / "ui").is_dir():  # a checkout that was never pip-installed
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.call(cmd, env=env)


def _cmd_bench(args: argparse.Namespace) -> int:
    script = ROOT / "bench" / f"bench_{args.what}.py"
    if not script.exists():
        where = " (benchmarks ship with the source, not the app)" if _frozen() else ""
        print(f"no benchmark named {args.what!r} (looked for {script}){where}", file=sys.stderr)
        return 2
    import importlib.util

    missing = [m for m in ("onnx", "pytest") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"the benchmarks build test-fixture models and need {', '.join(missing)}: run "
              "./bootstrap.sh test once (or .venv/bin/pip install -e '.[test]')", file=sys.stderr)
        return 2
    # In this process (no interpreter relaunch: a bundle has none), as `python script` would.
    import runpy

    saved_argv, saved_cwd = sys.argv[:], os.getcwd()
    sys.argv = [str(script), *args.rest]
    try:
        os.chdir(ROOT)
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return 0


def _frozen() -> bool:
    from studio.paths import is_frozen

    return is_frozen()


def _placeholder(name: str):
    def run(args: argparse.Namespace) -> int:
        print(f"studio {name}: this workbench has no command-line actions in this build yet.",
              file=sys.stderr)
        return 2
    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="studio", description="Neural Media Studio: run neural media models headless.",
        epilog="Run without arguments through main.py to open the desktop app.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    p.add_argument("--provider", choices=["auto", "coreml", "cuda", "cpu"], default=None,
                   help="execution provider for this run (default: auto)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("devices", help="execution providers found and which one Auto picks")
    d.set_defaults(func=_cmd_devices)
    m = sub.add_parser("models", help="every model under models/: manifest, loads?, shapes")
    m.add_argument("--dir", help="look here instead of the shipped models/ folder")
    m.set_defaults(func=_cmd_models)

    for name, helptext in WORKBENCHES.items():
        try:
            mod = importlib.import_module(f"studio.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name not in (f"studio.{name}", f"studio.{name}.cli"):
                raise
            sp = sub.add_parser(name, help=helptext)
            sp.set_defaults(func=_placeholder(name))
        else:
            mod.register(sub)

    b = sub.add_parser("bench", help="run a benchmark script from bench/ (prints ratios)")
    b.add_argument("what", help="runtime, talk, motion or codec")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the script")
    b.set_defaults(func=_cmd_bench)
    s = sub.add_parser("screenshot", help="open each workbench in a real window, save PNGs")
    s.add_argument("--out", default="screenshots", help="folder for the PNG files")
    s.add_argument("--size", default="1400x880", help="window size WxH (e.g. 1366x768)")
    s.set_defaults(func=_cmd_screenshot)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.provider:
        import os
        os.environ["STUDIO_PROVIDER"] = args.provider
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        from studio.jobs import UserError

        if isinstance(exc, UserError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
