"""``carry_forward``: a replica count survives a short hole in its series, not a long one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoscaler.sources.recording_arrays import carry_forward

NAN = math.nan


@pytest.mark.parametrize(
    ("values", "horizon", "expected"),
    [
        # The docstring's example: 15 s steps, a 20 s horizon fills one step of the hole.
        ([3, NAN, NAN, 4], 20.0, [3, 3, NAN, 4]),
        # A horizon covering the whole hole fills all of it with the last value.
        ([3, NAN, NAN, 4], 30.0, [3, 3, 3, 4]),
        # Nothing before the hole: nothing to carry.
        ([NAN, NAN, 5, NAN], 60.0, [NAN, NAN, 5, 5]),
        # The value carried is the latest one, not the first.
        ([1, 2, NAN, NAN, NAN], 30.0, [1, 2, 2, 2, NAN]),
        # No hole, or no value at all: returned unchanged.
        ([1, 2, 3], 0.0, [1, 2, 3]),
        ([NAN, NAN], 300.0, [NAN, NAN]),
    ],
)
def test_carry_forward_fills_holes_up_to_the_horizon(
    values: list[float], horizon: float, expected: list[float]
) -> None:
    times = np.arange(len(values), dtype=np.float64) * 15.0
    got = carry_forward(np.array(values, dtype=float), times, horizon)
    np.testing.assert_array_equal(got, np.array(expected, dtype=float))


def test_a_recorded_count_holds_for_prometheus_lookback_of_five_minutes() -> None:
    """A kube-state-metrics count missing after its last sample holds 300 s, as a
    Prometheus query would still return it, and not beyond: at a 75.25 s step the fourth
    step after it (301 s) falls back to counting leaders."""
    from autoscaler.sources.recording import RecordingSource
    from autoscaler.sources.recording_format import Recording, Series
    from tests.sources.factories import target

    start, step = 1000.0, 75.25
    times = [start + step * i for i in range(6)]
    lws = {"namespace": "inference", "leaderworkerset_sigs_k8s_io_name": "llama"}
    series = [
        Series({**lws, "__name__": "lws:spec_replicas"}, [(start, 3)]),
        Series(
            {**lws, "pod": "llama-0", "__name__": "vllm:num_requests_waiting"},
            [(t, 1) for t in times],
        ),
    ]
    source = RecordingSource(recording=Recording(start, times[-1], step, series=series))
    arrays = source.arrays(target("inference", "llama", quantile=None))
    spec = arrays.replicas[0]
    np.testing.assert_array_equal(spec, [3, 3, 3, 3, 1, 1])  # then the one leader
