"""``record`` refuses a range it cannot record before the first query: non-finite times,
an end before the start, or more steps than a replay may lay out (``MAX_GRID_STEPS``),
where ``end`` = 1e15 used to list chunks for ever."""

from __future__ import annotations

import math

import pytest

from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.recorder import range_problem, record
from autoscaler.sources.recording_format import MAX_GRID_STEPS
from tests.sources.factories import target

NOW = 1_767_225_600.0


@pytest.mark.parametrize(
    ("start", "end", "step", "message"),
    [
        (math.nan, NOW, 15.0, "must be finite"),
        (NOW - 60, math.inf, 15.0, "must be finite"),
        (NOW, NOW - 60, 15.0, "the end must be after the start"),
        (NOW - 60, NOW, 0.5, "at least 1s"),
        (NOW - 60, 1e15, 15.0, "over the 5,000,000 a recording may hold"),
        (NOW - 60 * 86400, NOW, 1.0, "60 days at a 1s step is 5,184,001 steps, over the"),
    ],
    ids=["nan", "inf", "backwards", "step", "end-1e15", "60d-at-1s"],
)
@pytest.mark.timeout(10)
def test_an_unrecordable_range_is_refused_before_any_query(
    start: float, end: float, step: float, message: str
) -> None:
    client = PrometheusQueryClient("http://127.0.0.1:9", timeout=1)  # never asked
    try:
        with pytest.raises(ValueError, match="cannot record this range") as raised:
            record(client, [target("inference", "llama")], start, end, step)
    finally:
        client.close()
    assert message in str(raised.value)


def test_the_largest_replayable_span_is_accepted() -> None:
    assert range_problem(NOW, NOW + (MAX_GRID_STEPS - 1) * 15.0, 15.0) is None
    assert range_problem(NOW, NOW + MAX_GRID_STEPS * 15.0, 15.0) is not None
