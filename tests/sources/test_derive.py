"""Counter rates with resets, from readings (direct scrape) and from grid arrays
(recordings): both follow the same rule and agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.sources.derive import increase, summed_quantile, window_bucket_rates, window_rate
from autoscaler.sources.recording import window_rates

NAN = math.nan


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1000, 1300, 40, 100], 400),  # docstring example: the reset counts as a restart
        ([5, 5, 5], 0),
        ([0, 10, 20], 20),
        ([7], 0),
    ],
)
def test_increase(values: list[float], expected: float) -> None:
    assert increase(values) == expected


def test_window_rate_uses_readings_inside_the_window() -> None:
    times = [0.0, 15.0, 30.0, 45.0, 60.0]
    values = [0.0, 150.0, 300.0, 20.0, 170.0]  # reset between 30 s and 45 s
    # Window [15, 60]: increases 150 + 20 + 150 over 45 s.
    assert window_rate(times, values, 60.0, 45.0) == pytest.approx(320 / 45)
    assert window_rate(times, values, 60.0, 10.0) is None  # one reading: no rate, not zero
    assert window_rate(times, values, 200.0, 60.0) is None


def test_bucket_rates_and_summed_quantile() -> None:
    times = [0.0, 10.0]
    a = [{1.0: 0.0, math.inf: 0.0}, {1.0: 10.0, math.inf: 20.0}]
    b = [{1.0: 0.0, math.inf: 0.0}, {1.0: 30.0, math.inf: 40.0}]
    rates = [window_bucket_rates(times, a, 10.0, 10.0), window_bucket_rates(times, b, 10.0, 10.0)]
    assert rates[0] == {1.0: 1.0, math.inf: 2.0}
    # Summed: 4 of 6 per second below 1 s; the median (rank 3) is at 0.75 s.
    assert summed_quantile(0.5, rates) == pytest.approx(0.75)
    assert summed_quantile(0.5, []) is None


def test_bucket_rates_divide_by_the_span_between_readings() -> None:
    # Readings at 100 s and 120 s: 40 more requests below 1 s in 20 s is 2/s (a span
    # measured from 0, or summed, would give 40/220 or 40/120).
    times = [100.0, 120.0]
    buckets = [{1.0: 10.0, math.inf: 10.0}, {1.0: 50.0, math.inf: 70.0}]
    assert window_bucket_rates(times, buckets, 120.0, 30.0) == {1.0: 2.0, math.inf: 3.0}


def test_bucket_rates_keep_only_bounds_every_reading_has() -> None:
    # The 0.5 s bucket is missing from the middle reading (an exporter restarted with
    # other buckets): its increase over the window cannot be known, so it is left out.
    times = [0.0, 10.0, 20.0]
    buckets = [
        {0.5: 0.0, 1.0: 0.0, math.inf: 0.0},
        {1.0: 10.0, math.inf: 10.0},
        {0.5: 4.0, 1.0: 20.0, math.inf: 20.0},
    ]
    assert window_bucket_rates(times, buckets, 20.0, 30.0) == {1.0: 1.0, math.inf: 1.0}


def test_readings_at_one_instant_give_no_rate() -> None:
    """Two readings with the same timestamp (a page read twice in one tick) span no time:
    no rate, rather than a division by zero."""
    assert window_rate([10.0, 10.0], [0.0, 5.0], 10.0, 30.0) is None
    assert window_rate([5.0, 10.0], [0.0, 5.0], 10.0, 30.0, read_times=[7.0, 7.0]) is None
    assert window_bucket_rates([10.0, 10.0], [{1.0: 0.0}, {1.0: 4.0}], 10.0, 30.0) == {}
    # Half a second apart is a span: 5 in 0.5 s is 10/s.
    assert window_rate([10.0, 10.5], [0.0, 5.0], 10.5, 30.0) == 10.0
    assert window_bucket_rates([10.0, 10.5], [{1.0: 0.0}, {1.0: 4.0}], 10.5, 30.0) == {1.0: 8.0}


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.one_of(st.none(), st.floats(0, 100)), min_size=2, max_size=40),
    window=st.sampled_from([15.0, 30.0, 60.0, 120.0]),
)
def test_grid_rates_match_reading_rates(steps: list[float | None], window: float) -> None:
    """A counter on a 15 s grid (with gaps and resets) gives the same rate and timestamp
    through the recording's vectorised path as through the scrape source's readings."""
    times = np.arange(len(steps), dtype=np.float64) * 15.0
    counter = np.full(len(steps), np.nan)
    level = 0.0
    for i, step in enumerate(steps):
        if step is None:
            continue
        level = step * 3 if step < 10 else level + step  # small values act as resets
        counter[i] = level
    rates, stamps = window_rates(times, counter, window)
    present = [i for i in range(len(steps)) if not np.isnan(counter[i])]
    for i, now in enumerate(times):
        expected = window_rate(
            [times[j] for j in present], [counter[j] for j in present], now, window
        )
        if expected is None:
            assert np.isnan(rates[i])
        else:
            assert rates[i] == pytest.approx(expected)
            assert stamps[i] == max(times[j] for j in present if times[j] <= now)


@pytest.mark.parametrize(
    ("counter", "expected"),
    [
        # A counter that stands still is no reset: 0/s, not its whole value again.
        ([500.0, 500.0, 500.0], [NAN, 0.0, 0.0]),
        # Two samples are enough for a rate: 30 in 15 s.
        ([NAN, 100.0, 130.0], [NAN, NAN, 2.0]),
        # A drop is a restart: 1000, 1300, then 40 counts 40 more (1340), then 60 more.
        ([1000.0, 1300.0, 40.0, 100.0], [NAN, 20.0, (1340 - 1000) / 30, (1400 - 1000) / 45]),
    ],
)
def test_grid_rates_of_flat_counters_pairs_and_restarts(
    counter: list[float], expected: list[float]
) -> None:
    times = np.arange(len(counter), dtype=np.float64) * 15.0
    rates, stamps = window_rates(times, np.array(counter), 60.0)
    np.testing.assert_allclose(rates, expected)
    # A rate is stamped with its newest sample's time; no rate, no stamp (one sample in
    # the window is no rate, even where a 0/0 would read as NaN anyway).
    np.testing.assert_array_equal(stamps, np.where(np.isnan(expected), np.nan, times))
