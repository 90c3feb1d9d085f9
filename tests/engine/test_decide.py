"""The engine's rules, one at a time, through ``decide`` with a manual clock.

Every test starts from ``BASE_SPEC`` (no windows, no step limits, no forecast) and
switches on only the rule under test, so each expected value follows from that rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.engine import EngineState, ReasonCode, decide
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus
from tests.engine.factories import T0, Driver, codes, make_policy, snapshot

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}
KV = {"type": "kvCacheUtilization", "target": 0.5}
TOKENS = {"type": "tokenThroughput", "tokens": "generation", "capacityPerGroup": 1000}


@pytest.mark.parametrize(
    ("values", "aggregates", "replicas", "demand", "driver"),
    [
        ({"queue": [10, 10], "kv": [0.9, 0.9]}, None, 4, 3.6, "kvCacheUtilization"),  # 2 vs 3.6
        ({"queue": [50, 10], "kv": [0.5, 0.5]}, None, 6, 6.0, "queueDepth"),  # 6 vs 2
        (
            {"queue": [0, 0], "kv": [0.1, 0.1], "generation": [2000, 2000]},
            None,
            5,  # 4000 / 800 = 5 groups
            5.0,
            "tokenThroughput/generation",
        ),
        ({"queue": [0, 0], "kv": [0.1, 0.1]}, {"ttftSeconds": 9.0}, 6, 6.0, "ttft"),  # 2 * 9 / 3
        # 2 ready * 3.5 s / 1 s = 7; the TTFT of 4 s (2 * 4 / 3 = 2.7) is the lower one.
        (
            {"queue": [0, 0], "kv": [0.1, 0.1]},
            {"ttftSeconds": 4.0, "queueWaitSeconds": 3.5},
            7,
            7.0,
            "queueWait",
        ),
        # A tie (20 / 10 = 2.0 groups, 2 x 0.5 / 0.5 = 2.0 groups): the first in policy order.
        ({"queue": [10, 10], "kv": [0.5, 0.5]}, None, 2, 2.0, "queueDepth"),
        # No load on any signal: 0 groups needed (a demand of 0, not 1), min 1.
        ({"queue": [0, 0], "kv": [0.0, 0.0], "generation": [0, 0]}, None, 1, 0.0, "queueDepth"),
    ],
)
def test_largest_proposal_wins_and_names_the_driver(
    values: dict[str, list[float]], aggregates: Any, replicas: int, demand: float, driver: str
) -> None:
    policy = make_policy(
        signals=[
            QUEUE,
            KV,
            TOKENS,
            {"type": "ttft", "targetSeconds": 3},
            {"type": "queueWait", "targetSeconds": 1},
        ]
    )
    decision = Driver(policy).at(0, aggregates=aggregates, **values)
    assert decision.replicas == replicas
    # The demand is the largest need of any signal, whichever signal drives.
    assert decision.demand == pytest.approx(demand)
    assert decision.driver == driver
    assert codes(decision)[0] == ReasonCode.SIGNAL
    assert decision.reasons[0].message.startswith(driver)


def test_starting_groups_count_as_capacity() -> None:
    policy = make_policy(signals=[QUEUE])
    # 2 ready + 2 starting; the ready ones wait 20 each: 4 groups needed, 4 on the way.
    decision = Driver(policy).at(0, ready=2, starting=2, queue=[20, 20])
    assert decision.replicas == 4
    assert ReasonCode.COVERED_BY_STARTING in codes(decision)
    # 6 groups needed: only the 2 missing ones are added, not 4 on top of the 4.
    decision = Driver(policy).at(0, ready=2, starting=2, queue=[30, 30])
    assert decision.replicas == 6


def _forecasting() -> ScalingPolicy:
    """A queue policy with the forecast on: 5-minute lookback and cold start."""
    return make_policy(
        signals=[QUEUE],
        tolerance=0.2,
        coldStart={"expected": "5m", "learn": False},
        scaleUp={"forecast": {"enabled": True, "lookback": "5m", "maxGrowth": 2.0}},
    )


def test_forecast_sizes_scale_up_for_the_load_one_cold_start_ahead() -> None:
    driver = Driver(_forecasting())
    # 3 groups; waiting requests grow from 20 to 30 over 300 s (demand 2.0 -> 3.0 groups).
    for step in range(11):
        decision = driver.at(0 if step == 0 else 30, current=3, queue=[(20 + step) / 3] * 3)
    # Demand 3.0 is on target, but rising 1/300 groups/s for a 300 s cold start: 4.0.
    assert decision.demand == pytest.approx(3.0)
    assert decision.forecast == pytest.approx(4.0)
    assert decision.replicas == 4
    assert decision.driver == "forecast"
    assert ReasonCode.FORECAST in codes(decision)


def test_a_forecast_that_needs_no_more_groups_does_not_drive() -> None:
    driver = Driver(_forecasting())
    # 3 groups; demand rises from 2.0 to 2.5 groups over 300 s: 2.5 + 0.5 = 3.0 groups in
    # one cold start, which the 3 running already cover: the signal drives, not the forecast.
    for step in range(11):
        decision = driver.at(0 if step == 0 else 30, current=3, queue=[(20 + step / 2) / 3] * 3)
    assert decision.forecast == pytest.approx(3.0)
    assert decision.replicas == 3
    assert decision.driver == "queueDepth"
    assert ReasonCode.FORECAST not in codes(decision)


def test_forecast_ignores_the_rate_window_warm_up() -> None:
    policy = make_policy(
        signals=[QUEUE],
        metrics={"rateWindow": "1m"},
        scaleUp={"forecast": {"enabled": True, "lookback": "5m", "maxGrowth": 2.0}},
    )
    driver = Driver(policy)
    # A fresh source: rates climb while their 60 s window fills (0.5 -> 2.0 groups in the
    # first 45 s), then the load is flat at 2.0 groups for four minutes.
    for step in range(21):
        queue = min(2.0, 0.5 * (step + 1)) * 10 / 2
        decision = driver.at(0 if step == 0 else 15, current=2, queue=[queue, queue])
    # Decisions before first + rateWindow never entered the demand history...
    assert driver.state.demand[0][0] == T0 + 60
    # ...so the warm-up ramp is not read as growth.
    assert decision.forecast is None
    assert decision.replicas == 2


def test_forecast_uses_the_learned_cold_start() -> None:
    policy = make_policy(
        signals=[QUEUE],
        tolerance=0.2,
        coldStart={"expected": "5m", "learn": True, "minObservations": 3, "quantile": 0.5},
        scaleUp={"forecast": {"enabled": True, "lookback": "5m", "maxGrowth": 2.0}},
    )
    # Three starts of 600 s, ready as the engine watches: the median, 600 s, replaces
    # the expected 300 s.
    groups = [GroupStatus(i, T0 - 600, T0) for i in range(3)]
    driver = Driver(policy)
    for step in range(11):
        decision = driver.at(
            0 if step == 0 else 30, groups=groups, current=3, queue=[(20 + step) / 3] * 3
        )
    assert decision.cold_start_seconds == pytest.approx(600.0)
    assert ReasonCode.COLD_START_LEARNED in codes(decision)
    assert decision.forecast == pytest.approx(5.0)  # 3.0 + 600 / 300
    assert decision.replicas == 5


def test_scale_up_window_takes_the_lowest_target() -> None:
    policy = make_policy(signals=[QUEUE], scaleUp={"stabilizationWindow": 60})
    driver = Driver(policy)
    assert driver.at(0, queue=[10, 10]).replicas == 2
    spike = driver.at(30, queue=[25, 25])  # 5 groups wanted, but 2 was wanted 30 s ago
    assert spike.replicas == 2
    assert ReasonCode.SCALE_UP_WINDOW in codes(spike)
    assert driver.at(30, queue=[25, 25]).replicas == 2  # t=0 is still within 60 s
    assert driver.at(30, queue=[25, 25]).replicas == 5  # only 5s in the window now


@pytest.mark.parametrize("sustained", [0, 30])
def test_sustained_queue_ignores_a_one_scrape_burst(sustained: int) -> None:
    """4 groups with 40 waiting in all, then one scrape with 200 (20 groups' worth),
    then 40 again: with ``sustainedFor: 30s`` nothing is ordered; without it, 10 (max)."""
    policy = make_policy(signals=[{**QUEUE, "sustainedFor": sustained}])
    drive = Driver(policy)
    quiet, burst = [10, 10, 10, 10], [50, 50, 50, 50]
    recs = [drive.at(15, queue=q).replicas for q in (quiet, quiet, burst, quiet, quiet)]
    if sustained:
        assert recs == [4, 4, 4, 4, 4]  # min(40, 200) / 10 = 4 groups
    else:
        assert recs[2] == 10  # the burst alone orders 6 groups


def test_sustained_queue_scales_up_a_persistent_backlog_within_the_window() -> None:
    policy = make_policy(signals=[{**QUEUE, "sustainedFor": 30}])
    drive = Driver(policy)
    drive.at(15, queue=[10, 10, 10, 10])
    backlog = [drive.at(15, queue=[25, 25, 25, 25]).replicas for _ in range(3)]
    # 100 waiting from the 2nd decision on: the window still holds the quiet 40 for 30 s
    # (4 groups kept), then reads 100 -> 10 groups, 30 s after the backlog appeared.
    assert backlog == [4, 4, 10]


def test_sustained_queue_acts_on_the_current_total_without_history() -> None:
    """First decision (a restart): no earlier total in the window, the current one counts."""
    policy = make_policy(signals=[{**QUEUE, "sustainedFor": 60}])
    assert Driver(policy).at(0, queue=[50, 50]).replicas == 10


@pytest.mark.parametrize(("hold", "while_starting"), [(False, 11), (True, 7)])
def test_a_latency_guard_holds_while_its_groups_start_when_asked(
    hold: bool, while_starting: int
) -> None:
    guard = {"type": "queueWait", "targetSeconds": 1, "holdWhileStarting": hold}
    policy = make_policy(
        replicas={"max": 30},
        signals=[QUEUE, guard],
        scaleUp={"maxStep": {"groups": 4, "period": "1m"}},
    )
    driver = Driver(policy)
    waits = {Signal.QUEUE_WAIT: 7.7}
    # A burst is over (no queue), but its requests finished with a p90 wait of 7.7 s:
    # 3 x 7.7 = 23.1 groups, 4 a minute at most -> 7.
    assert driver.at(0, queue=[0, 0, 0], aggregates=waits).replicas == 7
    # Past the minute, the 4 are starting and the quantile has not moved (it sees only the
    # 3 ready groups' finished requests). Without the option: 4 more on the same waits.
    later = driver.at(61, ready=3, starting=4, queue=[0, 0, 0], aggregates=waits)
    assert later.replicas == while_starting
    if hold:
        assert ReasonCode.COVERED_BY_STARTING in codes(later)
    # Once they are ready, the signal reads them, and a wait still over the target
    # orders again: 7 x 1.5 s = 10.5 groups -> 11.
    ready = driver.at(300, queue=[0] * 7, aggregates={Signal.QUEUE_WAIT: 1.5})
    assert ready.replicas == 11


def test_a_held_latency_guard_gives_the_forecast_no_more_than_the_groups_that_exist() -> None:
    guard = {"type": "queueWait", "targetSeconds": 1, "holdWhileStarting": True}
    policy = make_policy(
        replicas={"max": 40},
        signals=[guard],
        metrics={"rateWindow": "1m"},
        scaleUp={"maxStep": {"groups": 4, "period": "1m"}, "forecast": {"enabled": True}},
    )
    driver = Driver(policy)
    # 3 ready + 4 starting for 5 minutes, while the p90 of the ready groups' finished
    # requests climbs from 1 s to 8 s. The hold proposes the 7 that exist; the demand the
    # forecast projects must be held too, or its trend (3 x 8 s / 1 s = 24 groups and
    # rising) orders the groups the hold refused: 11 after 3.75 minutes, then more.
    for step in range(21):
        waits = {Signal.QUEUE_WAIT: 1.0 + 0.35 * step}
        decision = driver.at(15, current=7, ready=3, starting=4, queue=[0] * 3, aggregates=waits)
        assert decision.replicas == 7, (step, decision.explain())
    assert decision.proposals[0].needed == pytest.approx(24.0)  # the reading itself stays


def test_scale_up_step_limit_per_period() -> None:
    policy = make_policy(signals=[QUEUE], scaleUp={"maxStep": {"groups": 2, "period": "1m"}})
    driver = Driver(policy)
    first = driver.at(0, queue=[45, 45])  # 9 groups wanted from 2
    assert first.replicas == 4
    assert ReasonCode.STEP_LIMIT in codes(first)
    # The HPA applied 4 after 30 s: the period started at 2, so still at most 4.
    assert driver.at(30, current=4, ready=2, starting=2, queue=[45, 45]).replicas == 4
    # 61 s after the size was 2: 4 + 2.
    assert driver.at(31, current=4, ready=2, starting=2, queue=[45, 45]).replicas == 6


def test_scale_down_window_takes_the_highest_target() -> None:
    policy = make_policy(signals=[QUEUE], scaleDown={"stabilizationWindow": "5m"})
    driver = Driver(policy)
    for step in range(11):  # 300 s at 5 groups' worth of load
        driver.at(0 if step == 0 else 30, queue=[10] * 5)
    # 1.8 groups' worth now: with the tolerance as headroom, ceil(1.8 * 1.1) = 2.
    lull = driver.at(30, queue=[3.6] * 5)
    assert lull.replicas == 5
    assert ReasonCode.SCALE_DOWN_WINDOW in codes(lull)
    for _ in range(9):
        assert driver.at(30, queue=[3.6] * 5).replicas == 5  # t=300 (5) still in window
    assert driver.at(30, queue=[3.6] * 5).replicas == 2  # window holds only 2s now


def test_scale_down_step_limit_never_raises_the_size() -> None:
    policy = make_policy(signals=[QUEUE], scaleDown={"maxStep": {"groups": 1, "period": "2m"}})
    driver = Driver(policy)
    assert driver.at(0, queue=[10] * 8).replicas == 8
    # Someone scaled to 2 by hand; the load needs 1. The period's base is 8, so the step
    # limit alone would say "at least 7": the scale-down path holds 2 instead.
    decision = driver.at(30, queue=[2, 2])
    assert decision.replicas == 2


def test_noise_around_a_size_does_not_flap() -> None:
    # 5 groups; demand wobbles +-6% around 4.15 groups (3.92 <-> 4.41), the HPA applying
    # each recommendation. Without headroom on the way down, 3.92 -> 4 groups, then
    # 4.41 / 4 = 1.10 > 1.1 -> 5 again: a cold start paid for noise every other cycle.
    policy = make_policy(signals=[QUEUE], tolerance=0.1)
    driver = Driver(policy)
    current = 5
    for step in range(8):
        per_leader = (39.2 if step % 2 == 0 else 44.1) / 5
        decision = driver.at(15, current=current, queue=[per_leader] * 5)
        current = decision.replicas or current
        assert current == 5
    # A real drop to 3.6 groups still scales down: ceil(3.6 * 1.1) = 4.
    assert driver.at(15, current=5, queue=[36 / 5] * 5).replicas == 4


def test_scale_down_step_limit_per_period() -> None:
    policy = make_policy(signals=[QUEUE], scaleDown={"maxStep": {"groups": 1, "period": "2m"}})
    driver = Driver(policy)
    first = driver.at(0, queue=[1] * 5)
    assert first.replicas == 4
    assert ReasonCode.STEP_LIMIT in codes(first)
    assert driver.at(60, current=4, queue=[1] * 4).replicas == 4  # size was 5 at t=0
    assert driver.at(61, current=4, queue=[1] * 4).replicas == 3


def _groups(ready_ages: list[float | None], now: float) -> list[GroupStatus]:
    """Groups 0..n-1; an age in seconds since ready, or None for a starting group."""
    # A starting group was created 2 minutes ago: one starting for over twice the cold
    # start is stuck, and not protected (see tests/engine/test_startup.py).
    return [
        GroupStatus(i, now - 120, None) if age is None else GroupStatus(i, now - 3600, now - age)
        for i, age in enumerate(ready_ages)
    ]


@pytest.mark.parametrize(
    ("ages", "remove_starting", "replicas", "code"),
    [
        ([9e3, 9e3, 9e3, 100], False, 4, ReasonCode.PROTECT_YOUNG),  # group 3 is young
        ([9e3, 9e3, 100, 9e3], False, 3, ReasonCode.PROTECT_YOUNG),  # only group 3 goes
        ([9e3, 9e3, 9e3, 9e3], False, 1, None),
        ([9e3, 9e3, 9e3, None], False, 4, ReasonCode.PROTECT_STARTING),
        ([9e3, None, 9e3, 9e3], False, 2, ReasonCode.PROTECT_STARTING),
        ([9e3, 9e3, 9e3, None], True, 1, None),
        ([9e3, 9e3, 100, None], True, 3, ReasonCode.PROTECT_YOUNG),
    ],
)
def test_scale_down_never_removes_starting_or_young_groups(
    ages: list[float | None], remove_starting: bool, replicas: int, code: ReasonCode | None
) -> None:
    policy = make_policy(
        signals=[QUEUE],
        scaleDown={"minGroupAge": "10m", "removeStartingGroups": remove_starting},
    )
    ready = sum(age is not None for age in ages)
    decision = Driver(policy).at(
        0,
        current=len(ages),
        ready=ready,
        groups=_groups(ages, T0),
        queue=[0] * ready,
    )
    assert decision.replicas == replicas
    if code is not None:
        assert code in codes(decision)


def test_starting_groups_protected_without_group_detail() -> None:
    policy = make_policy(signals=[QUEUE])
    decision = Driver(policy).at(0, ready=2, starting=2, queue=[0, 0])
    assert decision.replicas == 4
    assert ReasonCode.PROTECT_STARTING in codes(decision)


def test_no_scale_down_until_the_down_window_was_observed() -> None:
    policy = make_policy(signals=[QUEUE], scaleDown={"stabilizationWindow": "5m"})
    driver = Driver(policy)
    first = driver.at(0, queue=[1] * 4)  # a freshly (re)started engine, low load
    assert first.replicas == 4
    assert ReasonCode.WARMING_UP in codes(first)
    assert driver.at(299, queue=[1] * 4).replicas == 4
    assert driver.at(1, queue=[1] * 4).replicas == 1


def test_an_outage_longer_than_the_down_window_restarts_the_warm_up() -> None:
    policy = make_policy(
        signals=[QUEUE],
        scaleDown={"stabilizationWindow": "5m"},
        missingMetrics={"holdFor": "1h"},
    )
    driver = Driver(policy)
    for step in range(12):
        driver.at(0 if step == 0 else 30, queue=[10] * 4)
    for _ in range(11):  # 330 s without any data: held at 4
        assert driver.step(None, advance=30).replicas == 4
    back = driver.at(30, queue=[1] * 4)  # low load on return: nothing seen for 360 s
    assert back.replicas == 4
    assert ReasonCode.WARMING_UP in codes(back)


@pytest.mark.parametrize("window", [0, 10, 14, 20])
def test_a_down_window_shorter_than_the_decision_interval_still_scales_down(window: int) -> None:
    # Decisions every 15 s: a gap longer than a 10 s window used to restart the
    # observation at every decision, so the LWS stayed at 5 for good. A gap up to
    # metrics.staleAfter (60 s) is no outage.
    policy = make_policy(signals=[QUEUE], scaleDown={"stabilizationWindow": window})
    driver = Driver(policy)
    sizes = []
    current = 5
    for _ in range(4):
        current = driver.at(15, current=current, queue=[1] * current).replicas or 0
        sizes.append(current)
    assert sizes[-1] == 1
    assert sizes.index(1) <= 2  # within two decisions of 15 s


def test_an_outage_longer_than_stale_after_restarts_a_short_down_window() -> None:
    policy = make_policy(signals=[QUEUE], scaleDown={"stabilizationWindow": 10})
    driver = Driver(policy)
    driver.at(0, queue=[10] * 4)
    back = driver.at(61, queue=[1] * 4)  # 61 s without a decision, past staleAfter 60 s
    assert back.replicas == 4
    assert ReasonCode.WARMING_UP in codes(back)
    assert driver.at(15, queue=[1] * 4).replicas == 1


@pytest.mark.parametrize(
    ("signal", "busy"),
    [
        ("queueWait", {"queue": [300] * 4, "running": [200] * 4}),  # nothing finished
        ("ttft", {"queue": [0] * 4, "running": [8] * 4}),  # long decodes, no new prompt
    ],
)
def test_a_latency_only_policy_keeps_its_size_while_leaders_are_busy(
    signal: str, busy: dict[str, list[float]]
) -> None:
    # No quantile (no request finished in the window) is no evidence of zero demand
    # while the leaders' gauges show requests waiting or running.
    policy = make_policy(signals=[{"type": signal, "targetSeconds": 1}])
    driver = Driver(policy)
    for step in range(40):  # ten minutes
        decision = driver.at(0 if step == 0 else 15, **busy)
        assert decision.replicas == 4
    assert "4 leader(s) report requests waiting or running -> keep 4" in decision.explain()


def test_a_latency_only_policy_reads_idle_leaders_as_zero_demand() -> None:
    policy = make_policy(signals=[{"type": "ttft", "targetSeconds": 1}])
    decision = Driver(policy).at(0, queue=[0] * 4, running=[0] * 4)
    assert decision.replicas == 1
    assert decision.demand == 0.0  # zero demand, raised to min 1 by the bounds alone
    assert "ttft: no request in the window -> 0 groups needed" in decision.explain()


def test_a_latency_quantile_without_a_ready_group_waits_for_leaders() -> None:
    # Every leader failed readiness while the TTFT quantile is still in the window:
    # 0 ready x 0.5 s / 1 s is no demand of 0 groups.
    policy = make_policy(
        signals=[{"type": "ttft", "targetSeconds": 1}],
        scaleDown={"removeStartingGroups": True},
    )
    decision = Driver(policy).at(0, ready=0, starting=3, aggregates={Signal.TTFT: 0.5})
    assert decision.replicas == 3
    assert ReasonCode.WAITING_FOR_LEADERS in codes(decision)


def test_a_signal_above_target_blocks_scale_down() -> None:
    # 3 ready (15 waiting each, above 10) + 3 starting: 4.5 groups needed of 6.
    policy = make_policy(signals=[QUEUE], scaleDown={"removeStartingGroups": True})
    decision = Driver(policy).at(0, ready=3, starting=3, queue=[15, 15, 15])
    assert decision.replicas == 6
    assert ReasonCode.PRESSURE in codes(decision)


def test_existing_groups_kept_while_above_target_even_if_spec_is_lower() -> None:
    # spec.replicas was lowered to 3 while 2 ready + 2 starting exist and the queue is
    # above target: keep the 4 that exist rather than drop one that is on its way.
    policy = make_policy(signals=[QUEUE], scaleDown={"removeStartingGroups": True})
    decision = Driver(policy).at(0, current=3, ready=2, starting=2, queue=[15, 15])
    assert decision.replicas == 4
    assert ReasonCode.PRESSURE in codes(decision)


def test_bounds_are_applied_last() -> None:
    policy = make_policy(signals=[QUEUE], replicas={"min": 2, "max": 5})
    assert Driver(policy).at(0, queue=[100, 100]).replicas == 5
    # From either bound and inside [2, 5] both ways: no bound moved anything.
    within = Driver(policy).at(0, queue=[20, 20])  # 4 groups needed on 2
    assert within.replicas == 4
    assert ReasonCode.BOUNDS not in codes(within)
    down = Driver(policy).at(0, queue=[6] * 5)  # 3 needed on 5: ceil(3 x 1.1) = 4 kept
    assert down.replicas == 4
    assert ReasonCode.BOUNDS not in codes(down)
    low = Driver(policy).at(0, current=1, queue=[0])
    assert low.replicas == 2
    assert ReasonCode.BOUNDS in codes(low)


def test_waiting_for_leaders_while_groups_start() -> None:
    policy = make_policy(signals=[QUEUE], replicas={"min": 3})
    decision = Driver(policy).at(0, current=2, ready=0, starting=2)
    assert decision.replicas == 3  # held at the current size, raised to min
    assert decision.driver == "startup"
    assert codes(decision) == [ReasonCode.WAITING_FOR_LEADERS]


def test_decide_is_pure() -> None:
    policy = make_policy(signals=[QUEUE, KV], scaleDown={"stabilizationWindow": "5m"})
    snap = snapshot(T0, queue=[30, 5], kv=[0.4, 0.6])
    state = EngineState()
    first = decide(policy, snap, state, T0)
    second = decide(policy, snap, state, T0)
    assert first == second
    assert state == EngineState()  # the input state is not modified
