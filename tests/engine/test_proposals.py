"""Per-signal proposals: demand in groups per signal, latency quantiles, overflow, the
sustained queue and the holds while groups start (the leader totals underneath are
tested in test_leader_totals)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.engine.decision import SignalProposal, SignalStatus, make_proposal
from autoscaler.engine.proposals import (
    STARTING,
    Holds,
    backlog_holds,
    backlog_message,
    held_while_starting,
    lowest_since,
    propose,
    propose_with_history,
)
from autoscaler.engine.state import EngineState
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample
from tests.engine.factories import T0, make_policy, snapshot

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}


@pytest.mark.parametrize(
    ("signal", "values", "aggregates", "name", "value", "needed", "replicas"),
    [
        # (12+4+8)/5 = 4.8 groups -> 5; 8 waiting per group.
        (
            {"type": "queueDepth", "targetPerGroup": 5},
            {"queue": [12, 4, 8]},
            None,
            "queueDepth",
            8.0,
            4.8,
            5,
        ),
        # KV is averaged per group but summed for demand: 2.7 / 0.6 = 4.5 groups -> 5.
        (
            {"type": "kvCacheUtilization", "target": 0.6},
            {"kv": [0.9, 0.9, 0.9]},
            None,
            "kvCacheUtilization",
            0.9,
            4.5,
            5,
        ),
        # 8000 prompt tokens/s against 4000 * 0.5 = 2000 per group -> 4 groups.
        (
            {
                "type": "tokenThroughput",
                "tokens": "prompt",
                "capacityPerGroup": 4000,
                "targetUtilization": 0.5,
            },
            {"prompt": [3000, 5000], "generation": [9999, 9999]},
            None,
            "tokenThroughput/prompt",
            4000.0,
            4.0,
            4,
        ),
        # 2000 generated tokens/s against 1000 * 0.8 = 800 per group -> 2.5 -> 3.
        (
            {"type": "tokenThroughput", "tokens": "generation", "capacityPerGroup": 1000},
            {"prompt": [9999, 9999], "generation": [1000, 1000]},
            None,
            "tokenThroughput/generation",
            1000.0,
            2.5,
            3,
        ),
        # prompt + generation = 5000 tokens/s against 2000 per group -> 2.5 -> 3.
        (
            {
                "type": "tokenThroughput",
                "tokens": "total",
                "capacityPerGroup": 2000,
                "targetUtilization": 1.0,
            },
            {"prompt": [1000, 1000], "generation": [1000, 2000]},
            None,
            "tokenThroughput/total",
            2500.0,
            2.5,
            3,
        ),
        # TTFT is a quantile: 2 ready groups * 6 s / 3 s = 4 groups.
        (
            {"type": "ttft", "targetSeconds": 3},
            {"queue": [0, 0]},
            {Signal.TTFT: 6.0},
            "ttft",
            6.0,
            4.0,
            4,
        ),
        # So is the queue wait: 2 ready groups * 1.5 s / 1 s = 3 groups; a TTFT in the
        # snapshot is not read by it.
        (
            {"type": "queueWait", "targetSeconds": 1},
            {"queue": [0, 0]},
            {Signal.QUEUE_WAIT: 1.5, Signal.TTFT: 30.0},
            "queueWait",
            1.5,
            3.0,
            3,
        ),
    ],
)
def test_each_signal_reduces_to_demand_in_groups(
    signal: dict[str, Any],
    values: dict[str, Any],
    aggregates: dict[Signal, float] | None,
    name: str,
    value: float,
    needed: float,
    replicas: int,
) -> None:
    policy = make_policy(signals=[signal])
    snap = snapshot(T0, aggregates=aggregates, **values)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.name == name
    assert proposal.status is SignalStatus.OK
    assert proposal.value == pytest.approx(value)
    assert proposal.needed == pytest.approx(needed)
    assert proposal.replicas == replicas


def test_a_latency_quantile_of_unknown_age_proposes_nothing() -> None:
    # 8 s on 2 groups against 1 s would ask for 16 groups if the sample counted. A
    # quantile of unknown age is a broken reading: invalid (it proposes nothing, and
    # blocks scale-down as missing data does), not a window without requests.
    policy = make_policy(signals=[QUEUE, {"type": "queueWait", "targetSeconds": 1}])
    snap = snapshot(T0, queue=[1, 1])
    aggregates = {Signal.QUEUE_WAIT: Sample(8.0, math.nan)}
    snap = dataclasses.replace(snap, aggregates=aggregates)
    _, latency = propose(policy.spec, snap, T0)
    assert latency.status is SignalStatus.INVALID
    assert latency.replicas is None


@pytest.mark.parametrize("kind", ["ttft", "queueWait"])
def test_latency_without_requests_is_no_traffic_not_zero(kind: str) -> None:
    policy = make_policy(signals=[QUEUE, {"type": kind, "targetSeconds": 2}])
    queue, latency = propose(policy.spec, snapshot(T0, queue=[1, 1]), T0)
    assert queue.status is SignalStatus.OK
    assert latency.status is SignalStatus.NO_TRAFFIC
    assert latency.replicas is None


@pytest.mark.parametrize(
    ("history", "seconds", "current", "expected"),
    [
        (((T0 - 30, 40.0), (T0 - 15, 80.0)), 30.0, 120.0, 40.0),  # backlog: the oldest
        (((T0 - 30, 0.0), (T0 - 15, 120.0)), 30.0, 0.0, 0.0),  # a drained burst
        (((T0 - 15, 0.0),), 30.0, 120.0, 0.0),  # the burst's own decision: the calm before
        (((T0 - 45, 0.0), (T0 - 15, 90.0)), 30.0, 120.0, 90.0),  # 45 s ago is outside
        ((), 30.0, 120.0, 120.0),  # no earlier decision: the current total alone
        (((T0 - 15, 0.0),), 0.0, 120.0, 120.0),  # 0 s: the current total alone
        (((T0 + 15, 0.0),), 30.0, 120.0, 120.0),  # a future entry (clock went back)
        (((T0, 0.0),), 30.0, 120.0, 0.0),  # the window is closed at now: an entry at now counts
    ],
)
def test_lowest_since_takes_the_lowest_total_of_the_window(
    history: tuple[tuple[float, float], ...], seconds: float, current: float, expected: float
) -> None:
    assert lowest_since(history, T0, seconds, current) == expected


def test_sustained_queue_proposal_reads_the_window_and_reports_the_raw_total() -> None:
    policy = make_policy(signals=[{**QUEUE, "sustainedFor": 30}], tolerance=0.0)
    # 2 ready groups, one leader reports 50: 100 waiting in all (extrapolated, partial).
    snap = snapshot(T0, ready=2, queue=[50])
    (proposal,), raw = propose_with_history(policy.spec, snap, T0, ((T0 - 15, 20.0),))
    assert raw == 100.0
    assert proposal.needed == 2.0  # the window's lowest total, 20, over target 10
    assert proposal.value == 10.0  # 20 waiting over 2 groups
    assert proposal.status is SignalStatus.PARTIAL


def test_without_sustained_for_the_queue_history_is_not_read_nor_kept() -> None:
    policy = make_policy(signals=[QUEUE])
    (proposal,), raw = propose_with_history(
        policy.spec, snapshot(T0, queue=[50, 50]), T0, ((T0 - 15, 0.0),)
    )
    assert raw is None
    assert proposal.needed == 10.0


HUGE = 1e308  # finite, usable one by one; two of them sum to infinity
TOKENS = {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 1000}


def _newcomer_groups() -> list[GroupStatus]:
    """Group 0 ready for 10 min, group 1 for 30 s (a newcomer in a 2 m rate window)."""
    return [GroupStatus(0, T0 - 900, T0 - 600), GroupStatus(1, T0 - 330, T0 - 30)]


@pytest.mark.parametrize(
    ("signal", "snap"),
    [
        (QUEUE, snapshot(T0, queue=[HUGE, HUGE])),  # the sum overflows
        ({**QUEUE, "targetPerGroup": 1e-6}, snapshot(T0, queue=[1e303])),  # the ratio
        (QUEUE, snapshot(T0, ready=3, queue=[HUGE])),  # 1e308 x 3/1 for the silent ones
        (
            {"type": "ttft", "targetSeconds": 0.001},
            snapshot(T0, queue=[1, 1], aggregates={Signal.TTFT: 1e306}),
        ),
        (TOKENS, snapshot(T0, prompt=[1.5e308], generation=[1.5e308])),
        # The newcomer correction took inf - inf = NaN, and max(0.0, NaN) is 0.0: an
        # overflow read as no load at all (proposal 0), not even an error.
        (
            TOKENS,
            snapshot(T0, groups=_newcomer_groups(), prompt=[HUGE, HUGE], generation=[HUGE, HUGE]),
        ),
    ],
    ids=["queue-sum", "queue-ratio", "queue-extrapolated", "ttft", "tokens-total", "newcomer"],
)
def test_a_demand_that_overflows_is_invalid_never_a_number_of_groups(
    signal: dict[str, Any], snap: LwsSnapshot
) -> None:
    policy = make_policy(signals=[signal], metrics={"rateWindow": "2m"})
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.INVALID
    assert not proposal.usable
    assert (proposal.needed, proposal.replicas) == (None, None)


def test_an_infinite_queue_total_is_not_sized_from_the_sustained_window() -> None:
    # The window's lowest total (40, 15 s ago) once sized this decision at 4 groups while
    # the current total was infinite, and the infinity went into the history.
    policy = make_policy(signals=[{**QUEUE, "sustainedFor": 30}])
    snap = snapshot(T0, queue=[HUGE, HUGE])
    (proposal,), raw = propose_with_history(policy.spec, snap, T0, ((T0 - 15, 40.0),))
    assert proposal.status is SignalStatus.INVALID
    assert raw is None


@pytest.mark.parametrize(
    ("hold", "ready", "starting", "wait", "replicas"),
    [
        # 3 ready groups, p90 wait 7.7 s against 1 s: 3 x 7.7 = 23.1 groups needed.
        # Without the option the waits order 24 groups whatever is on its way.
        (False, 3, 4, 7.7, 24),
        # With it, 4 groups starting: the proposal is the 7 that exist.
        (True, 3, 4, 7.7, 7),
        # Nothing starting: the option does not apply, the quantile orders in full.
        (True, 3, 0, 7.7, 24),
        # Below what exists it changes nothing: 5 ready, 1 starting, 1.1 s -> 5.5
        # groups -> 6, which a cap at the ready groups alone would cut to 5.
        (True, 5, 1, 1.1, 6),
    ],
    ids=["off", "held-at-existing", "none-starting", "below-existing"],
)
def test_hold_while_starting_caps_a_latency_proposal_at_the_groups_that_exist(
    hold: bool, ready: int, starting: int, wait: float, replicas: int
) -> None:
    signal = {"type": "queueWait", "targetSeconds": 1, "holdWhileStarting": hold}
    policy = make_policy(replicas={"max": 30}, signals=[signal])
    snap = snapshot(
        T0, ready=ready, starting=starting, queue=[0] * ready, aggregates={Signal.QUEUE_WAIT: wait}
    )
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.OK
    # The signal's own reading is kept, for explain: only the proposal is held.
    assert proposal.needed == pytest.approx(ready * wait)
    assert proposal.replicas == replicas


@pytest.mark.parametrize("kind", ["ttft", "queueWait"])
def test_hold_while_starting_leaves_the_other_signals_alone(kind: str) -> None:
    # A queue of 90 per group on 3 ready groups needs 27 at 10 per group, starting groups
    # or not: only the latency quantile, which cannot see them, is held.
    policy = make_policy(
        replicas={"max": 30},
        signals=[QUEUE, {"type": kind, "targetSeconds": 1, "holdWhileStarting": True}],
    )
    aggregates = {Signal.TTFT: 7.7, Signal.QUEUE_WAIT: 7.7}
    snap = snapshot(T0, ready=3, starting=4, queue=[90, 90, 90], aggregates=aggregates)
    queue, latency = propose(policy.spec, snap, T0)
    assert queue.replicas == 27
    assert latency.replicas == 7


@settings(max_examples=300, deadline=None)
@given(
    ready=st.integers(1, 20),
    starting=st.integers(0, 20),
    reading=st.floats(0.0, 1000.0),
    target=st.floats(0.05, 50.0),
    kind=st.sampled_from(["ttft", "queueWait", "queueDepth"]),
)
def test_holding_while_starting_only_ever_lowers_a_proposal_to_what_exists(
    ready: int, starting: int, reading: float, target: float, kind: str
) -> None:
    # ``reading``: the latency quantile, or each leader's waiting requests for the queue.
    aggregates = {Signal.TTFT: reading, Signal.QUEUE_WAIT: reading}
    queue = [reading if kind == "queueDepth" else 0.0] * ready
    snap = snapshot(T0, ready=ready, starting=starting, queue=queue, aggregates=aggregates)
    key = "targetPerGroup" if kind == "queueDepth" else "targetSeconds"

    def proposal(hold: bool) -> SignalProposal:
        signal = {"type": kind, key: target, "holdWhileStarting": hold}
        policy = make_policy(replicas={"max": 100}, signals=[signal])
        (p,) = propose(policy.spec, snap, T0)
        return p

    free, held = proposal(False), proposal(True)
    assert held.needed == free.needed  # the signal's own reading is never altered
    assert held.replicas is not None
    assert free.replicas is not None
    assert held.replicas <= free.replicas
    if not starting:
        assert held.replicas == free.replicas
    elif held.replicas < free.replicas:
        assert held.replicas == ready + starting  # lowered to what exists, not below


@pytest.mark.parametrize(
    ("hold", "ready", "starting", "queue", "replicas"),
    [
        # 2 ready groups, 241 waiting at 8 per group: 30.1 groups needed, proposal 31
        # (to the policy's maximum) whatever is on its way.
        (False, 2, 1, [120, 121], 31),
        # Held: the third group, starting, will drain that backlog. Propose the 3.
        (True, 2, 1, [120, 121], 3),
        # Nothing starting: the queue orders in full.
        (True, 2, 0, [120, 121], 31),
        # At or below what exists the hold changes nothing: 45 / 8 = 5.6 -> 6 of 6.
        (True, 5, 1, [9, 9, 9, 9, 9], 6),
    ],
    ids=["off", "held-at-existing", "none-starting", "below-existing"],
)
def test_hold_while_starting_caps_the_queue_at_the_groups_that_exist(
    hold: bool, ready: int, starting: int, queue: list[float], replicas: int
) -> None:
    signal = {"type": "queueDepth", "targetPerGroup": 8, "holdWhileStarting": hold}
    policy = make_policy(replicas={"max": 40}, signals=[signal])
    snap = snapshot(T0, ready=ready, starting=starting, queue=queue)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.needed == pytest.approx(sum(queue) / 8)  # the reading stays
    assert proposal.replicas == replicas


@pytest.mark.parametrize(
    ("value", "age"),
    [(math.inf, 0.0), (-1.0, 0.0), (2.0, -3600.0)],
    ids=["infinite", "negative", "from-the-future"],
)
def test_a_broken_latency_quantile_is_invalid_not_a_window_without_requests(
    value: float, age: float
) -> None:
    # noTraffic reads as zero demand in a latency-only policy: a broken reading must not.
    policy = make_policy(signals=[{"type": "ttft", "targetSeconds": 1}])
    snap = snapshot(T0, queue=[50, 50], aggregates={Signal.TTFT: value}, age=age)
    (latency,) = propose(policy.spec, snap, T0)
    assert latency.status is SignalStatus.INVALID
    assert latency.replicas is None


def test_a_nan_quantile_is_a_window_without_requests() -> None:
    # PromQL's histogram_quantile over zero bucket rates.
    policy = make_policy(signals=[{"type": "ttft", "targetSeconds": 1}])
    snap = snapshot(T0, queue=[0, 0], aggregates={Signal.TTFT: math.nan})
    (latency,) = propose(policy.spec, snap, T0)
    assert latency.status is SignalStatus.NO_TRAFFIC


def test_a_latency_quantile_without_a_ready_group_is_missing() -> None:
    # 0 ready x 0.5 s / 1 s would be a demand of 0 groups, whatever the latency.
    policy = make_policy(signals=[{"type": "ttft", "targetSeconds": 1}])
    snap = snapshot(T0, ready=0, starting=3, aggregates={Signal.TTFT: 0.5})
    (latency,) = propose(policy.spec, snap, T0)
    assert latency.status is SignalStatus.MISSING
    assert latency.replicas is None


@pytest.mark.parametrize("interval", [None, 0.0])
def test_a_stretch_of_one_decision_of_unknown_interval_holds_nothing(
    interval: float | None,
) -> None:
    # The first decisions of a server: one saw no group serving (every group unready),
    # and no interval between decisions is known yet, so the stretch measures 0 s: no
    # backlog, so neither the queue nor the latency guards are held (the guards' rate
    # window comes on top of a stretch that holds, not of one that holds nothing).
    serving = snapshot(T0, queue=[100] * 4)
    state = EngineState(unserved_since=T0 - 15, rates_from=T0 - 15, interval=interval)
    assert backlog_holds(serving, state, T0, 300.0, 120.0) == Holds()


@pytest.mark.parametrize(
    ("holds", "held"),
    [
        (Holds(), set()),
        (Holds(queue=True), {"queueDepth"}),
        # After a wake's stretch the queue's hold ends a rate window before the latency
        # guards': the guards alone are held then.
        (Holds(latency=True), {"queueWait"}),
        (STARTING, {"queueDepth", "queueWait"}),
    ],
    ids=["nothing", "queue-only", "latency-only", "starting"],
)
def test_only_signals_with_hold_while_starting_are_held_and_only_by_their_own_hold(
    holds: Holds, held: set[str]
) -> None:
    policy = make_policy(
        signals=[
            {**QUEUE, "holdWhileStarting": True},
            {"type": "queueWait", "targetSeconds": 1, "holdWhileStarting": True},
            {"type": "ttft", "targetSeconds": 2},  # never held: the option is off
        ]
    )
    assert held_while_starting(policy.spec, holds) == held


def test_the_backlog_message_names_only_the_held_signals_above_the_groups_that_exist() -> None:
    ok = SignalStatus.OK
    # 4 groups exist. The queue is not held (its option is off): its 30 groups' worth
    # orders through the rules, and is no wake backlog.
    queue = make_proposal("queueDepth", ok, 10.0, 75.0, 30.0, 30, 4)
    # Needing exactly the 4 that exist is no backlog either.
    calm_wait = make_proposal("queueWait", ok, 1.0, 1.0, 4.0, 4, 4)
    long_wait = make_proposal("queueWait", ok, 1.0, 5.0, 20.0, 20, 4)
    held = frozenset({"queueWait"})
    assert backlog_message((queue, calm_wait), held, 4) is None
    message = backlog_message((queue, long_wait), held, 4)
    assert message is not None
    assert message.startswith("queueWait needs 20.00, held at the 4 group(s) there")
    assert "queueDepth" not in message
