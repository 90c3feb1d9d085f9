"""Quantiles from cumulative histogram buckets, computed the way PromQL's
``histogram_quantile`` does, so the direct-scrape and recording sources agree with the
Prometheus source.

Buckets are cumulative counts (or rates) per upper bound ``le``. The quantile's rank is
``q * total``; the answer is interpolated linearly inside the bucket that holds the rank.
Worked example: bounds 0.1, 0.5, 1, +Inf with counts 10, 30, 40, 40 and q = 0.9: the rank
is 36, which falls in (0.5, 1] holding counts 30..40, so the answer is
0.5 + (1 - 0.5) * (36 - 30) / (40 - 30) = 0.8 s.

Rules kept from PromQL: no observations -> no answer (None, never zero); a rank in the
+Inf bucket returns the highest finite bound; the first bucket interpolates from 0 when
its bound is positive; counts that decrease with ``le`` (scrape races between buckets)
are raised to a running maximum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray


def bucket_quantile(quantile: float, buckets: Mapping[float, float]) -> float | None:
    """The ``quantile`` (0..1) of cumulative ``buckets`` {le: count}; None when empty."""
    if not buckets or not 0 <= quantile <= 1:
        return None
    bounds = sorted(buckets)
    counts: list[float] = []
    running = 0.0
    for bound in bounds:
        value = buckets[bound]
        if not math.isfinite(value):
            return None
        running = max(running, value)
        counts.append(running)
    if not math.isinf(bounds[-1]):
        # A histogram without +Inf (a truncated capture) cannot place the top ranks.
        return None
    total = counts[-1]
    if total <= 0 or len(bounds) < 2:
        return None
    rank = quantile * total
    index = next(i for i, c in enumerate(counts) if c >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    upper = bounds[index]
    if index == 0:
        lower, below = (0.0, 0.0) if upper > 0 else (upper, 0.0)
        if upper <= 0:
            return upper
    else:
        lower, below = bounds[index - 1], counts[index - 1]
    inside = counts[index] - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


def bucket_quantiles(
    quantile: float, bounds: Sequence[float], counts: NDArray[np.float64]
) -> NDArray[np.float64]:
    """:func:`bucket_quantile` for many instants at once.

    ``bounds`` are the sorted upper bounds (the last one +Inf); ``counts`` has one row per
    bound and one column per instant. Columns with no observations, or with NaN in any
    bucket, give NaN. Same rules and result as the scalar function, vectorised for the
    recording source (a week at 15 s is 40,320 columns).
    """
    matrix = np.asarray(counts, dtype=float)
    columns = matrix.shape[1] if matrix.ndim == 2 else 0
    result = np.full(columns, np.nan)
    if len(bounds) < 2 or not math.isinf(bounds[-1]) or columns == 0:
        return result
    edges = np.asarray(bounds, dtype=float)
    running = np.maximum.accumulate(matrix, axis=0)
    total = running[-1]
    usable = np.isfinite(matrix).all(axis=0) & (total > 0)
    rank = quantile * total
    index = np.argmax(running >= rank[None, :], axis=0)
    upper = edges[index]
    lower = np.where(index > 0, edges[np.maximum(index - 1, 0)], 0.0)
    below = np.where(index > 0, running[np.maximum(index - 1, 0), np.arange(columns)], 0.0)
    inside = running[index, np.arange(columns)] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        interpolated = lower + (upper - lower) * (rank - below) / inside
    value = np.where(inside > 0, interpolated, upper)
    value = np.where((index == 0) & (upper <= 0), upper, value)
    value = np.where(index == len(edges) - 1, edges[-2], value)
    result[usable] = value[usable]
    return result
