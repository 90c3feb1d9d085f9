"""The HPA replica calculator: one metric reading -> a replica proposal.

A port of ``replica_calculator.go`` for the paths an LWS can meet:

- External/Object ``Value``: ``ceil(usage/target * readyPods)``; from 0 replicas
  ``ceil(usage/target)`` with the tolerance ignored. Worked example: 8600m observed against
  a 4400m target with 1 of 3 pods ready -> ratio 1.95 -> ceil(1.95 * 1) = 2.
- External/Object ``AverageValue``: ``ceil(usage/target)`` unless ``usage/(target *
  status.replicas)`` is within tolerance; pods play no part. 8600m at 2150m per pod with 3
  replicas -> ratio 1.33 -> ceil(4.0) = 4, reported usage ceil(8600/3) = 2867m.
- Pods metrics and Resource (CPU) metrics, with the pod grouping that treats unready and
  missing pods conservatively (they never make a scale-up bigger or a scale-down deeper).

All values are integers in milli-units, as the controller's ``MilliValue()`` arithmetic.
The tolerance band is inclusive: a ratio of exactly 1.1 with tolerance 0.1 does not scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from simulations.hpa.spec import MAX_INT32, MAX_INT64


class MetricComputeError(Exception):
    """The controller could not compute a proposal for one metric (becomes a condition)."""


@dataclass(frozen=True)
class Tolerances:
    scale_down: float = 0.1
    scale_up: float = 0.1

    def is_within(self, ratio: float) -> bool:
        # NaN compares false both ways, so a NaN ratio is never "within".
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class Pod:
    """A pod selected by the target's ``status.selector`` (for an LWS: the leaders)."""

    name: str
    phase: str = "Running"
    ready: bool = True
    deleted: bool = False
    cpu_request_milli: int | None = 1000


@dataclass(frozen=True)
class ScaleView:
    """The target's scale subresource plus the pods its selector matches.

    ``pods`` None means "status_replicas Running pods, ``ready_pods`` of them Ready" (all
    when ``ready_pods`` is None), which is all the External/Object paths need.
    """

    spec_replicas: int
    status_replicas: int
    ready_pods: int | None = None
    pods: tuple[Pod, ...] | None = None
    selector: str = "leaderworkerset.sigs.k8s.io/worker-index=0"

    def pod_list(self) -> tuple[Pod, ...]:
        if self.pods is not None:
            return self.pods
        ready = self.status_replicas if self.ready_pods is None else self.ready_pods
        return tuple(Pod(f"pod-{i}", ready=i < ready) for i in range(self.status_replicas))

    def ready_pod_count(self) -> int:
        """``getReadyPodsCount``: Running and Ready pods; an empty selection is an error."""
        if self.pods is None:
            if self.status_replicas == 0:
                raise MetricComputeError(
                    "no pods returned by selector while calculating replica count"
                )
            return self.status_replicas if self.ready_pods is None else self.ready_pods
        if not self.pods:
            raise MetricComputeError("no pods returned by selector while calculating replica count")
        return sum(1 for p in self.pods if p.phase == "Running" and p.ready)


def _capped_sum(values: tuple[int, ...]) -> int:
    total = 0
    for value in values:
        if value > 0 and total > MAX_INT64 - value:
            return MAX_INT64
        total += value
    return total


def _ceil_int32(value: float) -> int:
    return MAX_INT32 if value > MAX_INT32 else math.ceil(value)


def usage_ratio_replicas(current: int, ratio: float, tol: Tolerances, scale: ScaleView) -> int:
    """``getUsageRatioReplicaCount``: tolerance first, then ready pods; from 0, ceil(ratio)."""
    if current != 0:
        if tol.is_within(ratio):
            return current
        return _ceil_int32(ratio * scale.ready_pod_count())
    return _ceil_int32(ratio)


def value_replicas(
    values_milli: tuple[int, ...],
    target_milli: int,
    current: int,
    tol: Tolerances,
    scale: ScaleView,
) -> tuple[int, int]:
    """External or Object ``Value`` target -> (replicas, usage in milli)."""
    usage = _capped_sum(values_milli)
    return usage_ratio_replicas(current, usage / target_milli, tol, scale), usage


def average_value_replicas(
    values_milli: tuple[int, ...], target_milli: int, status_replicas: int, tol: Tolerances
) -> tuple[int, int]:
    """External or Object ``AverageValue`` -> (replicas, usage per replica in milli).

    With ``status.replicas`` 0 the ratio is +Inf (NaN for zero usage): never within the
    tolerance, so the proposal is ``ceil(usage/target)``.
    """
    usage = _capped_sum(values_milli)
    replicas = status_replicas
    if status_replicas > 0:
        ratio = usage / (target_milli * status_replicas)
    else:
        ratio = math.inf if usage > 0 else math.nan
    if not tol.is_within(ratio):
        replicas = _ceil_int32(usage / target_milli)
    # Compared as float64, as upstream: any usage within 512 of MaxInt64 rounds to 2**63
    # and reports MaxInt64 (its ceil would be 2**63, beyond int64).
    if float(usage) >= float(MAX_INT64) or status_replicas == 0:
        per_replica = MAX_INT64
    else:
        per_replica = math.ceil(usage / status_replicas)
    return replicas, per_replica


@dataclass(frozen=True)
class _Groups:
    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _group_pods(pods: tuple[Pod, ...], metrics: Mapping[str, int], cpu: bool) -> _Groups:
    """``groupPods``. Readiness only matters for CPU; this port assumes pods started long
    ago (outside the CPU initialisation period), where "unready" means Ready=False."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
        elif pod.phase == "Pending":
            unready.add(pod.name)
        elif pod.name not in metrics:
            missing.add(pod.name)
        elif cpu and not pod.ready:
            unready.add(pod.name)
        else:
            ready += 1
    return _Groups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _plain_ratio(metrics: Mapping[str, int], target: int) -> tuple[float, int]:
    # Integer average first, as GetMetricUsageRatio: (100+151)/2 -> 125.
    usage = sum(metrics.values()) // len(metrics)
    return usage / target, usage


def _utilization_ratio(
    metrics: Mapping[str, int], requests: Mapping[str, int], target: int
) -> tuple[float, int]:
    """``GetResourceUtilizationRatio`` without its raw average, which only the status shows."""
    total = requested = 0
    for name, value in metrics.items():
        if name in requests:
            total += value
            requested += requests[name]
    if requested == 0:
        raise MetricComputeError("no metrics returned matched known pods")
    utilization = total * 100 // requested  # an integer percentage, as upstream
    return utilization / target, utilization


def pod_metric_replicas(
    per_pod: Mapping[str, int],
    target: int,
    current: int,
    tol: Tolerances,
    scale: ScaleView,
    utilization: bool = False,
    cpu: bool = False,
) -> tuple[int, int]:
    """Pods metrics (``calcPlainMetricReplicas``) and Resource metrics
    (``GetResourceReplicas`` when ``utilization``): (replicas, usage)."""
    pods = scale.pod_list()
    if not pods:
        raise MetricComputeError("no pods returned by selector while calculating replica count")
    groups = _group_pods(pods, per_pod, cpu)
    metrics = {k: v for k, v in per_pod.items() if k not in groups.ignored | groups.unready}
    if not metrics:
        raise MetricComputeError(
            "did not receive metrics for targeted pods (pods might be unready)"
        )
    requests: dict[str, int] = {}
    if utilization:
        for pod in pods:
            if pod.cpu_request_milli is None:
                raise MetricComputeError(f"missing request for cpu in pod {pod.name}")
            requests[pod.name] = pod.cpu_request_milli

    def ratio_of(values: Mapping[str, int]) -> tuple[float, int]:
        if utilization:
            return _utilization_ratio(values, requests, target)
        return _plain_ratio(values, target)

    ratio, usage = ratio_of(metrics)
    up_with_unready = bool(groups.unready) and ratio > 1.0
    if not up_with_unready and not groups.missing:
        if tol.is_within(ratio):
            return current, usage
        return _ceil_int32(ratio * groups.ready), usage
    # Missing pods count as the target (or 100% of request) on scale-down and 0 on
    # scale-up; unready pods count as 0 on scale-up. Then never flip direction.
    for name in groups.missing:
        if ratio < 1.0:
            metrics[name] = requests[name] * max(100, target) // 100 if utilization else target
        elif ratio > 1.0:
            metrics[name] = 0
    if up_with_unready:
        for name in groups.unready:
            metrics[name] = 0
    new_ratio, _ = ratio_of(metrics)
    if tol.is_within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, usage
    replicas = _ceil_int32(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, usage
    return replicas, usage
