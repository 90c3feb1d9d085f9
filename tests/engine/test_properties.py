"""Invariants of ``decide`` over random policies and random multi-step sequences.

Each example draws a policy and a sequence of (seconds elapsed, snapshot or None),
either with garbage mixed in (NaN, infinities, negative gauges, stale and future
samples, vanished leaders) or well-formed a phase at a time (idle, calm, busy), drives
``decide`` with a manual clock, and checks after every step:

- the recommendation is within ``[min, max]`` (the floor is 1 once idle for
  ``idleAfter`` with scale-to-zero on); 0 only at zero or from one group idle for
  ``idleAfter``; None only as the missing-data policy allows; a hold repeats exactly
  the last recommendation made on known state, a fallback is ``fallbackReplicas``;
- while the queue is above its target, never below the ready + starting groups;
- only a draining policy names draining leaders, all of groups that exist under the
  current size, and it either holds the current size or removes exactly those groups;
- no recommendation above the current size unless a proposal or the forecast asks for
  more (step limits and windows may hold a change back, never reverse it);
- ``isolatedBurst`` limits the queue's proposal to ``maxGroups`` above the size it
  compares with, and only after ``calmFor`` of decisions, none more than ``staleAfter``
  apart, that each had a snapshot and a usable queue at or below target;
- the same inputs give the same outputs, including the whole sequence replayed;
- absurd but finite samples (1e308 on two leaders, a TTFT of 1e300 s against a target
  of a microsecond) never raise and never leave the bounds: their overflowing sums and
  ratios make the signal unusable.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, find, given, note, settings
from hypothesis import strategies as st

from autoscaler.engine import Decision, EngineState, ReasonCode, decide
from autoscaler.engine.schedule import floor_at
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample, group_index
from tests.engine.factories import KEY, T0, make_policy
from tests.support.examples import examples

QUEUE_TARGET = 10.0
STALE_AFTER = 60.0
ACTIVITY = (Signal.QUEUE_DEPTH, Signal.RUNNING, Signal.PROMPT_TOKENS, Signal.GENERATION_TOKENS)


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(1, 3))
    high = low + draw(st.integers(0, 6))
    queue = {"type": "queueDepth", "targetPerGroup": QUEUE_TARGET}
    signals: list[dict[str, Any]] = [
        {**queue, "sustainedFor": draw(st.sampled_from([0, 0, 30, 120]))}
    ]
    burst = draw(st.sampled_from([None, None, {"calmFor": 60}, {"calmFor": 120, "maxGroups": 2}]))
    if burst is not None:
        signals[0]["isolatedBurst"] = burst
    if draw(st.booleans()):
        signals.append({"type": "kvCacheUtilization", "target": 0.7})
    if draw(st.booleans()):
        signals.append({"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 500})
    then = draw(st.sampled_from(["noRecommendation", "fallback"]))
    missing: dict[str, Any] = {"holdFor": draw(st.sampled_from([0, 60, 300])), "then": then}
    if then == "fallback":
        missing["fallbackReplicas"] = draw(st.integers(low, high))
    # T0 is 13:46:40 UTC: windows that open, close or hold during the sequences.
    schedules = [
        {"name": "s", "start": start, "end": end, "minReplicas": draw(st.integers(1, high))}
        | {"prewarm": draw(st.booleans())}
        for start, end in draw(
            st.sampled_from(
                [[], [], [("13:48", "13:55")], [("13:40", "14:00")], [("14:00", "13:50")]]
            )
        )
    ]
    step_up = draw(st.sampled_from([None, {"groups": 2, "period": 60}]))
    step_down = draw(st.sampled_from([None, {"groups": 1, "percent": 50, "period": 120}]))
    return make_policy(
        replicas={"min": low, "max": high},
        signals=signals,
        metrics={"staleAfter": STALE_AFTER},
        tolerance=draw(st.sampled_from([0.0, 0.1])),
        coldStart={"expected": 120, "learn": draw(st.booleans()), "minObservations": 1},
        scaleUp={
            "stabilizationWindow": draw(st.sampled_from([0, 60])),
            "maxStep": step_up,
            "forecast": {"enabled": draw(st.booleans()), "lookback": 120},
        },
        scaleDown={
            "stabilizationWindow": draw(st.sampled_from([0, 120, 600])),
            "maxStep": step_down,
            "minGroupAge": draw(st.sampled_from([0, 300])),
            "spareGroups": draw(st.sampled_from([0, 0.6])),
            "removeStartingGroups": draw(st.booleans()),
            "holdWhileIdle": draw(st.booleans()),
            "drain": {"enabled": draw(st.booleans()), "timeout": draw(st.sampled_from([30, 120]))},
        },
        scaleToZero={
            "enabled": draw(st.booleans()),
            "idleAfter": draw(st.sampled_from([0, 90, 300])),
            "activation": {"query": "gateway", "threshold": 0.5},
        },
        missingMetrics=missing,
        schedules=schedules,
    )


GOOD = st.one_of(st.just(0.0), st.floats(0, 100), st.floats(0, 1e9))
GARBAGE = st.sampled_from([math.nan, math.inf, -math.inf, -1.0])
VALUES = st.one_of(GOOD, GOOD, GOOD, GARBAGE, st.none())
AGES = st.sampled_from([0.0, 0.0, 0.0, 10.0, 600.0, -3600.0])  # fresh, stale, future


@st.composite
def snapshots(draw: st.DrawFn, now: float) -> LwsSnapshot | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    ready = draw(st.integers(0, 6))
    starting = draw(st.integers(0, 3))
    current = draw(st.one_of(st.just(ready + starting), st.integers(0, 9)))
    reporting = draw(st.one_of(st.just(ready), st.integers(0, ready)))
    leaders = {}
    for index in range(reporting):
        samples = {}
        for signal in (*ACTIVITY, Signal.KV_CACHE):
            value = draw(VALUES)
            if signal is Signal.KV_CACHE and value is not None and math.isfinite(value):
                value = draw(st.floats(0, 1.5))
            if value is not None:
                samples[signal] = Sample(value, now - draw(AGES))
        leaders[str(index)] = samples
    aggregates = {}
    activation = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.2, 3.0]), GARBAGE))
    if activation is not None:
        aggregates[Signal.ACTIVATION] = Sample(activation, now)
    groups: tuple[GroupStatus, ...] = ()
    if draw(st.booleans()):
        ages = [draw(st.sampled_from([30.0, 400.0, 5000.0])) for _ in range(ready)]
        groups = tuple(GroupStatus(i, now - age - 200, now - age) for i, age in enumerate(ages))
        groups += tuple(GroupStatus(ready + i, now - 50) for i in range(starting))
    return LwsSnapshot(KEY, now, current, ready + starting, ready, groups, leaders, aggregates)


@dataclass(frozen=True)
class Step:
    now: float
    snapshot: LwsSnapshot | None


@st.composite
def wild_sequences(draw: st.DrawFn) -> list[Step]:
    steps, now = [], T0
    for _ in range(draw(st.integers(1, 25))):
        now += draw(st.sampled_from([1.0, 15.0, 30.0, 30.0, 60.0, 200.0, 700.0]))
        steps.append(Step(now, draw(snapshots(now))))
    return steps


# Per leader, by phase: waiting requests (calm: at or below the target of 10), running
# requests, tokens/s of each counter. The gateway reports traffic unless idle.
PHASES: dict[str, dict[str, st.SearchStrategy[float]]] = {
    "idle": {"queue": st.just(0.0), "running": st.just(0.0), "tokens": st.just(0.0)},
    "calm": {
        "queue": st.sampled_from([0.0, 2.0, 5.0, 10.0]),
        "running": st.sampled_from([0.0, 1.0, 3.0]),
        "tokens": st.sampled_from([0.0, 100.0, 300.0]),
    },
    "busy": {
        "queue": st.sampled_from([15.0, 40.0, 120.0]),
        "running": st.sampled_from([1.0, 3.0]),
        "tokens": st.sampled_from([300.0, 900.0]),
    },
}


@st.composite
def clean_snapshots(draw: st.DrawFn, now: float, size: int, phase: str) -> LwsSnapshot:
    """``size`` groups, ready for long, every leader reporting every gauge fresh."""
    values = PHASES[phase]
    leaders = {}
    for index in range(size):
        tokens = draw(values["tokens"])
        leaders[str(index)] = {
            Signal.QUEUE_DEPTH: Sample(draw(values["queue"]), now),
            Signal.RUNNING: Sample(draw(values["running"]), now),
            Signal.PROMPT_TOKENS: Sample(tokens, now),
            Signal.GENERATION_TOKENS: Sample(tokens, now),
            Signal.KV_CACHE: Sample(0.0 if phase == "idle" else draw(st.floats(0.05, 0.95)), now),
        }
    activation = Sample(0.0 if phase == "idle" else 3.0, now)
    groups = tuple(GroupStatus(i, now - 5200, now - 5000) for i in range(size))
    return LwsSnapshot(KEY, now, size, size, size, groups, leaders, {Signal.ACTIVATION: activation})


@st.composite
def clean_sequences(draw: st.DrawFn) -> list[Step]:
    """Well-formed data a phase at a time, decisions 15-30 s apart on one size per phase:
    idle, calm or busy. The wild draws mostly hold, or block a scale-down (it needs every
    signal usable from every leader, which garbage on any one of them prevents); these
    reach the rules that act: scale-down, drain, scale-to-zero, the isolated-burst limit."""
    steps, now, size = [], T0, draw(st.integers(0, 4))
    for _ in range(draw(st.integers(1, 4))):
        phase = draw(st.sampled_from(["idle", "calm", "calm", "busy"]))
        size = draw(st.one_of(st.just(size), st.integers(0, 4)))  # often the same groups
        for _ in range(draw(st.integers(1, 3 if phase == "busy" else 25))):
            now += draw(st.sampled_from([15.0, 15.0, 30.0]))
            steps.append(Step(now, draw(clean_snapshots(now, size, phase))))
    return steps


def sequences() -> st.SearchStrategy[list[Step]]:
    return st.one_of(wild_sequences(), clean_sequences())


def _run(policy: ScalingPolicy, steps: list[Step]) -> list[tuple[Decision, EngineState]]:
    state, out = EngineState(), []
    for step in steps:
        decision, state = decide(policy, step.snapshot, state, step.now)
        out.append((decision, state))
    return out


def _fresh(sample: Sample | None, now: float) -> float | None:
    """The test's own reading of a sample, independent of the engine's."""
    if sample is None or not math.isfinite(sample.value) or sample.value < 0:
        return None
    return sample.value if 0 <= now - sample.timestamp <= STALE_AFTER else None


def _idle(snap: LwsSnapshot | None, now: float) -> bool:
    """All ready leaders report, each with a fresh activity sample, all zero."""
    if snap is None or not snap.leaders or len(snap.leaders) < snap.ready_replicas:
        return False
    for samples in snap.leaders.values():
        seen = [_fresh(samples.get(s), now) for s in ACTIVITY]
        fresh = [v for v in seen if v is not None]
        if not fresh or any(v > 0 for v in fresh):
            return False
    activation = _fresh(snap.aggregates.get(Signal.ACTIVATION), now)
    return activation is None or activation <= 0.5


def _quiet_while_unready(snap: LwsSnapshot | None, now: float) -> bool:
    """No group ready, and a fresh activation at or below its threshold (0.5): nobody
    asks for the groups that are starting."""
    if snap is None or snap.spec_replicas == 0 or snap.ready_replicas:
        return False
    activation = _fresh(snap.aggregates.get(Signal.ACTIVATION), now)
    return activation is not None and activation <= 0.5


def _queue_total(snap: LwsSnapshot | None, now: float) -> tuple[float, int] | None:
    """(total waiting over all ready groups, groups it is spread over), or None."""
    if snap is None or snap.spec_replicas == 0:
        return None
    values = [_fresh(s.get(Signal.QUEUE_DEPTH), now) for s in snap.leaders.values()]
    usable = [v for v in values if v is not None]
    if not usable:
        return None
    total = math.fsum(usable)
    if len(usable) < snap.ready_replicas:  # silent leaders carry the average
        total *= snap.ready_replicas / len(usable)
    return total, max(snap.ready_replicas, len(usable))


def _queue_above_target(
    reading: tuple[float, int] | None, now: float, history: list[tuple[float, float]], window: float
) -> bool:
    """``sustainedFor``: the lowest total of the decisions in the window must be above."""
    if reading is None:
        return False
    total, groups = reading
    if window > 0:
        total = min([total, *(v for t, v in history if now - window <= t)])
    return total / groups > QUEUE_TARGET


@settings(max_examples=examples(250), deadline=None)
@given(policy=policies(), steps=sequences())
def test_invariants_hold_over_random_sequences(policy: ScalingPolicy, steps: list[Step]) -> None:
    bounds, stz = policy.spec.replicas, policy.spec.scale_to_zero
    missing = policy.spec.missing_metrics
    idle_since: float | None = None
    last_good: int | None = None  # the last recommendation made on known state
    window = policy.spec.signals[0].sustained_for  # type: ignore[union-attr]
    totals: list[tuple[float, float]] = []  # queue totals of earlier scaling decisions
    for step, (decision, _) in zip(steps, _run(policy, steps), strict=True):
        snap, rec = step.snapshot, decision.replicas
        queue = _queue_total(snap, step.now)
        queue_above = _queue_above_target(queue, step.now, totals, window)
        if queue is not None:
            totals.append((step.now, queue[0]))
        note(f"t={step.now}: {snap}\n{decision.explain()}")
        if _idle(snap, step.now) or _quiet_while_unready(snap, step.now):
            idle_since = step.now if idle_since is None else idle_since
        else:
            idle_since = None
        idle_long = idle_since is not None and step.now - idle_since >= stz.idle_after
        codes = {r.code for r in decision.reasons}
        # A schedule's floor raises whatever the rules below give (docs/engine.md §8).
        scheduled = floor_at(policy.spec, step.now, decision.cold_start_seconds).groups

        def raised(value: int, floor: int = scheduled) -> int:
            if value == 0 and floor:
                # Kept from zero, or woken from it, the LWS serves with replicas.min at
                # least (docs/engine.md §8, ``schedule.raise_to_floor``).
                return max(floor, bounds.min)
            return max(value, floor)

        if rec is not None and scheduled:
            assert rec >= scheduled
        if decision.draining:
            assert policy.spec.scale_down.drain.enabled
            assert snap is not None
            assert rec is not None
            indices = [group_index(pod, KEY.name) for pod in decision.draining]
            assert all(i is not None and i < snap.spec_replicas for i in indices)
            assert rec == snap.spec_replicas or rec == min(i for i in indices if i is not None)
        if ReasonCode.HOLD in codes:
            # Holding repeats the last good value; before any, the current size.
            if last_good is not None:
                assert rec == raised(last_good)
            elif snap is not None:
                assert rec == raised(min(max(snap.spec_replicas, bounds.min), bounds.max))
            else:
                assert rec is None
            continue
        if ReasonCode.FALLBACK in codes:
            # A floor over what the hold would repeat, never a cut below it.
            held = last_good
            if held is None and snap is not None:
                held = min(max(snap.spec_replicas, bounds.min), bounds.max)
            floor = missing.fallback_replicas
            assert floor is not None
            assert rec == raised(floor if held is None else max(floor, held))
            continue
        if rec is None:
            assert ReasonCode.NO_RECOMMENDATION in codes
            assert missing.then == "noRecommendation"
            continue
        last_good = rec
        assert snap is not None
        if rec == 0:
            assert stz.enabled
            if snap.spec_replicas == 0:
                assert ReasonCode.AT_ZERO in codes
            else:  # only after idleAfter of idleness, and from one group that serves
                assert ReasonCode.SCALE_TO_ZERO in codes
                assert idle_long
                if snap.ready_replicas:
                    assert snap.spec_replicas == 1
                # else: a start given up, no group serves (nothing to drain)
            continue
        assert 1 <= rec <= bounds.max
        if rec < bounds.min:  # the floor drops to 1 only on the way to zero
            assert stz.enabled
            assert idle_long
        # A drain too: load returning while one runs keeps the groups it was taking away
        # (tests/engine/test_drain.py, test_load_returning_..._calls_the_drain_off).
        if queue_above:
            existing = snap.ready_replicas + snap.starting_replicas
            assert rec >= min(bounds.max, existing)
        current = snap.spec_replicas
        asks_more = any((p.replicas or 0) > current for p in decision.proposals) or (
            decision.forecast is not None and decision.forecast > current
        )
        asks_more = asks_more or scheduled > current
        held_back_only = ReasonCode.PRESSURE not in codes and not asks_more
        if bounds.min <= current <= bounds.max and held_back_only:
            # Step limits and windows only hold a change back, never reverse it.
            assert rec <= current


@pytest.mark.parametrize(
    "code", [ReasonCode.DRAINING, ReasonCode.SCALE_TO_ZERO, ReasonCode.ISOLATED_BURST]
)
def test_the_draws_reach_the_rules_the_invariants_check(code: ReasonCode) -> None:
    """The invariants of a drain, of going to zero and of the burst limit are checked only
    where those rules act. The garbage-laden draws alone never drained nor went to zero
    (a drain needs a scale-down, which one unusable sample blocks), so those checks had
    passed without running; the well-formed phases reach each rule."""

    def reaches(drawn: tuple[ScalingPolicy, list[Step]]) -> bool:
        return any(code in {r.code for r in d.reasons} for d, _ in _run(*drawn))

    # A fixed Random is not enough for the same examples every run: Hypothesis also draws
    # constants found in the modules imported so far, which differ with the tests run
    # before. Over ten seeds each rule took 20 to 638 draws to reach (a mean of about
    # 250): 600 missed about one time in ten, so the search stops at the first hit and
    # allows 5,000 (a miss about e**-20). The usual run costs the same.
    quick = settings(max_examples=5000, database=None, phases=[Phase.generate])
    drawn = st.tuples(policies(), sequences()).map(reaches)
    assert find(drawn, bool, settings=quick, random=random.Random(20261125))


@settings(max_examples=examples(60), deadline=None)
@given(policy=policies(), steps=sequences())
def test_same_inputs_same_outputs_including_a_replayed_sequence(
    policy: ScalingPolicy, steps: list[Step]
) -> None:
    first, second = _run(policy, steps), _run(policy, steps)
    assert first == second
    # Each single step is also a function of its inputs alone.
    state = EngineState()
    for step, (decision, next_state) in zip(steps, first, strict=True):
        assert decide(policy, step.snapshot, state, step.now) == (decision, next_state)
        state = next_state


@settings(max_examples=examples(200), deadline=None)
@given(policy=policies(), steps=sequences())
def test_isolated_burst_is_limited_only_after_observed_calm(
    policy: ScalingPolicy, steps: list[Step]
) -> None:
    queue_spec = policy.spec.signals[0]
    burst = queue_spec.isolated_burst  # type: ignore[union-attr]
    calm_start: float | None = None  # the test's own account of the calm stretch
    previous: float | None = None
    for step, (decision, _) in zip(steps, _run(policy, steps), strict=True):
        note(f"t={step.now}: {step.snapshot}\n{decision.explain()}")
        limited = ReasonCode.ISOLATED_BURST in {r.code for r in decision.reasons}
        queue = decision.proposals[0] if decision.proposals else None
        if previous is not None and step.now - previous > STALE_AFTER:
            calm_start = None
        previous = step.now
        if limited:
            assert burst is not None
            assert queue is not None
            assert queue.usable
            assert queue.above_target
            assert decision.current is not None
            assert queue.replicas is not None
            assert queue.replicas <= decision.current + burst.max_groups
            assert calm_start is not None
            assert step.now - calm_start >= burst.calm_for
        calm = (
            step.snapshot is not None
            and step.snapshot.spec_replicas > 0
            and queue is not None
            and queue.name == "queueDepth"
            and queue.usable
            and not queue.above_target
        )
        calm_start = (step.now if calm_start is None else calm_start) if calm else None


# Finite but absurd: each passes the sample filter, their sums, ratios and squares do not
# stay finite (1e154 squared is the float limit; 1e308 twice is infinity).
HUGE = st.sampled_from([1e154, 1e200, 1e300, 1e308, sys.float_info.max])
EXTREME = st.one_of(st.just(0.0), st.floats(0, 100), HUGE, HUGE, GARBAGE, st.none())


@st.composite
def extreme_policies(draw: st.DrawFn) -> ScalingPolicy:
    low = draw(st.integers(1, 3))
    kinds = [
        {"type": "queueDepth", "targetPerGroup": draw(st.sampled_from([1e-6, 10.0]))},
        {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 1e-6},
        {"type": "ttft", "targetSeconds": draw(st.sampled_from([1e-6, 2.0]))},
        {"type": "queueWait", "targetSeconds": 1.0},
        {"type": "kvCacheUtilization", "target": 0.5},
    ]
    signals = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique_by=str))
    step = st.sampled_from([None, {"percent": 10_000}, {"groups": 1, "percent": 0.01}])
    return make_policy(
        replicas={"min": low, "max": low + draw(st.integers(0, 6))},
        signals=signals,
        metrics={"staleAfter": STALE_AFTER, "rateWindow": 30},
        scaleUp={"maxStep": draw(step), "forecast": {"enabled": True, "lookback": 60}},
        scaleDown={
            "maxStep": draw(step),
            "drain": {"enabled": draw(st.booleans()), "timeout": 30},
        },
        scaleToZero={
            "enabled": draw(st.booleans()),
            "idleAfter": 0,
            "activation": {"query": "gateway", "threshold": 0.5},
        },
        missingMetrics={"holdFor": 60, "then": "noRecommendation"},
    )


@st.composite
def extreme_snapshots(draw: st.DrawFn, now: float) -> LwsSnapshot:
    ready = draw(st.integers(0, 4))
    current = draw(st.one_of(st.just(ready), st.integers(0, 5)))
    reporting = draw(st.integers(0, ready))
    leaders = {
        str(index): {
            signal: Sample(value, now)
            for signal in (*ACTIVITY, Signal.KV_CACHE)
            if (value := draw(EXTREME)) is not None
        }
        for index in range(reporting)
    }
    aggregates = {
        signal: Sample(value, now)
        for signal in (Signal.TTFT, Signal.QUEUE_WAIT, Signal.ACTIVATION)
        if (value := draw(EXTREME)) is not None
    }
    groups = tuple(
        GroupStatus(i, now - 300, now - draw(st.sampled_from([10.0, 900.0]))) for i in range(ready)
    )
    return LwsSnapshot(KEY, now, current, ready, ready, groups, leaders, aggregates)


@settings(max_examples=examples(200), deadline=None)
@given(policy=extreme_policies(), data=st.data())
def test_absurd_values_never_raise_and_stay_within_bounds(
    policy: ScalingPolicy, data: st.DataObject
) -> None:
    """Non-finite arithmetic from finite samples is an unusable signal, never a crash
    (``ceil(inf)``) and never a recommendation outside ``[min, max]`` (0 only with
    scale-to-zero, 1 only once idle with it)."""
    bounds, stz = policy.spec.replicas, policy.spec.scale_to_zero
    state, now = EngineState(), T0
    for _ in range(data.draw(st.integers(1, 12))):
        now += data.draw(st.sampled_from([15.0, 30.0]))
        snap = data.draw(extreme_snapshots(now))
        decision, state = decide(policy, snap, state, now)
        note(decision.explain())
        rec = decision.replicas
        if rec is None:
            continue
        floor = 0 if stz.enabled else bounds.min
        assert floor <= rec <= bounds.max
        assert all(p.needed is None or math.isfinite(p.needed) for p in decision.proposals)
        assert decision.demand is None or math.isfinite(decision.demand)
