"""One group engine's steps worked by hand (``simulations.serving``): the timeline of a
request, the leader's counters and gauges, the decode pace with its per-sequence and KV
terms read mid-step, admission at the KV cache's edge, and recompute preemption.

The profile is made of round numbers: 1,000 prompt tokens/s with a budget of 1,000
tokens a step, so a full engine step prefills for 1.0 s; a decode iteration of 10 ms
(plus 1 ms a sequence and 10 us a KV token where a test needs those terms). The
expected values are the module's rules written out, with the numbers in comments."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.gateway import Gateway
from simulations.ledger import Outcome, RequestLog
from simulations.profile import DecodeModel, ServingProfile, load_profile
from simulations.serving import GroupEngine
from simulations.traces import Trace


def _profile(
    per_sequence: float = 0.0,
    per_kv_token: float = 0.0,
    kv_cache_tokens: int = 100_000,
    base: float = 0.01,
) -> ServingProfile:
    return load_profile("llama-70b-h100").model_copy(
        update={
            "prefill_tokens_per_second": 1000.0,
            "max_num_batched_tokens": 1000,
            "max_num_seqs": 4,
            "kv_cache_tokens": kv_cache_tokens,
            "max_context_tokens": kv_cache_tokens,
            "decode": DecodeModel(
                base_seconds=base,
                per_sequence_seconds=per_sequence,
                per_kv_token_seconds=per_kv_token,
            ),
        }
    )


def _engine(
    arrival: list[float], prompt: list[int], output: list[int], profile: ServingProfile
) -> tuple[RequestLog, Gateway, GroupEngine]:
    trace = Trace(
        "t",
        np.asarray(arrival, float),
        np.asarray(prompt, np.int64),
        np.asarray(output, np.int64),
    )
    log = RequestLog.for_trace(trace)
    return log, Gateway(log, profile.max_context_tokens), GroupEngine(0, profile, log)


def _step(gateway: Gateway, engine: GroupEngine, t0: float, t1: float) -> None:
    gateway.route_until(t1, [engine], t0)
    engine.step(t0, t1)


def _close(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-9)


def test_a_new_groups_leader_exports_zeros_and_predicts_no_finishes() -> None:
    """The counters restart at 0 with each group; a rate over them starts from there."""
    _, _, engine = _engine([0.0], [10], [10], _profile())
    c = engine.counters
    assert (c.prompt_tokens, c.generation_tokens, c.preemptions, c.successes) == (0, 0, 0, 0)
    assert (c.ttft_sum, c.queue_sum) == (0.0, 0.0)
    assert not c.ttft_buckets.any()
    assert not c.queue_buckets.any()
    assert len(engine.finishes) == 0
    assert (engine.waiting_at(0.0), engine.running_at(0.0), engine.held_kv(0.0)) == (0, 0, 0.0)


def test_a_lone_requests_timeline_and_the_leaders_counters() -> None:
    """A prompt of 99 tokens and 101 output tokens, arriving at 10.0 on an idle group.

    Admission: nothing decodes, so the prefill share of a full step is 1.0 s of 1.01 s
    and prompts compute at 1000 / 1.01 = 990.1 tokens/s: the first token is out at
    10.0 + 99 / 990.1 = 10.09999. In the step [10.0, 10.5), prefill took those 0.09999 s
    at the share of a step with one sequence decoding, 0.999 / 1.009: decode has
    0.5 - 0.09999 x 0.990 = 0.401 s, 40.1 iterations of 10 ms spread over the step's
    0.5 s, and the sequence, decoding from its first token, gets (10.5 - 10.09999) /
    (0.5 / 40.1) = 32.08 of them. The next step [10.5, 11.0) decodes 50 tokens, and the
    last 100 - 32.08 - 50 = 17.92 end at 11.0 + 17.92 x 0.01 = 11.179."""
    log, gateway, engine = _engine([10.0], [99], [101], _profile())
    rate = 1000 / 1.01
    first = 10.0 + 99 / rate
    share = 0.999 / 1.009
    iterations = (0.5 - (first - 10.0) * share) / 0.01
    in_first_step = (10.5 - first) / (0.5 / iterations)
    _step(gateway, engine, 10.0, 10.5)
    assert (log.routed[0], log.started[0]) == (10.0, 10.0)
    assert log.first_token[0] == _close(first)
    assert engine.remaining[0] == _close(100 - in_first_step)
    c = engine.counters
    # The prompt counts when its first token is out; that token counts as generated.
    assert c.prompt_tokens == 99
    assert c.generation_tokens == _close(1 + in_first_step)
    assert c.ttft_sum == _close(first - 10.0)
    assert list(np.flatnonzero(c.ttft_buckets)) == [7]  # 0.09999 s: the le=0.1 bucket
    assert c.ttft_buckets.sum() == 1
    # The queue time is observed when the request finishes, not yet.
    assert (c.successes, c.queue_buckets.sum()) == (0, 0)
    # Predicted at this step's pace: 67.92 tokens of 0.5 / 40.1 s each after 10.5.
    assert list(engine.finishes) == [_close(10.5 + (100 - in_first_step) * 0.5 / iterations)]
    _step(gateway, engine, 10.5, 11.0)
    assert engine.remaining[0] == _close(100 - in_first_step - 50)
    _step(gateway, engine, 11.0, 11.5)
    assert log.outcome[0] == Outcome.SERVED
    assert log.finished[0] == _close(11.0 + (100 - in_first_step - 50) * 0.01)
    assert c.generation_tokens == _close(101)
    assert (c.successes, c.queue_sum) == (1, 0.0)
    assert list(np.flatnonzero(c.queue_buckets)) == [0]  # waited 0 s: le=0.3
    assert len(engine.ids) == 0
    assert len(engine.finishes) == 0


def test_the_first_token_is_out_in_the_step_its_prompt_ends_with_under_one_iteration() -> None:
    """495 tokens at 990.1 tokens/s end at 0.49995 s: the step [0, 0.5) leaves decode
    0.5 - 0.49995 x 0.990 = 0.005 s, half an iteration. The first token is still out,
    and its prompt counted, in this step (the leader's scrape at 0.5 sees them)."""
    log, gateway, engine = _engine([0.0], [495], [20], _profile())
    _step(gateway, engine, 0.0, 0.5)
    assert log.first_token[0] == _close(495 * 1.01 / 1000)
    assert engine.counters.prompt_tokens == 495


def test_a_prompt_computed_exactly_at_the_steps_end() -> None:
    """An iteration of 250 ms + 10 ms a sequence: a full step with nothing decoding is
    1.0 s of prefill in 1.25 s, prompts compute at 800 tokens/s, and 400 tokens from 0 end
    at exactly 0.5, the step's end. Its first token is out in this step, but it decoded
    nothing in it: the step counts no decoding sequence (prefill share 0.8, decode
    0.5 - 0.5 x 0.8 = 0.1 s), and its pace, priced at one sequence, is 0.5 / (0.1 / 0.26)
    = 1.3 s an iteration; its 99 tokens left are predicted to end 99 x 1.3 s later."""
    profile = _profile(per_sequence=0.01, base=0.25)
    log, gateway, engine = _engine([0.0], [400], [100], profile)
    _step(gateway, engine, 0.0, 0.5)
    assert log.first_token[0] == 0.5
    assert engine.counters.prompt_tokens == 400
    assert engine.remaining[0] == 99
    assert list(engine.finishes) == [_close(0.5 + 99 * 1.3)]


def test_admitted_requests_wait_until_scheduled_then_run() -> None:
    """Three prompts of 3,000 tokens at once into four slots: each computes for
    3000 / 990.1 = 3.03 s, one after another, from 10.0. vLLM schedules a request in
    the first step (of 1.01 s, from 10.0) with budget left after the prompts ahead: the
    second at 10.0 + ceil((3.03 - 1.01) / 1.01) x 1.01 = 12.02, the third at 15.05.
    Until then it counts as waiting (vllm:num_requests_waiting), after as running."""
    log, gateway, engine = _engine([10.0] * 3, [3000] * 3, [10] * 3, _profile())
    _step(gateway, engine, 10.0, 10.5)
    assert len(engine.ids) == 3
    assert not engine.waiting
    assert list(log.started) == [10.0, _close(12.02), _close(15.05)]
    # From the instant it is scheduled, a request runs.
    at_second = float(log.started[1])
    for now, waiting, running in ((11.0, 2, 1), (at_second, 1, 2), (15.5, 0, 3)):
        assert (engine.waiting_at(now), engine.running_at(now)) == (waiting, running), now


@pytest.mark.parametrize(("second_prompt", "admitted"), [(500, 2), (501, 1)])
def test_a_prompt_that_exactly_fills_the_kv_cache_is_admitted(
    second_prompt: int, admitted: int
) -> None:
    """A cache of 1,000 tokens: 500 + 500 fit, 500 + 501 wait for space."""
    _, gateway, engine = _engine(
        [0.0, 0.0], [500, second_prompt], [100, 100], _profile(kv_cache_tokens=1000)
    )
    _step(gateway, engine, 0.0, 0.5)
    assert (len(engine.ids), len(engine.waiting)) == (admitted, 2 - admitted)


def test_decode_pace_counts_sequences_and_the_kv_held_mid_step() -> None:
    """A decodes while B's 500-token prompt computes through the step [0.5, 1.0).

    B's prompt computes at 1000 x 0.999 / step(A alone) tokens/s from 0.5 and is not done
    by 1.0 (about 0.516 s). Mid-step, at 0.75, the cache holds A's context and the half
    of B's prompt computed by then; an iteration takes 10 ms + 1 ms x 1 decoding + 10 us
    x those tokens, and decode gets the step less the prefill share of its 0.5 s."""
    profile = _profile(per_sequence=0.001, per_kv_token=1e-5)
    log, gateway, engine = _engine([0.0, 0.5], [200, 500], [1000, 1000], profile)
    _step(gateway, engine, 0.0, 0.5)
    context_a, remaining_a = float(engine.context[0]), float(engine.remaining[0])
    rate = 1000 * 0.999 / (0.999 + 0.01 + 0.001 + 1e-5 * context_a)
    first_b = 0.5 + 500 / rate
    kv_mid = context_a + 500 * (0.75 - 0.5) / (first_b - 0.5)
    share = 0.999 / (0.999 + 0.01 + 0.001 + 1e-5 * kv_mid)
    tokens_a = 0.5 * (1 - share) / (0.01 + 0.001 + 1e-5 * kv_mid)
    _step(gateway, engine, 0.5, 1.0)
    assert first_b > 1.0
    assert np.isnan(log.first_token[1])
    assert engine.remaining[0] == _close(remaining_a - tokens_a)
    assert engine.remaining[1] == 999  # B decodes nothing before its first token
    assert engine.held_kv(1.0) == _close(context_a + tokens_a + 500 * (1.0 - 0.5) / (first_b - 0.5))


def test_a_full_kv_cache_preempts_the_newest_sequence_which_resumes_later() -> None:
    """Two prompts of 450 tokens in a cache of 1,000: both fit, and each generated token
    takes one more. Past 1,000 the newer (B) is preempted: it leaves the batch, waits at
    the head of the queue, and comes back once A is done, reserving its prompt plus the
    tokens it had generated (vLLM recomputes them), to generate only what was left."""
    profile = _profile(kv_cache_tokens=1000)
    log, gateway, engine = _engine([0.0, 0.0], [450, 450], [200, 200], profile)
    t = 0.0
    while not engine.counters.preemptions:
        _step(gateway, engine, t, t + 0.5)
        t += 0.5
        assert t < 10
    assert engine.counters.preemptions == 1
    assert list(engine.ids) == [0]
    assert list(engine.waiting) == [1]
    assert engine.running_at(t) == 1
    left = engine.resume[1]
    generated = 199 - left
    assert 0 < generated < 199
    resumed = False
    while log.outcome[1] != Outcome.SERVED:
        _step(gateway, engine, t, t + 0.5)
        t += 0.5
        if list(engine.ids) == [1] and 1 not in engine.resume:
            # Computed again on admission: its prompt and the tokens it had generated.
            assert engine.prompt[0] == _close(450 + generated)
            resumed = True
        assert t < 60
    assert resumed
    assert log.outcome[0] == Outcome.SERVED
    assert engine.counters.preemptions == 1
    # Each token was generated once, the recomputed ones not again; each prompt counted once.
    assert engine.counters.generation_tokens == _close(400)
    assert engine.counters.prompt_tokens == 900
    assert engine.counters.successes == 2
