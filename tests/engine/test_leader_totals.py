"""Totals over the leaders, through the proposals that read them: which samples count,
silent leaders, and newcomers' token rates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.engine.decision import SignalStatus
from autoscaler.engine.leader_totals import usable_value
from autoscaler.engine.proposals import propose
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample, leader_pod_name
from tests.engine.factories import KEY, T0, make_policy, snapshot

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (None, (None, False)),
        (Sample(3.0, T0), (3.0, False)),
        (Sample(0.0, T0), (0.0, False)),  # zero is a reading, not "no data"
        (Sample(3.0, T0 + 30), (3.0, False)),  # 30 s of clock skew is tolerated
        (Sample(3.0, T0 + 31), (None, False)),
        (Sample(3.0, T0 - 60), (3.0, False)),  # exactly staleAfter old
        (Sample(3.0, T0 - 61), (None, True)),
        (Sample(math.nan, T0), (None, False)),
        (Sample(-0.5, T0), (None, False)),
        (Sample(math.inf, T0), (None, False)),
        (Sample(3.0, math.nan), (None, False)),  # unknown age
    ],
)
def test_usable_value_keeps_finite_non_negative_fresh_samples(
    sample: Sample | None, expected: tuple[float | None, bool]
) -> None:
    assert usable_value(sample, T0, 60.0) == expected


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


@pytest.mark.parametrize("skew", [10.0, 30.0])
def test_small_clock_skew_is_tolerated(skew: float) -> None:
    policy = make_policy(signals=[QUEUE])
    sample = Sample(30, T0 + skew)
    snap = _with_first_leader(snapshot(T0, queue=[0]), Signal.QUEUE_DEPTH, sample)
    (proposal,) = propose(policy.spec, snap, T0)
    assert proposal.status is SignalStatus.OK
    assert proposal.needed == pytest.approx(3.0)


def test_a_kv_utilisation_of_exactly_one_is_load_not_a_unit_mistake() -> None:
    # Full (1.0) is the largest plausible fraction: it counts, 1.0 / 0.8 = 1.25 groups.
    policy = make_policy(signals=[{"type": "kvCacheUtilization", "target": 0.8}])
    (proposal,) = propose(policy.spec, snapshot(T0, kv=[1.0]), T0)
    assert proposal.status is SignalStatus.OK
    assert proposal.needed == pytest.approx(1.25)


def test_samples_older_than_stale_after_are_stale() -> None:
    policy = make_policy(signals=[QUEUE], metrics={"staleAfter": "1m"})
    (proposal,) = propose(policy.spec, snapshot(T0, queue=[50, 50], age=61), T0)
    assert proposal.status is SignalStatus.STALE
    (fresh,) = propose(policy.spec, snapshot(T0, queue=[50, 50], age=60), T0)
    assert fresh.status is SignalStatus.OK


def test_total_tokens_need_both_counters_from_a_leader() -> None:
    signal = {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 1000}
    policy = make_policy(signals=[signal])
    snap = snapshot(T0, prompt=[400, 400], generation=[400, None])
    (proposal,) = propose(policy.spec, snap, T0)
    # Leader 1 lacks generation: only leader 0 (800) counts, extrapolated to 2 groups.
    assert proposal.status is SignalStatus.PARTIAL
    assert proposal.needed == pytest.approx(1600 / 800)


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
        (0.0, 3.6),  # ready this very second: none of its rate is spread over the window
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
