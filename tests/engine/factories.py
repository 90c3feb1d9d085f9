"""Small factories for engine tests: policies from YAML-shaped dicts, snapshots from
per-leader values, and a manual clock that drives ``decide`` over a sequence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autoscaler.engine import Decision, EngineState, decide
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample

KEY = LwsKey("inference", "model")
T0 = 1_000_000.0

# A policy with every timing switched off, so each rule test switches on only its own.
BASE_SPEC: dict[str, Any] = {
    "target": {"namespace": KEY.namespace, "name": KEY.name},
    "replicas": {"min": 1, "max": 10},
    "signals": [{"type": "queueDepth", "targetPerGroup": 10}],
    "tolerance": 0.1,
    "coldStart": {"expected": "5m", "learn": False},
    "scaleUp": {"stabilizationWindow": 0, "maxStep": None, "forecast": {"enabled": False}},
    "scaleDown": {
        "stabilizationWindow": 0,
        "maxStep": None,
        "minGroupAge": 0,
        "removeStartingGroups": False,
    },
    "missingMetrics": {"holdFor": "5m", "then": "noRecommendation"},
}


# A throughput signal of 1,000 generated tokens/s a group, at full utilisation.
GENERATION_1000: dict[str, Any] = {
    "type": "tokenThroughput",
    "tokens": "generation",
    "capacityPerGroup": 1000,
    "targetUtilization": 1.0,
}


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def make_policy(**spec: Any) -> ScalingPolicy:
    """``make_policy(replicas={"max": 4})``: BASE_SPEC with nested mappings merged."""
    return ScalingPolicy.model_validate(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": "test"},
            "spec": _merge(BASE_SPEC, spec),
        }
    )


def leaders(
    now: float, age: float = 0.0, **per_signal: Sequence[float | None]
) -> dict[str, dict[Signal, Sample]]:
    """``leaders(now, queue=[12, 4])``: leader i reports value i of each signal (None: absent).

    Keyword names: queue, running, kv, prompt, generation.
    """
    names = {
        "queue": Signal.QUEUE_DEPTH,
        "running": Signal.RUNNING,
        "kv": Signal.KV_CACHE,
        "prompt": Signal.PROMPT_TOKENS,
        "generation": Signal.GENERATION_TOKENS,
    }
    result: dict[str, dict[Signal, Sample]] = {}
    for name, values in per_signal.items():
        for index, value in enumerate(values):
            samples = result.setdefault(str(index), {})
            if value is not None:
                samples[names[name]] = Sample(value, now - age)
    return result


def snapshot(
    now: float,
    *,
    current: int | None = None,
    ready: int | None = None,
    starting: int = 0,
    groups: Sequence[GroupStatus] = (),
    aggregates: Mapping[Signal, float] | None = None,
    age: float = 0.0,
    **per_signal: Sequence[float | None],
) -> LwsSnapshot:
    """Counts default to one ready group per leader value; ``current`` to ready+starting."""
    by_leader = leaders(now, age, **per_signal)
    ready = len(by_leader) if ready is None else ready
    current = ready + starting if current is None else current
    return LwsSnapshot(
        key=KEY,
        observed_at=now,
        spec_replicas=current,
        status_replicas=ready + starting,
        ready_replicas=ready,
        groups=tuple(groups),
        leaders=by_leader,
        aggregates={s: Sample(v, now - age) for s, v in (aggregates or {}).items()},
    )


def busy(
    now: float, groups: int, queue: float, running: float = 3.0, ready_at: float | None = None
) -> LwsSnapshot:
    """``groups`` ready groups (an hour old unless ``ready_at``), each leader reporting
    ``queue`` waiting and ``running`` running."""
    return snapshot(
        now,
        groups=ready_groups(groups, ready_at=now - 3600 if ready_at is None else ready_at),
        queue=[queue] * groups,
        running=[running] * groups,
    )


def ready_groups(count: int, ready_at: float, created_at: float | None = None) -> list[GroupStatus]:
    created = ready_at - 300.0 if created_at is None else created_at
    return [GroupStatus(i, created, ready_at) for i in range(count)]


@dataclass
class Driver:
    """Drives ``decide`` with a manual clock, feeding each decision's state to the next."""

    policy: ScalingPolicy
    now: float = T0
    state: EngineState = field(default_factory=EngineState)
    decisions: list[Decision] = field(default_factory=list)

    def step(self, snap: LwsSnapshot | None, advance: float = 0.0) -> Decision:
        self.now += advance
        decision, self.state = decide(self.policy, snap, self.state, self.now)
        self.decisions.append(decision)
        return decision

    def at(self, advance: float, **snapshot_args: Any) -> Decision:
        """Advance the clock, then decide on ``snapshot(now, **snapshot_args)``."""
        self.now += advance
        return self.step(snapshot(self.now, **snapshot_args))


def codes(decision: Decision) -> list[str]:
    return [str(r.code) for r in decision.reasons]
