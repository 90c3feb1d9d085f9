"""What one HPA sync reads and what it returns: metric readings, conditions, results.

A reading is what the metrics API answered for one metric of the HPA: values summed over
the matched series (External, Object), values per pod (Pods, Resource), or an error. The
emulator (``controller``), the conformance cases and the closed-loop baselines all build
readings of these three kinds and read a :class:`ReconcileResult` back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulations.hpa.quantity import quantity_milli


@dataclass(frozen=True)
class MetricValues:
    """What the metrics API returned for one metric: the series values (External: summed;
    Object: the object's value)."""

    values_milli: tuple[int, ...]

    @classmethod
    def of(cls, *values: float) -> MetricValues:
        return cls(tuple(quantity_milli(v) for v in values))


@dataclass(frozen=True)
class PodMetricValues:
    """Per-pod values (Pods metrics; Resource usage in millicores), keyed by pod name."""

    per_pod_milli: Mapping[str, int]


@dataclass(frozen=True)
class MetricError:
    """The metrics API failed for this metric (adapter down, no series, ...)."""

    message: str


Reading = MetricValues | PodMetricValues | MetricError

Condition = tuple[str, str, str]
"""(type, status, reason), e.g. ("ScalingActive", "False", "FailedGetExternalMetric")."""


@dataclass(frozen=True)
class ReconcileResult:
    """The outcome of one sync.

    ``replicas`` is the target's ``spec.replicas`` afterwards (= ``status.desiredReplicas``);
    ``proposal`` the largest metric proposal before stabilisation (None when no metrics
    were computed); ``error`` is set when the reconcile returned an error (it may still have
    scaled up, on partial metric failure).
    """

    replicas: int
    rescaled: bool
    proposal: int | None
    reason: str
    conditions: tuple[Condition, ...]
    error: str | None = None
