"""Per-signal proposals: demand in groups per signal, tolerance, and bad samples."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.engine.decision import SignalProposal, SignalStatus
from autoscaler.engine.proposals import lowest_since, propose, propose_with_history
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample, leader_pod_name
from tests.engine.factories import KEY, T0, make_policy, snapshot

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


BAD_SAMPLES = [
    pytest.param(Sample(math.nan, T0), id="nan"),
    pytest.param(Sample(math.inf, T0), id="inf"),
    pytest.param(Sample(-3.0, T0), id="negative"),
    pytest.param(Sample(50.0, T0 + 3600), id="from-the-future"),
    # Unknown age: every comparison with NaN is False, so "too new" and "too old" checks
    # written as ``>`` would both pass it as fresh (it used to count: 7 groups, not 4).
    pytest.param(Sample(50.0, math.nan), id="nan-timestamp"),
]


def _with_first_leader(snap: LwsSnapshot, signal: Signal, sample: Sample) -> LwsSnapshot:
    leaders = {name: dict(samples) for name, samples in snap.leaders.items()}
    leaders["0"][signal] = sample
    return LwsSnapshot(
        KEY,
        snap.observed_at,
        snap.spec_replicas,
        snap.status_replicas,
        snap.ready_replicas,
        leaders=leaders,
    )


@pytest.mark.parametrize("bad", BAD_SAMPLES)
def test_a_bad_sample_is_dropped_and_the_rest_extrapolated(bad: Sample) -> None:
    policy = make_policy(signals=[QUEUE])
    snap = _with_first_leader(snapshot(T0, queue=[0, 20]), Signal.QUEUE_DEPTH, bad)
    (proposal,) = propose(policy.spec, snap, T0)
    # The one good leader carries 20; two ready groups -> 40 total -> 4 groups.
    assert proposal.status is SignalStatus.PARTIAL
    assert proposal.reporting == 1
    assert proposal.needed == pytest.approx(4.0)


@pytest.mark.parametrize("bad", [*BAD_SAMPLES, pytest.param(Sample(1.5, T0), id="kv-above-1")])
def test_kv_bad_samples_are_missing_never_zero(bad: Sample) -> None:
    policy = make_policy(signals=[{"type": "kvCacheUtilization", "target": 0.8}])
    snap = _with_first_leader(snapshot(T0, kv=[0.5]), Signal.KV_CACHE, bad)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.MISSING
    assert proposal.replicas is None
    assert proposal.needed is None


def test_small_clock_skew_is_tolerated() -> None:
    policy = make_policy(signals=[QUEUE])
    snap = _with_first_leader(snapshot(T0, queue=[0]), Signal.QUEUE_DEPTH, Sample(30, T0 + 10))
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.OK
    assert proposal.needed == pytest.approx(3.0)


def test_samples_older_than_stale_after_are_stale() -> None:
    policy = make_policy(signals=[QUEUE], metrics={"staleAfter": "1m"})
    (proposal,) = propose(policy.spec, snapshot(T0, queue=[50, 50], age=61), T0)
    assert proposal.status is SignalStatus.STALE
    (fresh,) = propose(policy.spec, snapshot(T0, queue=[50, 50], age=60), T0)
    assert fresh.status is SignalStatus.OK


def test_a_latency_quantile_of_unknown_age_proposes_nothing() -> None:
    # 8 s on 2 groups against 1 s would ask for 16 groups if the sample counted. An
    # unusable quantile reads as one over no request (PromQL's NaN): no pressure.
    policy = make_policy(signals=[QUEUE, {"type": "queueWait", "targetSeconds": 1}])
    snap = snapshot(T0, queue=[1, 1])
    aggregates = {Signal.QUEUE_WAIT: Sample(8.0, math.nan)}
    snap = dataclasses.replace(snap, aggregates=aggregates)
    _, latency = propose(policy.spec, snap, T0)
    assert latency.status is SignalStatus.NO_TRAFFIC
    assert latency.replicas is None


def test_total_tokens_need_both_counters_from_a_leader() -> None:
    signal = {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 1000}
    policy = make_policy(signals=[signal])
    snap = snapshot(T0, prompt=[400, 400], generation=[400, None])
    (proposal,) = propose(policy.spec, snap, T0)
    # Leader 1 lacks generation: only leader 0 (800) counts, extrapolated to 2 groups.
    assert proposal.status is SignalStatus.PARTIAL
    assert proposal.needed == pytest.approx(1600 / 800)


@pytest.mark.parametrize("kind", ["ttft", "queueWait"])
def test_latency_without_requests_is_no_traffic_not_zero(kind: str) -> None:
    policy = make_policy(signals=[QUEUE, {"type": kind, "targetSeconds": 2}])
    queue, latency = propose(policy.spec, snapshot(T0, queue=[1, 1]), T0)
    assert queue.status is SignalStatus.OK
    assert latency.status is SignalStatus.NO_TRAFFIC
    assert latency.replicas is None


def test_vanished_leader_is_extrapolated_from_the_others() -> None:
    policy = make_policy(signals=[QUEUE])
    # Three ready groups, two leaders report 20 each: the third is assumed to carry 20.
    (proposal,) = propose(policy.spec, snapshot(T0, ready=3, queue=[20, 20]), T0)
    assert proposal.status is SignalStatus.PARTIAL
    assert proposal.needed == pytest.approx(6.0)
    assert proposal.replicas == 6


TOKENS = {
    "type": "tokenThroughput",
    "tokens": "total",
    "capacityPerGroup": 1000,
    "targetUtilization": 1.0,
}


@pytest.mark.parametrize(
    ("ready_ages", "reported", "needed"),
    [
        # 4 ready groups, 3 report 1200 tokens/s each (3600 in all).
        # All four ready for 10 min: the silent one failed its scrape, so it is taken to
        # carry the average: 4800 tokens/s, 4.8 groups.
        ((600, 600, 600, 600), 3, 4.8),
        # One became ready 30 s ago, inside the 2 m rate window: it has no rate yet, and
        # the load it will take is still in the others' 3600.
        ((600, 600, 600, 30), 3, 3.6),
        # Two silent, one of them new: only the old one is averaged (3 + 1 of 4).
        ((600, 600, 600, 30), 2, 2400 * 3 / 2 / 1000),
        # Ready exactly one rate window ago is no newcomer any more.
        ((600, 600, 600, 120), 3, 4.8),
    ],
)
def test_a_silent_newcomer_adds_no_token_rate(
    ready_ages: tuple[float, ...], reported: int, needed: float
) -> None:
    policy = make_policy(signals=[TOKENS], metrics={"rateWindow": "2m"})
    groups = [GroupStatus(i, T0 - age - 300, T0 - age) for i, age in enumerate(ready_ages)]
    values = [600.0] * reported
    snap = snapshot(T0, ready=len(groups), groups=groups, prompt=values, generation=values)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.PARTIAL
    assert proposal.reporting == reported
    assert proposal.needed == pytest.approx(needed)


@pytest.mark.parametrize(
    ("age", "needed"),
    [
        # 3 groups at 1200 tokens/s over the whole 2 m window, plus a newcomer whose
        # 30 s since it became ready read 2000 tokens/s (its backlog): counted as
        # 2000 x 30/120 = 500, so 4100 tokens/s, 4.1 groups, not 5.6.
        (30.0, 4.1),
        (90.0, 3.6 + 1.5),  # 2000 x 90/120 = 1500
        (120.0, 5.6),  # a full window: counted as it reads
        (600.0, 5.6),
    ],
)
def test_a_newcomer_rate_is_spread_over_the_rate_window(age: float, needed: float) -> None:
    policy = make_policy(signals=[TOKENS], metrics={"rateWindow": "2m"})
    groups = [GroupStatus(i, T0 - 900, T0 - 600) for i in range(3)]
    groups.append(GroupStatus(3, T0 - age - 300, T0 - age))
    values = [600.0, 600.0, 600.0, 1000.0]
    snap = snapshot(T0, groups=groups, prompt=values, generation=values)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.OK
    assert proposal.needed == pytest.approx(needed)


def test_newcomers_are_found_under_their_leader_pod_names() -> None:
    # Production snapshots key leaders by pod name (``<lws>-<index>``), as the cluster
    # reader lists them: the same newcomer as above, 30 s old, counts 500.
    policy = make_policy(signals=[TOKENS], metrics={"rateWindow": "2m"})
    groups = [GroupStatus(i, T0 - 900, T0 - 600) for i in range(3)]
    groups.append(GroupStatus(3, T0 - 330, T0 - 30))
    rates = [600.0, 600.0, 600.0, 1000.0]
    by_pod = {
        leader_pod_name(KEY.name, i): {
            Signal.PROMPT_TOKENS: Sample(rate, T0),
            Signal.GENERATION_TOKENS: Sample(rate, T0),
        }
        for i, rate in enumerate(rates)
    }
    snap = LwsSnapshot(KEY, T0, 4, 4, 4, groups=tuple(groups), leaders=by_pod)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.needed == pytest.approx(4.1)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([5.0, 30.0, 90.0, 119.0, 120.0, 600.0]),  # ready for (s)
            st.one_of(st.none(), st.floats(0, 50_000)),  # tokens/s, None: no rate yet
        ),
        min_size=1,
        max_size=8,
    )
)
def test_newcomer_corrections_only_take_off_what_newcomers_add(
    groups_drawn: list[tuple[float, float | None]],
) -> None:
    """With group detail, the throughput demand lies between what the established
    groups' rates alone give and what the same rates give with nothing known to be new."""
    policy = make_policy(signals=[TOKENS], metrics={"rateWindow": "2m"})
    rates = [rate for _, rate in groups_drawn]
    halves = [None if r is None else r / 2 for r in rates]
    groups = [GroupStatus(i, T0 - age - 300, T0 - age) for i, (age, _) in enumerate(groups_drawn)]
    known = snapshot(T0, groups=groups, prompt=halves, generation=halves)
    blind = snapshot(T0, prompt=halves, generation=halves)
    (with_groups,) = propose(policy.spec, known, T0)
    (without,) = propose(policy.spec, blind, T0)
    established = sum(r for (age, r) in groups_drawn if r is not None and age >= 120.0)
    if with_groups.needed is None:
        assert all(r is None for r in rates)
        return
    assert without.needed is not None
    assert with_groups.needed <= without.needed + 1e-9
    assert with_groups.needed >= established / 1000 - 1e-9


def test_without_group_detail_every_rate_counts_as_it_reads() -> None:
    # A source that lists no groups (no ready times): nothing is known to be new.
    policy = make_policy(signals=[TOKENS])
    values = [600.0, 600.0, 600.0, 1000.0]
    (proposal,) = propose(policy.spec, snapshot(T0, prompt=values, generation=values), T0)
    assert proposal.needed == pytest.approx(5.6)


def test_a_silent_newcomer_still_counts_at_the_average_queue() -> None:
    # Gauges have a value from the first scrape: a silent new leader is a failed
    # scrape like any other, so the queue signal still averages it.
    policy = make_policy(signals=[QUEUE], metrics={"rateWindow": "2m"})
    groups = [GroupStatus(0, T0 - 900, T0 - 600), GroupStatus(1, T0 - 330, T0 - 30)]
    (proposal,) = propose(policy.spec, snapshot(T0, ready=2, groups=groups, queue=[20]), T0)
    assert proposal.needed == pytest.approx(4.0)


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
        ({**TOKENS, "tokens": "total"}, snapshot(T0, prompt=[1.5e308], generation=[1.5e308])),
        # The newcomer correction took inf - inf = NaN, and max(0.0, NaN) is 0.0: an
        # overflow read as no load at all (proposal 0), not even an error.
        (
            {**TOKENS, "tokens": "total"},
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
