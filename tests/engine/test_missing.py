"""Missing, stale, partial and garbage data: hold, fall back, never read absence as zero."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autoscaler.engine import ReasonCode, SignalStatus
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample
from tests.engine.factories import KEY, T0, Driver, codes, make_policy

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}


@pytest.mark.parametrize(
    ("missing", "after_hold", "code"),
    [
        ({"holdFor": "5m", "then": "noRecommendation"}, None, ReasonCode.NO_RECOMMENDATION),
        # The fallback is a floor: it raises the held 6 to 8 ...
        ({"holdFor": "5m", "then": "fallback", "fallbackReplicas": 8}, 8, ReasonCode.FALLBACK),
        # ... and never cuts 6 busy groups to 3 in one decision (no step limit, no down
        # window, no drain: the requests on the 3 removed would fail).
        ({"holdFor": "5m", "then": "fallback", "fallbackReplicas": 3}, 6, ReasonCode.FALLBACK),
    ],
)
def test_missing_data_holds_then_follows_the_policy(
    missing: dict[str, Any], after_hold: int | None, code: ReasonCode
) -> None:
    policy = make_policy(signals=[QUEUE], missingMetrics=missing)
    driver = Driver(policy)
    assert driver.at(0, queue=[30, 30]).replicas == 6
    held = driver.step(None, advance=60)
    assert (held.replicas, held.driver, codes(held)) == (6, "hold", [ReasonCode.HOLD])
    assert driver.step(None, advance=240).replicas == 6  # 300 s: the hold is inclusive
    past = driver.step(None, advance=1)
    assert past.replicas == after_hold
    assert codes(past) == [code]


def test_fallback_applies_when_nothing_was_ever_held() -> None:
    # No snapshot and no recommendation yet: no size to hold, so the fallback is the size.
    policy = make_policy(
        signals=[QUEUE], missingMetrics={"holdFor": "1m", "then": "fallback", "fallbackReplicas": 3}
    )
    driver = Driver(policy)
    assert driver.step(None).replicas is None
    assert driver.step(None, advance=61).replicas == 3


def test_stale_samples_hold_like_missing_ones() -> None:
    policy = make_policy(signals=[QUEUE], metrics={"staleAfter": "1m"})
    driver = Driver(policy)
    assert driver.at(0, queue=[30, 30]).replicas == 6
    stale = driver.at(60, queue=[0, 0], age=120)  # "zero" but two minutes old
    assert stale.replicas == 6
    assert "stale" in stale.reasons[0].message


def test_before_any_recommendation_the_current_size_is_held_not_min() -> None:
    # A restarted engine that finds no data must not treat it as no load.
    policy = make_policy(
        signals=[QUEUE], missingMetrics={"then": "fallback", "fallbackReplicas": 2}
    )
    driver = Driver(policy)
    first = driver.at(0, current=6, ready=6)  # 6 ready groups, no leader reported
    assert first.replicas == 6
    assert codes(first) == [ReasonCode.HOLD]
    assert driver.at(300, current=6, ready=6).replicas == 6
    # Past holdFor the fallback of 2 does not cut the 6 groups held (it is a floor).
    past = driver.at(1, current=6, ready=6)
    assert (past.replicas, codes(past)) == (6, [ReasonCode.FALLBACK])


def test_no_snapshot_and_nothing_to_hold_recommends_nothing() -> None:
    policy = make_policy(signals=[QUEUE])
    decision = Driver(policy).step(None)
    assert decision.replicas is None
    assert codes(decision) == [ReasonCode.HOLD]


def test_a_vanished_leader_is_extrapolated_and_blocks_scale_down() -> None:
    policy = make_policy(signals=[QUEUE])
    up = Driver(policy).at(0, ready=3, queue=[20, 20])  # 40 from 2 of 3 -> 60 -> 6 groups
    assert up.replicas == 6
    down = Driver(policy).at(0, ready=5, queue=[0, 0, 0, 0])  # one of five silent
    assert down.replicas == 5
    assert ReasonCode.PARTIAL_DATA in codes(down)


def test_a_missing_signal_blocks_scale_down() -> None:
    policy = make_policy(signals=[QUEUE, {"type": "kvCacheUtilization", "target": 0.8}])
    decision = Driver(policy).at(0, queue=[0, 0, 0])  # no KV metric at all
    assert decision.replicas == 3
    assert ReasonCode.PARTIAL_DATA in codes(decision)


def _all_leaders(value: float, timestamp: float, count: int = 3) -> LwsSnapshot:
    leaders = {str(i): {Signal.QUEUE_DEPTH: Sample(value, timestamp)} for i in range(count)}
    return LwsSnapshot(KEY, timestamp, count, count, count, leaders=leaders)


@pytest.mark.parametrize(
    ("value", "skew"),
    [(math.nan, 0.0), (math.inf, 0.0), (-math.inf, 0.0), (-5.0, 0.0), (1e6, 3600.0)],
    ids=["nan", "inf", "-inf", "negative", "future"],
)
def test_garbage_on_every_leader_is_missing_data_not_a_wild_recommendation(
    value: float, skew: float
) -> None:
    policy = make_policy(signals=[QUEUE])
    driver = Driver(policy)
    assert driver.step(_all_leaders(10.0, driver.now)).replicas == 3
    driver.now += 30
    bad = _all_leaders(value, driver.now + skew)
    decision = driver.step(bad)
    assert decision.replicas == 3
    assert codes(decision) == [ReasonCode.HOLD]


def test_a_huge_value_is_capped_by_max_and_the_step_limit() -> None:
    policy = make_policy(
        signals=[QUEUE],
        replicas={"max": 8},
        scaleUp={"maxStep": {"groups": 2, "period": "1m"}},
    )
    assert Driver(policy).at(0, queue=[1e12, 1e12]).replicas == 4


STZ = {"enabled": True, "idleAfter": 0, "activation": {"query": "x"}}
# One idle group and a gateway that answers 0: with idleAfter 0, 1 -> 0 at once.
IDLE_AT_ONE = {"queue": [0], "running": [0], "aggregates": {Signal.ACTIVATION: 0.0}}


@pytest.mark.parametrize(
    ("before", "data", "recommended", "after", "held"),
    [
        # Recommended 10 under max 10; reloaded with max 4, the hold says 4, not 10.
        ({"replicas": {"max": 10}}, {"queue": [80] * 8}, 10, {"replicas": {"max": 4}}, 4),
        # Recommended 1 under min 1; reloaded with min 3: 3.
        ({}, {"queue": [0]}, 1, {"replicas": {"min": 3}}, 3),
        # Scaled to zero; reloaded with scale-to-zero off, 0 is no size to hold: min.
        ({"scaleToZero": STZ}, IDLE_AT_ONE, 0, {}, 1),
        ({"scaleToZero": STZ}, IDLE_AT_ONE, 0, {"replicas": {"min": 2}}, 2),
        # Scale-to-zero still on: 0 is a size the policy allows, held as it is, not
        # raised to min 2.
        ({"scaleToZero": STZ}, IDLE_AT_ONE, 0, {"scaleToZero": STZ, "replicas": {"min": 2}}, 0),
    ],
    ids=[
        "max-lowered",
        "min-raised",
        "zero-then-stz-off",
        "zero-then-stz-off-min-2",
        "zero-stz-still-on",
    ],
)
def test_the_hold_stays_within_the_bounds_of_a_reloaded_policy(
    before: dict[str, Any],
    data: dict[str, Any],
    recommended: int,
    after: dict[str, Any],
    held: int,
) -> None:
    # The engine state outlives a policy reload; the last good value may not fit.
    driver = Driver(make_policy(**before))
    assert driver.at(0, **data).replicas == recommended
    driver.policy = make_policy(**after)
    decision = driver.step(None, advance=15)
    assert (decision.replicas, codes(decision)) == (held, [ReasonCode.HOLD])


TTFT_FAST = {"type": "ttft", "targetSeconds": 0.001}
TOKENS_ONE = {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 1}


@pytest.mark.parametrize(
    ("signal", "values", "aggregates"),
    [
        (QUEUE, {"queue": [1e308, 1e308]}, None),  # each finite, the sum is not
        (TTFT_FAST, {"queue": [1, 1]}, {Signal.TTFT: 1e306}),  # 2 x 1e306 / 0.001
        (TOKENS_ONE, {"prompt": [1.5e308, 1], "generation": [1.5e308, 1]}, None),
    ],
    ids=["queue-sum", "ttft-ratio", "tokens-total"],
)
def test_an_overflowing_demand_is_held_like_missing_data(
    signal: dict[str, Any], values: dict[str, Any], aggregates: dict[Signal, float] | None
) -> None:
    # Before: math.ceil(inf) raised OverflowError and the cycle failed.
    driver = Driver(make_policy(signals=[signal]))
    # 2 groups' worth on every signal: queue 20 / 10, TTFT 2 x 0.001 / 0.001, tokens
    # 1.6 / (1 x 0.8).
    good = {"queue": [10, 10], "prompt": [0.4, 0.4], "generation": [0.4, 0.4]}
    assert driver.at(0, aggregates={Signal.TTFT: 0.001}, **good).replicas == 2
    decision = driver.at(15, aggregates=aggregates, **values)
    assert decision.replicas == 2
    assert codes(decision) == [ReasonCode.INVALID_SIGNAL, ReasonCode.HOLD]
    assert decision.proposals[0].status is SignalStatus.INVALID


def test_an_overflowing_signal_next_to_a_good_one_blocks_scale_down() -> None:
    policy = make_policy(signals=[QUEUE, {"type": "kvCacheUtilization", "target": 0.5}])
    decision = Driver(policy).at(0, queue=[1e308, 1e308, 1e308], kv=[0.1, 0.1, 0.1])
    assert decision.driver == "kvCacheUtilization"  # 0.3 / 0.5 = 0.6 groups
    assert decision.replicas == 3
    assert codes(decision) == [
        ReasonCode.INVALID_SIGNAL,
        ReasonCode.SIGNAL,
        ReasonCode.PARTIAL_DATA,
    ]


TTFT = {"type": "ttft", "targetSeconds": 2}
QUEUE_WAIT = {"type": "queueWait", "targetSeconds": 1}
QUIET = {"queue": [0, 0, 0], "running": [0, 0, 0]}


@pytest.mark.parametrize(
    ("signals", "values", "replicas", "code"),
    [
        # Latency signals alone, no request finished, every leader reports: zero demand,
        # the ordinary scale-down (before: held, then fallback 6, a scale-UP).
        ([TTFT], QUIET, [1, 1, 1, 1], ReasonCode.SIGNAL),
        ([TTFT, QUEUE_WAIT], QUIET, [1, 1, 1, 1], ReasonCode.SIGNAL),
        # One of the three ready leaders silent: it may be serving what no quantile saw:
        # no scale-down, as with a partial signal, and no hold either.
        (
            [TTFT],
            {"ready": 3, "queue": [0, 0], "running": [0, 0]},
            [3] * 4,
            ReasonCode.PARTIAL_DATA,
        ),
        # Boundaries (held before and after): a missing queue is missing data whatever
        # the quiet latency says, and so is silence with no leader reporting at all.
        ([QUEUE, TTFT], {"running": [0, 0, 0]}, [3, 3, 3, 6], ReasonCode.HOLD),
        ([TTFT], {"ready": 3}, [3, 3, 3, 6], ReasonCode.HOLD),
    ],
    ids=["ttft", "ttft-and-queue-wait", "leader-silent", "queue-missing", "no-leader"],
)
def test_latency_signals_without_requests_are_zero_demand_not_missing_data(
    signals: list[dict[str, Any]], values: dict[str, Any], replicas: list[int], code: ReasonCode
) -> None:
    policy = make_policy(
        signals=signals,
        missingMetrics={"holdFor": "1m", "then": "fallback", "fallbackReplicas": 6},
    )
    driver = Driver(policy)
    decisions = [driver.at(0 if i == 0 else 30, current=3, **values) for i in range(4)]
    assert [d.replicas for d in decisions] == replicas
    assert code in codes(decisions[0])


def test_a_latency_only_policy_scales_to_zero_when_idle() -> None:
    policy = make_policy(signals=[TTFT], scaleToZero={**STZ, "idleAfter": "1m"})
    driver = Driver(policy)
    quiet = {"aggregates": {Signal.ACTIVATION: 0.0}}  # the gateway answers: no traffic
    assert driver.at(0, queue=[0, 0], running=[0, 0], **quiet).replicas == 1
    assert driver.at(30, queue=[0], running=[0], **quiet).replicas == 1
    zero = driver.at(30, queue=[0], running=[0], **quiet)
    assert (zero.replicas, zero.driver) == (0, "scaleToZero")


def test_a_failed_scrape_after_a_start_is_given_up_holds_zero() -> None:
    """A start given up (``wait_for_leaders``) is a recommendation of 0 like any other:
    a scrape that fails before the HPA applies it holds 0, not the 1 still starting."""
    stz = {"enabled": True, "idleAfter": "1m", "activation": {"query": "x", "threshold": 0.5}}
    driver = Driver(make_policy(signals=[QUEUE], scaleToZero=stz))
    assert driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 3.0}).replicas == 1
    unready: dict[str, Any] = {
        "current": 1,
        "ready": 0,
        "starting": 1,
        "groups": [GroupStatus(0, driver.now, None)],
        "aggregates": {Signal.ACTIVATION: 0.0},
    }
    # Quiet from t = 15 s; patience max(idleAfter 1m, 2 x the 5m cold start) = 600 s:
    # given up at t = 615 s, the 41st decision.
    sizes = [driver.at(15, **unready).replicas for _ in range(41)]
    assert sizes == [1] * 40 + [0]
    held = driver.step(None, advance=15)
    assert (held.replicas, codes(held)) == (0, [ReasonCode.HOLD])


def test_a_leader_with_only_stale_samples_is_a_silent_one() -> None:
    """``silent_groups`` counts usable samples, not samples: a leader whose every gauge
    is two minutes old (``staleAfter`` 1m) reported nothing, and its group may be serving
    what no TTFT quantile saw. No scale-down, as with a leader that sent nothing."""
    fresh = {Signal.QUEUE_DEPTH: Sample(0.0, T0), Signal.RUNNING: Sample(0.0, T0)}
    stale = {Signal.QUEUE_DEPTH: Sample(0.0, T0 - 120), Signal.RUNNING: Sample(0.0, T0 - 120)}
    snap = LwsSnapshot(KEY, T0, 3, 3, 3, leaders={"0": fresh, "1": fresh, "2": stale})
    decision = Driver(make_policy(signals=[TTFT], metrics={"staleAfter": "1m"})).step(snap)
    assert decision.replicas == 3
    assert ReasonCode.PARTIAL_DATA in codes(decision)
    assert "1 of 3 ready groups' leaders did not report" in decision.explain()
