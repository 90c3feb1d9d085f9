"""Policies, targets and snapshot comparisons shared by the source tests."""

from __future__ import annotations

import math
from typing import Any

from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsSnapshot
from autoscaler.sources.base import SourceResult, Target


def policy(
    namespace: str,
    name: str,
    *,
    engine: str = "vllm",
    window: float = 10.0,
    quantile: float | None = 0.9,
    queue_wait: float | None = None,
    model_name: str | None = None,
    overrides: dict[str, str] | None = None,
    activation: str | None = None,
    zero_enabled: bool = True,
    stale_after: float = 60.0,
    scrape: dict[str, Any] | None = None,
) -> ScalingPolicy:
    signals: list[dict[str, Any]] = [{"type": "queueDepth", "targetPerGroup": 5}]
    if quantile is not None:
        signals.append({"type": "ttft", "targetSeconds": 1.0, "quantile": quantile})
    if queue_wait is not None:
        signals.append({"type": "queueWait", "targetSeconds": 1.0, "quantile": queue_wait})
    metrics: dict[str, Any] = {"engine": engine, "rateWindow": window, "staleAfter": stale_after}
    if model_name is not None:
        metrics["modelName"] = model_name
    if overrides:
        metrics["overrides"] = overrides
    if scrape is not None:
        metrics["scrape"] = scrape
    spec: dict[str, Any] = {
        "target": {"namespace": namespace, "name": name},
        "replicas": {"max": 10},
        "metrics": metrics,
        "signals": signals,
    }
    if activation is not None:
        # ``zero_enabled`` False: scale-to-zero turned off with its activation kept.
        spec["scaleToZero"] = {"enabled": zero_enabled, "activation": {"query": activation}}
    return ScalingPolicy.model_validate(
        {
            "apiVersion": "lws-autoscaler.io/v1alpha1",
            "kind": "ScalingPolicy",
            "metadata": {"name": f"{namespace}-{name}"},
            "spec": spec,
        },
        strict=False,
    )


def target(namespace: str, name: str, **kwargs: Any) -> Target:
    return Target(policy(namespace, name, **kwargs))


def values(snapshot: LwsSnapshot) -> dict[str, dict[str, float]]:
    """Leader values by pod and signal name, for readable assertions."""
    return {
        pod: {str(signal): sample.value for signal, sample in samples.items()}
        for pod, samples in snapshot.leaders.items()
    }


def assert_same_snapshot(
    a: LwsSnapshot, b: LwsSnapshot, rel: float = 0.02, stamp_slack: float = 3.0
) -> None:
    """Same replica counts, same leaders and signals, values within ``rel`` (rates are
    measured over slightly different instants by different sources), timestamps within
    ``stamp_slack`` seconds."""
    assert (a.key, a.spec_replicas, a.status_replicas, a.ready_replicas) == (
        b.key,
        b.spec_replicas,
        b.status_replicas,
        b.ready_replicas,
    )
    assert set(a.leaders) == set(b.leaders), (sorted(a.leaders), sorted(b.leaders))
    for pod in a.leaders:
        assert set(a.leaders[pod]) == set(b.leaders[pod]), pod
        for signal, sample in a.leaders[pod].items():
            other = b.leaders[pod][signal]
            assert math.isclose(sample.value, other.value, rel_tol=rel, abs_tol=1e-6), (
                pod,
                signal,
                sample.value,
                other.value,
            )
            assert abs(sample.timestamp - other.timestamp) <= stamp_slack, (pod, signal)
    assert set(a.aggregates) == set(b.aggregates)
    for signal, sample in a.aggregates.items():
        assert math.isclose(sample.value, b.aggregates[signal].value, rel_tol=rel), signal


def only(result: SourceResult, namespace: str, name: str) -> LwsSnapshot:
    for key, snapshot in result.snapshots.items():
        if (key.namespace, key.name) == (namespace, name):
            return snapshot
    raise AssertionError(f"no snapshot for {namespace}/{name}: errors {dict(result.errors)}")
