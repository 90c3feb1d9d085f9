"""Test doubles for the server tests: a manual clock, an in-memory metric source whose
snapshots are a pure function of time, and policy builders."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from autoscaler.errors import SourceUnavailableError
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample
from autoscaler.sources.base import SourceResult, Target

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of 15 s


class ManualClock:
    """A clock the test moves by hand; one wall second is one clock second."""

    def __init__(self, start: float = T0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def wall_seconds(self, clock_seconds: float) -> float:
        return clock_seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


def policy_document(
    name: str = "llama-70b",
    namespace: str = "inference",
    lws: str | None = None,
    target_per_group: float = 8.0,
    **spec_overrides: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "target": {"namespace": namespace, "name": lws or name},
        "replicas": {"min": 1, "max": 12},
        "signals": [
            {"type": "queueDepth", "targetPerGroup": target_per_group},
            {"type": "kvCacheUtilization", "target": 0.8},
            {"type": "tokenThroughput", "tokens": "generation", "capacityPerGroup": 1000},
        ],
        "scaleUp": {"forecast": {"enabled": False}},
        "scaleDown": {"stabilizationWindow": "5m", "minGroupAge": "0s"},
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "lws-autoscaler.io/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def make_policy(**kwargs: Any) -> ScalingPolicy:
    return ScalingPolicy.model_validate(policy_document(**kwargs))


def write_policy(path: Path, **kwargs: Any) -> Path:
    path.write_text(yaml.safe_dump(policy_document(**kwargs), sort_keys=False))
    return path


Load = Callable[[float], float]
"""Total waiting requests of an LWS at time t."""


class FunctionSource:
    """A MetricSource whose snapshot of each LWS is a pure function of ``now``.

    ``groups`` ready groups report, between them, ``load(now)`` waiting requests,
    KV-cache 0.5 and 100 tokens/s each. ``failing`` makes every fetch raise, ``missing``
    holds LWS keys reported as per-target errors.
    """

    name = "function"

    def __init__(self, loads: dict[LwsKey, Load], groups: int = 4) -> None:
        self.loads = loads
        self.groups = groups
        self.failing = False
        self.missing: set[LwsKey] = set()
        self.fetches: list[float] = []
        self.closed = False
        # (created, ready) of every group; the engine learns a cold start only from
        # groups that turned ready while it watched.
        self.group_times = (T0 - 7200, T0 - 7000)

    def snapshot(self, key: LwsKey, now: float) -> LwsSnapshot:
        per_group = self.loads[key](now) / self.groups
        leaders = {
            str(i): {
                Signal.QUEUE_DEPTH: Sample(per_group, now),
                Signal.RUNNING: Sample(4.0, now),
                Signal.KV_CACHE: Sample(0.5, now),
                Signal.GENERATION_TOKENS: Sample(100.0, now),
                Signal.PROMPT_TOKENS: Sample(50.0, now),
            }
            for i in range(self.groups)
        }
        return LwsSnapshot(
            key=key,
            observed_at=now,
            spec_replicas=self.groups,
            status_replicas=self.groups,
            ready_replicas=self.groups,
            groups=tuple(GroupStatus(i, *self.group_times) for i in range(self.groups)),
            leaders=leaders,
        )

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        self.fetches.append(now)
        if self.failing:
            raise SourceUnavailableError("prometheus: connection refused")
        snapshots = {
            t.key: self.snapshot(t.key, now)
            for t in targets
            if t.key in self.loads and t.key not in self.missing
        }
        errors = {t.key: "no series" for t in targets if t.key in self.missing}
        return SourceResult(snapshots, errors)

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        if self.failing:
            raise SourceUnavailableError("prometheus: connection refused")
        for i in range(math.floor((end - start) / step + 1e-9) + 1):
            at = start + i * step
            yield at, self.fetch(targets, at)

    def close(self) -> None:
        self.closed = True


def constant(value: float) -> Load:
    return lambda _t: value


class LabelRecorder:
    """A ``PodLabeler`` that records each relabelling and finds nothing labelled out."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def set_serving(self, namespace: str, pod: str, serving: bool) -> None:
        self.calls.append((namespace, pod, serving))

    def labelled_out(self, namespace: str) -> dict[LwsKey, frozenset[str]]:
        return {}


def draining_loop(tmp_path: Path, labeler: LabelRecorder, leader: Any = None) -> Any:
    """A control loop over ``inference/llama-70b`` whose four groups read KV-cache 0.5
    against 0.8: 2.5 groups needed, so group 3 drains at once (no window, no step, no
    minimum age) while its leader still has requests."""
    from autoscaler.server.cordon import Cordon
    from autoscaler.server.loop import ControlLoop
    from autoscaler.server.policy_watch import PolicyWatcher
    from autoscaler.server.store import DecisionStore
    from autoscaler.server.telemetry import Telemetry

    path = write_policy(
        tmp_path / "p.yaml",
        scaleDown={
            "stabilizationWindow": "0s",
            "minGroupAge": "0s",
            "maxStep": None,
            "drain": {"enabled": True},
        },
    )
    telemetry = Telemetry()
    watcher = PolicyWatcher([path], telemetry)
    watcher.load_initial()
    return ControlLoop(
        FunctionSource({LwsKey("inference", "llama-70b"): constant(8.0)}),
        watcher,
        DecisionStore(max_age=45),
        telemetry,
        ManualClock(),
        15.0,
        cordon=Cordon(labeler),
        leader=leader,
    )


class FixedLeader:
    """A leader elector whose answer the test sets: ``leading`` or not, every cycle."""

    def __init__(self, leading: bool = True) -> None:
        self.leading = leading

    def leads(self, _now: float) -> bool:
        return self.leading

    def release(self, _now: float) -> None:
        return None
