"""Scheduled floors (``spec.schedules``): when a window is active (days, time zones,
daylight saving, past midnight, the prewarm lead) and what the floor does to a decision
(raises it, never lowers it, keeps an LWS from zero and wakes one there, calls off a
drain of the groups it keeps, raises a hold, leaves no recommendation alone)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.engine import ReasonCode
from autoscaler.engine.schedule import floor_at, window_around
from autoscaler.policy.model import Schedule
from autoscaler.snapshot import Pause
from tests.engine.factories import Driver, busy, codes, make_policy, snapshot

R = ReasonCode
ACTIVATION = {"query": "sum(rate(gateway_requests_total[1m]))", "threshold": 0.5}


def utc(text: str) -> float:
    """``"2026-11-23 07:00"`` (a Monday) in Unix seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def office(**changes: Any) -> dict[str, Any]:
    return {
        "name": "office",
        "days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
        "start": "08:00",
        "end": "20:00",
        "timeZone": "Europe/Paris",
        "minReplicas": 4,
        **changes,
    }


def schedule(**changes: Any) -> Schedule:
    return Schedule.model_validate(office(**changes))


# (schedule changes, instant in UTC, prewarm lead in seconds, active?)
WINDOWS = [
    # Winter: Paris is UTC+1. 08:00 Paris = 07:00 UTC.
    ({}, "2026-11-23 06:59", 0, False),
    ({}, "2026-11-23 07:00", 0, True),
    ({}, "2026-11-23 18:59", 0, True),
    ({}, "2026-11-23 19:00", 0, False),  # 20:00 Paris: the end is not in the window
    # Prewarmed 7 minutes: from 07:53 Paris.
    ({}, "2026-11-23 06:52", 420, False),
    ({}, "2026-11-23 06:53", 420, True),
    # Summer: UTC+2. 08:00 Paris = 06:00 UTC.
    ({}, "2026-06-22 06:00", 0, True),
    ({}, "2026-06-22 05:59", 0, False),
    # Days: Saturday is off; the lead reaches into Monday from Sunday night.
    ({}, "2026-11-28 12:00", 0, False),
    ({"start": "00:30"}, "2026-11-22 23:20", 600, True),  # Monday 00:20 Paris + 10 min
    ({"start": "00:30"}, "2026-11-22 23:10", 600, False),
    # The lead reaches over midnight: Sunday 23:58 Paris, Monday's window opens 00:05.
    ({"start": "00:05"}, "2026-11-22 22:58", 600, True),
    ({"start": "00:05"}, "2026-11-22 22:58", 0, False),
    # Past midnight: Friday 22:00 to Saturday 06:00 belongs to Friday.
    ({"start": "22:00", "end": "06:00"}, "2026-11-28 04:59", 0, True),  # Sat 05:59 Paris
    ({"start": "22:00", "end": "06:00"}, "2026-11-28 05:00", 0, False),
    ({"start": "22:00", "end": "06:00"}, "2026-11-29 04:00", 0, False),  # Sun: from Sat
    # Start equal to end: 24 hours.
    ({"start": "09:00", "end": "09:00"}, "2026-11-24 07:59", 0, True),  # Tue 08:59
    ({"start": "09:00", "end": "09:00", "days": ["Mon"]}, "2026-11-24 08:00", 0, False),
    # UTC by default; "8:00" is 08:00.
    ({"timeZone": "UTC", "start": "8:00"}, "2026-11-23 08:00", 0, True),
    # The spring change (29 March 2026, 02:00 CET -> 03:00 CEST in Paris, at 01:00 UTC):
    # 02:30 does not exist; as a start it reads at its earliest, 02:30 CET = 01:30 UTC
    # less an hour = 00:30 UTC, so 02:30-03:15 is 00:30-01:15 UTC, not an inverted or
    # empty window (review, 2026-11-26).
    ({"start": "02:30", "end": "03:15", "days": ["Sun"]}, "2026-03-29 00:30", 0, True),
    ({"start": "02:30", "end": "03:15", "days": ["Sun"]}, "2026-03-29 01:14", 0, True),
    ({"start": "02:30", "end": "03:15", "days": ["Sun"]}, "2026-03-29 00:29", 0, False),
    ({"start": "02:30", "end": "03:15", "days": ["Sun"]}, "2026-03-29 01:15", 0, False),
    # The autumn change (25 October 2026, 03:00 CEST -> 02:00 CET at 01:00 UTC): 02:30
    # happens twice; a start at its first (00:30 UTC), an end at its second (01:30 UTC).
    ({"start": "02:30", "end": "05:00", "days": ["Sun"]}, "2026-10-25 00:30", 0, True),
    ({"start": "02:30", "end": "05:00", "days": ["Sun"]}, "2026-10-25 00:29", 0, False),
    ({"start": "01:00", "end": "02:30", "days": ["Sun"]}, "2026-10-25 01:29", 0, True),
    ({"start": "01:00", "end": "02:30", "days": ["Sun"]}, "2026-10-25 01:30", 0, False),
]


@pytest.mark.parametrize(("changes", "at", "lead", "active"), WINDOWS)
def test_window_around(changes: dict[str, Any], at: str, lead: float, active: bool) -> None:
    assert (window_around(schedule(**changes), utc(at), lead) is not None) is active


def test_the_highest_active_floor_wins_and_says_why() -> None:
    spec = make_policy(
        schedules=[
            office(name="early", days=["Mon"], start="06:00", end="08:45", minReplicas=5),
            office(),
            office(name="batch", days=["Mon"], start="07:00", end="09:00", minReplicas=6),
            office(name="weekend", days=["Sat", "Sun"], minReplicas=9),
        ]
    ).spec
    floor = floor_at(spec, utc("2026-11-23 07:30"), cold=300)  # Monday 08:30 Paris
    assert floor.groups == 6
    assert floor.message == ("schedule batch (Mon 07:00-09:00 Europe/Paris): at least 6")
    # Listed first, the higher floor still wins over a later, lower one.
    listed = make_policy(schedules=[office(minReplicas=6), office(name="b", minReplicas=2)])
    assert floor_at(listed.spec, utc("2026-11-23 11:00"), cold=300).groups == 6
    early = floor_at(spec, utc("2026-11-24 06:56"), cold=300)  # Tuesday 07:56 Paris
    assert early.groups == 4
    assert early.message.endswith(
        "20:00 Europe/Paris, prewarmed 4m ahead of its start): at least 4"
    )
    assert floor_at(spec, utc("2026-11-23 20:00"), cold=300).groups == 0


MONDAY_NOON = utc("2026-11-23 11:00")  # 12:00 in Paris


def test_the_floor_raises_a_lower_recommendation_and_leaves_a_higher_one() -> None:
    d = Driver(make_policy(schedules=[office()]), now=MONDAY_NOON)
    low = d.step(busy(d.now, 2, queue=5.0))  # 1 group needed
    assert low.replicas == 4
    assert low.driver == "schedule"
    assert codes(low)[-1] == R.SCHEDULED
    assert low.reasons[-1].message.endswith("at least 4 (the rules: 2)")
    high = d.step(busy(d.now + 15, 4, queue=20.0), advance=15)  # 8 groups needed
    assert high.replicas == 8
    assert R.SCHEDULED not in codes(high)
    equal = d.step(busy(d.now + 15, 4, queue=10.0), advance=15)  # 4 needed: the floor itself
    assert (equal.replicas, equal.driver) == (4, "queueDepth")
    assert R.SCHEDULED not in codes(equal)


def test_outside_the_window_the_rules_decide_alone() -> None:
    d = Driver(make_policy(schedules=[office()]), now=utc("2026-11-23 22:00"))
    decision = d.step(busy(d.now, 2, queue=5.0))
    assert decision.replicas == 2  # 1 group needed, kept at 2 by the tolerance
    assert R.SCHEDULED not in codes(decision)


def test_prewarm_orders_the_groups_one_cold_start_before_the_start() -> None:
    policy = make_policy(schedules=[office()], coldStart={"expected": "10m"})
    d = Driver(policy, now=utc("2026-11-23 06:51"))  # 07:51 Paris: 9 minutes to go
    ahead = d.step(busy(d.now, 1, queue=0.0))
    assert ahead.replicas == 4
    assert "prewarmed 9m ahead of its start" in ahead.reasons[-1].message
    cold = make_policy(schedules=[office(prewarm=False)], coldStart={"expected": "10m"})
    assert Driver(cold, now=d.now).step(busy(d.now, 1, queue=0.0)).replicas == 1


SCALE_TO_ZERO: dict[str, Any] = {
    "replicas": {"min": 1, "max": 10},
    "scaleToZero": {"enabled": True, "idleAfter": "5m", "activation": ACTIVATION},
}


def test_no_scale_to_zero_in_a_window_and_a_wake_from_zero() -> None:
    from autoscaler.signals import Signal

    policy = make_policy(schedules=[office(minReplicas=2)], **SCALE_TO_ZERO)
    d = Driver(policy, now=MONDAY_NOON)
    for _ in range(30):  # idle for 7.5 minutes on one group
        decision = d.at(15, queue=[0.0], running=[0.0], aggregates={Signal.ACTIVATION: 0.0})
    assert decision.replicas == 2
    assert R.SCALE_TO_ZERO not in codes(decision)
    at_zero = snapshot(d.now, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.0})
    woken = d.step(at_zero, advance=15)
    assert woken.replicas == 2
    assert codes(woken)[-1] == R.SCHEDULED


def test_a_drain_of_groups_the_floor_keeps_is_called_off() -> None:
    policy = make_policy(scaleDown={"drain": {"enabled": True, "timeout": "2m"}})
    d = Driver(policy, now=MONDAY_NOON)
    first = d.step(busy(d.now, 4, queue=4.0))  # 1.6 groups: groups 2 and 3 drain
    assert first.draining == ("model-2", "model-3")
    d.policy = make_policy(
        scaleDown={"drain": {"enabled": True, "timeout": "2m"}},
        schedules=[office(minReplicas=3)],
    )
    kept = d.step(busy(d.now + 15, 4, queue=4.0), advance=15)
    assert kept.replicas == 4  # draining group 3 still, to 3
    assert kept.draining == ("model-3",)


def test_a_hold_is_raised_but_no_recommendation_stays_none() -> None:
    hold = {"holdFor": "1m", "then": "noRecommendation"}
    d = Driver(make_policy(missingMetrics=hold), now=MONDAY_NOON)
    d.step(busy(d.now, 2, queue=5.0))  # 1 group, before the schedule exists
    d.policy = make_policy(missingMetrics=hold, schedules=[office(minReplicas=3)])
    held = d.step(None, advance=15)
    assert held.replicas == 3
    assert held.driver == "schedule"
    assert codes(held) == [R.HOLD, R.SCHEDULED]
    past = d.step(None, advance=120)
    assert past.replicas is None
    assert codes(past) == [R.NO_RECOMMENDATION]


def test_a_pause_overrides_the_schedule() -> None:
    d = Driver(make_policy(schedules=[office()]), now=MONDAY_NOON)
    snap = dataclasses.replace(busy(d.now, 2, queue=5.0), pause=Pause("2", 2))
    decision = d.step(snap)
    assert decision.replicas == 2
    assert decision.driver == "pause"
    assert "the rules alone would recommend 4" in decision.reasons[0].message


@given(
    floor=st.integers(min_value=1, max_value=10),
    groups=st.integers(min_value=1, max_value=10),
    queue=st.floats(min_value=0, max_value=1e4),
    minute=st.integers(min_value=0, max_value=7 * 24 * 60 - 1),
)
def test_in_a_window_the_recommendation_is_never_below_the_floor(
    floor: int, groups: int, queue: float, minute: int
) -> None:
    policy = make_policy(schedules=[office(minReplicas=floor, timeZone="UTC")])
    now = utc("2026-11-23 00:00") + 60 * minute
    decision = Driver(policy, now=now).step(busy(now, groups, queue))
    active = window_around(policy.spec.schedules[0], now, 300.0) is not None
    assert decision.replicas is not None
    if active:
        assert decision.replicas >= floor
    else:
        assert R.SCHEDULED not in codes(decision)


def test_after_the_window_the_down_window_holds_the_floor() -> None:
    """Office hours of 4 groups on a load of 1 group, a 5-minute down window, the HPA
    following: the floor is a target, so the LWS stays at 4 for 5 minutes after 20:00
    and then goes down (it dropped to 1 at 20:00 sharp: review, 2026-11-26)."""
    policy = make_policy(
        schedules=[office()], scaleDown={"stabilizationWindow": "5m", "minGroupAge": 0}
    )
    closing = utc("2026-11-23 19:00")  # 20:00 Paris
    d = Driver(policy, now=closing - 3600)
    size, sizes = 4, {}
    while d.now < closing + 1800:
        # One group's worth of queue (0.5 a group on 2 groups' target of 10... 1 group).
        decision = d.step(busy(d.now, size, queue=5.0 / size))
        size = decision.replicas or size
        sizes[d.now - closing] = size
        d.now += 15
    assert sizes[-15.0] == 4  # 19:59:45 Paris, in the window
    assert sizes[0.0] == 4  # 20:00: closed, and the down window holds 4
    assert sizes[285.0] == 4
    assert sizes[300.0] == 1  # five minutes later


def test_a_blind_hold_raised_by_a_floor_gives_back_the_groups_it_keeps() -> None:
    """A completed drain from 4 to 1, then the source goes blind while a floor of 3
    begins: the hold is raised to 3, only group 3 stays out of routing (groups 1 and 2
    serve again), and the hold remembers 3."""
    drain = {"scaleDown": {"drain": {"enabled": True, "timeout": "2m"}}}
    d = Driver(make_policy(**drain), now=MONDAY_NOON)
    d.step(busy(d.now, 4, queue=0.0, running=0.0))
    d.now += 15
    done = d.step(busy(d.now, 4, queue=0.0, running=0.0))  # idle: 4 -> 1 drained
    assert done.replicas == 1
    assert done.draining == ("model-1", "model-2", "model-3")
    d.policy = make_policy(**drain, schedules=[office(minReplicas=3)])
    blind = d.step(None, advance=15)
    assert blind.replicas == 3
    assert blind.draining == ("model-3",)
    assert [pod for pod, _ in d.state.draining] == ["model-3"]
    assert d.state.last_good is not None
    assert d.state.last_good[1] == 1  # the hold's own: the floor applies afresh each time


def test_a_floor_under_min_keeps_an_lws_from_zero_and_wakes_it_to_min() -> None:
    """minReplicas 1 under replicas.min 2 with scale-to-zero: at zero in the window the
    LWS is woken to 2 (it serves, with min at least, as a wake by activation does)."""
    from autoscaler.signals import Signal

    stz = {**SCALE_TO_ZERO, "replicas": {"min": 2, "max": 10}}
    d = Driver(make_policy(schedules=[office(minReplicas=1)], **stz), now=MONDAY_NOON)
    at_zero = snapshot(d.now, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.0})
    woken = d.step(at_zero)
    assert woken.replicas == 2
    assert woken.reasons[-1].message.endswith("at least 1 (was 0): replicas.min 2")
    assert R.AT_ZERO not in codes(woken)  # overruled, and said so by the floor


@pytest.mark.parametrize(
    ("prewarm", "at", "groups", "says"),
    [
        # Without prewarm the floor begins at the start itself (08:00 Paris, 07:00 UTC).
        (False, "2026-11-23 06:59:59", 0, ""),
        (False, "2026-11-23 07:00:00", 4, "20:00 Europe/Paris): at least 4"),
        # Prewarmed one cold start (5 minutes) early; at the start it is no longer ahead.
        (True, "2026-11-23 06:54:59", 0, ""),
        (True, "2026-11-23 06:55:00", 4, "prewarmed 5m ahead of its start): at least 4"),
        (True, "2026-11-23 07:00:00", 4, "20:00 Europe/Paris): at least 4"),
    ],
)
def test_the_floor_begins_at_the_start_or_one_cold_start_before_with_prewarm(
    prewarm: bool, at: str, groups: int, says: str
) -> None:
    spec = make_policy(schedules=[office(prewarm=prewarm)]).spec
    floor = floor_at(spec, utc(at), cold=300)
    assert floor.groups == groups
    assert floor.message.endswith(says)


def test_a_hold_already_at_the_floor_stays_the_holds() -> None:
    hold = {"holdFor": "1m", "then": "noRecommendation"}
    d = Driver(make_policy(missingMetrics=hold), now=MONDAY_NOON)
    assert d.step(busy(d.now, 3, queue=10.0)).replicas == 3  # 3 groups' worth
    d.policy = make_policy(missingMetrics=hold, schedules=[office(minReplicas=3)])
    held = d.step(None, advance=15)
    assert held.replicas == 3
    assert held.driver == "hold"
    assert codes(held) == [R.HOLD]


@pytest.mark.parametrize(
    ("low", "floor", "says"),
    [
        (2, 1, "at least 1 (was 0): replicas.min 2"),  # under min: woken to min
        (2, 2, "at least 2 (was 0)"),  # the floor is min itself: nothing to add
        (1, 3, "at least 3 (was 0)"),
    ],
)
def test_a_wake_from_zero_by_a_floor_says_when_replicas_min_raised_it(
    low: int, floor: int, says: str
) -> None:
    from autoscaler.signals import Signal

    stz = {**SCALE_TO_ZERO, "replicas": {"min": low, "max": 10}}
    d = Driver(make_policy(schedules=[office(minReplicas=floor)], **stz), now=MONDAY_NOON)
    woken = d.step(snapshot(d.now, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.0}))
    assert woken.replicas == max(low, floor)
    assert woken.reasons[-1].message.endswith(says)


def test_a_wake_by_a_floor_is_the_recommendation_a_blind_hold_keeps() -> None:
    """Woken from zero by a floor of 2: 2 is the last recommendation made on data, so
    when the source then goes blind the hold keeps 2, also once the schedule is gone."""
    from autoscaler.signals import Signal

    d = Driver(make_policy(schedules=[office(minReplicas=2)], **SCALE_TO_ZERO), now=MONDAY_NOON)
    woken = d.step(snapshot(d.now, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.0}))
    assert woken.replicas == 2
    assert d.state.last_good == (d.now, 2)
    d.policy = make_policy(**SCALE_TO_ZERO)  # the schedule removed
    held = d.step(None, advance=15)
    assert (held.replicas, held.driver) == (2, "hold")
