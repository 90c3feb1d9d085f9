"""An operator's pause (``lws-autoscaler.io/paused-replicas``): the paused count replaces
the rules' outcome, within the bounds, draining first; the rules' state goes on, so the
first decision after the pause is the one the rules would have made anyway."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.engine import ReasonCode
from autoscaler.engine.pause import DRIVER
from autoscaler.snapshot import PAUSED_REPLICAS_ANNOTATION, LwsSnapshot, Pause
from autoscaler.sources.cluster import read_pause
from tests.engine.factories import T0, Driver, codes, make_policy, ready_groups, snapshot
from tests.engine.factories import busy as busy_groups

R = ReasonCode
DRAIN = {"scaleDown": {"drain": {"enabled": True, "timeout": "2m"}}}
ACTIVATION = {"query": "sum(rate(gateway_requests_total[1m]))", "threshold": 0.5}
TO_ZERO = {"enabled": True, "activation": ACTIVATION}


def paused(snap: LwsSnapshot, value: str | None) -> LwsSnapshot:
    """``snap`` with the annotation's text ``value`` read as the cluster reader reads it."""
    if value is None:
        return snap
    return dataclasses.replace(snap, pause=read_pause({PAUSED_REPLICAS_ANNOTATION: value}))


def busy(now: float, groups: int, queue: float, running: float = 3.0) -> LwsSnapshot:
    """``groups`` ready groups (ready an hour before T0), each with ``queue`` waiting."""
    return busy_groups(now, groups, queue, running, ready_at=T0 - 3600)


@pytest.mark.parametrize(
    ("spec", "current", "value", "expected", "reason_codes"),
    [
        # The queue asks for 8 groups (4 x 20 / 10); the pause wins either way.
        ({}, 4, "2", 2, [R.PAUSED]),
        ({}, 4, "6", 6, [R.PAUSED]),
        ({}, 4, " 5 ", 5, [R.PAUSED]),
        # Within the bounds, which are the HPA's: it would clamp there anyway.
        ({}, 4, "25", 10, [R.PAUSED]),
        ({"replicas": {"min": 2}}, 4, "0", 2, [R.PAUSED]),
        ({"scaleToZero": TO_ZERO}, 4, "0", 0, [R.PAUSED]),
        # Not a group count: a pause at the current size, with a warning.
        ({}, 4, "four", 4, [R.INVALID_PAUSE, R.PAUSED]),
        ({}, 4, "-1", 4, [R.INVALID_PAUSE, R.PAUSED]),
        ({}, 4, "", 4, [R.INVALID_PAUSE, R.PAUSED]),
    ],
)
def test_the_paused_count_replaces_the_rules(
    spec: dict[str, Any], current: int, value: str, expected: int, reason_codes: list[str]
) -> None:
    decision = Driver(make_policy(**spec)).step(paused(busy(T0, current, queue=20.0), value))
    assert decision.replicas == expected
    assert decision.driver == DRIVER
    assert codes(decision)[: len(reason_codes)] == reason_codes
    # The rules' own account follows: what they would have recommended, and why.
    assert R.SIGNAL in codes(decision)
    assert "the rules alone would recommend 8" in decision.reasons[len(reason_codes) - 1].message


def test_without_a_pause_nothing_changes() -> None:
    plain = Driver(make_policy()).step(busy(T0, 4, queue=20.0))
    assert plain.replicas == 8
    assert plain.driver == "queueDepth"
    assert R.PAUSED not in codes(plain)


def test_a_pause_below_the_current_size_drains_first() -> None:
    d = Driver(make_policy(**DRAIN))
    first = d.step(paused(busy(d.now, 4, queue=20.0), "2"))
    # The rules want 8; the pause 2: groups 2 and 3 leave routing, 4 stay recommended.
    assert first.replicas == 4
    assert first.draining == ("model-2", "model-3")
    assert [r.message for r in first.reasons if r.code is R.DRAINING] == [
        "holding 4 until group(s) 2-3 finish their requests (at most 2m), then 2"
    ]
    # Groups 2 and 3 report nothing running and nothing waiting: the pause reaches 2.
    d.now += 15
    idle = snapshot(
        d.now,
        groups=ready_groups(4, ready_at=T0 - 3600),
        queue=[20.0, 20.0, 0.0, 0.0],
        running=[3.0, 3.0, 0.0, 0.0],
    )
    second = d.step(paused(idle, "2"))
    assert second.replicas == 2
    assert "group(s) 2-3 drained: 4 -> 2" in [r.message for r in second.reasons]


def test_the_rules_state_goes_on_so_resuming_is_what_the_rules_would_decide() -> None:
    """Two engines see the same LWS of 10 groups; one is paused at 10 for ten minutes.
    The rules ran all along in both, so when the pause ends both decide the same: the
    down window (5 minutes) remembers the targets of 9 recorded while paused, and the
    queue falling to 3 a group takes the LWS to 9, not to 4 (nor holds it at 10 while a
    fresh window warms up)."""
    policy = make_policy(scaleDown={"stabilizationWindow": "5m"})
    free, held = Driver(policy), Driver(policy)
    for minute in range(10):
        now = T0 + 60 * minute
        free.now = held.now = now
        free.step(busy(now, 10, queue=7.5))  # 7.5 groups, 9 with the 10% down headroom
        assert held.step(paused(busy(now, 10, queue=7.5), "10")).replicas == 10
    assert held.state.paused == (Pause("10", 10), 10)
    now = T0 + 600
    free.now = held.now = now
    resumed, unpaused = held.step(busy(now, 10, queue=3.0)), free.step(busy(now, 10, queue=3.0))
    assert resumed.replicas == unpaused.replicas == 9
    assert resumed.reasons == unpaused.reasons
    assert "highest target in the last 5m is 9" in [r.message for r in resumed.reasons]
    assert held.state.paused is None


def test_without_a_snapshot_the_last_pause_stays_in_force() -> None:
    d = Driver(make_policy(missingMetrics={"holdFor": "1m", "then": "noRecommendation"}))
    d.step(paused(busy(d.now, 4, queue=20.0), "3"))
    # Within holdFor, the hold's account of the missing data stays beside the pause.
    within = d.step(None, advance=15)
    assert within.replicas == 3
    assert codes(within) == [R.PAUSED, R.HOLD]
    # Past holdFor the rules give no recommendation; the pause still stands, and no
    # NoRecommendation reason (nor its Warning Event) contradicts the count it gives.
    blind = d.step(None, advance=300)
    assert blind.replicas == 3
    assert codes(blind) == [R.PAUSED]
    assert "as last read; the source returned no data" in blind.reasons[0].message
    # The cluster seen again, without the annotation: the rules decide.
    back = d.step(busy(d.now + 15, 3, queue=20.0))
    assert back.driver == "queueDepth"
    assert R.PAUSED not in codes(back)


def test_with_no_pause_ever_a_missing_snapshot_is_the_rules_hold() -> None:
    d = Driver(make_policy())
    d.step(busy(d.now, 4, queue=20.0))
    held = d.step(None, advance=15)
    assert held.driver == "hold"
    assert held.replicas == 8


@given(
    count=st.integers(min_value=0, max_value=999_999_999),
    low=st.integers(min_value=1, max_value=5),
    high=st.integers(min_value=5, max_value=50),
    current=st.integers(min_value=1, max_value=50),
    queue=st.floats(min_value=0, max_value=1e6),
    zero=st.booleans(),
)
def test_a_valid_pause_recommends_the_count_within_the_bounds_whatever_the_signals(
    count: int, low: int, high: int, current: int, queue: float, zero: bool
) -> None:
    policy = make_policy(
        replicas={"min": low, "max": high}, scaleToZero=TO_ZERO if zero else {"enabled": False}
    )
    decision = Driver(policy).step(paused(busy(T0, current, queue), str(count)))
    floor = 0 if zero else low
    assert decision.replicas == min(max(count, floor), high)
    assert decision.draining == ()


def _six_groups(now: float, queue: list[float], running: list[float]) -> LwsSnapshot:
    return snapshot(now, groups=ready_groups(6, ready_at=T0 - 3600), queue=queue, running=running)


def test_a_pause_drain_lifted_leaves_the_rules_as_they_were() -> None:
    """Six groups needed for ten minutes, then four groups' worth, paused at 4 while
    groups 4 and 5 are busy: the pause drains them. Lifted before they are idle, the
    drain is called off and the rules decide from the live size with their own down
    window (6), as an engine never paused does; the pause's drain state once made them
    see the LWS at 4 and finish a scale-down they never decided (review, 2026-11-26)."""
    policy = make_policy(scaleDown={"stabilizationWindow": "5m", **DRAIN["scaleDown"]})
    engines = {"paused": Driver(policy), "free": Driver(policy)}
    for name, d in engines.items():
        for minute in range(10):
            d.now = T0 + 60 * minute
            d.step(_six_groups(d.now, [10.0] * 6, [3.0] * 6))
        for step in range(3):
            d.now = T0 + 600 + 20 * step
            snap = _six_groups(d.now, [6.0] * 6, [3.0] * 6)
            decision = d.step(paused(snap, "4") if name == "paused" else snap)
        if name == "paused":
            assert decision.replicas == 6
            assert decision.draining == ("model-4", "model-5")
            assert d.state.pause_draining
            assert d.state.draining == ()
    # Lifted; then groups 4 and 5 fall idle.
    for step, (queue, running) in enumerate(
        [([6.0] * 6, [3.0] * 6), ([6.0] * 4 + [0.0] * 2, [3.0] * 4 + [0.0] * 2)]
    ):
        now = T0 + 660 + 20 * step
        decisions = {}
        for name, d in engines.items():
            d.now = now
            decisions[name] = d.step(_six_groups(now, queue, running))
        assert decisions["paused"].replicas == decisions["free"].replicas == 6
        assert decisions["paused"].reasons == decisions["free"].reasons
        assert decisions["paused"].draining == ()
    assert engines["paused"].state.pause_draining == ()


def test_a_drain_of_the_rules_under_way_is_called_off_by_a_pause() -> None:
    d = Driver(make_policy(**DRAIN))
    first = d.step(busy(d.now, 4, queue=4.0))  # 1.6 groups: groups 2 and 3 drain
    assert first.draining == ("model-2", "model-3")
    held = d.step(paused(busy(d.now + 15, 4, queue=4.0), "4"), advance=15)
    assert held.replicas == 4
    assert held.draining == ()  # both leaders serve again
    assert d.state.draining == ()
    assert R.DRAINING not in codes(held)


def test_without_a_snapshot_the_paused_count_keeps_to_the_policy_in_force() -> None:
    d = Driver(make_policy())
    d.step(paused(busy(d.now, 4, queue=20.0), "8"))
    d.policy = make_policy(replicas={"max": 4})  # reloaded while the source is down
    blind = d.step(None, advance=15)
    assert blind.replicas == 4
    assert blind.reasons[0].message.endswith("keeping 4")


def test_a_completed_pause_drain_keeps_its_leaders_out_while_the_source_is_blind() -> None:
    """Paused at 4 from 6: groups 4 and 5 drained, 4 went out. The source then returns
    nothing past holdFor: the count stays 4 and the two leaders stay out of routing
    while the LWS removes their groups (the hold had given them back)."""
    d = Driver(make_policy(**DRAIN, missingMetrics={"holdFor": "1m", "then": "noRecommendation"}))
    d.step(paused(_six_groups(d.now, [6.0] * 6, [3.0] * 6), "4"))
    d.now += 15
    idle = _six_groups(d.now, [6.0] * 4 + [0.0] * 2, [3.0] * 4 + [0.0] * 2)
    done = d.step(paused(idle, "4"))
    assert done.replicas == 4
    assert done.draining == ("model-4", "model-5")
    for advance in (30, 60):
        blind = d.step(None, advance=advance)
        assert blind.replicas == 4
        assert blind.draining == ("model-4", "model-5")
        assert R.NO_RECOMMENDATION not in codes(blind)


@pytest.mark.parametrize(
    ("spec", "value", "says"),
    [
        ({}, "6", ": 6; the rules"),
        ({}, "10", ": 10; the rules"),  # replicas.max itself is within the bounds
        ({}, "25", ": 10 (25 is outside [1, 10]: replicas.max); the rules"),
        ({"replicas": {"min": 2}}, "2", ": 2; the rules"),
        ({"replicas": {"min": 2}}, "0", ": 2 (0 is outside [2, 10]: the policy's lowest size)"),
        ({"scaleToZero": TO_ZERO}, "0", ": 0; the rules"),
    ],
)
def test_a_pause_outside_the_bounds_says_which_bound_it_met(
    spec: dict[str, Any], value: str, says: str
) -> None:
    decision = Driver(make_policy(**spec)).step(paused(busy(T0, 4, queue=20.0), value))
    (message,) = [r.message for r in decision.reasons if r.code is R.PAUSED]
    assert message.startswith(f'autoscaling paused by {PAUSED_REPLICAS_ANNOTATION}="{value}"')
    assert says in message


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("4", '"4"'),
        (" 5 ", '" 5 "'),
        ("vier", '"vier"'),
        ("²", '"²"'),  # a superscript two is no group count: shown as the operator wrote it
        ('"3"', '"\\"3\\""'),
    ],
)
def test_the_reason_names_the_annotation_as_written(value: str, quoted: str) -> None:
    decision = Driver(make_policy()).step(paused(busy(T0, 4, queue=20.0), value))
    (message,) = [r.message for r in decision.reasons if r.code is R.PAUSED]
    assert message.startswith(f"autoscaling paused by {PAUSED_REPLICAS_ANNOTATION}={quoted}: ")
