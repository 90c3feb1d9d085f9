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
from simulations.lws_model import ColdStartModel, LwsModel
from simulations.profile import load_profile
from simulations.serving import GroupEngine, Outcome, RequestLog
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
    assert result.gpu_hours == pytest.approx(expected, rel=1e-3)


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
