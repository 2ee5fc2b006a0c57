"""Small image operations the viewers need, kept in the engine so the UI only draws."""

from __future__ import annotations

import numpy as np

# A perceptual dark-to-bright ramp (black -> purple -> orange -> yellow), 256 entries.
_STOPS = np.array([[0, 0, 0], [60, 15, 110], [180, 40, 110], [245, 120, 40], [252, 240, 120]],
                  dtype=np.float32)
HEAT_LUT = np.stack([np.interp(np.linspace(0, len(_STOPS) - 1, 256), np.arange(len(_STOPS)),
                               _STOPS[:, c]) for c in range(3)], axis=1).astype(np.uint8)


def abs_diff_heatmap(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """|a - b| over RGB (max over channels), amplified by ``gain``, as an RGB heat map."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    if d.ndim == 3:
        d = d.max(axis=2)
    idx = np.clip(d.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return HEAT_LUT[idx]
