"""Pictures in and out of the learned codec's CLI: images via OpenCV, video via PyAV.

The CLI codes RGB straight from the source (no YUV detour): a PNG in, a PNG out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from studio.jobs import UserError, atomic_path

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def read_pictures(path: str | os.PathLike, max_frames: int | None = None
                  ) -> Iterator[np.ndarray]:
    """(H, W, 3) float32 RGB in [0, 1]: the image, or each frame of a video."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if p.suffix.lower() in IMAGE_EXTS:
        import cv2

        im = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if im is None:
            raise UserError(f"{p}: not an image OpenCV can read")
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, -1)
        scale = 65535.0 if im.dtype == np.uint16 else 255.0
        yield np.ascontiguousarray(im[..., 2::-1][..., :3].astype(np.float32) / scale)
        return
    from studio.media import video_io

    for frame in video_io.iter_frames(p, max_frames):
        yield frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def write_pictures(out: str | os.PathLike, pictures: Iterable[np.ndarray], frames: int,
                   fps: int = 25) -> list[Path]:
    """OUT.png (OUT_00000.png... for several frames) or a video (.mp4/.mkv/.mov, x264).
    Each file appears whole or not at all; if ``pictures`` raises (a damaged frame, a
    cancel), the frames already written are removed again."""
    o = Path(out)
    ext = o.suffix.lower()
    if ext == ".png":
        import cv2

        written: list[Path] = []
        try:
            for i, rgb in enumerate(pictures):
                f = o if frames == 1 else o.with_name(f"{o.stem}_{i:05d}.png")
                with atomic_path(f) as tmp:
                    if not cv2.imwrite(str(tmp), to_uint8(rgb)[..., ::-1]):
                        raise UserError(f"{f}: could not be written")
                written.append(f)
        except BaseException:
            for f in written:
                f.unlink(missing_ok=True)
            raise
        return written
    if ext in (".mp4", ".mkv", ".mov"):
        from studio.media.video_writer import VideoWriter

        with atomic_path(o) as tmp:
            writer = None
            try:
                for rgb in pictures:
                    if writer is None:
                        h, w = rgb.shape[:2]
                        writer = VideoWriter(tmp, fps, w, h, crf=10, preset="medium")
                    writer.write(to_uint8(rgb))
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
            if writer is not None:
                writer.close()
        return [o]
    raise UserError(f"{o}: write .png or .mp4 (got '{ext or 'no extension'}')")
