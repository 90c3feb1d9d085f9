"""Stabilisation windows (seconds of history) and step limits per period."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    ("limit", "current", "up", "down"),
    [
        # In floats 50 * (1 + 10/100) is 55.00000000000001, and ceil made it 56.
        (StepLimit(percent=10, period=60), 50, 55, 45),
        (StepLimit(percent=10, period=60), 90, 99, 81),
        # In floats 10 * (1 - 80/100) is 1.9999999999999996, and floor made it 1.
        (StepLimit(percent=80, period=60), 10, 18, 2),
        (StepLimit(percent=90, period=60), 10, 19, 1),
        (StepLimit(percent=80, period=60), 15, 27, 3),
    ],
)
def test_percent_limits_are_exact(limit: StepLimit, current: int, up: int, down: int) -> None:
    assert up_limit(limit, (), 100.0, current) == up
    assert down_limit(limit, (), 100.0, current) == down


def _unchecked(groups: int | None, percent: float) -> StepLimit:
    """A step limit the policy model would refuse (it validates percent finite and > 0):
    the engine must stay safe whatever it is handed."""
    return StepLimit.model_construct(groups=groups, percent=percent, period=60.0)


@pytest.mark.parametrize(
    ("groups", "percent", "up", "down"),
    [
        (None, math.inf, None, 0),  # whichever allows more: an infinite percent, anything
        (1, math.inf, None, 0),
        (None, 1e308, 5 + 5 * 10**306, 0),  # exact: no float overflows to inf
        (None, math.nan, 6, 4),  # refused by the model; limits like no percent
    ],
)
def test_non_finite_percents_never_raise(
    groups: int | None, percent: float, up: int | None, down: int
) -> None:
    assert up_limit(_unchecked(groups, percent), (), 100.0, 5) == up
    assert down_limit(_unchecked(groups, percent), (), 100.0, 5) == down


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(1, 500),
    hundredths=st.one_of(st.integers(1, 200).map(lambda p: 100 * p), st.integers(1, 20_000)),
    groups=st.one_of(st.none(), st.integers(1, 5)),
)
@example(base=50, hundredths=1_000, groups=None)  # 56 in floats
@example(base=10, hundredths=8_000, groups=None)  # 1 in floats
def test_percent_limits_match_exact_fraction_arithmetic(
    base: int, hundredths: int, groups: int | None
) -> None:
    """The percent as written (two decimals at most here) in exact arithmetic: ``ceil``
    up and ``floor`` down, then at least one group and ``groups`` when that allows more."""
    percent = Fraction(hundredths, 100)
    limit = StepLimit(groups=groups, percent=float(percent), period=60)
    step = groups or 0
    up = math.ceil(base * (1 + percent / 100))
    down = math.floor(base * (1 - percent / 100))
    assert up_limit(limit, (), 100.0, base) == max(up, base + step, base + 1)
    assert down_limit(limit, (), 100.0, base) == max(0, min(down, base - step, base - 1))


@pytest.mark.parametrize(
    ("limit", "sizes", "now", "expected"),
    [
        # Woken from 0 to 1 at t=0 (the wake itself is outside the step limit): 100% of
        # 1 allows 2 at once, not max(0 * 2, 0 + 1, 1) = 1 for the whole five minutes.
        (StepLimit(percent=100, period=300), ((0.0, 0), (30.0, 1)), 60.0, 2),
        (StepLimit(percent=50, period=300), ((0.0, 0), (30.0, 2)), 60.0, 3),
        # Woken to min 4: 50% more is 6 (from 0 it was max(0, 0 + 1, 4) = 4).
        (StepLimit(percent=50, period=300), ((0.0, 0), (30.0, 4)), 60.0, 6),
        # A group limit too: from 0 it allowed 0 + 2 = 2, less than the 4 woken to.
        (StepLimit(groups=2, period=300), ((0.0, 0), (30.0, 4)), 60.0, 6),
    ],
)
def test_the_up_limit_counts_from_the_size_woken_to_not_from_zero(
    limit: StepLimit, sizes: tuple[tuple[float, int], ...], now: float, expected: int
) -> None:
    assert up_limit(limit, sizes, now, sizes[-1][1]) == expected
