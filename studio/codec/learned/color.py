"""YUV 4:2:0 planes <-> float RGB for the learned codec, with the reference's own matrix,
range and bit depth.

Why not video_io.planes_to_rgb: it rounds to 8-bit RGB (for display), which would add a
rounding loss the classical codecs (coding the YUV planes directly) never pay. Here the
conversion is float all the way: Y survives RGB -> Y exactly (up to clipping to [0, 1]);
chroma is upsampled by repetition and brought back by 2x2 averaging.
"""

from __future__ import annotations

import numpy as np

_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def _coeffs(colorspace: str) -> tuple[float, float, float]:
    kr, kb = _KR_KB.get(colorspace, _KR_KB["bt709"])
    return kr, 1.0 - kr - kb, kb


def _scale(bit_depth: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    s = float(1 << (bit_depth - 8))
    if full_range:
        top = float((1 << bit_depth) - 1)
        return 0.0, top, 128.0 * s, top
    return 16.0 * s, 219.0 * s, 128.0 * s, 224.0 * s


def planes_to_rgb(planes: list[np.ndarray], bit_depth: int, colorspace: str,
                  full_range: bool) -> np.ndarray:
    """-> (H, W, 3) float32 RGB clipped to [0, 1]."""
    y = planes[0].astype(np.float32)
    h, w = y.shape
    y0, ys, c0, cs = _scale(bit_depth, full_range)
    kr, kg, kb = _coeffs(colorspace)

    def up(p: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(p.astype(np.float32), 2, 0), 2, 1)[:h, :w]

    yn = (y - y0) / ys
    cb = (up(planes[1]) - c0) / cs
    cr = (up(planes[2]) - c0) / cs
    r = yn + 2.0 * (1.0 - kr) * cr
    b = yn + 2.0 * (1.0 - kb) * cb
    g = (yn - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], -1), 0.0, 1.0).astype(np.float32)


def rgb_to_planes(rgb: np.ndarray, bit_depth: int, colorspace: str,
                  full_range: bool) -> list[np.ndarray]:
    """(H, W, 3) float RGB in [0, 1] -> Y, U, V planes (4:2:0), rounded, in uint8/uint16."""
    rgb = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    h, w = rgb.shape[:2]
    y0, ys, c0, cs = _scale(bit_depth, full_range)
    kr, kg, kb = _coeffs(colorspace)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    yn = kr * r + kg * g + kb * b
    cb = (b - yn) / (2.0 * (1.0 - kb))
    cr = (r - yn) / (2.0 * (1.0 - kr))

    def down(p: np.ndarray) -> np.ndarray:
        p = np.pad(p, ((0, h % 2), (0, w % 2)), mode="edge")
        return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])

    top = (1 << bit_depth) - 1
    dtype = np.uint8 if bit_depth <= 8 else np.uint16

    def code(v: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(v), 0, top).astype(dtype)

    return [code(yn * ys + y0), code(down(cb) * cs + c0), code(down(cr) * cs + c0)]
