"""Facts about the app that every packaging file shares (the spec, build.py, the tests).

Plain data, no imports beyond the standard library: PyInstaller's spec, packaging/build.py
and tests/test_packaging.py all read it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "Neural Media Studio"
APP_ID = "neural-media-studio"  # folder, launcher and .desktop name
CLI_NAME = "studio"  # the command-line launcher beside the GUI one
BUNDLE_ID = "org.neuralmediastudio.studio"
DIST = ROOT / "dist"
BUILD = ROOT / "build" / "packaging"


def version() -> str:
    import re

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


# What the app opens: read from studio/media/filetypes.py (the drag-and-drop router), so the
# macOS Info.plist, the .desktop MimeType and the Windows "Open with" list never promise a
# type that no workbench takes. Images are not among them: no workbench opens a still image.
_MIME = {"wav": "audio/x-wav", "mp3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg",
         "m4a": "audio/mp4", "aac": "audio/aac", "opus": "audio/opus", "aiff": "audio/x-aiff",
         "mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska",
         "webm": "video/webm", "avi": "video/x-msvideo", "mpg": "video/mpeg",
         "mpeg": "video/mpeg", "m4v": "video/x-m4v", "ts": "video/mp2t",
         "bvh": "application/x-bvh", "avatar": "application/x-neural-media-studio-avatar"}


def document_types() -> list[dict]:
    """[{name, extensions, mime, uti, role}] for the files the app opens."""
    import sys

    sys.path.insert(0, str(ROOT))
    try:
        from studio.media.filetypes import AUDIO_EXT, AVATAR_EXT, VIDEO_EXT
    finally:
        sys.path.remove(str(ROOT))

    def exts(s):
        return sorted(e.lstrip(".") for e in s)

    groups = [("Audio", exts(AUDIO_EXT), "public.audio"),
              ("Video", exts(VIDEO_EXT), "public.movie"),
              ("Motion capture (BVH)", ["bvh"], "public.data"),
              ("Avatar template", exts(AVATAR_EXT), "public.data"),
              ("Codec project", ["nmsproj"], "public.data")]
    return [{"name": n, "extensions": e, "mime": [_MIME[x] for x in e if x in _MIME],
             "uti": u, "role": "Viewer" if n in ("Audio", "Video") else "Editor"}
            for n, e, u in groups]


MICROPHONE_USAGE = ("Neural Media Studio listens to the microphone only while you use live "
                    "lip-sync in the Talk workbench; the audio stays on this computer.")

def info_plist() -> dict:
    """The macOS .app's Info.plist additions (PyInstaller's BUNDLE merges them)."""
    return {
        "CFBundleName": NAME,
        "CFBundleDisplayName": NAME,
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleShortVersionString": version(),
        "CFBundleVersion": version(),
        "LSMinimumSystemVersion": "12.0",
        "NSHighResolutionCapable": True,
        "NSMicrophoneUsageDescription": MICROPHONE_USAGE,
        "LSApplicationCategoryType": "public.app-category.video",
        # by extension (a UTI list would claim every audio or movie type there is)
        "CFBundleDocumentTypes": [
            {"CFBundleTypeName": t["name"], "CFBundleTypeRole": t["role"],
             "CFBundleTypeExtensions": t["extensions"],
             "CFBundleTypeMIMETypes": t["mime"], "LSHandlerRank": "Alternate"}
            for t in document_types()
        ],
    }


# Python packages the app never imports (training, tests, notebooks) and Qt modules it does
# not use: kept out of the bundle. (onnx stays in: the Talk workbench's "Optimise models"
# quantises with onnxruntime.quantization, which needs it.)
EXCLUDES = [
    "torch", "torchvision", "torchaudio", "tensorflow", "tensorboard", "keras", "jax",
    "coremltools", "onnxscript", "librosa", "numba", "llvmlite", "sklearn",
    "pytest", "_pytest", "pytestqt", "pluggy", "iniconfig", "IPython", "jupyter", "notebook",
    "matplotlib", "tkinter", "_tkinter", "PIL", "pandas", "sympy", "gym", "gymnasium",
    "pyqtgraph.examples", "pybullet_examples", "pybullet_robots",
    "tests", "bench", "models.recipes",
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2", "PySide6.QtQuickTest", "PySide6.QtSql", "PySide6.QtTest",
    "PySide6.QtSvg", "PySide6.QtSvgWidgets", "PySide6.QtXml", "PySide6.QtDesigner",
    "PySide6.QtHelp", "PySide6.QtUiTools", "PySide6.QtConcurrent", "PySide6.QtDBus",
    "PySide6.QtPrintSupport", "PySide6.QtPdf", "PySide6.QtMultimedia", "PySide6.QtWebEngineCore",
]

# binaries shipped with their debug symbols: stripped in the Linux bundle (names start so)
STRIP_ONLY = ("pybullet.",)

# pybullet_data is 140 MB of robots; the app reads the humanoid, its clips and a ground plane.
PYBULLET_DATA = ["__init__.py", "humanoid/*", "data/motions/humanoid3d_*.txt",
                 "plane_implicit.urdf", "plane.urdf", "plane.obj", "plane.mtl", "checker_blue.png"]


def shipped_model_files() -> list[Path]:
    """Every file under models/ that the app ships (the recipes train them; they stay out)."""
    return sorted(p for p in (ROOT / "models").rglob("*")
                  if p.is_file() and "recipes" not in p.relative_to(ROOT / "models").parts
                  and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".mlpackage"))


def shipped_resource_files() -> list[Path]:
    return sorted(p for p in (ROOT / "resources").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def data_pairs() -> list[tuple[str, str]]:
    """(source file, folder inside the bundle) for PyInstaller's ``datas``."""
    out = []
    for p in shipped_model_files() + shipped_resource_files():
        out.append((str(p), str(p.parent.relative_to(ROOT))))
    return out


def data_files_table() -> dict[str, list[str]]:
    """What pyproject.toml's [tool.setuptools.data-files] must say so that a wheel carries
    every shipped model and resource (``python packaging/appinfo.py`` prints it)."""
    table: dict[str, list[str]] = {}
    for p in shipped_model_files() + shipped_resource_files():
        rel = p.parent.relative_to(ROOT).as_posix()
        table.setdefault(f"share/{APP_ID}/{rel}", []).append(p.relative_to(ROOT).as_posix())
    out = {}
    for dest, files in sorted(table.items()):
        folder = files[0].rsplit("/", 1)[0]
        subdirs = any(q.is_dir() for q in (ROOT / folder).iterdir())
        # globs only (a glob that matches nothing is fine; a missing listed file fails the
        # build): the whole folder, or by extension where sub-folders sit beside the files
        out[dest] = [f"{folder}/*"] if not subdirs else \
            sorted({f"{folder}/*{Path(f).suffix}" for f in files})
    return out


if __name__ == "__main__":
    print("[tool.setuptools.data-files]")
    for dest, pats in data_files_table().items():
        print(f'"{dest}" = [{", ".join(chr(34) + p + chr(34) for p in pats)}]')
