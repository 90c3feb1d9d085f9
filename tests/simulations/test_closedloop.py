"""The closed loop with ours: snapshots come through the production source path, the
engine decides, the chart's HPA follows, the LWS model starts groups."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from autoscaler.policy.loader import load_policy_file
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.exposition import parse_exposition, reading_from_samples
from simulations.baselines.hpa_driven import Ours
from simulations.bench_runs import exact_fleet_factory, fleet_factory, summarise
from simulations.closedloop import LoopConfig, LoopView, run
from simulations.ledger import Outcome, RequestLog
from simulations.metrics import exposition_text, leader_samples
from simulations.profile import load_profile
from simulations.serving import GroupEngine
from simulations.traces import Trace, read_azure, rescale
from simulations.tune.variants import build_variants, load_base

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "policies" / "llama-70b.yaml"
CONV = REPO / "simulations" / "data" / "azure_conv_excerpt.csv"
PROFILE = load_profile("llama-70b-h100").with_cold_start(120.0)


def _shipped_with(change: str) -> ScalingPolicy:
    """The shipped 70B policy with one change, ``PATH=VALUE`` below ``spec``, built the
    way ``lws-autoscaler tune --set`` builds its variants."""
    return build_variants(load_base(POLICY), [f"changed:{change}"])[1].policy


def test_leader_exposition_parses_to_the_same_reading() -> None:
    trace = read_azure(CONV).window(0, 30)
    log = RequestLog.for_trace(trace)
    engine = GroupEngine(0, PROFILE, log)
    for rid in range(len(trace)):
        log.routed[rid] = log.arrival[rid]
        engine.enqueue(rid)
    for k in range(40):
        engine.step(k * 0.5, (k + 1) * 0.5)
    samples = leader_samples(engine, 20.0, "llama")
    text = exposition_text(samples)
    assert "# TYPE vllm:prompt_tokens_total counter" in text  # as vLLM writes it
    assert (
        'vllm:time_to_first_token_seconds_bucket{model_name="llama",engine="0",le="+Inf"}' in text
    )
    parsed = parse_exposition(text, ServingEngine.VLLM)
    direct = reading_from_samples(ServingEngine.VLLM, samples)
    assert parsed == direct
    assert direct.values[Signal.GENERATION_TOKENS] > 0
    assert direct.histograms[Signal.TTFT][float("inf")] == engine.counters.ttft_buckets.sum()
    # vLLM observes the queue time when a request finishes: one observation per success,
    # none for requests still running.
    finished = engine.counters.successes
    assert 0 < finished < direct.histograms[Signal.TTFT][float("inf")]
    assert direct.histograms[Signal.QUEUE_WAIT][float("inf")] == finished
    assert "# TYPE vllm:request_queue_time_seconds histogram" in text


def test_ours_scales_up_a_rising_load_and_serves_it() -> None:
    policy = load_policy_file(POLICY)[0].policy
    key = LwsKey(policy.spec.target.namespace, policy.spec.target.name)
    trace = rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=4.0)
    controller = Ours(policy)
    result = run(trace, PROFILE, controller, fleet_factory, 1, config=LoopConfig(key=key))
    figures = summarise(result, 1.0)
    assert max(result.timeline.spec) > 1
    assert figures["scale_events"] >= 1
    recommended = [d.recommendation for d in controller.decisions if d.recommendation is not None]
    # Every recommendation comes from the engine's proposals on the scraped metrics.
    assert recommended
    assert all(policy.spec.replicas.min <= r <= policy.spec.replicas.max for r in recommended)
    assert figures["slo_attainment"] > 0.5


def test_draining_before_removal_fails_no_request() -> None:
    # Six groups for a load that needs about two: ours scales down. Without a drain the
    # removed groups' in-flight requests fail; with one, the gateway stops routing to
    # them and they go once idle.
    drained = load_policy_file(POLICY)[0].policy
    assert drained.spec.scale_down.drain.enabled
    spec = drained.spec
    abrupt = _shipped_with("scaleDown.drain.enabled=false")
    key = LwsKey(spec.target.namespace, spec.target.name)
    trace = rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=4.0)
    figures = {}
    for name, policy in (("abrupt", abrupt), ("drained", drained)):
        controller = Ours(policy)
        result = run(trace, PROFILE, controller, fleet_factory, 6, config=LoopConfig(key=key))
        figures[name] = summarise(result, 1.0)
        assert min(result.timeline.spec) < 6
    assert figures["abrupt"]["failed_requests"] > 0
    assert figures["drained"]["failed_requests"] == 0
    assert figures["drained"]["slo_attainment"] >= figures["abrupt"]["slo_attainment"]


def test_holding_through_a_silence_shorter_than_a_cold_start_serves_its_return() -> None:
    # Seven minutes of load, eight of silence (a paused client, a gateway restart), the
    # same seven minutes again, on three groups. Without the hold the fleet shrinks to
    # one group during the silence, and the return queues for a cold start while the
    # rules order more (and overshoot); holding for the policy's cold start (5 minutes
    # of idleness) keeps the three groups through it.
    shipped = load_policy_file(POLICY)[0].policy
    assert shipped.spec.scale_down.hold_while_idle
    spec = shipped.spec
    no_hold = _shipped_with("scaleDown.holdWhileIdle=false")
    load = rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=4.0).window(0, 420)
    again = 420.0 + 480.0
    trace = Trace(
        "load-silence-load",
        np.concatenate([load.arrival, load.arrival + again]),
        np.concatenate([load.prompt_tokens, load.prompt_tokens]),
        np.concatenate([load.output_tokens, load.output_tokens]),
    )
    key = LwsKey(spec.target.namespace, spec.target.name)
    runs = {}
    for name, policy in (("no-hold", no_hold), ("hold", shipped)):
        result = run(trace, PROFILE, Ours(policy), fleet_factory, 3, config=LoopConfig(key=key))
        silence = [
            s
            for t, s in zip(result.timeline.time, result.timeline.spec, strict=True)
            if 420.0 <= t < again
        ]
        runs[name] = (min(silence), summarise(result, 1.0))
    assert runs["no-hold"][0] < 3
    assert runs["hold"][0] == 3
    held, dropped = runs["hold"][1], runs["no-hold"][1]
    assert held["slo_attainment"] > dropped["slo_attainment"] + 0.05
    assert held["scale_events"] < dropped["scale_events"]


class _GaugeReader:
    """Reads the scraped waiting gauge of every leader at each decision; scales nothing."""

    name, period = "reader", 15.0

    def __init__(self) -> None:
        self.seen: list[tuple[float, float]] = []

    def decide(self, view: LoopView) -> int | None:
        total = sum(r.values.get(Signal.QUEUE_DEPTH, 0.0) for r in view.store.latest().values())
        self.seen.append((view.now, total))
        return None


def test_the_waiting_gauge_counts_only_requests_that_have_arrived() -> None:
    """vLLM's num_requests_waiting at a scrape counts requests that are there: arrived,
    not yet in prefill. The loop once scraped after stepping the engines to t + 0.5 s,
    so every request arriving in that half second counted as waiting at t (at 4x the
    Azure rate, about 10 per scrape, read as queue by every queue-driven policy)."""
    rng = np.random.default_rng(0)
    n = 1200  # 10 requests a second for 2 minutes, short prompts: 4 groups never queue
    arrival = np.sort(rng.uniform(0.0, 120.0, n))
    trace = Trace(
        "steady", arrival, np.full(n, 500, dtype=np.int64), np.full(n, 50, dtype=np.int64)
    )
    reader = _GaugeReader()
    result = run(trace, PROFILE, reader, fleet_factory, 4)
    log = result.log
    assert len(reader.seen) >= 8
    for now, gauge in reader.seen:
        # Arrived by the scrape and not yet started (or never started) at it.
        there = (log.arrival <= now) & ~(log.started <= now)
        assert gauge == int(np.count_nonzero(there)), f"at {now:.0f}s"
    # 10 a second over a 0.5 s step: the old read saw about 5 phantom requests each time.
    assert max(g for _, g in reader.seen) <= 2


def test_a_latency_guard_held_while_groups_start_does_not_pile_up_after_a_burst() -> None:
    # Four minutes at 4x the Azure rate on three groups, a 30 s burst at 40x, then a
    # trickle at 1x for eight minutes. The queue orders four groups for the burst; its
    # requests then finish with queue waits of seconds, and the queue-wait guard reads
    # them after the burst is over. Without the hold it orders again while the four
    # start (to the policy's max); with it the fleet stays at the seven that exist.
    spec = load_policy_file(POLICY)[0].policy.spec
    conv = read_azure(CONV)
    parts = [
        (rescale(conv, np.random.default_rng(0), rate_scale=4.0).window(0, 240), 0.0),
        (rescale(conv, np.random.default_rng(1), rate_scale=40.0).window(0, 30), 240.0),
        (rescale(conv, np.random.default_rng(2), rate_scale=1.0).window(0, 480), 270.0),
    ]
    trace = Trace(
        "load-burst-trickle",
        np.concatenate([part.arrival + start for part, start in parts]),
        np.concatenate([part.prompt_tokens for part, _ in parts]),
        np.concatenate([part.output_tokens for part, _ in parts]),
    )
    key = LwsKey(spec.target.namespace, spec.target.name)
    runs = {}
    for hold in (False, True):
        policy = _shipped_with(f"signals.queueWait.holdWhileStarting={str(hold).lower()}")
        result = run(trace, PROFILE, Ours(policy), fleet_factory, 3, config=LoopConfig(key=key))
        runs[hold] = (max(result.timeline.spec), summarise(result, 1.0))
    (free_peak, free), (held_peak, held) = runs[False], runs[True]
    assert free_peak == spec.replicas.max
    assert held_peak == 7
    assert held["gpu_hours"] < free["gpu_hours"] * 0.8
    # The extra groups came after the burst: they bought no attainment.
    assert held["slo_attainment"] >= free["slo_attainment"] - 0.001


STZ_70B = (
    "scaleToZero={enabled: true, idleAfter: 5m, activation: "
    '{query: "sum(rate(gateway_requests_total[1m]))", threshold: 0}}'
)


def _load_silence_load(silence: float) -> Trace:
    """Ten minutes of the conversation excerpt, ``silence`` seconds of nothing, the same
    ten minutes again (about 4.8 requests/s: one group's load)."""
    load = read_azure(CONV).window(0, 600)
    again = 600.0 + silence
    return Trace(
        "load-silence-load",
        np.concatenate([load.arrival, load.arrival + again]),
        np.concatenate([load.prompt_tokens, load.prompt_tokens]),
        np.concatenate([load.output_tokens, load.output_tokens]),
    )


def test_a_wake_from_zero_serves_the_gateway_backlog_without_more_groups() -> None:
    """Scale-to-zero in the closed loop: the gateway's request rate is the activation
    signal. Through a 30-minute silence the policy goes to zero after ``idleAfter`` and
    wakes on the first request back; the requests held through the 2-minute start reach
    the woken group together. With ``holdWhileStarting`` (the shipped 70B policy's queue
    signals) that backlog orders no group; without it, 9 more for nothing."""
    trace = _load_silence_load(1800.0)
    back = 2400.0
    shipped = load_policy_file(POLICY)[0].policy
    key = LwsKey(shipped.spec.target.namespace, shipped.spec.target.name)
    no_hold = (
        "signals.queueDepth.holdWhileStarting=false",
        "signals.queueWait.holdWhileStarting=false",
    )
    policies = {
        "always-on": shipped,
        "zero": _shipped_with(STZ_70B),
        # The policy's cold start as the profile's: the hold no longer outlasts the
        # latency guard's window by luck (2 + 2 minutes for the queue-wait p90).
        "zero-true-start": build_variants(
            load_base(POLICY), [f"v:{STZ_70B}", "v:coldStart.expected=2m"]
        )[1].policy,
        "zero-no-hold": build_variants(
            load_base(POLICY), [f"v:{STZ_70B}", *(f"v:{c}" for c in no_hold)]
        )[1].policy,
    }
    runs = {}
    for name, policy in policies.items():
        result = run(trace, PROFILE, Ours(policy), fleet_factory, 1, config=LoopConfig(key=key))
        timeline = list(zip(result.timeline.time, result.timeline.spec, strict=True))
        silent = [s for t, s in timeline if 1500.0 <= t < back]
        after = [s for t, s in timeline if t >= back]
        runs[name] = (silent, after, result, summarise(result, 1.0))
    silent, after, _, always = runs["always-on"]
    assert set(silent) == {1}
    assert max(after) == 1
    silent, after, woken, zero = runs["zero"]
    assert set(silent) == {0}  # at zero through the silence ...
    assert after[0] == 1  # ... woken by the first request back ...
    assert max(after) == 1  # ... to one group, which serves the backlog
    assert woken.held_requests > 100  # the requests that arrived during the cold start
    assert zero["failed_requests"] == 0
    assert zero["slo_attainment"] > 0.85
    assert zero["gpu_hours"] < 0.6 * always["gpu_hours"]
    _, after, _, true_start = runs["zero-true-start"]
    assert max(after) == 1
    assert true_start["gpu_hours"] == zero["gpu_hours"]
    _, after, _, unheld = runs["zero-no-hold"]
    assert max(after) >= 5  # the step limit's 4 at once (10 in all), for a backlog one group drains
    assert unheld["gpu_hours"] > zero["gpu_hours"] + 2.0
    assert unheld["slo_attainment"] <= zero["slo_attainment"] + 0.001


class _Scripted:
    """Asks for ``replicas`` until ``at``, then ``then``; keeps every view it decided on."""

    name, period = "scripted", 15.0

    def __init__(self, replicas: int, at: float = float("inf"), then: int = 0) -> None:
        self.replicas, self.at, self.then = replicas, at, then
        self.views: list[LoopView] = []

    def decide(self, view: LoopView) -> int | None:
        self.views.append(view)
        return self.then if view.now >= self.at else self.replicas


def test_the_run_ends_once_everything_after_the_last_arrival_is_resolved() -> None:
    """One short request at 1.0 s on a ready group is served within the step after it:
    the run ends there, not at the last arrival plus the 900 s tail. A request held at
    the gateway (no group) is not resolved: the run goes on to exactly 901.0 s, where it
    fails."""
    trace = Trace("t", np.array([1.0]), np.array([100]), np.array([5]))
    served = run(trace, PROFILE, _Scripted(1), fleet_factory, initial_replicas=1)
    assert 1.0 < served.end <= 2.0
    assert served.log.outcome[0] == Outcome.SERVED
    held = run(trace, PROFILE, _Scripted(0), fleet_factory, initial_replicas=0)
    assert held.end == 901.0
    # Sampled for the plots every 15 s from 0, the last at 900 s: the request held.
    assert held.timeline.time == [15.0 * k for k in range(61)]
    assert (held.timeline.waiting[0], held.timeline.waiting[-1]) == (0, 1)
    assert (held.held_requests, held.log.outcome[0]) == (1, Outcome.FAILED)


def test_the_loop_defaults_are_the_benchmarks() -> None:
    """The settings every figure of docs/benchmark.md was measured with: 0.5 s steps,
    Prometheus's 15 s scrape, a 15-minute tail, the activation rate over 1 minute, the
    server deciding at the HPA's sync (no lag)."""
    config = LoopConfig()
    assert (config.step, config.scrape_interval, config.tail) == (0.5, 15.0, 900.0)
    assert (config.timeline_interval, config.gateway_rate_window, config.engine_lag) == (
        15.0,
        60.0,
        0.0,
    )
    assert config.key == LwsKey("inference", "llm")


def test_a_burst_on_one_group_is_in_flight_for_the_controller_and_queued_in_the_timeline() -> None:
    """300 prompts of 2,000 tokens in the first second are 600,000 tokens of prefill, half
    a minute at 20,000 tokens/s: at the decision and the sample of 15 s they are in
    flight (what a KPA sizes on), most of them still waiting to be scheduled."""
    n = 300
    trace = Trace("t", np.linspace(0.0, 1.0, n), np.full(n, 2000), np.full(n, 10))
    hold = _Scripted(1)
    result = run(trace, PROFILE, hold, fleet_factory, initial_replicas=1)
    concurrency = [view.concurrency for view in hold.views]
    assert concurrency[0] == 0.0  # decided at 0, before the first arrival is routed
    assert 100 < concurrency[1] <= n  # at 15 s
    assert result.timeline.time[1] == 15.0
    assert 100 < result.timeline.waiting[1] < concurrency[1]


def _steady(seconds: float) -> Trace:
    n = int(seconds)
    # A request a second, each decoding 1,000 tokens for about 12 s.
    return Trace("t", np.arange(0.0, seconds, 1.0), np.full(n, 200), np.full(n, 1000))


def test_a_group_removed_without_drain_fails_what_it_holds_at_once() -> None:
    """From 2 groups to 1 at the decision of 105 s (the first at or after 100 s): the
    group is gone from the next step, 105.5 s, and its requests fail there."""
    result = run(_steady(300.0), PROFILE, _Scripted(2, 100.0, 1), fleet_factory, 2)
    failed = result.log.outcome == Outcome.FAILED
    assert failed.any()
    assert set(result.log.finished[failed].tolist()) == {105.5}


def test_a_draining_group_is_gone_once_its_requests_are_done() -> None:
    """With a 300 s drain, the released group finishes its requests within about 12 s
    and stops counting then, not 300 s later: about 2 x 105 + 1 x 194 group-seconds to
    the last arrival at 299 s, and the drain's few seconds more."""
    drained = PROFILE.model_copy(update={"drain_seconds": 300.0})
    result = run(_steady(300.0), drained, _Scripted(2, 100.0, 1), fleet_factory, 2)
    assert not (result.log.outcome == Outcome.FAILED).any()
    group_seconds = result.replica_hours * 3600.0
    assert 2 * 105 + 194 < group_seconds < 2 * 105 + 194 + 20


def test_a_group_ready_at_a_step_serves_and_shows_ready_from_that_instant() -> None:
    """From no group to one at 0 with exact 120 s cold starts: the group is ready at
    exactly 120.0, a decision instant. The controller sees it ready, its leader ready,
    from there (not at 105), with its ready time, and the request held since 10 s is
    routed at 120.0."""
    trace = Trace("t", np.array([10.0, 200.0]), np.array([100, 100]), np.array([5, 5]))
    watching = _Scripted(1)
    progress: list[float] = []
    result = run(trace, PROFILE, watching, exact_fleet_factory, 0, progress=progress.append)
    seen = {
        view.now: (
            view.state.ready_replicas,
            tuple(leader.ready for leader in view.state.leaders),
            tuple(group.ready_at for group in view.state.groups),
        )
        for view in watching.views
    }
    assert seen[105.0] == (0, (False,), (None,))
    assert seen[120.0] == (1, (True,), (120.0,))
    assert result.log.routed[0] == 120.0
    # Progress: from 0, rising, within [0, 1].
    assert progress[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(progress))
    assert progress[-1] <= 1.0


def test_a_drain_that_outlasts_its_grace_fails_what_is_left_at_its_end() -> None:
    """A 5 s drain for requests of about 12 s: the group released at 105.5 s fails what
    it still holds at exactly 110.5 s."""
    drained = PROFILE.model_copy(update={"drain_seconds": 5.0})
    result = run(_steady(300.0), drained, _Scripted(2, 100.0, 1), fleet_factory, 2)
    failed = result.log.outcome == Outcome.FAILED
    assert failed.any()
    assert set(result.log.finished[failed].tolist()) == {110.5}
