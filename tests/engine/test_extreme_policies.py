"""``decide`` at the extremes of what the policy schema accepts.

``test_properties`` and ``test_rule_invariants`` draw ordinary policies; here every
value sits at or near a bound the schema allows (``replicas.max`` = 2**31 - 1 or
``max == min == 1``, step limits of 2**31 - 1 groups or 10,000% or a thousandth of a
percent, windows of 0 s or one day, tolerance 0 or 0.99, 100 spare groups, a forecast
growth of 100, targets of a millionth or 1e12, cold starts of a millisecond or a year),
built through the loader's own entry (``policy_from_document``, so each is valid), over
short closed loops whose loads are large but finite (queues up to 1e12 per leader).
Sizes beyond a few hundred groups are counts-only snapshots: no per-group detail, a few
hundred leaders reporting, the rest silent.

After every decision:

- ``decide`` did not raise;
- the recommendation is None or an int in ``[replicas.min, replicas.max]`` (0 allowed
  with scale-to-zero);
- every reason is a short string (< 500 characters), the decision's numbers are finite,
  and the debug endpoint's JSON (``server/external_metrics._describe``, rebuilt here)
  and the recommended-replicas series render;
- no history keeps an entry older than the window it serves (before its newest), and
  none is longer than that window over the shortest interval between decisions, plus a
  few; a drain without group detail names at most ``MAX_DRAINED_GROUPS`` groups.

Cost (not timed here): with one-day windows at a 1 s cycle each of five histories holds
86,400 entries (42 MB per LWS) and a decision takes about 28 ms, against 0.2 ms with
10-minute windows: linear in window / interval.
"""

from __future__ import annotations

import json
import math
import resource
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from autoscaler.engine import Decision, EngineState, decide
from autoscaler.engine.context import _step_history_seconds
from autoscaler.engine.drain import MAX_DRAINED_GROUPS
from autoscaler.policy.fields import MAX_GROUPS, MAX_WINDOW_SECONDS, MIN_TARGET
from autoscaler.policy.loader import policy_from_document
from autoscaler.policy.model import QueueDepthSignal, ScalingPolicy
from autoscaler.server.external_metrics import _describe
from autoscaler.server.series import series_specs
from autoscaler.server.store import DecisionStore, StoredDecision
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample
from tests.engine.factories import KEY, T0

DAY = MAX_WINDOW_SECONDS
# Leaders and group details a test materialises; above it, counts only.
DETAIL_LIMIT = 300
REASON_LIMIT = 500

windows = st.sampled_from([0.0, 0.001, 1.0, 15.0, DAY - 1, DAY])
periods = st.sampled_from([0.001, 1.0, 60.0, DAY])
targets = st.sampled_from([MIN_TARGET, 2e-6, 0.5, 10.0, 1e6, 1e12, 1e300])
fractions = st.sampled_from([MIN_TARGET, 0.01, 0.5, 0.99, 1.0])


@st.composite
def step_limits(draw: st.DrawFn) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["none", "groups", "percent", "both"]))
    if kind == "none":
        return None
    limit: dict[str, Any] = {"period": draw(periods)}
    if kind in ("groups", "both"):
        limit["groups"] = draw(st.sampled_from([1, 2, 1000, MAX_GROUPS - 1, MAX_GROUPS]))
    if kind in ("percent", "both"):
        limit["percent"] = draw(st.sampled_from([1e-9, 0.001, 1.0, 99.999, 100.0, 9999.9, 1e4]))
    return limit


@st.composite
def signal_specs(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(
        st.sets(
            st.sampled_from(
                ["queueDepth", "kvCacheUtilization", "tokenThroughput", "ttft", "queueWait"]
            ),
            min_size=1,
        )
    )
    specs: list[dict[str, Any]] = []
    for kind in sorted(chosen):
        if kind == "queueDepth":
            queue: dict[str, Any] = {"type": kind, "targetPerGroup": draw(targets)}
            queue["sustainedFor"] = draw(windows)
            queue["holdWhileStarting"] = draw(st.booleans())
            if draw(st.booleans()):
                queue["isolatedBurst"] = {
                    "calmFor": draw(periods),
                    "maxGroups": draw(st.sampled_from([0, 1, MAX_GROUPS])),
                }
            specs.append(queue)
        elif kind == "kvCacheUtilization":
            specs.append({"type": kind, "target": draw(fractions)})
        elif kind == "tokenThroughput":
            specs.append(
                {
                    "type": kind,
                    "tokens": draw(st.sampled_from(["prompt", "generation", "total"])),
                    "capacityPerGroup": draw(targets),
                    "targetUtilization": draw(fractions),
                }
            )
        else:
            specs.append(
                {
                    "type": kind,
                    "targetSeconds": draw(targets),
                    "quantile": draw(st.sampled_from([1e-9, 0.5, 0.999999])),
                    "holdWhileStarting": draw(st.booleans()),
                }
            )
    return specs


@st.composite
def extreme_policies(draw: st.DrawFn) -> ScalingPolicy:
    low, high = draw(
        st.sampled_from(
            [
                (1, 1),
                (1, 2),
                (1, 300),
                (1, MAX_GROUPS),
                (100, MAX_GROUPS),
                (MAX_GROUPS - 1, MAX_GROUPS),
                (MAX_GROUPS, MAX_GROUPS),
            ]
        )
    )
    to_zero = draw(st.booleans())
    missing: dict[str, Any] = {"holdFor": draw(st.sampled_from([0.0, 15.0, 1e9]))}
    if draw(st.booleans()):
        missing |= {"then": "fallback", "fallbackReplicas": draw(st.sampled_from([low, high]))}
    expected = draw(st.sampled_from([0.001, 1.0, 300.0, DAY, 3.2e7]))
    spec: dict[str, Any] = {
        "target": {"namespace": KEY.namespace, "name": KEY.name},
        "replicas": {"min": low, "max": high},
        "metrics": {
            "rateWindow": draw(st.sampled_from([1.0, 60.0, DAY])),
            "staleAfter": draw(st.sampled_from([0.001, 60.0, 1e9])),
        },
        "signals": draw(signal_specs()),
        "tolerance": draw(st.sampled_from([0.0, 0.1, 0.99, 0.999999])),
        "coldStart": {
            "expected": expected,
            "learn": draw(st.booleans()),
            "minObservations": 1,
            "maxObservations": draw(st.sampled_from([1, 1000])),
            "quantile": draw(st.sampled_from([1e-9, 0.75, 0.999999])),
        },
        "scaleUp": {
            "stabilizationWindow": draw(windows),
            "maxStep": draw(step_limits()),
            "forecast": {
                "enabled": draw(st.booleans()),
                "lookback": draw(windows),
                "maxGrowth": draw(st.sampled_from([1.0, 2.0, 100.0])),
            },
        },
        "scaleDown": {
            "stabilizationWindow": draw(windows),
            "maxStep": draw(step_limits()),
            "minGroupAge": draw(st.sampled_from([0.0, 600.0, 1e9])),
            "spareGroups": draw(st.sampled_from([0.0, 0.5, 100.0])),
            "removeStartingGroups": draw(st.booleans()),
            "holdWhileIdle": draw(st.booleans()),
            "drain": {
                "enabled": draw(st.booleans()),
                "timeout": draw(st.sampled_from([0.001, 120.0, 1e9])),
            },
        },
        "scaleToZero": {
            "enabled": to_zero,
            "idleAfter": draw(st.sampled_from([0.0, 1.0, DAY])),
            **({"activation": {"query": "sum(rate(x[1m]))"}} if to_zero else {}),
        },
        "missingMetrics": missing,
    }
    return policy_from_document(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "extreme"},
            "spec": spec,
        }
    )


@dataclass(frozen=True)
class Load:
    """One step's load per reporting leader, and how the clock moves."""

    advance: float
    queue: float
    running: float
    kv: float
    tokens: float
    latency: float | None
    activation: float
    starting: int
    scrape_fails: bool


loads = st.builds(
    Load,
    advance=st.sampled_from([0.001, 1.0, 15.0, 600.0, DAY]),
    queue=st.sampled_from([0.0, 1.0, 1e6, 1e12]),
    running=st.sampled_from([0.0, 1.0, 1e9]),
    kv=st.sampled_from([0.0, 0.5, 1.0]),
    tokens=st.sampled_from([0.0, 1e3, 1e12]),
    latency=st.sampled_from([None, 0.0, 1e-9, 5.0, 1e9]),
    activation=st.sampled_from([0.0, 1.0, 1e12]),
    starting=st.sampled_from([0, 1, 250, MAX_GROUPS]),
    scrape_fails=st.booleans(),
)


def closed_loop_snapshot(now: float, size: int, load: Load, created: float) -> LwsSnapshot:
    """``size`` groups asked for, up to ``load.starting`` of them starting. Up to
    ``DETAIL_LIMIT`` ready groups report and carry group detail; above it, counts only
    and the first ``DETAIL_LIMIT`` leaders report (the rest are silent)."""
    starting = min(load.starting, size)
    ready = size - starting
    reporting = min(ready, DETAIL_LIMIT)
    samples = {
        Signal.QUEUE_DEPTH: Sample(load.queue, now),
        Signal.RUNNING: Sample(load.running, now),
        Signal.KV_CACHE: Sample(load.kv, now),
        Signal.PROMPT_TOKENS: Sample(load.tokens, now),
        Signal.GENERATION_TOKENS: Sample(load.tokens / 2, now),
    }
    groups: tuple[GroupStatus, ...] = ()
    if size <= DETAIL_LIMIT:
        groups = tuple(
            GroupStatus(i, created, None if i >= ready else created + 1.0) for i in range(size)
        )
    aggregates = {Signal.ACTIVATION: Sample(load.activation, now)}
    if load.latency is not None:
        aggregates[Signal.TTFT] = Sample(load.latency, now)
        aggregates[Signal.QUEUE_WAIT] = Sample(load.latency / 10, now)
    return LwsSnapshot(
        key=KEY,
        observed_at=now,
        spec_replicas=size,
        status_replicas=size,
        ready_replicas=ready,
        groups=groups,
        leaders={str(i): samples for i in range(reporting)},
        aggregates=aggregates,
    )


def check_decision(policy: ScalingPolicy, decision: Decision) -> None:
    bounds = policy.spec.replicas
    rec = decision.replicas
    if rec is not None:
        assert type(rec) is int, rec
        low = 0 if policy.spec.scale_to_zero.enabled else bounds.min
        assert low <= rec <= bounds.max, (rec, low, bounds.max)
    for reason in decision.reasons:
        assert isinstance(reason.message, str)
        assert len(reason.message) < REASON_LIMIT, reason
    # The debug endpoint's body, serialised with json.dumps: a NaN or an infinity would
    # be written as the non-JSON tokens NaN / Infinity.
    stored, store = StoredDecision(policy, decision), DecisionStore(max_age=60)
    body = _describe(stored, store, decision.at, None)
    json.dumps(body, allow_nan=False)
    for series in series_specs(policy, decision):
        if series.metric.endswith("recommended_replicas"):
            series.render(decision)


def check_state(policy: ScalingPolicy, state: EngineState, now: float, shortest: float) -> None:
    spec = policy.spec
    step = _step_history_seconds(spec)
    keeps = {
        "targets": max(spec.scale_up.stabilization_window, spec.scale_down.stabilization_window),
        "sizes": step,
        "demand": spec.scale_up.forecast.lookback,
        "queue_totals": max(
            [s.sustained_for for s in spec.signals if isinstance(s, QueueDepthSignal)],
            default=0.0,
        ),
    }
    for name, keep in keeps.items():
        history = getattr(state, name)
        # Trimmed when appended to: nothing older than the window before the newest entry.
        newest = history[-1][0] if history else now
        assert all(t >= newest - keep for t, _ in history), (name, keep, history[:3])
        assert len(history) <= keep / shortest + 3, (name, len(history), keep, shortest)
    assert len(state.start_durations) <= spec.cold_start.max_observations
    assert len(state.seen_starts) <= DETAIL_LIMIT
    # Without group detail, a drain takes at most MAX_DRAINED_GROUPS ready groups.
    assert len(state.draining) <= MAX_DRAINED_GROUPS + DETAIL_LIMIT


def run_closed_loop(policy: ScalingPolicy, start: int, steps: list[Load]) -> None:
    """The next snapshot's size follows the recommendation (None keeps the size)."""
    now, state, size = T0, EngineState(), start
    created = T0 - 10.0
    shortest = math.inf
    for index, load in enumerate(steps):
        if index:
            now += load.advance
            shortest = min(shortest, load.advance)
        snap = None if load.scrape_fails else closed_loop_snapshot(now, size, load, created)
        decision, state = decide(policy, snap, state, now)
        note(f"step {index}: size {size} -> {decision.replicas} {decision.reasons}")
        check_decision(policy, decision)
        check_state(policy, state, now, shortest)
        if decision.replicas is not None:
            if decision.replicas > size:
                created = now  # the new groups were just created
            size = decision.replicas


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    policy=extreme_policies(),
    start=st.sampled_from([0, 1, 2, 300, MAX_GROUPS - 1, MAX_GROUPS]),
    steps=st.lists(loads, min_size=1, max_size=10),
)
def test_extreme_policies_in_a_closed_loop(
    policy: ScalingPolicy, start: int, steps: list[Load]
) -> None:
    run_closed_loop(policy, start, steps)


# Reproducers, one row per defect the properties found.

DRAIN_POLICY: dict[str, Any] = {
    "target": {"namespace": KEY.namespace, "name": KEY.name},
    "replicas": {"min": 1, "max": MAX_GROUPS},
    "signals": [{"type": "ttft", "targetSeconds": 1}],
    "coldStart": {"learn": False},
    "scaleUp": {"forecast": {"enabled": False}},
    "scaleDown": {
        "stabilizationWindow": 0,
        "maxStep": None,
        "minGroupAge": 0,
        "drain": {"enabled": True},
    },
}


def _policy(spec: dict[str, Any]) -> ScalingPolicy:
    return policy_from_document(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "extreme"},
            "spec": spec,
        }
    )


@pytest.mark.parametrize(
    ("ready", "detail", "recommended", "drained", "longest_reason"),
    [
        # Counts only, 2**31 - 1 ready groups idle: the drain enumerated 2**31 - 2 of
        # them (memory ran out); now it takes the top 1,000 first.
        (MAX_GROUPS, False, MAX_GROUPS, 1000, 200),
        # 100,000: 80 ms, 99,999 drained leaders and a 688,523-character reason.
        (100_000, False, 100_000, 1000, 200),
        # 300 groups with detail: a reason listing 299 indices (1,400 characters); now
        # "1-299". Not capped: the detail bounds the drain already.
        (300, True, 300, 299, 200),
        # Below the cap nothing changes: 1,000 ready groups needing 1 (2 with the
        # tolerance's headroom) drain 998 at once.
        (1000, False, 1000, 998, 200),
    ],
)
def test_drain_of_a_huge_idle_fleet_is_bounded(
    ready: int, detail: bool, recommended: int, drained: int, longest_reason: int
) -> None:
    policy = _policy(DRAIN_POLICY)
    groups = tuple(GroupStatus(i, T0 - 600, T0 - 300) for i in range(ready)) if detail else ()
    snap = LwsSnapshot(
        key=KEY,
        observed_at=T0,
        spec_replicas=ready,
        status_replicas=ready,
        ready_replicas=ready,
        groups=groups,
        aggregates={Signal.TTFT: Sample(0.001, T0)},
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decision, state = decide(policy, snap, EngineState(), T0)
    # Less than 100 MB more at most: 2**31 entries would take hundreds of gigabytes.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000
    assert decision.replicas == recommended  # held while the drained groups finish
    assert len(decision.draining) == len(state.draining) == drained
    assert max(len(r.message) for r in decision.reasons) < longest_reason
