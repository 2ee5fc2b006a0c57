"""Optional VMAF through the static FFmpeg that the imageio-ffmpeg package ships.

PyAV's FFmpeg has no libvmaf; imageio-ffmpeg's executable (where installed) has it with the
built-in vmaf_v0.6.1 model, so no model file is needed. Everything here degrades to a clear
"VMAF not available: <why>" instead of failing a sweep.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=1)
def _ffmpeg_with_vmaf() -> tuple[str | None, str]:
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError:
        return None, "VMAF not available: the imageio-ffmpeg package is not installed"
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return None, f"VMAF not available: imageio-ffmpeg has no FFmpeg executable ({exc})"
    try:
        out = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"VMAF not available: cannot run {exe} ({exc})"
    if not any(line.split()[1:2] == ["libvmaf"] for line in out.splitlines()):
        return None, f"VMAF not available: {exe} was built without the libvmaf filter"
    return exe, f"VMAF available ({exe})"


def vmaf_available() -> tuple[bool, str]:
    """(available, message); the message says why not, for the UI and the CLI."""
    exe, msg = _ffmpeg_with_vmaf()
    return exe is not None, msg


def compute_vmaf(reference_y4m: str | os.PathLike, distorted: str | os.PathLike, pix_fmt: str,
                 threads: int = 1, timeout_s: float = 3600) -> list[float]:
    """Per-frame VMAF (built-in vmaf_v0.6.1 model) of ``distorted`` against the reference."""
    exe, msg = _ffmpeg_with_vmaf()
    if exe is None:
        raise RuntimeError(msg)
    with tempfile.TemporaryDirectory(prefix="vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        graph = (f"[0:v]format={pix_fmt},setpts=PTS-STARTPTS[d];"
                 f"[1:v]format={pix_fmt},setpts=PTS-STARTPTS[r];"
                 f"[d][r]libvmaf=log_fmt=json:log_path=vmaf.json:n_threads={max(1, threads)}")
        cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error",
               "-i", str(Path(distorted).resolve()), "-i", str(Path(reference_y4m).resolve()),
               "-lavfi", graph, "-f", "null", "-"]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0 or not log.exists():
            raise RuntimeError(f"VMAF failed: {proc.stderr.strip()[-500:]}")
        data = json.loads(log.read_text())
    return [float(f["metrics"]["vmaf"]) for f in data.get("frames", [])]
