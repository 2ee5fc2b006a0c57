"""Build the standalone app for the OS this runs on. See docs/packaging.md.

    .venv/bin/pip install -e '.[package]'     (PyInstaller, once)
    .venv/bin/python packaging/build.py       (dist/neural-media-studio/ and the OS's wrapping)

Linux    dist/neural-media-studio/ (folder bundle), plus .desktop file and icon inside it and
         dist/neural-media-studio-VERSION-linux-ARCH.tar.gz (AppImage-style: unpack, run
         ./neural-media-studio/neural-media-studio, or ./install-desktop-entry.sh once)
macOS    dist/Neural Media Studio.app (Info.plist: microphone use, document types)
Windows  dist\\neural-media-studio\\ and, where Inno Setup's iscc is on PATH, the installer
         dist\\neural-media-studio-VERSION-setup.exe (packaging/windows/neural-media-studio.iss)

Options: --skip-if-fresh (reuse a bundle built after the last source change), --reuse (any
finished bundle), --no-archive.
Prints the bundle's size at the end (and writes dist/bundle-info.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import appinfo  # noqa: E402

ROOT = appinfo.ROOT
SPEC = HERE / "neural_media_studio.spec"
BUNDLE = appinfo.DIST / appinfo.APP_ID


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def newest_source_mtime() -> float:
    roots = [ROOT / "studio", ROOT / "ui", ROOT / "models", ROOT / "resources", HERE,
             ROOT / "main.py", ROOT / "pyproject.toml"]
    newest = 0.0
    for r in roots:
        files = [r] if r.is_file() else r.rglob("*")
        for p in files:
            if p.is_file() and "__pycache__" not in p.parts and "recipes" not in p.parts \
                    and p.name != "coreml.py":
                newest = max(newest, p.stat().st_mtime)
    return newest


STAMP = appinfo.DIST / ".build-started"  # touched when a build starts, kept when it succeeds


def bundle_is_fresh() -> bool:
    """A finished build that started after the last change to any source file (a file
    edited while PyInstaller ran makes the bundle stale)."""
    exe = BUNDLE / (appinfo.APP_ID + (".exe" if os.name == "nt" else ""))
    return exe.exists() and STAMP.exists() and STAMP.stat().st_mtime > newest_source_mtime()


def run_pyinstaller() -> None:
    import importlib.util

    if importlib.util.find_spec("PyInstaller") is None:
        sys.exit("PyInstaller is not installed here: pip install -e '.[package]'")
    subprocess.check_call([sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
                           "--clean", "--log-level", "WARN",
                           "--distpath", str(appinfo.DIST), "--workpath", str(appinfo.BUILD)],
                          cwd=ROOT)


def make_icon() -> Path:
    icon_dir = appinfo.BUILD / "icon"
    subprocess.check_call([sys.executable, str(HERE / "make_icon.py"), str(icon_dir)], cwd=ROOT)
    return icon_dir


def desktop_entry() -> str:
    mimes = sorted({m for t in appinfo.document_types() for m in t["mime"]})
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        f"Name={appinfo.NAME}",
        "GenericName=Neural media workbench",
        "Comment=Talking heads, motion and codec comparison with neural models, on this machine",
        f"Exec={appinfo.APP_ID} %F",
        f"Icon={appinfo.APP_ID}",
        "Terminal=false",
        "Categories=AudioVideo;Video;Graphics;",
        "MimeType=" + ";".join(mimes) + ";",
        "",
    ])


INSTALL_SH = """#!/bin/sh
# Add Neural Media Studio to the desktop's application menu (for this user): run once
# from inside the unpacked folder. Undo: rm the two files named below.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/512x512/apps"
mkdir -p "$APPS" "$ICONS"
cp "$HERE/share/neural-media-studio.png" "$ICONS/neural-media-studio.png"
sed "s|^Exec=neural-media-studio|Exec=\\"$HERE/neural-media-studio\\"|" \\
    "$HERE/share/neural-media-studio.desktop" > "$APPS/neural-media-studio.desktop"
echo "added $APPS/neural-media-studio.desktop and $ICONS/neural-media-studio.png"
"""


def wrap_linux(icon_dir: Path, archive: bool) -> list[Path]:
    share = BUNDLE / "share"
    share.mkdir(exist_ok=True)
    shutil.copy2(icon_dir / "app.png", share / f"{appinfo.APP_ID}.png")
    (share / f"{appinfo.APP_ID}.desktop").write_text(desktop_entry(), encoding="utf-8")
    inst = BUNDLE / "install-desktop-entry.sh"
    inst.write_text(INSTALL_SH, encoding="utf-8")
    inst.chmod(0o755)
    out = [share / f"{appinfo.APP_ID}.desktop"]
    if archive:
        arch = platform.machine().lower()
        tgz = appinfo.DIST / f"{appinfo.APP_ID}-{appinfo.version()}-linux-{arch}.tar.gz"
        with tarfile.open(tgz, "w:gz", compresslevel=6) as tar:
            tar.add(BUNDLE, arcname=appinfo.APP_ID)
        out.append(tgz)
    return out


def wrap_macos() -> list[Path]:
    app = appinfo.DIST / f"{appinfo.NAME}.app"
    if not app.exists():
        sys.exit(f"expected {app} (the spec's BUNDLE step)")
    return [app]


def wrap_windows(icon_dir: Path) -> list[Path]:
    iss = HERE / "windows" / "neural-media-studio.iss"
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if not iscc:
        print("Inno Setup's iscc is not on PATH: the folder bundle is ready; install Inno "
              f"Setup 6 and run: iscc /DAppVersion={appinfo.version()} {iss}")
        return []
    subprocess.check_call([iscc, f"/DAppVersion={appinfo.version()}",
                           f"/DIconFile={icon_dir / 'app.ico'}", str(iss)], cwd=HERE / "windows")
    return sorted(appinfo.DIST.glob(f"{appinfo.APP_ID}-*-setup.exe"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the standalone app for this OS.")
    ap.add_argument("--skip-if-fresh", action="store_true",
                    help="reuse dist/ when it is newer than every source file")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse any finished bundle in dist/, fresh or not (tests, re-wrapping)")
    ap.add_argument("--no-archive", action="store_true", help="Linux: no tar.gz")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    icon_dir = make_icon()
    exe = BUNDLE / (appinfo.APP_ID + (".exe" if os.name == "nt" else ""))
    if args.reuse and exe.exists() and STAMP.exists():
        print(f"reusing {BUNDLE} as it is (--reuse)")
    elif args.skip_if_fresh and bundle_is_fresh():
        print(f"reusing {BUNDLE} (newer than the sources)")
    else:
        appinfo.DIST.mkdir(parents=True, exist_ok=True)
        STAMP.unlink(missing_ok=True)
        started = time.time()
        run_pyinstaller()
        STAMP.touch()
        os.utime(STAMP, (started, started))
    if sys.platform.startswith("linux"):
        extra = wrap_linux(icon_dir, archive=not args.no_archive)
    elif sys.platform == "darwin":
        extra = wrap_macos()
    elif os.name == "nt":
        extra = wrap_windows(icon_dir)
    else:
        extra = []
    size = folder_size(BUNDLE)
    info = {"bundle": str(BUNDLE), "bytes": size, "mib": round(size / 2**20, 1),
            "files": sum(1 for p in BUNDLE.rglob("*") if p.is_file()),
            "built_in_s": round(time.perf_counter() - t0, 1), "platform": sys.platform,
            "extras": {str(p.relative_to(appinfo.DIST)): (p.stat().st_size if p.is_file() else
                                                          folder_size(p)) for p in extra}}
    (appinfo.DIST / "bundle-info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    print(f"bundle: {BUNDLE}  {info['mib']} MiB in {info['files']} files "
          f"({info['built_in_s']} s)")
    for p, n in info["extras"].items():
        print(f"  {p}: {n / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
