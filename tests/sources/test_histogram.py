"""Histogram quantiles follow PromQL's ``histogram_quantile`` rules; the vectorised form
used by recordings agrees with the scalar one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.sources.histogram import bucket_quantile, bucket_quantiles

INF = math.inf


@pytest.mark.parametrize(
    ("quantile", "buckets", "expected"),
    [
        # The module docstring's worked example.
        (0.9, {0.1: 10, 0.5: 30, 1.0: 40, INF: 40}, 0.8),
        # First bucket interpolates from zero.
        (0.5, {1.0: 10, 2.0: 10, INF: 10}, 0.5),
        # A rank in +Inf returns the highest finite bound.
        (0.99, {1.0: 10, 2.0: 10, INF: 20}, 2.0),
        # Non-monotonic counts (scrape races) are raised to a running maximum.
        (0.5, {1.0: 10, 2.0: 8, INF: 20}, 1.0 + 1.0 * (10 - 10) / 1.0),
        # No observations, no +Inf, or a single bucket: no answer (not zero).
        (0.5, {1.0: 0, INF: 0}, None),
        (0.5, {1.0: 3, 2.0: 4}, None),
        (0.5, {INF: 4}, None),
        (0.5, {}, None),
        # Quantile 0 with an empty first bucket: the rank (0) is in a bucket holding
        # nothing, so its bound, not 0 / 0.
        (0.0, {0.1: 0, 1.0: 5, INF: 5}, 0.1),
        # A first bound at or below zero is returned as it is (nothing to interpolate from).
        (0.5, {0.0: 5, 1.0: 5, INF: 5}, 0.0),
        (0.5, {-1.0: 5, 1.0: 8, INF: 8}, -1.0),
        # Quantile 1 is the top rank (here in (0.5, 1]); outside 0..1 there is no answer.
        (1.0, {0.5: 2, 1.0: 4, INF: 4}, 1.0),
        (1.5, {0.5: 2, 1.0: 4, INF: 4}, None),
        (-0.1, {0.5: 2, 1.0: 4, INF: 4}, None),
    ],
)
def test_bucket_quantile_table(
    quantile: float, buckets: dict[float, float], expected: float | None
) -> None:
    got = bucket_quantile(quantile, buckets)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


counts = st.lists(st.floats(0, 1000, allow_nan=False), min_size=2, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    columns=st.lists(counts, min_size=1, max_size=6),
    quantile=st.floats(0.01, 0.99),
)
def test_vectorised_matches_scalar(columns: list[list[float]], quantile: float) -> None:
    size = min(len(c) for c in columns)
    bounds = [0.1 * (i + 1) for i in range(size - 1)] + [INF]
    matrix = np.array([c[:size] for c in columns], dtype=float).T  # bounds x instants
    vector = bucket_quantiles(quantile, bounds, matrix)
    for column in range(matrix.shape[1]):
        scalar = bucket_quantile(quantile, dict(zip(bounds, matrix[:, column], strict=True)))
        if scalar is None:
            assert math.isnan(vector[column])
        else:
            assert vector[column] == pytest.approx(scalar)


EDGES = [
    (0.0, [0.1, 1.0, INF], [0.0, 5.0, 5.0]),
    (1.0, [0.1, 1.0, INF], [2.0, 5.0, 5.0]),
    (0.5, [0.0, 1.0, INF], [5.0, 5.0, 5.0]),
    (0.5, [-1.0, 1.0, INF], [5.0, 8.0, 8.0]),
    (0.5, [0.1, 1.0], [3.0, 4.0]),  # no +Inf
    (0.5, [INF], [4.0]),  # a single bucket
    (0.5, [0.1, 1.0, INF], [0.0, 0.0, 0.0]),  # no observations
]


@pytest.mark.parametrize(("quantile", "bounds", "column"), EDGES)
def test_vectorised_matches_scalar_on_edges(
    quantile: float, bounds: list[float], column: list[float]
) -> None:
    """The cases the random draws above do not reach: quantiles 0 and 1, bounds at or
    below zero, histograms without +Inf or with one bucket, no observations."""
    matrix = np.array([column, column], dtype=float).T  # the same instant twice
    scalar = bucket_quantile(quantile, dict(zip(bounds, column, strict=True)))
    vector = bucket_quantiles(quantile, bounds, matrix)
    assert vector.shape == (2,)
    if scalar is None:
        assert np.isnan(vector).all()
    else:
        assert vector.tolist() == pytest.approx([scalar, scalar])
