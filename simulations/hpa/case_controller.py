"""Handlers for replica-calculator cases (one metric -> a proposal) and whole-controller
reconcile cases (``reconcileAutoscaler`` with metrics, pods and conditions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulations.hpa.calculator import (
    MetricComputeError,
    Pod,
    ScaleView,
    average_value_replicas,
    pod_metric_replicas,
    value_replicas,
)
from simulations.hpa.case_support import (
    NOW,
    CaseError,
    Inputs,
    Outcome,
    as_int,
    check_keys,
    pods_from,
    recommendations_from,
    rules_from,
    tolerances_from,
)
from simulations.hpa.controller import HpaEmulator
from simulations.hpa.normalize import (
    HpaMemory,
)
from simulations.hpa.readings import (
    MetricError,
    MetricValues,
    PodMetricValues,
    Reading,
)
from simulations.hpa.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    ControllerConfig,
    HpaConfig,
    MetricSource,
)

_TARGET_KEYS = ("targetUtilization", "targetUsage", "perPodTargetUtilization", "perPodTargetUsage")


def calculator(inputs: Inputs) -> Outcome:
    check_keys(
        "inputs",
        inputs,
        {
            "currentReplicas",
            "tolerance",
            "metric",
            "podReadiness",
            "podPhase",
            "podDeletionTimestamp",
        },
    )
    kind = str(inputs["function"]).split()[0]
    metric = inputs["metric"]
    check_keys(
        "metric",
        metric,
        {"levels", "selector", "singleObject", "name", "metricType", *_TARGET_KEYS},
    )
    current = as_int(inputs, "currentReplicas")
    tol = tolerances_from(inputs.get("tolerance", 0.1))
    levels = tuple(int(v) for v in metric["levels"])
    targets = [metric[k] for k in _TARGET_KEYS if k in metric]
    if len(targets) != 1:
        raise CaseError("metric needs exactly one target field")
    target = int(targets[0])
    scale = ScaleView(current, current, pods=pods_from(inputs, current))
    try:
        if kind == "podMetric":
            per_pod = {
                pod.name: level for pod, level in zip(scale.pod_list(), levels, strict=False)
            }
            replicas, usage = pod_metric_replicas(per_pod, target, current, tol, scale)
        elif kind == "externalMetric":
            replicas, usage = value_replicas(levels, target, current, tol, scale)
        elif kind == "object":
            replicas, usage = value_replicas(levels[:1], target, current, tol, scale)
        elif kind == "externalPerPodMetric":
            replicas, usage = average_value_replicas(levels, target, current, tol)
        elif kind == "objectPerPodMetric":
            replicas, usage = average_value_replicas(levels[:1], target, current, tol)
        else:
            raise CaseError(f"unsupported replica-calculator metric kind {kind!r}")
    except MetricComputeError as exc:
        return {"error": True, "message": str(exc)}
    return {"replicas": replicas, "usage": usage, "error": False}


def _metric_source(spec: Mapping[str, Any]) -> MetricSource:
    kind = str(spec.get("type"))
    if kind == "Resource":
        check_keys("metric", spec, {"type", "cpuAverageUtilization"})
        return MetricSource("Resource", "cpu", "Utilization", int(spec["cpuAverageUtilization"]))
    if kind in ("External", "Object", "Pods"):
        check_keys("metric", spec, {"type", "metric", "selector", "target", "describedObject"})
        target = spec["target"]
        check_keys("metric target", target, {"type", "valueMilli", "averageValueMilli"})
        key = "valueMilli" if target["type"] == "Value" else "averageValueMilli"
        if key not in target:
            raise CaseError(f"target type {target['type']} needs {key}")
        return MetricSource(
            kind, str(spec.get("metric", "")), str(target["type"]), int(target[key])
        )
    return MetricSource(kind)  # the controller reports it as InvalidMetricSourceType


def _reading(source: MetricSource, observed: Mapping[str, Any], pods: tuple[Pod, ...]) -> Reading:
    prefix = {"External": "external", "Object": "object", "Resource": "cpu"}.get(source.kind)
    if prefix is None:
        return MetricError(f"no observation for {source.kind} metrics")
    if observed.get(f"{prefix}MetricFetch") == "error":
        return MetricError("the metrics API returned an error")
    if source.kind == "External" and "externalValuesMilli" in observed:
        return MetricValues(tuple(int(v) for v in observed["externalValuesMilli"]))
    if source.kind == "Object" and "objectValueMilli" in observed:
        return MetricValues((int(observed["objectValueMilli"]),))
    if source.kind == "Resource" and "cpuUsageMilliPerPod" in observed:
        levels = observed["cpuUsageMilliPerPod"]
        return PodMetricValues({p.name: int(v) for p, v in zip(pods, levels, strict=False)})
    raise CaseError(f"observed has no values for the {source.kind} metric")


def reconcile(inputs: Inputs) -> Outcome:
    check_keys("inputs", inputs, {
        "minReplicas", "maxReplicas", "specReplicas", "statusReplicas", "pods", "metrics",
        "observed", "initialRecommendations", "podReadiness", "podPhase", "podDeletionTimestamp",
        "scaleUpRules", "scaleDownRules", "tolerance",
    })  # fmt: skip
    observed = inputs.get("observed", {})
    check_keys("observed", observed, {
        "externalValuesMilli", "externalMetricFetch", "objectValueMilli", "objectMetricFetch",
        "cpuUsageMilliPerPod", "cpuRequestMilliPerPod", "cpuMetricFetch",
    })  # fmt: skip
    if not str(inputs.get("pods", "statusReplicas pods")).startswith("statusReplicas pods"):
        raise CaseError(f"unsupported pods description {inputs.get('pods')!r}")
    behavior = None
    if inputs.get("scaleUpRules") is not None or inputs.get("scaleDownRules") is not None:
        behavior = Behavior(
            rules_from(inputs.get("scaleUpRules"), DEFAULT_SCALE_UP),
            rules_from(inputs.get("scaleDownRules"), DEFAULT_SCALE_DOWN),
        )
    tolerance = inputs.get("tolerance", 0.1)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool):
        raise CaseError("inputs.tolerance of a reconcile case must be a number (the cluster flag)")
    metrics = tuple(_metric_source(m) for m in inputs["metrics"])
    config = HpaConfig(
        max_replicas=as_int(inputs, "maxReplicas"),
        metrics=metrics,
        min_replicas=as_int(inputs, "minReplicas"),
        behavior=behavior,
        controller=ControllerConfig(tolerance=float(tolerance)),
    )
    pod_inputs = {**inputs, "cpuRequestMilliPerPod": observed.get("cpuRequestMilliPerPod")}
    pods = pods_from(pod_inputs, as_int(inputs, "statusReplicas"))
    scale = ScaleView(as_int(inputs, "specReplicas"), as_int(inputs, "statusReplicas"), pods=pods)
    memory = HpaMemory(
        recommendations=recommendations_from(inputs.get("initialRecommendations", "nil"))
    )
    emulator = HpaEmulator(config, memory)
    result = emulator.reconcile(NOW, scale, [_reading(s, observed, pods) for s in metrics])
    return {
        "desiredReplicas": result.replicas,
        "conditions": [list(c) for c in result.conditions],
        "reconcileErrorReturned": result.error is not None,
    }
