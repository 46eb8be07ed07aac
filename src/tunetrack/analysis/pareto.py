"""The Pareto front of trials over several objectives, all minimised."""

from __future__ import annotations

import math

import numpy as np


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """True for rows no other row dominates (all objectives minimised).

    Sort by the first objective, then sweep: O(n log n) for two objectives, which is
    what the report uses; more objectives fall back to the pairwise check.
    """
    points = np.asarray(objectives, dtype=float)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if points.shape[1] == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        mask = np.zeros(n, dtype=bool)
        best_second = math.inf
        last: tuple[float, float] | None = None
        for i in order:
            a, b = points[i]
            if b < best_second or (last is not None and (a, b) == last):
                mask[i] = True
                best_second = min(best_second, b)
                last = (a, b)
        return mask
    dominated = np.zeros(n, dtype=bool)
    for i in range(n):
        better_eq = np.all(points <= points[i], axis=1)
        strictly = np.any(points < points[i], axis=1)
        dominated[i] = bool(np.any(better_eq & strictly))
    return ~dominated
