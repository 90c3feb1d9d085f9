"""``autoscaling/v2`` HorizontalPodAutoscaler objects shaped as the API server returns
them (``k8s.io/api/autoscaling/v2``: ``spec.scaleTargetRef`` a CrossVersionObjectReference,
``status.conditions`` with the reasons and messages the HPA controller writes, in
``pkg/controller/podautoscaler/horizontal.go``), for the wire-level fake API server."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

AT = "2026-01-01T00:05:00Z"


def condition(kind: str, state: str, reason: str, message: str) -> Json:
    return {
        "type": kind,
        "status": state,
        "lastTransitionTime": AT,
        "reason": reason,
        "message": message,
    }


# What a healthy HPA shows: the controller read the scale and the metric.
SCALING = [
    condition("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
    condition(
        "ScalingActive",
        "True",
        "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count from external metric "
        "lws_recommended_replicas(&LabelSelector{MatchLabels:map[string]string{"
        "leaderworkerset: llama-70b,},MatchExpressions:[]LabelSelectorRequirement{},})",
    ),
    condition(
        "ScalingLimited",
        "False",
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    ),
]


# Read the LWS's scale subresource, then stopped on the metrics or the selector.
GOT_SCALE = condition(
    "AbleToScale",
    "True",
    "SucceededGetScale",
    "the HPA controller was able to get the target's current scale",
)


def ambiguous(namespace: str, names: list[str]) -> list[Json]:
    """The conditions of each of several HPAs whose targets' pods overlap."""
    # The LWS's status.hpaPodSelector: its leader pods.
    selector = (
        "leaderworkerset.sigs.k8s.io/name=llama-70b,leaderworkerset.sigs.k8s.io/worker-index=0"
    )
    owners = " ".join(f"{namespace}/{n}" for n in sorted(names))
    return [
        GOT_SCALE,
        condition(
            "ScalingActive",
            "False",
            "AmbiguousSelector",
            f"pods by selector {selector} are controlled by multiple HPAs: [{owners}]",
        ),
    ]


NO_METRIC = [
    GOT_SCALE,
    condition(
        "ScalingActive",
        "False",
        "FailedGetExternalMetric",
        "the HPA was unable to compute the replica count: unable to get external metric "
        "inference/lws_recommended_replicas/nil: unable to fetch metrics from external "
        "metrics API: the server is currently unable to handle the request (get "
        "lws_recommended_replicas.external.metrics.k8s.io)",
    ),
]


def hpa_object(
    namespace: str,
    name: str,
    target: str,
    conditions: list[Json] | None = None,
    *,
    kind: str = "LeaderWorkerSet",
    api_version: str = "leaderworkerset.x-k8s.io/v1",
    metric: str = "lws_recommended_replicas",
    max_replicas: int = 8,
) -> Json:
    """An HPA of ``target`` following one External metric. ``conditions=None``: just
    created, before the controller's first sync: the API serves a status of the one
    field without ``omitempty``, ``desiredReplicas: 0``."""
    obj: Json = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": metric},
                        "target": {"type": "AverageValue", "averageValue": "1"},
                    },
                }
            ],
        },
    }
    if conditions is None:
        obj["status"] = {"desiredReplicas": 0}
    else:
        obj["status"] = {
            "currentReplicas": 4,
            "desiredReplicas": 4,
            "lastScaleTime": AT,
            "currentMetrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": metric},
                        "current": {"averageValue": "1"},
                    },
                }
            ],
            "conditions": conditions,
        }
    return obj
