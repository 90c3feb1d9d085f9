"""A faithful emulation of the Kubernetes HorizontalPodAutoscaler controller.

Public API (stable; the closed-loop benchmark uses it too)::

    from simulations.hpa import HpaEmulator, HpaConfig, HpaSpec, ScaleView

    spec = HpaSpec.model_validate({
        "minReplicas": 1, "maxReplicas": 12,
        "metrics": [{"type": "External", "external": {
            "metric": {"name": "lws_recommended_replicas"},
            "target": {"type": "AverageValue", "averageValue": "1"}}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
    })
    hpa = HpaEmulator(HpaConfig.from_spec(spec))
    # every step; reconciles once per 15 s sync period, returns the new spec.replicas
    replicas = hpa.step(now, ScaleView(spec_replicas=3, status_replicas=3, ready_pods=2), [5.0])

``HpaEmulator.reconcile(now, scale, readings)`` gives the full outcome (conditions, the
metric proposal, errors); a reading of ``None`` in ``step`` (``MetricError`` in
``reconcile``) is a failed metrics API call.
"""

from simulations.hpa.calculator import Pod, ScaleView, Tolerances
from simulations.hpa.controller import HpaEmulator
from simulations.hpa.normalize import HpaMemory
from simulations.hpa.readings import (
    MetricError,
    MetricValues,
    PodMetricValues,
    ReconcileResult,
)
from simulations.hpa.spec import ControllerConfig, HpaConfig, HpaSpec, MetricSource

__all__ = [
    "ControllerConfig",
    "HpaConfig",
    "HpaEmulator",
    "HpaMemory",
    "HpaSpec",
    "MetricError",
    "MetricSource",
    "MetricValues",
    "Pod",
    "PodMetricValues",
    "ReconcileResult",
    "ScaleView",
    "Tolerances",
]
