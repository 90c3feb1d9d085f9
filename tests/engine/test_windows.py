"""Stabilisation windows (seconds of history) and step limits per period."""

from __future__ import annotations

import pytest

from autoscaler.engine.state import append_window, within
from autoscaler.engine.windows import down_limit, stabilised_down, stabilised_up, up_limit
from autoscaler.policy.model import StepLimit

# Targets of the last 90 seconds, one every 30 s, at t = 10..100.
HISTORY = ((10.0, 4), (40.0, 7), (70.0, 5))


@pytest.mark.parametrize(
    ("window", "target", "up", "down"),
    [
        (0.0, 6, 6, 6),  # no window: the target itself
        (30.0, 6, 5, 6),  # only t=70 (5) is within 30 s of t=100
        (60.0, 6, 5, 7),  # t=40 (7) and t=70 (5)
        (90.0, 6, 4, 7),  # all three
        (90.0, 9, 4, 9),
    ],
)
def test_up_window_takes_the_lowest_down_window_the_highest(
    window: float, target: int, up: int, down: int
) -> None:
    assert stabilised_up(HISTORY, 100.0, window, target) == up
    assert stabilised_down(HISTORY, 100.0, window, target) == down


@pytest.mark.parametrize(
    ("limit", "current", "expected"),
    [
        (StepLimit(groups=4, percent=100, period=60), 3, 7),  # max(3+4, 3*2)
        (StepLimit(groups=1, percent=100, period=60), 3, 6),  # max(3+1, 3*2)
        (StepLimit(groups=2, period=60), 5, 7),
        (StepLimit(percent=50, period=60), 5, 8),  # ceil(7.5)
        (StepLimit(percent=1, period=60), 5, 6),  # always at least one group
    ],
)
def test_up_limit(limit: StepLimit, current: int, expected: int) -> None:
    assert up_limit(limit, (), 100.0, current) == expected


@pytest.mark.parametrize(
    ("limit", "current", "expected"),
    [
        (StepLimit(groups=1, period=60), 5, 4),
        (StepLimit(groups=1, percent=50, period=60), 6, 3),  # the one that allows more
        (StepLimit(percent=50, period=60), 5, 2),  # floor(2.5)
        (StepLimit(percent=1, period=60), 5, 4),  # always at least one group
        (StepLimit(groups=9, period=60), 3, 0),
    ],
)
def test_down_limit(limit: StepLimit, current: int, expected: int) -> None:
    assert down_limit(limit, (), 100.0, current) == expected


def test_step_limits_count_from_the_size_at_the_start_of_the_period() -> None:
    limit = StepLimit(groups=2, period=60)
    sizes = ((50.0, 3), (80.0, 5))  # went 3 -> 5 within the last 60 s
    assert up_limit(limit, sizes, 100.0, 5) == 5  # 3 + 2: no more this period
    assert up_limit(limit, sizes, 111.0, 5) == 7  # t=50 has left the period
    assert down_limit(limit, ((50.0, 8), (80.0, 6)), 100.0, 6) == 6  # 8 - 2


def test_step_limits_never_cross_the_current_size() -> None:
    limit = StepLimit(groups=1, period=60)
    # 8 groups 30 s ago, 4 now (scaled by hand): 8 - 1 = 7 would be a scale-up.
    assert down_limit(limit, ((70.0, 8),), 100.0, 4) == 4
    # 2 groups 30 s ago, 8 now: 2 + 1 = 3 would be a scale-down.
    assert up_limit(limit, ((70.0, 2),), 100.0, 8) == 8


def test_unlimited_steps() -> None:
    assert up_limit(None, (), 0.0, 3) is None
    assert down_limit(None, (), 0.0, 3) is None


def test_append_window_trims_by_time_and_drops_the_future() -> None:
    history = ((0.0, 1), (50.0, 2), (120.0, 3))
    assert append_window(history, 100.0, 9, 60.0) == ((50.0, 2), (100.0, 9))
    assert within(history, 100.0, 50.0) == [2]
