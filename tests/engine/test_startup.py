"""Cold-start learning and the demand forecast over the cold-start time."""

from __future__ import annotations

import math

import pytest

from autoscaler.engine.decision import ReasonCode
from autoscaler.engine.startup import (
    cold_start_seconds,
    observe_starts,
    project_demand,
    quantile,
    slow_starts,
)
from autoscaler.engine.state import EngineState, TimedFloats
from autoscaler.policy.model import ColdStart, Forecast
from autoscaler.snapshot import GroupStatus
from tests.engine.factories import T0, Driver, make_policy, snapshot

LEARN = ColdStart(expected=300.0, learn=True, min_observations=3, max_observations=5, quantile=0.75)


def _observe(state: EngineState, *groups: GroupStatus, config: ColdStart = LEARN) -> EngineState:
    return observe_starts(config, snapshot(T0, queue=[0], groups=groups), state)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ((60.0, 120.0, 300.0), 0.75, 210.0),  # position 1.5: 120 + 0.5 * 180
        ((60.0, 120.0, 300.0), 0.5, 120.0),
        ((300.0,), 0.9, 300.0),
        ((10.0, 20.0, 30.0, 40.0, 50.0), 0.75, 40.0),
    ],
)
def test_quantile_is_linear_interpolation(
    values: tuple[float, ...], q: float, expected: float
) -> None:
    assert quantile(values, q) == pytest.approx(expected)


def test_learned_quantile_replaces_expected_after_min_observations() -> None:
    state = _observe(EngineState(), GroupStatus(0, T0, T0 + 60), GroupStatus(1, T0, T0 + 120))
    assert state.start_durations == (60.0, 120.0)
    assert cold_start_seconds(LEARN, state) == (300.0, False)  # only 2 of 3 starts seen
    state = _observe(state, GroupStatus(2, T0, T0 + 300))
    seconds, learned = cold_start_seconds(LEARN, state)
    assert learned
    assert seconds == pytest.approx(210.0)


def test_learning_off_keeps_expected_and_state() -> None:
    config = LEARN.model_copy(update={"learn": False})
    state = _observe(EngineState(), GroupStatus(0, T0, T0 + 60), config=config)
    assert state == EngineState()
    assert cold_start_seconds(config, state) == (300.0, False)


@pytest.mark.parametrize(
    ("created", "ready"),
    [
        (T0, T0),  # zero: a status glitch, not a start
        (T0, T0 - 5),  # ready before created: clock skew between sources
        (T0, T0 + 5 * 3600),  # five hours: an outage (image pull loop), not a cold start
        (T0, T0 + 4 * 3600 + 1),  # the limit is 4 hours: one second over is an outage too
    ],
)
def test_implausible_start_durations_are_ignored(created: float, ready: float) -> None:
    state = _observe(EngineState(), GroupStatus(0, created, ready))
    assert state.start_durations == ()
    # ... but the group is marked as seen, so it is not reconsidered each cycle.
    assert (0, created) in state.seen_starts


def test_no_double_counting_across_cycles_and_group_less_snapshots() -> None:
    groups = (GroupStatus(0, T0, T0 + 60), GroupStatus(1, T0, T0 + 90))
    state = _observe(EngineState(), *groups)
    state = _observe(state, *groups)
    # A cycle whose source listed no groups, then one that listed only group 1.
    state = observe_starts(LEARN, snapshot(T0, queue=[0]), state)
    state = _observe(state, groups[1])
    state = _observe(state, *groups)
    assert state.start_durations == (60.0, 90.0)


def test_only_starts_that_ended_while_the_engine_watched_are_learned() -> None:
    # Groups 0 and 1 started as the engine watched (300 s and 290 s). Group 2 was created
    # 3 h before and is Ready again for 1 h after a container restart (same pod, newer
    # Ready transition): 7,200 s is no cold start. Learned, it made the p75 3,750 s.
    watching = EngineState(first_seen=T0)
    state = _observe(
        watching,
        GroupStatus(0, T0, T0 + 300),
        GroupStatus(1, T0 + 10, T0 + 300),
        GroupStatus(2, T0 - 10_800, T0 - 3600),
    )
    assert state.start_durations == (300.0, 290.0)
    assert (2, T0 - 10_800) in state.seen_starts  # known, so never reconsidered


def test_a_recreated_group_is_a_new_start() -> None:
    state = _observe(EngineState(), GroupStatus(0, T0, T0 + 60))
    state = _observe(state, GroupStatus(0, T0 + 1000, None))  # deleted, re-created, starting
    state = _observe(state, GroupStatus(0, T0 + 1000, T0 + 1240))
    assert state.start_durations == (60.0, 240.0)
    assert state.seen_starts == frozenset({(0, T0 + 1000)})


def test_only_the_last_max_observations_are_kept() -> None:
    state = EngineState()
    for i in range(8):
        state = _observe(state, GroupStatus(i, T0, T0 + 10 * (i + 1)))
    assert state.start_durations == (40.0, 50.0, 60.0, 70.0, 80.0)


FORECAST = Forecast(enabled=True, lookback=300.0, max_growth=2.0)


def _rising(start: float, end: float, seconds: float = 300.0, points: int = 11) -> TimedFloats:
    step = seconds / (points - 1)
    return tuple(
        (T0 - seconds + i * step, start + (end - start) * i / (points - 1)) for i in range(points)
    )


def test_forecast_projects_the_least_squares_trend_over_the_cold_start() -> None:
    # Demand rose from 2.0 to 3.0 groups over 300 s: slope 1/300 groups per second.
    # With a 300 s cold start: 3.0 + 300 * (1/300) = 4.0 groups.
    assert project_demand(_rising(2.0, 3.0), T0, 300.0, FORECAST) == pytest.approx(4.0)
    # A 600 s cold start doubles the lead: 3.0 + 2.0 = 5.0.
    assert project_demand(_rising(2.0, 3.0), T0, 600.0, FORECAST) == pytest.approx(5.0)


def test_forecast_projects_the_fitted_level_with_the_slope_lower_bound() -> None:
    # Centred t: -150, -50, 50, 150 (Sxx = 50,000); centred d: -0.4, -0.2, 0.2, 0.4.
    # slope = 140 / 50,000 = 0.0028; fitted level at now = 2.5 + 0.0028 * 150 = 2.92
    # (not the last point, 2.9); residuals 0.02, -0.06, 0.06, -0.02 -> SSR 0.008,
    # standard error sqrt(0.008 / 2 / 50,000) = 0.000283; lower bound 0.0028 - 2 * se.
    history = ((T0 - 300, 2.1), (T0 - 200, 2.3), (T0 - 100, 2.7), (T0, 2.9))
    slope_low = 0.0028 - 2 * math.sqrt(0.008 / 2 / 50_000)
    assert project_demand(history, T0, 300.0, FORECAST) == pytest.approx(2.92 + slope_low * 300)


def test_one_burst_on_a_flat_demand_is_not_a_trend() -> None:
    # Flat at 3.2 groups for 300 s, then one 15 s reading of 4.4: the least-squares slope
    # is 0.00104 per s (a plain projection: 4.4 + 0.31 = 4.71 -> 5 groups), but its
    # standard error is as large, so nothing is projected.
    history = (*((T0 - 300 + 15 * i, 3.2) for i in range(20)), (T0, 4.4))
    assert project_demand(history, T0, 300.0, FORECAST) is None
    assert project_demand(history, T0, 300.0, FORECAST, smoothing_seconds=60.0) is None


def test_rate_smoothing_widens_the_slope_uncertainty() -> None:
    # Centred d: -0.4, -0.35, 0.35, 0.4: slope 0.0031, standard error 0.00092 (3.4 of
    # them: significant on independent points). Rates over 400 s sampled every 100 s
    # share most of their requests: the error doubles (sqrt(400 / 100)) and 0.0031 is
    # no longer two errors above zero.
    history = ((T0 - 300, 2.1), (T0 - 200, 2.15), (T0 - 100, 2.85), (T0, 2.9))
    # Residuals 0.065, -0.195, 0.195, -0.065: SSR 0.0845, se sqrt(0.0845 / 2 / 50,000);
    # the fitted level at now is 2.5 + 0.0031 * 150 = 2.965.
    slope_low = 0.0031 - 2 * math.sqrt(0.0845 / 2 / 50_000)
    assert project_demand(history, T0, 300.0, FORECAST) == pytest.approx(2.965 + slope_low * 300)
    assert project_demand(history, T0, 300.0, FORECAST, smoothing_seconds=400.0) is None


def test_forecast_is_capped_at_max_growth() -> None:
    # 3.0 + 3000/300 = 13 groups, capped at 2.0 * 3.0 = 6.
    assert project_demand(_rising(2.0, 3.0), T0, 3000.0, FORECAST) == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("history", "config"),
    [
        (_rising(3.0, 2.0), FORECAST),  # falling: left to the scale-down window
        (_rising(2.0, 2.0), FORECAST),  # flat
        (_rising(2.0, 3.0, seconds=90, points=4), FORECAST),  # trend over < lookback/2
        (_rising(2.0, 3.0, seconds=140, points=8), FORECAST),  # 140 s < 150 s
        (((T0 - 200, 2.0), (T0, 3.0)), FORECAST),  # two points are not a trend
        (_rising(2.0, 3.0), Forecast(enabled=False)),
        (_rising(0.0, 0.0), FORECAST),
    ],
)
def test_no_forecast_without_a_rising_trend(history: TimedFloats, config: Forecast) -> None:
    assert project_demand(history, T0, 300.0, config) is None


def test_forecast_ignores_points_outside_the_lookback() -> None:
    old_spike = ((T0 - 1000, 50.0),)
    assert project_demand(old_spike + _rising(2.0, 3.0), T0, 300.0, FORECAST) == pytest.approx(4.0)


@pytest.mark.parametrize(
    "scale",
    [1e160, 1e200, 1e300, 1e307],
    ids=["squares-overflow", "1e200", "1e300", "near-the-float-limit"],
)
def test_an_overflowing_fit_is_no_forecast(scale: float) -> None:
    # A garbage gauge can still be finite: demand rising 2 -> 3 times 1e160 groups
    # squares past the float range (d * d > 1.8e308), the sums turn to inf and then NaN,
    # and ``slope <= 0`` let NaN through to ``ceil``, which raised ValueError.
    history = tuple((t, d * scale) for t, d in _rising(2.0, 3.0))
    assert project_demand(history, T0, 300.0, FORECAST) is None


def test_a_huge_rising_demand_does_not_crash_the_forecast() -> None:
    policy = make_policy(
        scaleUp={"forecast": {"enabled": True, "lookback": "2m"}}, metrics={"rateWindow": "1m"}
    )
    driver = Driver(policy)
    for step in range(12):  # 1e307 waiting, rising: 1e306 groups and more, capped at max
        decision = driver.at(15, queue=[1e307 * (1 + step / 10)])
    assert decision.replicas == 10
    assert decision.forecast is None


@pytest.mark.parametrize(
    ("groups", "cold", "expected"),
    [
        # 5-minute cold start: slow beyond 10 minutes of starting.
        ([GroupStatus(0, T0 - 660, None)], 300.0, ((0, 660.0),)),
        ([GroupStatus(0, T0 - 540, None)], 300.0, ()),
        ([GroupStatus(0, T0 - 600, None)], 300.0, ()),  # exactly 2x: not yet
        # An unknown creation time (0) is no start of 1970.
        ([GroupStatus(0, 0.0, None)], 300.0, ()),
        # A ready group is never slow, however long its start took.
        ([GroupStatus(0, T0 - 3600, T0 - 60)], 300.0, ()),
        # A learned 2-minute cold start makes 5 minutes slow.
        ([GroupStatus(0, T0 - 300, None)], 120.0, ((0, 300.0),)),
        # By index, whatever the order the source listed them in.
        (
            [GroupStatus(4, T0 - 700, None), GroupStatus(1, T0 - 900, None)],
            300.0,
            ((1, 900.0), (4, 700.0)),
        ),
    ],
)
def test_slow_starts_are_groups_starting_for_over_twice_the_cold_start(
    groups: list[GroupStatus], cold: float, expected: tuple[tuple[int, float], ...]
) -> None:
    assert slow_starts(snapshot(T0, queue=[0], groups=groups), T0, cold) == expected


def test_a_slow_start_is_reported_and_still_counts_as_starting_capacity() -> None:
    policy = make_policy()
    # 2 ready groups waiting 20 each (4 groups needed at 10 a group) and 2 starting; group
    # 3 has been starting for 20 minutes against the 5-minute expected cold start.
    groups = [
        GroupStatus(0, T0 - 3600, T0 - 3300),
        GroupStatus(1, T0 - 3600, T0 - 3300),
        GroupStatus(2, T0 - 120, None),
        GroupStatus(3, T0 - 1200, None),
    ]
    decision = Driver(policy).at(0, ready=2, starting=2, groups=groups, queue=[20, 20])
    slow = [r for r in decision.reasons if r.code is ReasonCode.SLOW_START]
    assert [r.message for r in slow] == [
        "group 3 not ready 20m after its creation, over 2x the cold start (5m): "
        "check its pods; it still counts as starting capacity, but a scale-down may remove it"
    ]
    # Not replaced: 2 ready + 2 starting cover the 4 groups needed.
    assert decision.replicas == 4


def test_a_slow_start_is_not_protected_from_a_scale_down_the_load_allows() -> None:
    # 2 ready groups with 1.5 waiting each (0.3 groups needed) and groups 2 and 3 stuck
    # for 20 minutes (Pending for GPUs). A group merely starting (120 s) is protected; a
    # slow one is not, so its pending pods stop asking for GPU nodes.
    policy = make_policy(replicas={"min": 2})
    ready = [GroupStatus(0, T0 - 3600, T0 - 3300), GroupStatus(1, T0 - 3600, T0 - 3300)]
    stuck = [GroupStatus(2, T0 - 1200, None), GroupStatus(3, T0 - 1200, None)]
    down = Driver(policy).at(0, ready=2, starting=2, groups=ready + stuck, queue=[1.5, 1.5])
    assert down.replicas == 2
    starting = [GroupStatus(2, T0 - 120, None), GroupStatus(3, T0 - 120, None)]
    kept = Driver(policy).at(0, ready=2, starting=2, groups=ready + starting, queue=[1.5, 1.5])
    assert kept.replicas == 4
    assert ReasonCode.PROTECT_STARTING in [r.code for r in kept.reasons]


@pytest.mark.parametrize(
    ("starts", "expected"),
    [
        # One group waited 3 h for a GPU node: left out, not a 5,555 s cold start.
        ((300.0, 310.0, 10_800.0), 307.5),
        # A warm node cache, then a cold one: ordinary spread, all kept (p75 210 s).
        ((60.0, 120.0, 300.0), 210.0),
        # The limit is 4x the median (310 s): 1,300 s is over 1,240 s and left out ...
        ((300.0, 310.0, 1300.0), 307.5),
        # ... but one of exactly 4x is kept, beside the 5,000 s outlier: p75 of (300, 310,
        # 1,240) = 310 + 0.5 x 930.
        ((300.0, 310.0, 1240.0, 5000.0), 775.0),
        # A real change of pace, once it makes the majority: all kept.
        ((300.0, 1500.0, 1500.0), 1500.0),
        # The lower median of an even count: one outlier of two cannot pull it up.
        ((300.0, 300.0, 300.0, 7200.0), 300.0),
        # Two or more slow starts are a pattern: 3 of 8 on new nodes (~480 s) beside warm
        # ones (~90 s) all count, p75 = 472.5 s, not the 95 s of the fast ones alone.
        ((90.0, 95.0, 90.0, 480.0, 95.0, 470.0, 90.0, 500.0), 472.5),
    ],
)
def test_an_outlier_start_is_not_learned(starts: tuple[float, ...], expected: float) -> None:
    seconds, learned = cold_start_seconds(LEARN, EngineState(start_durations=starts))
    assert learned
    assert seconds == pytest.approx(expected)


def test_a_group_stuck_for_an_hour_is_still_reported_after_an_outlier_start() -> None:
    # Learned from 300, 310 and 3 h, the cold start is 307.5 s, so a group an hour into
    # its start is still slow (it would not be against a learned 5,555 s).
    policy = make_policy(coldStart={"expected": "5m", "learn": True, "minObservations": 3})
    driver = Driver(policy)
    driver.state = EngineState(start_durations=(300.0, 310.0, 10_800.0), first_seen=T0 - 7200)
    decision = driver.at(
        0,
        current=2,
        ready=1,
        starting=1,
        queue=[0],
        groups=[GroupStatus(0, T0 - 9000, T0 - 8700), GroupStatus(1, T0 - 3600, None)],
    )
    assert decision.cold_start_seconds == pytest.approx(307.5)
    assert ReasonCode.SLOW_START in [r.code for r in decision.reasons]
