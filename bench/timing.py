"""Shared timing helper for the benchmark scripts."""

from __future__ import annotations

import time

import numpy as np


def interleaved(cases: dict, rounds: int = 9, slice_s: float = 0.15) -> dict[str, float]:
    """Seconds per call of each case: the cases take turns, ``rounds`` times ``slice_s``
    seconds each, and the median round counts, so load from other processes on a shared
    machine hits all of them alike."""
    per: dict[str, list[float]] = {k: [] for k in cases}
    for fn in cases.values():
        fn()  # warm
    for _ in range(rounds):
        for key, fn in cases.items():
            n, t0 = 0, time.perf_counter()
            while n < 1 or time.perf_counter() - t0 < slice_s:
                fn()
                n += 1
            per[key].append((time.perf_counter() - t0) / n)
    return {k: float(np.median(v)) for k, v in per.items()}
