"""Missing, stale, partial and garbage data: hold, fall back, never read absence as zero."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autoscaler.engine import ReasonCode
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsSnapshot, Sample
from tests.engine.factories import KEY, Driver, codes, make_policy

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}


@pytest.mark.parametrize(
    ("missing", "after_hold", "code"),
    [
        ({"holdFor": "5m", "then": "noRecommendation"}, None, ReasonCode.NO_RECOMMENDATION),
        ({"holdFor": "5m", "then": "fallback", "fallbackReplicas": 3}, 3, ReasonCode.FALLBACK),
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
    assert driver.at(1, current=6, ready=6).replicas == 2  # fallback only after holdFor


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
