"""The two statistics the risk score explains itself with: a robust trend and a change point.

Both are small, exact and dependency-free beyond NumPy, so the terminal page can print the
numbers the score was made of.

- :func:`theil_sen_slope`: the median of the slopes between every pair of points (Theil 1950,
  Sen 1968). One bad day moves it little, unlike a least-squares line.
- :func:`cusum_upper`: Page's one-sided CUSUM over standardised values,
  ``S_t = max(0, S_{t-1} + z_t - k)``; a sustained upward shift makes ``S`` climb past ``h``.

>>> round(theil_sen_slope([0, 1, 2, 3, 4], [1.0, 3.0, 5.0, 100.0, 9.0]), 6)
2.0
>>> cusum_upper([0, 0, 0, 2, 2, 2, 2], k=0.5, h=4.0)
CusumResult(peak=6.0, start=3, alarm=True)
>>> cusum_upper([0, 3, 0, -1, 0], k=0.5, h=4.0).alarm
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray


def theil_sen_slope(x: ArrayLike, y: ArrayLike) -> float:
    """The median pairwise slope of ``y`` over ``x`` (0.0 with fewer than two distinct x)."""
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} and {ys.size}")
    i, j = _pairs(xs.size)
    dx = xs[j] - xs[i]
    keep = dx != 0
    if not keep.any():
        return 0.0
    slopes = sorted(((ys[j] - ys[i])[keep] / dx[keep]).tolist())  # a short list: no np.median
    mid = len(slopes) // 2
    return float(slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2)


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    i, j = np.triu_indices(n, k=1)
    return i, j


@dataclass(frozen=True, slots=True)
class CusumResult:
    """The highest CUSUM value reached, where its last climb from zero began, and whether it
    crossed the decision limit ``h``."""

    peak: float
    start: int | None
    alarm: bool


def cusum_upper(z: Sequence[float], *, k: float = 0.5, h: float = 5.0) -> CusumResult:
    """One-sided upper CUSUM of standardised values ``z`` (allowance ``k``, limit ``h``).

    ``start`` is the index where the run that reached the peak left zero: the estimated
    change point."""
    s = 0.0
    peak = 0.0
    run_start: int | None = None
    start: int | None = None
    for idx, value in enumerate(z):
        nxt = max(0.0, s + float(value) - k)
        if nxt > 0 and s == 0:
            run_start = idx
        s = nxt
        if s > peak:
            peak, start = s, run_start
    return CusumResult(peak=round(peak, 6), start=start, alarm=peak > h)
