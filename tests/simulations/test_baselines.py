"""The baselines against hand-computed cases: Knative KPA (panic), the HPA recipes
(seed, KEDA, ours through the chart's HPA), the oracle's plan."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest
import yaml

from autoscaler.policy.loader import load_policy_file
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, Sample
from autoscaler.sources.exposition import RawReading
from autoscaler.sources.pod_history import PodHistory
from simulations.baselines.hpa_driven import Ours, chart_behavior, keda_recipe, seed_recipe
from simulations.baselines.kpa import KnativeKpa
from simulations.baselines.provisioned import Oracle, needed_groups
from simulations.closedloop import LoopView, lws_state
from simulations.gateway import Gateway
from simulations.ledger import RequestLog
from simulations.metrics import ScrapeStore
from simulations.profile import load_profile
from simulations.traces import Trace
from simulations.tune.variants import build_variants, load_base

KEY = LwsKey("inference", "llm")
REPO = Path(__file__).resolve().parents[2]


def _kpa_with(samples: list[tuple[float, float]]) -> KnativeKpa:
    kpa = KnativeKpa(max_replicas=20)
    kpa.samples = deque(samples)
    return kpa


def test_kpa_stable_mode_sizes_for_the_60s_average() -> None:
    # 150 in flight on average over 60 s, 70 per group (100 x 0.7): ceil(150/70) = 3.
    kpa = _kpa_with([(t, 150.0) for t in range(0, 60, 2)])
    assert kpa.desired(now=58.0, ready_count=3) == 3
    assert kpa.panic_since is None


def test_kpa_panics_on_a_burst_and_never_scales_down_in_panic() -> None:
    # 54 s at 100, then 6 s at 500: stable avg = (27*100 + 3*500)/30 = 140 -> 2 groups;
    # panic avg 500 -> ceil(500/70) = 8 >= 2.0 x 3 ready: panic, scale to 8.
    samples = [(float(t), 100.0) for t in range(0, 54, 2)] + [
        (54.0, 500.0),
        (56.0, 500.0),
        (58.0, 500.0),
    ]
    kpa = _kpa_with(samples)
    assert kpa.desired(now=58.0, ready_count=3) == 8
    assert kpa.panic_since == 58.0
    # The burst ends; still in panic (less than 60 s since it last held): no scale-down.
    kpa.samples = deque([(t, 10.0) for t in np.arange(60.0, 100.0, 2.0)])
    assert kpa.desired(now=98.0, ready_count=8) == 8
    # A full stable window without the panic condition: back to the stable proposal,
    # limited to halving the ready groups per decision (floor(8 / 2) = 4).
    kpa.samples = deque([(t, 10.0) for t in np.arange(100.0, 160.0, 2.0)])
    assert kpa.desired(now=158.0, ready_count=8) == 4
    assert kpa.panic_since is None


def test_kpa_leaves_panic_only_once_a_whole_stable_window_is_past() -> None:
    """Knative un-panics when ``panicTime + StableWindow`` is before now: at exactly 60 s
    after the last panic reading it still panics (and keeps its size), at 62 s it is out."""
    kpa = _kpa_with([(t, 500.0) for t in np.arange(0.0, 60.0, 2.0)])
    assert kpa.desired(now=58.0, ready_count=3) == 8
    kpa.samples = deque([(t, 10.0) for t in np.arange(60.0, 120.0, 2.0)])
    assert kpa.desired(now=118.0, ready_count=8) == 8  # 60 s after 58: still panicking
    assert kpa.panic_since == 58.0
    kpa.samples = deque([(t, 10.0) for t in np.arange(62.0, 122.0, 2.0)])
    assert kpa.desired(now=120.0, ready_count=8) == 4  # 62 s: stable, halving at most
    assert kpa.panic_since is None


def test_kpa_entering_panic_sizes_for_the_load_not_the_fleet_it_had() -> None:
    """maxPanicPods starts at 0 when panic begins: with 10 groups ordered, 4 ready and a
    burst worth 8, panic mode asks for 8 (upstream), not the 10 it happened to have."""
    samples = [(float(t), 150.0) for t in range(0, 54, 2)] + [
        (54.0, 560.0),
        (56.0, 560.0),
        (58.0, 560.0),
    ]
    kpa = _kpa_with(samples)
    assert kpa.desired(now=58.0, ready_count=4) == 8
    assert kpa.panic_since == 58.0


def test_kpa_scale_down_is_limited_to_half_the_ready_groups() -> None:
    kpa = _kpa_with([(t, 0.0) for t in range(0, 60, 2)])
    assert kpa.desired(now=58.0, ready_count=6) == 3


def _view(now: float, ready: int, waiting: list[float], spec: int | None = None) -> LoopView:
    store = ScrapeStore(KEY, "m", keep=300)
    for i, w in enumerate(waiting):
        history = store.readings[store.pod_name(i)] = PodHistory()
        history.add(now, RawReading({Signal.QUEUE_DEPTH: w}), keep=300)
    groups = tuple(GroupStatus(i, -1000.0, -900.0) for i in range(ready))
    state = lws_state(KEY, spec if spec is not None else ready, groups, now)
    return LoopView(now, state, store, 0, 0.0)


def test_keda_recipe_is_an_average_value_target_on_the_sum() -> None:
    # 23 waiting over 3 groups, threshold 5: ratio 23 / (5 * 3) = 1.53 -> ceil(23 / 5) = 5.
    keda = keda_recipe(max_replicas=10)
    assert keda.decide(_view(0.0, 3, [13.0, 5.0, 5.0])) == 5
    # From 2 groups the HPA's default rate limit (max(2 * 2, 4) = 4) caps the same demand.
    assert keda_recipe(max_replicas=10).decide(_view(0.0, 2, [13.0, 10.0])) == 4
    # A removed group's last reading (pod 2 of 2 groups) is no leader's: 10 over 2
    # groups is ratio 1.0, no change; counted, its 50 would make 60 -> 4.
    assert keda_recipe(max_replicas=10).decide(_view(0.0, 2, [6.0, 4.0, 50.0])) == 2


def test_seed_recipe_waits_out_its_scale_up_window() -> None:
    seed = seed_recipe(max_replicas=10)
    # Average 16 waiting per leader against 10: ratio 1.6 -> ceil(3.2) = 4 groups
    # wanted, but the lowest recommendation of the last 300 s is still the starting
    # size (2). At 300 s the first one leaves the window (strictly inside, time.After).
    assert seed.decide(_view(0.0, 2, [22.0, 10.0])) == 2
    assert seed.decide(_view(150.0, 2, [22.0, 10.0])) == 2
    assert seed.decide(_view(299.0, 2, [22.0, 10.0])) == 2
    assert seed.decide(_view(300.0, 2, [22.0, 10.0])) == 4


def test_seed_recipe_waits_out_its_scale_down_window() -> None:
    seed = seed_recipe(max_replicas=10)
    # 1 waiting per leader: ceil(0.1 * 4) = 1 wanted, held at 4 for 600 s.
    assert seed.decide(_view(0.0, 4, [1.0] * 4)) == 4
    assert seed.decide(_view(599.0, 4, [1.0] * 4)) == 4
    assert seed.decide(_view(600.0, 4, [1.0] * 4)) == 1


def test_ours_follows_the_chart_hpa_behaviour() -> None:
    behavior, tolerance = chart_behavior()
    assert tolerance == 0.0
    assert behavior.scale_up.window == 0.0
    assert behavior.scale_down.window == 0.0
    assert ("Percent", 1000, 15) in [
        (p.type, p.value, p.period_seconds) for p in behavior.scale_up.policies
    ]


def test_oracle_needs_and_its_one_cold_start_lead() -> None:
    profile = load_profile("llama-70b-h100")
    # 100 prompts of 30k tokens in minute 0 at 20k tokens/s: 150 busy seconds per 60 s
    # = 2.5 groups at 100%, 5 at 50% utilisation. Output 0 costs no decode time.
    arrival = np.concatenate((np.linspace(0, 59, 100), [400.0]))
    trace = Trace("t", arrival, np.full(101, 30_000), np.zeros(101, dtype=np.int64))
    need = needed_groups(trace, profile, 0.5)
    assert need[0] == 5
    assert need[1] == 1  # idle minutes still keep one group
    oracle = Oracle(trace, profile, max_replicas=12, utilization=0.5)
    # Lead 300 s: at t=0 the plan covers minutes 0..5 (max 5).
    assert oracle.decide(_view(0.0, 1, [])) == 5
    assert oracle.decide(_view(120.0, 1, [])) == 1


@pytest.mark.parametrize(("requests", "groups"), [(136, 2), (135, 1)])
def test_oracle_needs_for_decode_amortised_over_a_batch_of_64(requests: int, groups: int) -> None:
    """Requests of 2,000 output tokens and no prompt in minute 0, mean context 1,000:
    one decode step of a batch of 64 at 64,000 KV tokens takes 11.5 + 64 x 0.025 +
    64,000 x 1.6e-5 = 14.124 ms, so a request costs 2,000 x 14.124 / 64 ms = 0.441 s of
    a group. 136 of them are 60.03 busy seconds, 2 groups at 100%; 135 are 59.6, 1."""
    profile = load_profile("llama-70b-h100")
    arrival = np.linspace(0.0, 59.0, requests)
    trace = Trace("t", arrival, np.zeros(requests, np.int64), np.full(requests, 2000))
    assert needed_groups(trace, profile, 1.0).tolist() == [groups]


@pytest.mark.parametrize(
    ("need", "now", "asked"),
    [
        # Minute 6 (from 360 s) needs 3: ordered at 60 s, one 300 s cold start ahead of
        # its minute, not at 59.9 s.
        ([1, 1, 1, 1, 1, 1, 3], 59.9, 1),
        ([1, 1, 1, 1, 1, 1, 3], 60.0, 3),
        # At 60 s the plan reaches minute 6, not 7.
        ([1, 1, 1, 1, 1, 1, 1, 5], 60.0, 1),
        ([1, 1, 1, 1, 1, 1, 1, 5], 120.0, 5),
        # In the last minute, and past the trace, what the last minute needs.
        ([1, 5, 2], 150.0, 2),
        ([1, 5, 2], 1000.0, 2),
    ],
)
def test_the_oracle_asks_for_the_most_any_minute_within_one_cold_start_needs(
    need: list[int], now: float, asked: int
) -> None:
    profile = load_profile("llama-70b-h100")
    trace = Trace("t", np.array([0.0]), np.array([100]), np.array([10]))
    oracle = Oracle(trace, profile, max_replicas=12, utilization=0.8)
    assert (oracle.lead, oracle.period) == (300.0, 15.0)  # the HPA's sync period
    assert oracle.termination_grace_seconds == 300.0  # drains like ours
    oracle.need = np.asarray(need)  # the plan per minute, set as the trace would
    assert oracle.decide(_view(now, 1, [])) == asked


@pytest.mark.parametrize(("last_arrival", "minutes"), [(60.0, 2), (59.5, 1), (0.0, 1)])
def test_the_needs_cover_every_minute_up_to_the_last_arrivals(
    last_arrival: float, minutes: int
) -> None:
    """An arrival at exactly 60 s opens minute 1; one at 59.5 s is still in minute 0."""
    profile = load_profile("llama-70b-h100")
    trace = Trace("t", np.array([0.0, last_arrival]), np.array([100, 100]), np.array([10, 10]))
    need = needed_groups(trace, profile, 0.8, floor=0)
    assert need.tolist() == [1] * minutes


def test_the_oracle_of_a_scale_to_zero_policy_runs_no_group_while_nothing_is_due() -> None:
    # Arrivals in minutes 0 and 20 only, a 300 s lead: at t=360 s nothing is due before
    # 660 s, so the floor decides (1, or 0 when ours may scale to zero); at t=900 s the
    # minute-20 arrivals are within the lead, and a group is ordered for them.
    profile = load_profile("llama-70b-h100")
    arrival = np.array([0.0, 30.0, 1200.0, 1230.0])
    trace = Trace("t", arrival, np.full(4, 1000), np.full(4, 100))
    assert needed_groups(trace, profile, 0.8, floor=0).tolist() == [1] + [0] * 19 + [1]
    for floor in (1, 0):
        oracle = Oracle(trace, profile, max_replicas=4, utilization=0.8, floor=floor)
        assert oracle.decide(_view(360.0, 1, [])) == floor
        assert oracle.decide(_view(900.0, 0, [], spec=0)) == 1


def test_example_policy_loads_for_ours() -> None:
    """Ours follows the example policy through an HPA on its bounds."""
    path = REPO / "policies" / "llama-70b.yaml"
    bounds = yaml.safe_load(path.read_text())["spec"]["replicas"]
    config = Ours(load_policy_file(path)[0].policy).hpa.config
    assert (config.min_replicas, config.max_replicas) == (bounds.get("min", 1), bounds["max"])
    # The chart's metric: lws_recommended_replicas at an average of 1 (1000 milli).
    (metric,) = config.metrics
    assert (metric.kind, metric.name, metric.target_type, metric.target) == (
        "External",
        "lws_recommended_replicas",
        "AverageValue",
        1000,
    )
    # The chart's per-HPA tolerance of 0, both ways: a recommendation one above the
    # size is followed (the cluster's 10% would ignore 11 against 10).
    assert config.behavior is not None
    assert (config.behavior.scale_up.tolerance, config.behavior.scale_down.tolerance) == (0, 0)


def test_the_gateway_request_rate_counts_arrivals_in_its_window() -> None:
    # Arrivals at 0, 10, 59, 60 and 61 s: (0, 60] holds 10, 59 and 60 -> 3 / 60 = 0.05;
    # (1, 61] holds 10, 59, 60, 61 -> 4 / 60. Rejected requests reached the gateway too.
    arrival = np.array([0.0, 10.0, 59.0, 60.0, 61.0])
    trace = Trace("t", arrival, np.array([10, 10, 10, 10, 10**7]), np.ones(5, dtype=np.int64))
    gateway = Gateway(RequestLog.for_trace(trace), max_context_tokens=131_072)
    assert gateway.rejected == 1
    assert gateway.request_rate(60.0, 60.0) == 3 / 60
    assert gateway.request_rate(61.0, 60.0) == 4 / 60
    assert gateway.request_rate(200.0, 60.0) == 0.0


def test_the_gateway_rate_reaches_only_a_scale_to_zero_policy_as_its_activation() -> None:
    policy_file = REPO / "policies" / "llama-70b.yaml"
    base = load_policy_file(policy_file)[0].policy
    stz = 'stz:scaleToZero={enabled: true, activation: {query: "sum(rate(x[1m]))", threshold: 0}}'
    zero = build_variants(load_base(policy_file), [stz])[1].policy
    view = _view(30.0, 0, [], spec=0)
    view.store.record_gateway_rate(15.0, 0.4)
    snap = view.store.snapshot(zero, 30.0, view.state)
    assert snap.aggregates[Signal.ACTIVATION] == Sample(0.4, 15.0)
    assert Signal.ACTIVATION not in view.store.snapshot(base, 30.0, view.state).aggregates


def test_an_hpa_at_zero_acts_only_with_min_replicas_zero() -> None:
    """At ``spec.replicas`` 0 the HPA is disabled unless its minReplicas is 0 (the
    chart's HPA for a scale-to-zero policy): then ours' External metric wakes the LWS."""
    seed = seed_recipe(max_replicas=10)
    assert seed.decide(_view(0.0, 0, [], spec=0)) is None
    base = load_policy_file(REPO / "policies" / "dev-8b.yaml")[0].policy
    ours = Ours(base)
    assert ours.hpa.config.min_replicas == 0  # as the chart renders it
    assert base.spec.replicas.min == 1
    quiet = _view(0.0, 0, [], spec=0)
    quiet.store.record_gateway_rate(0.0, 0.0)
    assert ours.decide(quiet) == 0
    busy = _view(15.0, 0, [], spec=0)
    busy.store.record_gateway_rate(15.0, 0.2)
    assert ours.decide(busy) == 1
    assert ours.decisions[-1].driver == "activation"


def test_with_an_engine_lag_the_hpa_reads_what_the_server_decided_before_its_sync() -> None:
    """``Ours(policy, lag=5)``: called every 5 s; the server decides at 10 s (sync - lag)
    on the view then, and the HPA's sync at 15 s follows that recommendation, whatever
    the view at 15 s shows. At 0 s nothing is published yet: the HPA keeps its size."""
    policy = load_policy_file(REPO / "policies" / "llama-70b.yaml")[0].policy
    ours = Ours(policy, lag=5.0)
    assert ours.period == 5.0
    assert ours.decide(_view(0.0, 2, [0.0, 0.0])) == 2
    assert ours.decisions == []  # the HPA synced; the server has not decided yet
    assert ours.decide(_view(5.0, 2, [0.0, 0.0])) is None  # neither acts at 5 s
    busy = _view(10.0, 2, [100.0, 100.0])
    assert ours.decide(busy) is None  # the server decides, the HPA waits for its sync
    (row,) = ours.decisions
    assert row.at == 10.0
    published = row.recommendation
    assert published is not None
    assert published > 2
    assert ours.decide(_view(15.0, 2, [0.0, 0.0])) == published
    at_once = Ours(policy)  # lag 0: the engine at the sync, on the view of the sync
    assert at_once.decide(_view(15.0, 2, [0.0, 0.0])) == 2


@pytest.mark.parametrize("lag", [-1.0, 15.0, 2.3])
def test_an_engine_lag_off_the_loop_steps_or_past_a_sync_is_refused(lag: float) -> None:
    policy = load_policy_file(REPO / "policies" / "llama-70b.yaml")[0].policy
    with pytest.raises(ValueError, match=r"engine lag must be a multiple of 0\.5 s"):
        Ours(policy, lag=lag)


@pytest.mark.parametrize("lag", [0.5, 1.0, 14.5])
def test_an_engine_lag_on_the_loop_steps_before_the_sync_is_taken(lag: float) -> None:
    policy = load_policy_file(REPO / "policies" / "llama-70b.yaml")[0].policy
    assert Ours(policy, lag=lag).lag == lag


def test_with_an_engine_lag_each_acts_once_per_sync_period() -> None:
    """Called at every 0.5 s step (lag 0.5): the HPA syncs at 0 and 15 s, the server
    decides at 14.5 s, and no step between acts."""
    policy = load_policy_file(REPO / "policies" / "llama-70b.yaml")[0].policy
    ours = Ours(policy, lag=0.5)
    acted = [t / 2 for t in range(0, 32) if ours.decide(_view(t / 2, 2, [0.0, 0.0])) is not None]
    assert acted == [0.0, 15.0]
    assert [row.at for row in ours.decisions] == [14.5]
