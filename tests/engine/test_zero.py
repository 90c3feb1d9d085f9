"""Scale-to-zero: only 1 -> 0 after idleAfter; back from 0 on the activation signal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.engine import Decision, EngineState, ReasonCode
from autoscaler.engine.proposals import backlog_holds
from autoscaler.engine.zero import is_idle
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus
from tests.engine.factories import GENERATION_1000, T0, Driver, codes, make_policy, snapshot

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}
STZ = {
    "enabled": True,
    "idleAfter": "15m",
    "activation": {"query": "sum(rate(gateway_requests_total[1m]))", "threshold": 0.5},
}
# Idle leaders, and a gateway that reports no traffic (the one signal that can wake).
QUIET_GATEWAY = {Signal.ACTIVATION: 0.0}
IDLE: dict[str, Any] = {
    "queue": [0],
    "running": [0],
    "generation": [0],
    "aggregates": QUIET_GATEWAY,
}


# The tests below decide minutes apart. Unobserved time is no idleness: a gap between
# decisions longer than ``staleAfter`` restarts the idle clock (tested on its own at the
# end), so their policies accept a day between decisions.
SPARSE_DECISIONS = {"staleAfter": "1d"}


def _policy(**spec: Any) -> Any:
    return make_policy(signals=[QUEUE], scaleToZero=STZ, metrics=SPARSE_DECISIONS, **spec)


@pytest.mark.parametrize("spare", [0.0, 1.5], ids=["no-spare", "spare-1.5"])
def test_one_group_goes_to_zero_only_after_idle_after(spare: float) -> None:
    # scaleDown.spareGroups is headroom above a demand; at no demand it must not keep a
    # group (or two: ceil(0 + 1.5) = 2) that scale-to-zero would remove.
    driver = Driver(_policy(scaleDown={"spareGroups": spare}))
    first = driver.at(0, **IDLE)
    assert first.replicas == 1
    assert ReasonCode.IDLE in codes(first)
    assert driver.at(899, **IDLE).replicas == 1
    zero = driver.at(1, **IDLE)
    assert zero.replicas == 0
    assert zero.driver == "scaleToZero"
    assert ReasonCode.SCALE_TO_ZERO in codes(zero)


@pytest.mark.parametrize(
    "interruption",
    [
        {"queue": [0], "running": [1], "generation": [0]},  # one request running
        {"queue": [0], "running": [0], "generation": [5]},  # tokens still flowing
        {"queue": [None], "running": [None], "generation": [None]},  # no data: not idle
        {**IDLE, "aggregates": {Signal.ACTIVATION: 1.0}},  # the gateway sees traffic
    ],
)
def test_any_activity_or_missing_data_restarts_the_idle_clock(
    interruption: dict[str, Any],
) -> None:
    driver = Driver(_policy())
    driver.at(0, **IDLE)
    driver.at(600, **interruption)
    assert driver.at(300, **IDLE).replicas == 1  # 900 s since t=0, but not in a row
    assert driver.at(899, **IDLE).replicas == 1
    assert driver.at(1, **IDLE).replicas == 0


def test_no_snapshot_restarts_the_idle_clock() -> None:
    driver = Driver(_policy())
    driver.at(0, **IDLE)
    driver.step(None, advance=600)
    assert driver.at(300, **IDLE).replicas == 1


@pytest.mark.parametrize("spare", [0.0, 1.5], ids=["no-spare", "spare-1.5"])
def test_only_from_one_group_to_zero(spare: float) -> None:
    # min 2: idle long enough lowers the floor to 1, reached through the ordinary
    # scale-down; zero comes only on a later decision, from 1.
    driver = Driver(_policy(replicas={"min": 2}, scaleDown={"spareGroups": spare}))
    quiet = {"aggregates": QUIET_GATEWAY}
    driver.at(0, queue=[0, 0], running=[0, 0], **quiet)
    down = driver.at(900, queue=[0, 0], running=[0, 0], **quiet)
    assert down.replicas == 1
    assert ReasonCode.SCALE_TO_ZERO not in codes(down)
    assert driver.at(30, queue=[0], running=[0], **quiet).replicas == 0


def test_no_zero_without_a_fresh_activation_value() -> None:
    """At zero only the activation query can wake the LWS, and without a value it stays
    at 0 (``test_at_zero_without_activation_data_stays_at_zero``). Going there while the
    query returns nothing (a gateway renamed its metric, an empty PromQL result) would
    park the LWS for good: it stays at 1 until the query answers again."""
    driver = Driver(_policy())
    silent = {k: v for k, v in IDLE.items() if k != "aggregates"}
    driver.at(0, **silent)
    held = driver.at(900, **silent)
    assert held.replicas == 1
    assert ReasonCode.IDLE in codes(held)
    assert "nothing could wake it" in " ".join(r.message for r in held.reasons)
    assert driver.at(15, **IDLE).replicas == 0  # the query answers 0 again: idle enough


def test_without_scale_to_zero_idle_stays_at_min() -> None:
    driver = Driver(make_policy(signals=[QUEUE]))
    driver.at(0, **IDLE)
    assert driver.at(86400, **IDLE).replicas == 1


def test_from_zero_as_soon_as_activation_crosses_the_threshold() -> None:
    driver = Driver(_policy(replicas={"min": 2}))
    quiet = driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.5})
    assert (quiet.replicas, codes(quiet)) == (0, [ReasonCode.AT_ZERO])
    wake = driver.at(15, current=0, ready=0, aggregates={Signal.ACTIVATION: 0.6})
    assert wake.replicas == 2
    assert wake.driver == "activation"
    assert codes(wake) == [ReasonCode.ACTIVATION]


def test_at_zero_without_activation_data_stays_at_zero() -> None:
    decision = Driver(_policy()).at(0, current=0, ready=0)
    assert decision.replicas == 0
    assert "no fresh activation data" in decision.reasons[0].message


def test_at_zero_with_scale_to_zero_disabled_goes_back_to_min() -> None:
    policy = make_policy(signals=[QUEUE], replicas={"min": 3})
    decision = Driver(policy).at(0, current=0, ready=0)
    assert decision.replicas == 3
    assert codes(decision) == [ReasonCode.BOUNDS]


def test_waking_groups_are_waited_for_not_scaled_down() -> None:
    driver = Driver(_policy())
    driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 3.0})
    starting = driver.at(15, current=1, ready=0, starting=1)
    assert starting.replicas == 1
    assert codes(starting) == [ReasonCode.WAITING_FOR_LEADERS]


def test_a_percent_step_limit_lets_a_woken_lws_grow_at_once() -> None:
    # 20 groups' worth of queue right after a wake to 1, at most +100% per 5 minutes:
    # 2 at once. The size 0 before the wake, read as the period's base, allowed
    # max(0 * 2, 0 + 1, 1) = 1 until the wake had left the period.
    driver = Driver(_policy(scaleUp={"maxStep": {"percent": 100, "period": "5m"}}))
    driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 5.0})
    first = driver.at(30, queue=[200])
    assert first.replicas == 2
    # Applied: the period counts from the 1 woken to, so 2 stays the limit until then.
    assert driver.at(30, queue=[100, 100]).replicas == 2
    assert driver.at(271, queue=[100, 100]).replicas == 4  # t=30 (size 1) has left


IDLE_STZ = {"enabled": True, "idleAfter": "15m", "activation": {"query": "x", "threshold": 0}}


@pytest.mark.parametrize(
    ("snap_args", "aggregates", "idle"),
    [
        ({"queue": [0, 0], "running": [0, 0]}, None, True),
        ({"queue": [0, 0], "running": [0, 1]}, None, False),
        ({"queue": [0, 0], "generation": [0, 0.5]}, None, False),
        ({"queue": [0, None], "running": [0, None]}, None, False),  # leader 1: no data
        ({"ready": 3, "queue": [0, 0], "running": [0, 0]}, None, False),  # a leader vanished
        ({"queue": [0, 0]}, {Signal.ACTIVATION: 2.0}, False),  # gateway sees traffic
        ({"queue": [0, 0]}, {Signal.ACTIVATION: 0.0}, True),
        ({"kv": [0.0, 0.0]}, None, False),  # KV alone says nothing about activity
    ],
)
def test_idle_needs_every_leader_to_report_no_activity(
    snap_args: dict[str, Any], aggregates: dict[Signal, float] | None, idle: bool
) -> None:
    policy = make_policy(scaleToZero=IDLE_STZ)
    assert is_idle(policy.spec, snapshot(T0, aggregates=aggregates, **snap_args), T0) is idle


# --- scaleDown.holdWhileIdle -----------------------------------------------------------

FOUR_IDLE: dict[str, Any] = {"queue": [0] * 4, "running": [0] * 4, "generation": [0] * 4}


def _hold_policy(hold: bool, cold: str = "5m", learn: bool = False, **spec: Any) -> Any:
    return make_policy(
        signals=[QUEUE],
        coldStart={"expected": cold, "learn": learn, "minObservations": 3},
        scaleDown={"holdWhileIdle": hold},
        metrics=SPARSE_DECISIONS,
        **spec,
    )


@pytest.mark.parametrize(
    ("hold", "cold", "held_until"),
    [
        (False, "5m", 0.0),  # the ordinary rules: idle 4 -> min 1 at once
        (True, "5m", 300.0),  # no scale-down while idle for less than the cold start
        (True, "10m", 600.0),  # the hold follows the policy's cold start
    ],
)
def test_an_idle_lws_keeps_its_size_for_one_cold_start(
    hold: bool, cold: str, held_until: float
) -> None:
    driver = Driver(_hold_policy(hold, cold))
    first = driver.at(0, **FOUR_IDLE)
    if not held_until:
        assert first.replicas == 1
        assert ReasonCode.IDLE_HOLD not in codes(first)
        return
    assert first.replicas == 4
    assert ReasonCode.IDLE_HOLD in codes(first)
    held = [r.message for r in first.reasons if r.code is ReasonCode.IDLE_HOLD]
    assert held == [f"idle for 0ms < cold start {cold}: holding 4 instead of 1"]
    assert driver.at(held_until - 1, **FOUR_IDLE).replicas == 4
    after = driver.at(1, **FOUR_IDLE)
    assert after.replicas == 1
    assert ReasonCode.IDLE_HOLD not in codes(after)


def test_the_hold_uses_the_learned_cold_start() -> None:
    driver = Driver(_hold_policy(True, "5m", learn=True))
    # Three observed starts of 2 minutes each: the learned cold start (their p75) is 120 s.
    driver.state = driver.state.evolve(start_durations=(120.0, 120.0, 120.0))
    driver.at(0, **FOUR_IDLE)
    assert driver.at(119, **FOUR_IDLE).replicas == 4
    assert driver.at(1, **FOUR_IDLE).replicas == 1


def test_activity_restarts_the_hold() -> None:
    # A trickle of traffic is demand, not a silence: it scales down by the ordinary
    # rules, and the next silence is held for a whole cold start again.
    driver = Driver(_hold_policy(True))
    driver.at(0, **FOUR_IDLE)
    busy = driver.at(200, queue=[0, 0, 0, 1], running=[0, 0, 0, 1])
    assert busy.replicas == 1
    assert ReasonCode.IDLE_HOLD not in codes(busy)
    quiet = driver.at(30, queue=[0], running=[0], generation=[0])
    assert quiet.replicas == 1  # nothing to hold below min
    assert ReasonCode.IDLE_HOLD not in codes(quiet)


def test_a_silence_after_activity_is_held_from_its_own_start() -> None:
    driver = Driver(_hold_policy(True))
    driver.at(0, **FOUR_IDLE)
    driver.at(200, queue=[10, 10, 10, 10], running=[5, 5, 5, 5])  # busy: 4 groups needed
    assert driver.at(30, **FOUR_IDLE).replicas == 4  # idle again from 230 s
    assert driver.at(299, **FOUR_IDLE).replicas == 4
    assert driver.at(1, **FOUR_IDLE).replicas == 1


def test_the_hold_never_delays_scale_to_zero_from_one_group() -> None:
    # Going to zero is scale-to-zero's own decision, after idleAfter: the hold only
    # stops the ordinary scale-down of a larger LWS.
    stz = {**STZ, "idleAfter": "2m"}
    driver = Driver(_hold_policy(True, "5m", scaleToZero=stz))
    driver.at(0, **IDLE)
    assert driver.at(120, **IDLE).replicas == 0


@settings(max_examples=150, deadline=None)
@given(
    cold=st.sampled_from([60.0, 300.0, 600.0]),
    window=st.sampled_from([0, 120]),
    steps=st.lists(
        st.tuples(
            st.sampled_from([1.0, 15.0, 30.0, 60.0, 200.0]),  # seconds since the last
            st.booleans(),  # idle?
            st.integers(1, 6),  # groups now
            st.integers(0, 40),  # waiting per group when busy
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_no_group_goes_while_idle_for_less_than_a_cold_start(
    cold: float, window: int, steps: list[tuple[float, bool, int, int]]
) -> None:
    policy = make_policy(
        signals=[QUEUE],
        replicas={"min": 1, "max": 8},
        coldStart={"expected": cold, "learn": False},
        scaleDown={
            "holdWhileIdle": True,
            "stabilizationWindow": window,
            "maxStep": {"groups": 1, "period": 60},
        },
    )
    driver = Driver(policy)
    idle_since: float | None = None
    for advance, idle, size, waiting in steps:
        if idle:
            decision = driver.at(advance, queue=[0] * size, running=[0] * size)
            idle_since = driver.now if idle_since is None else idle_since
        else:
            decision = driver.at(advance, queue=[waiting] * size, running=[1] * size)
            idle_since = None
        assert decision.replicas is not None
        if idle_since is not None and driver.now - idle_since < cold:
            assert decision.replicas >= size
            if decision.replicas == size and size > 1:
                assert ReasonCode.IDLE_HOLD in codes(decision)


def test_scale_to_zero_keeps_min_group_age() -> None:
    # idleAfter 60 s, but the one group has been ready for only 2 minutes of its
    # 10-minute minGroupAge: it stays until it is 10 minutes old.
    policy = make_policy(
        signals=[QUEUE],
        scaleToZero={**STZ, "idleAfter": "1m"},
        scaleDown={"minGroupAge": "10m"},
    )
    driver = Driver(policy)
    group = [GroupStatus(0, T0 - 420, T0 - 120)]
    for step in range(32):  # to T0 + 465 s: ready for 585 s
        decision = driver.at(0 if step == 0 else 15, groups=group, **IDLE)
        assert decision.replicas == 1
    assert ReasonCode.PROTECT_YOUNG in codes(decision)
    assert driver.at(15, groups=group, **IDLE).replicas == 0


def _unready(driver: Driver, created: float, activation: float) -> Decision:
    """15 s on: one group, created at ``created``, still starting; no leader reports."""
    return driver.at(
        15,
        current=1,
        ready=0,
        starting=1,
        groups=[GroupStatus(0, created, None)],
        aggregates={Signal.ACTIVATION: activation},
    )


# --- unobserved time and the wake from zero ------------------------------------------


def test_time_without_decisions_is_not_idle_time() -> None:
    # Default staleAfter (60 s): one idle decision, then none for 20 minutes (a stalled
    # loop, a clock stepped forward), then another. Nothing was seen in between, so the
    # LWS has been idle for 0 s, not past the 15 minutes of idleAfter.
    driver = Driver(make_policy(signals=[QUEUE], scaleToZero=STZ))
    assert driver.at(0, **IDLE).replicas == 1
    later = driver.at(20 * 60, **IDLE)
    assert later.replicas == 1
    assert "idle for 0ms" in later.explain()
    # Decisions every 15 s for the same 15 minutes do reach zero.
    for _ in range(60):
        decision = driver.at(15, **IDLE)
    assert decision.replicas == 0


def test_the_rates_after_a_wake_from_zero_are_no_trend() -> None:
    # Steady 1.5 groups of tokens before and after a silence at zero. After the wake, the
    # first group's rate fills its window (newcomer spread: 0.19, 0.38 ... 1.5 groups in
    # 2 minutes); read as a trend, the forecast ordered 4 groups for 1.5.
    policy = make_policy(
        signals=[
            GENERATION_1000,
        ],
        metrics={"rateWindow": "2m", "staleAfter": "1m"},
        scaleUp={"forecast": {"enabled": True, "lookback": "5m", "maxGrowth": 2.0}},
        scaleToZero={**STZ, "idleAfter": "5m"},
    )
    driver = Driver(policy)
    woken = driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 5.0})
    assert woken.replicas == 1
    created = driver.now + 15
    for _ in range(20):  # the cold start: no group ready
        _unready(driver, created, activation=5.0)
    ready_at = driver.now
    group = [GroupStatus(0, created, ready_at)]
    sizes: list[int | None] = []
    for _ in range(26):
        decision = driver.at(
            15,
            current=1,
            groups=group,
            generation=[1500.0],
            queue=[0],
            running=[3],
            aggregates={Signal.ACTIVATION: 5.0},
        )
        sizes.append(decision.replicas)
        assert decision.forecast is None
    # 1 while the first group's rate fills its window, then ceil(1.5) = 2; never 4.
    assert set(sizes) == {1, 2}
    assert sizes[-1] == 2


@pytest.mark.parametrize(
    ("activation", "ready_at_minute", "expected"),
    [
        (0.0, None, 0),  # never ready, the gateway silent for idleAfter: given up
        (1.0, None, 1),  # requests still arrive: keep trying
        (0.0, 5, 1),  # an ordinary 5-minute start: served, not given up
    ],
    ids=["stuck-and-silent", "stuck-but-wanted", "ordinary-start"],
)
def test_a_wake_whose_group_never_starts_is_given_up_after_idle_after(
    activation: float, ready_at_minute: int | None, expected: int
) -> None:
    # Woken by one request; the gateway is silent from then on (threshold 0.5). A group
    # that cannot start (no GPU node) held one group's pods for a day.
    driver = Driver(make_policy(signals=[QUEUE], scaleToZero=STZ))
    assert driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 3.0}).replicas == 1
    created = driver.now
    decisions = []
    for step in range(1, 16 * 4 + 1):  # 16 minutes, every 15 s
        minute = step / 4
        if ready_at_minute is not None and minute >= ready_at_minute:
            group = GroupStatus(0, created, created + 60 * ready_at_minute)
            decision = driver.at(
                15,
                groups=[group],
                queue=[0],
                running=[0],
                generation=[0],
                aggregates={Signal.ACTIVATION: activation},
            )
        else:
            decision = _unready(driver, created, activation)
        decisions.append(decision)
    sizes = [d.replicas for d in decisions]
    if expected == 0:
        # Silent from the first decision after the wake (t = 15 s): at t = 915 s the
        # silence has lasted idleAfter (900 s), and not a decision before.
        given_up = sizes.index(0)
        assert given_up == 60
        assert ReasonCode.SCALE_TO_ZERO in codes(decisions[given_up])
        assert "the start is given up, 1 -> 0" in decisions[given_up].explain()
        # Until the HPA applies it (the snapshots above still say 1), 0 every time: no
        # flapping back to 1.
        assert set(sizes[given_up:]) == {0}
    else:
        assert set(sizes) == {expected}


@pytest.mark.parametrize(
    ("cycle", "overrun_at"),
    [(75.0, None), (15.0, 20), (75.0, 5)],
    ids=["75s-cycle", "one-overrun-of-30s", "one-overrun-of-150s"],
)
def test_a_slow_pace_of_decisions_is_still_observed_time(
    cycle: float, overrun_at: int | None
) -> None:
    # staleAfter is 60 s. A loop on a 75 s cycle never counted past 0 s of idleness (each
    # gap was "unobserved"); one cycle that overran to twice the pace is no gap either.
    driver = Driver(make_policy(signals=[QUEUE], scaleToZero=STZ))
    driver.at(0, **IDLE)
    decisions = []
    for step in range(1, int(1200 / cycle) + 1):
        advance = 2 * cycle if step == overrun_at else cycle
        decisions.append(driver.at(advance, **IDLE))
    zero_at = next(d.at for d in decisions if d.replicas == 0) - T0
    assert 900 <= zero_at < 900 + 2 * cycle


def test_a_start_is_not_given_up_before_it_is_overdue() -> None:
    # idleAfter 5m, cold start 10m: the silence after the wake is 5 minutes long at
    # minute 5, but the start is overdue only at minute 20 (twice the cold start).
    policy = make_policy(
        signals=[QUEUE],
        coldStart={"expected": "10m"},
        scaleToZero={**STZ, "idleAfter": "5m"},
    )
    driver = Driver(policy)
    assert driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 3.0}).replicas == 1
    created = driver.now
    sizes = [_unready(driver, created, activation=0.0).replicas for _ in range(21 * 4)]
    # Silent from t = 15 s: given up at t = 15 + 1,200 s, the 80th decision.
    assert sizes.index(0) == 80
    assert set(sizes[:80]) == {1}


# --- the gateway's backlog after a wake -------------------------------------------------

QUEUE_12 = {"type": "queueDepth", "targetPerGroup": 12}
QUEUE_WAIT = {"type": "queueWait", "quantile": 0.9, "targetSeconds": 1}
RATE_WINDOW = 120.0  # metrics.rateWindow below


def _woken_and_started(
    signal: dict[str, Any], missing_at: int | None = None
) -> tuple[Driver, float]:
    """Woken from zero at 1.6 requests/s, then 20 decisions 15 s apart while the group
    starts (one of them without data at ``missing_at``): the driver and the group's
    creation time."""
    policy = make_policy(
        signals=[signal],
        scaleUp={"maxStep": {"groups": 4, "period": "1m"}},
        scaleToZero=STZ,
        metrics={**SPARSE_DECISIONS, "rateWindow": "2m"},
    )
    driver = Driver(policy)
    assert driver.at(0, current=0, ready=0, aggregates={Signal.ACTIVATION: 1.6}).replicas == 1
    created = driver.now + 15
    for index in range(20):  # the last at 5:15, no group serving
        if index == missing_at:
            driver.step(None, 15)
        else:
            _unready(driver, created, activation=1.6)
    return driver, created


@pytest.mark.parametrize(
    ("signal", "reading", "held_for"),
    [
        (QUEUE_12, {"queue": [480]}, 300.0),
        (
            QUEUE_WAIT,
            {"queue": [0], "aggregates": {Signal.QUEUE_WAIT: 240.0, Signal.ACTIVATION: 1.6}},
            300.0 + RATE_WINDOW,
        ),
    ],
    ids=["queue-depth", "queue-wait"],
)
@pytest.mark.parametrize("hold", [True, False], ids=["hold", "no-hold"])
def test_the_backlog_a_woken_group_gets_orders_no_group_for_a_cold_start(
    signal: dict[str, Any], reading: dict[str, Any], held_for: float, hold: bool
) -> None:
    """Woken from zero, 1.6 requests/s held at the gateway through a 5-minute start reach
    the one group at once: 480 waiting (40 groups at 12 each), then a p90 queue wait of
    4 minutes. With ``holdWhileStarting`` that backlog is the woken group's to drain for
    one cold start after the last decision without a serving group, and a latency guard
    a rate window longer (its quantile keeps the backlog's waits that long); what is
    still there after that is load the group cannot carry, and orders. Without the
    option, at once."""
    driver, created = _woken_and_started({**signal, "holdWhileStarting": hold})
    unready_last = driver.now
    group = [GroupStatus(0, created, unready_last + 5)]
    backlog = {"aggregates": {Signal.ACTIVATION: 1.6}, **reading}
    first = driver.at(15, current=1, groups=group, **backlog)
    if not hold:
        assert first.replicas == 5  # 1 + the step limit of 4
        return
    assert first.replicas == 1
    assert ReasonCode.WAKE_BACKLOG in codes(first)
    # Still held 15 s before the hold ends ...
    assert driver.at(held_for - 30, current=1, groups=group, **backlog).replicas == 1
    # ... and ordered once it has, with the backlog still there.
    late = driver.at(15, current=1, groups=group, **backlog)
    assert late.replicas == 5
    assert ReasonCode.WAKE_BACKLOG not in codes(late)


def _served_after(unserved: int) -> Driver:
    """Four groups serving, then ``unserved`` decisions 15 s apart with every leader
    unready (a readiness flap, a rolling restart), then serving again."""
    policy = make_policy(
        signals=[
            {**QUEUE_12, "holdWhileStarting": True},
            {**QUEUE_WAIT, "holdWhileStarting": True},
        ],
        metrics={"rateWindow": "2m"},
    )
    driver = Driver(policy)
    groups = [GroupStatus(i, T0 - 900, T0 - 600) for i in range(4)]
    driver.at(0, current=4, groups=groups, queue=[0] * 4)
    unready = [GroupStatus(i, T0 - 900, None) for i in range(4)]
    for _ in range(unserved):
        waiting = driver.at(15, current=4, ready=0, starting=4, groups=unready)
        assert ReasonCode.WAITING_FOR_LEADERS in codes(waiting)
    return driver


@pytest.mark.parametrize(
    ("unserved", "held"),
    [(1, 0), (2, 1), (3, 2), (40, 19)],
    ids=["one-decision-flap", "two-decisions", "three-decisions", "longer-than-a-cold-start"],
)
def test_the_queue_is_held_for_as_long_as_no_group_served_at_most_a_cold_start(
    unserved: int, held: int
) -> None:
    """A backlog grows for as long as no group serves: n decisions 15 s apart without a
    serving group are n x 15 s, from the first of them to the first serving decision
    after them. So the queue is held for n - 1 serving decisions: a one-scrape flap holds
    nothing (a real overload right after it orders at once), and a stretch longer than
    the cold start (300 s) holds 300 s: 19 decisions."""
    driver = _served_after(unserved)
    overloaded = {"current": 4, "queue": [96] * 4}  # 32 groups' worth
    for _ in range(held):
        decision = driver.at(15, **overloaded)
        assert decision.replicas == 4
        assert ReasonCode.WAKE_BACKLOG in codes(decision)
    ordered = driver.at(15, **overloaded).replicas
    assert ordered is not None
    assert ordered > 4


@pytest.mark.parametrize("missing_at", [5, 18, 19])
def test_a_decision_without_data_does_not_cut_the_stretch_without_a_serving_group(
    missing_at: int,
) -> None:
    """One failed scrape during the wake's cold start is no serving group: the stretch
    goes on, and the backlog is still held (it restarted there, and held 0-210 s)."""
    driver, created = _woken_and_started({**QUEUE_12, "holdWhileStarting": True}, missing_at)
    group = [GroupStatus(0, created, driver.now + 5)]
    first = driver.at(15, current=1, groups=group, queue=[480])
    assert first.replicas == 1
    assert ReasonCode.WAKE_BACKLOG in codes(first)


def test_the_wake_hold_survives_the_clock_stepping_back() -> None:
    """Stepped back an hour before the woken group is ready: the stretch keeps its
    length (clamped to now at both ends it was 0 s, and 5 groups were ordered)."""
    driver, created = _woken_and_started({**QUEUE_12, "holdWhileStarting": True})
    driver.now -= 3600.0
    group = [GroupStatus(0, created - 3600.0, driver.now + 5)]
    first = driver.at(15, current=1, groups=group, queue=[480])
    assert first.replicas == 1
    assert ReasonCode.WAKE_BACKLOG in codes(first)


def test_the_hold_is_measured_from_the_stretch_the_state_remembers() -> None:
    starting = snapshot(T0, ready=1, starting=1, queue=[100])
    serving = snapshot(T0, queue=[100])
    cases = [
        (starting, EngineState(), (True, True)),  # a group starting: the usual hold
        (serving, EngineState(), (False, False)),  # every group always served
        # No group served from T0-900 to T0-299: 300 s (the cold start) of queue hold,
        # 420 s of latency hold (plus the 120 s rate window).
        (serving, EngineState(unserved_since=T0 - 900, rates_from=T0 - 299), (True, True)),
        (serving, EngineState(unserved_since=T0 - 900, rates_from=T0 - 300), (False, True)),
        (serving, EngineState(unserved_since=T0 - 900, rates_from=T0 - 420), (False, False)),
        # A stretch of 60 s: 60 s of queue hold, 180 s of latency hold.
        (serving, EngineState(unserved_since=T0 - 120, rates_from=T0 - 60), (False, True)),
        (serving, EngineState(unserved_since=T0 - 120, rates_from=T0 - 59), (True, True)),
    ]
    for snap, state, (queue, latency) in cases:
        holds = backlog_holds(snap, state, T0, 300.0, 120.0)
        assert (holds.queue, holds.latency) == (queue, latency), state
