"""Invariants of the serving model (group engines, gateway, closed loop with a fixed
controller) on small synthetic traces and on the Azure excerpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.bench_runs import fleet_factory
from simulations.closedloop import LoopView, run
from simulations.gateway import Gateway
from simulations.ledger import Outcome, RequestLog
from simulations.lws_model import ColdStartModel, LwsModel
from simulations.profile import load_profile
from simulations.serving import GroupEngine
from simulations.traces import Trace, read_azure

PROFILE = load_profile("llama-70b-h100")
CONV = Path(__file__).resolve().parents[2] / "simulations" / "data" / "azure_conv_excerpt.csv"


def _trace(arrival: list[float], prompt: list[int], output: list[int]) -> Trace:
    return Trace(
        "t", np.asarray(arrival, float), np.asarray(prompt, np.int64), np.asarray(output, np.int64)
    )


class Fixed:
    """Holds ``replicas`` until ``at``, then sets ``then``."""

    name, period = "fixed", 15.0

    def __init__(self, replicas: int, at: float = float("inf"), then: int = 0) -> None:
        self.replicas, self.at, self.then = replicas, at, then

    def decide(self, view: LoopView) -> int | None:
        return self.then if view.now >= self.at else self.replicas


def _drive(trace: Trace, groups: int, profile=PROFILE, steps: int = 400, dt: float = 0.5):  # type: ignore[no-untyped-def]
    """Route and step ``groups`` engines by hand; check invariants after every step."""
    log = RequestLog.for_trace(trace)
    gateway = Gateway(log, profile.max_context_tokens)
    engines = [GroupEngine(i, profile, log) for i in range(groups)]
    for k in range(steps):
        t0, t1 = k * dt, (k + 1) * dt
        gateway.route_until(t1, engines, t0)
        for engine in engines:
            engine.step(t0, t1)
            assert len(engine.ids) <= profile.max_num_seqs
            assert engine.context.sum() <= profile.kv_cache_tokens + 1e-6
        routed = np.count_nonzero(~np.isnan(log.routed))
        finished = np.count_nonzero(log.outcome != Outcome.IN_FLIGHT)
        in_flight = sum(e.outstanding for e in engines) + gateway.waiting
        arrived = int(np.searchsorted(log.arrival, t1))
        # Conservation: every arrival is finished (served/failed/rejected) or in flight.
        assert finished + in_flight == arrived
        assert routed + gateway.rejected == arrived
    return log, engines, gateway


def test_requests_are_conserved_and_capacity_is_never_exceeded() -> None:
    trace = read_azure(CONV).window(0, 150)
    log, _, _ = _drive(trace, groups=1, steps=600)
    served = log.outcome == Outcome.SERVED
    assert served.sum() > 0.9 * len(trace)
    # Prefill is never faster than the profile's prefill throughput...
    prefill = (log.first_token - log.started)[served]
    assert np.all(prefill >= log.prompt[served] / PROFILE.prefill_tokens_per_second - 1e-9)
    # ...nor decode faster than one token per minimum step.
    decode = (log.finished - log.first_token)[served]
    min_step = PROFILE.decode.base_seconds
    assert np.all(decode >= (log.output[served] - 1) * min_step - 1e-6)
    assert np.all(log.started[served] >= log.arrival[served])


def test_kv_cache_full_makes_requests_wait_as_in_vllm() -> None:
    small = PROFILE.model_copy(update={"kv_cache_tokens": 25_000})
    # Four 10k-token prompts at once: only two fit; the others wait for KV space.
    trace = _trace([0.0, 0.0, 0.0, 0.0], [10_000] * 4, [200] * 4)
    log, _, _ = _drive(trace, groups=1, profile=small, steps=200)
    assert np.all(log.outcome == Outcome.SERVED)
    first_two_done = np.sort(log.finished)[1]
    assert np.sort(log.started)[2] >= first_two_done - 1e-9


def test_over_long_requests_are_rejected_and_counted() -> None:
    trace = _trace([0.0, 0.5], [131_000, 100], [500, 10])
    log, _, gateway = _drive(trace, groups=1, steps=20)
    assert log.outcome[0] == Outcome.REJECTED
    assert gateway.rejected == 1
    assert log.outcome[1] == Outcome.SERVED


def test_requests_wait_at_the_gateway_while_no_group_is_ready() -> None:
    trace = _trace([1.0, 5.0, 70.0], [500] * 3, [20] * 3)

    def cold(initial: int, profile, rng):  # type: ignore[no-untyped-def]
        return LwsModel(ColdStartModel(60.0), rng, initial)

    result = run(trace, PROFILE, Fixed(1), cold, initial_replicas=0)
    log = result.log
    assert result.held_requests == 2
    assert np.all(log.outcome == Outcome.SERVED)
    # The group is created at t=0 and ready at 60 s: the first two started after it.
    assert np.all(log.started[:2] >= 60.0)
    assert log.queue_wait()[2] < 0.5


def test_scale_down_fails_in_flight_requests_unless_drained() -> None:
    trace = read_azure(CONV).window(0, 240)
    down = run(trace, PROFILE, Fixed(2, at=100.0, then=1), fleet_factory, initial_replicas=2)
    failed = int(np.count_nonzero(down.log.outcome == Outcome.FAILED))
    assert failed > 0
    assert down.scale_events == 1
    drained = PROFILE.model_copy(update={"drain_seconds": 120.0})
    kept = run(trace, drained, Fixed(2, at=100.0, then=1), fleet_factory, initial_replicas=2)
    assert np.count_nonzero(kept.log.outcome == Outcome.FAILED) == 0
    # Draining keeps the GPUs busy a little longer than an immediate removal.
    assert kept.gpu_hours > down.gpu_hours


def test_gpu_hours_count_every_group_over_the_trace() -> None:
    trace = read_azure(CONV).window(0, 120)
    result = run(trace, PROFILE, Fixed(3), fleet_factory, initial_replicas=3)
    expected = 3 * PROFILE.gpus_per_group * float(trace.arrival[-1]) / 3600
    assert result.gpu_hours == pytest.approx(expected, rel=1e-9)  # 3,600 s an hour


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 20, allow_nan=False),
            st.integers(1, 40_000),
            st.integers(1, 400),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 3),
)
def test_conservation_and_limits_hold_for_any_small_trace(
    requests: list[tuple[float, int, int]], groups: int
) -> None:
    requests.sort()
    trace = _trace([r[0] for r in requests], [r[1] for r in requests], [r[2] for r in requests])
    small = PROFILE.model_copy(update={"kv_cache_tokens": 60_000, "max_num_seqs": 8})
    log, _, _ = _drive(trace, groups=groups, profile=small, steps=80)
    done = log.outcome != Outcome.IN_FLIGHT
    assert np.all(log.finished[done] >= log.arrival[done] - 1e-9)


def _slot_bound(max_num_seqs: int):  # type: ignore[no-untyped-def]
    """A profile whose decode step is a flat 20 ms, so a sequence's lifetime is exact."""
    decode = PROFILE.decode.model_copy(
        update={"base_seconds": 0.02, "per_sequence_seconds": 0.0, "per_kv_token_seconds": 0.0}
    )
    return PROFILE.model_copy(update={"max_num_seqs": max_num_seqs, "decode": decode})


def test_a_slot_freed_mid_step_serves_its_next_request_without_losing_time() -> None:
    """One slot, ten 1-token prompts with 31-token outputs queued at t=0. Continuous time:
    prefill runs alone at 20,000 tok/s x share, share = (8192/20000) / (8192/20000 + 0.02)
    = 0.9534, so it takes 1 / 19,069 = 5.2e-5 s; then 30 decode iterations of 20 ms =
    0.6 s. Request k finishes at k x 0.60005 s: 0.6, 1.2, 1.8, ... The next request enters
    the slot at 0.6, mid-step; decoding it only from the step's end (1.0) finished it at
    1.6, then 2.6, ...: a whole step late per request."""
    profile = _slot_bound(1)
    n, output = 10, 31
    trace = _trace([0.0] * n, [1] * n, [output] * n)
    log, _, _ = _drive(trace, groups=1, profile=profile, steps=16)
    p = profile
    share = (p.max_num_batched_tokens / p.prefill_tokens_per_second) / (
        p.max_num_batched_tokens / p.prefill_tokens_per_second + p.decode.base_seconds
    )
    prefill = 1 / (p.prefill_tokens_per_second * share)
    period = prefill + (output - 1) * p.decode.base_seconds
    assert np.all(log.outcome == Outcome.SERVED)
    expected = period * np.arange(1, n + 1)
    np.testing.assert_allclose(log.finished, expected, atol=1e-3)
    np.testing.assert_allclose(log.started, expected - period, atol=1e-3)


def test_short_requests_in_a_reused_slot_keep_their_timeline_in_order() -> None:
    """Outputs shorter than a step can finish before the step they were admitted in; the
    timeline stays ordered, and a request the engine still held as waiting at t (what
    the leader's gauge reports) starts no earlier than the step before t (it may take a
    slot freed in that step): a slot freed before a step's start is reused from that
    start, so starts never run back further into steps already played."""
    trace = _trace([0.0] * 6 + [2.0] * 6, [50] * 12, [2, 3, 5, 1, 40, 2] * 2)
    log = RequestLog.for_trace(trace)
    gateway = Gateway(log, PROFILE.max_context_tokens)
    engine = GroupEngine(0, _slot_bound(2), log)
    waiting_at: list[tuple[float, list[int]]] = []
    for k in range(20):
        t0, t1 = k * 0.5, (k + 1) * 0.5
        waiting_at.append((t0, list(engine.waiting)))
        gateway.route_until(t1, [engine], t0)
        engine.step(t0, t1)
    assert np.all(log.outcome == Outcome.SERVED)
    assert np.all(log.started >= log.routed)
    assert np.all(log.first_token > log.started)
    assert np.all(log.finished >= log.first_token)
    for t0, held in waiting_at:
        assert np.all(log.started[held] >= t0 - 0.5), f"at {t0}"
    # With two slots, at most two requests are in the batch at any time.
    events = sorted([(t, 1) for t in log.started] + [(t, -1) for t in log.finished])
    assert max(np.cumsum([e for _, e in events])) <= 2


@pytest.mark.parametrize(("probe", "group"), [(5.52, 0), (5.9, 1)])
def test_an_arrival_is_routed_on_the_load_at_its_own_time(probe: float, group: int) -> None:
    """Two groups of three running requests each, alike but for their outputs: group 1's
    finish after 480 tokens, at about 479 x step_seconds(3 running, ~1,700 KV tokens) =
    479 x 11.6 ms = 5.56 s after their first tokens, i.e. around 5.57 s, inside the step
    [5.5, 6.0). An arrival before then sees two equal groups and goes to group 0; one
    after sees group 1 empty. Routing on the counts of the step's start (3 and 3) sent
    both to group 0."""
    trace = _trace([0.0] * 6 + [probe], [100] * 7, [5000, 480] * 3 + [100])
    log = RequestLog.for_trace(trace)
    gateway = Gateway(log, PROFILE.max_context_tokens)
    engines = [GroupEngine(i, PROFILE, log) for i in range(2)]
    for k in range(11):
        gateway.route_until((k + 1) * 0.5, engines, k * 0.5)
        for engine in engines:
            engine.step(k * 0.5, (k + 1) * 0.5)
    assert [list(e.ids) for e in engines] == [[0, 2, 4], [1, 3, 5]]
    gateway.route_until(6.0, engines, 5.5)
    assert list(engines[group].waiting) == [6]
    for engine in engines:
        engine.step(5.5, 6.0)
    short = log.finished[[1, 3, 5]]
    assert np.all((short > 5.52) & (short < 5.9))  # the finishes the router predicted


def test_a_request_is_scheduled_when_the_step_budget_reaches_it_as_in_vllm() -> None:
    """Six 4,000-token prompts at t=0 on an idle group. vLLM's V1 scheduler gives each
    step 8,192 tokens and schedules the waiting requests in order while budget is left,
    so the first three (12,000 tokens, the third only for a 192-token chunk) are all
    scheduled at 0. Steps run back to back while prompts remain, each D = 8192 / rate
    long (rate: 20,000 tokens/s x the prefill share with nothing decoding, 0.973): the
    4th (12,000 tokens ahead, 3,808 left after step 1) and 5th (7,808 left) are scheduled
    at D, the 6th (11,808 left) at 2D. Queue time ends there
    (``request_queue_time_seconds``); first tokens still come as each prompt is
    computed, at k x 4,000 / rate. Starting each request only once the prompts ahead are
    computed (the old sequential timeline) gave 0, 0.21, 0.41, 0.62 ... s: 0.2 s of
    queue wait the real engine does not have."""
    n, prompt = 6, 4000
    log, engines, _ = _drive(_trace([0.0] * n, [prompt] * n, [1] * n), groups=1, steps=4)
    p = PROFILE
    budget = p.max_num_batched_tokens / p.prefill_tokens_per_second
    rate = p.prefill_tokens_per_second * budget / (budget + p.decode.step_seconds(0, 0.0))
    step = p.max_num_batched_tokens / rate
    assert np.all(log.outcome == Outcome.SERVED)
    np.testing.assert_allclose(log.first_token, prompt * np.arange(1, n + 1) / rate)
    np.testing.assert_allclose(log.started, [0, 0, 0, step, step, 2 * step])
    # The leader's queue-time histogram observes the same waits.
    assert engines[0].counters.queue_sum == pytest.approx(4 * step)


def test_prompts_not_yet_computed_hold_no_kv_cache() -> None:
    """Twenty 2,000-token prompts at t=0 on an idle group: all are admitted (40,000
    tokens reserved), but vLLM holds KV blocks only for what it has computed. Half a
    second in, at the prefill rate r with nothing decoding, r/2 tokens are held; counted
    as held from admission, the exported gauge read 40,000 tokens from the first scrape."""
    n, prompt = 20, 2000
    log = RequestLog.for_trace(_trace([0.0] * n, [prompt] * n, [50] * n))
    engine = GroupEngine(0, PROFILE, log)
    Gateway(log, PROFILE.max_context_tokens).route_until(0.5, [engine], 0.0)
    engine.step(0.0, 0.5)
    p = PROFILE
    budget = p.max_num_batched_tokens / p.prefill_tokens_per_second
    rate = p.prefill_tokens_per_second * budget / (budget + p.decode.step_seconds(0, 0.0))
    assert len(engine.ids) == n
    assert engine.context.sum() >= n * prompt  # reserved, and the first tokens out
    # Held at 0.5 s: the computed prompt tokens plus the first tokens generated so far.
    computed = 0.5 * rate
    generated = float(engine.context.sum()) - n * prompt
    assert engine.held_kv(0.5) == pytest.approx(computed + generated)
    assert engine.kv_usage(0.5) < 0.3 * n * prompt / p.kv_cache_tokens
    # Once every prompt is computed, everything reserved is held.
    done = float(engine.first.max())
    assert engine.held_kv(done) == pytest.approx(float(engine.context.sum()))


def test_prompts_waiting_for_their_compute_are_not_decoding_sequences() -> None:
    """A prompt admitted at 0.5 s behind 50 prompts of 20,000 tokens, none computed yet
    (the first needs about 1 s), gets the prefill share of a step with nothing decoding
    and only the computed tokens as KV. Counting the 50 as decoding took one token each
    out of the step's 8,192-token budget, and their million reserved tokens lengthened
    the step by 16 ms: a 4% slower prefill."""
    arrivals = [0.0] * 50 + [0.6]
    log = RequestLog.for_trace(_trace(arrivals, [20_000] * 50 + [1000], [20] * 51))
    engine = GroupEngine(0, PROFILE, log)
    gateway = Gateway(log, PROFILE.max_context_tokens)
    for k in range(2):
        gateway.route_until((k + 1) * 0.5, [engine], k * 0.5)
        engine.step(k * 0.5, (k + 1) * 0.5)
    assert np.all(engine.first[:50] > 0.5)  # nothing was decoding at 0.5 s
    p = PROFILE
    budget = p.max_num_batched_tokens / p.prefill_tokens_per_second
    step = budget + p.decode.step_seconds(0, engine.held_kv(0.5))
    rate = p.prefill_tokens_per_second * budget / step
    last = int(np.argmax(engine.ids == 50))
    assert engine.first[last] - engine.computed[last] == pytest.approx(1000 / rate)


def test_prompt_tokens_are_counted_when_the_first_token_is_out_as_in_vllm() -> None:
    """vLLM adds a request's prompt to vllm:prompt_tokens_total in the iteration that
    computes it (its first token), not at admission: 250 prompts of 2,000 tokens admitted
    at once showed 500,000 tokens in the first scrape while 10,000 were computed."""
    n, prompt = 250, 2000
    log = RequestLog.for_trace(_trace([0.0] * n, [prompt] * n, [10] * n))
    engine = GroupEngine(0, PROFILE, log)
    Gateway(log, PROFILE.max_context_tokens).route_until(0.5, [engine], 0.0)
    engine.step(0.0, 0.5)
    firsts = int(np.count_nonzero(~np.isnan(log.first_token)))
    assert 0 < firsts < n
    assert engine.counters.prompt_tokens == firsts * prompt
