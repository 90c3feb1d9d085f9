"""The HPA a user deploys with the lws-autoscaler Helm chart, and loading a custom one.

The default mirrors ``charts/lws-autoscaler/templates/hpa.yaml`` with the chart's default
values: External metric ``lws_recommended_replicas`` with an ``AverageValue`` target of 1
(so the HPA wants ``ceil(R / 1) = R`` groups), bounds from the policy, no stabilisation
and permissive rate limits (Percent 1000 or 100 Pods per 15 s up, Percent 100 per
15 s down), and a
per-HPA tolerance of 0. That tolerance only takes effect with the
``HPAConfigurableTolerance`` gate (Kubernetes >= 1.33); without it the cluster default of
0.1 applies and the HPA ignores, e.g., 11 recommended groups while 10 exist
(11 / 10 = 1.1 is inside the inclusive band [0.9, 1.1]).

For a policy with scale-to-zero the minimum is 0, which the API only accepts with the
``HPAScaleToZero`` gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoscaler.errors import AutoscalerError
from autoscaler.policy.model import ScalingPolicy
from autoscaler.policy.yaml_nodes import FieldPath
from simulations.hpa.spec import HpaSpec
from simulations.yaml_file import WrongShapeError, load_yaml_model

RECOMMENDATION_METRIC = "lws_recommended_replicas"


class HpaSpecError(AutoscalerError):
    """An HPA file given to the simulator is unreadable or not a valid HPA spec."""


def chart_hpa_spec(policy: ScalingPolicy, tolerance: float | None = 0.0) -> HpaSpec:
    """The chart's HPA for ``policy``; ``tolerance`` None leaves the cluster default."""
    spec = policy.spec
    extra: dict[str, Any] = {} if tolerance is None else {"tolerance": str(tolerance)}
    return HpaSpec.model_validate(
        {
            "minReplicas": 0 if spec.scale_to_zero.enabled else spec.replicas.min,
            "maxReplicas": spec.replicas.max,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {
                            "name": RECOMMENDATION_METRIC,
                            "selector": {
                                "matchLabels": {
                                    "leaderworkerset": spec.target.name,
                                    "policy": policy.name,
                                }
                            },
                        },
                        "target": {"type": "AverageValue", "averageValue": "1"},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 1000, "periodSeconds": 15},
                        {"type": "Pods", "value": 100, "periodSeconds": 15},
                    ],
                    **extra,
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                    **extra,
                },
            },
        }
    )


def load_hpa_spec(path: Path | str) -> HpaSpec:
    """An HPA from YAML: a whole ``HorizontalPodAutoscaler`` manifest or just its ``spec``.

    ``scaleTargetRef`` is ignored (the simulated LWS is the target). The metrics must be
    External metrics whose value is the recommendation (one value per metric per sync).
    """
    return load_yaml_model(path, HpaSpec, HpaSpecError, _spec_of)


def _spec_of(data: Any) -> tuple[Any, FieldPath]:
    """The spec of a manifest, or the document itself; without ``scaleTargetRef``."""
    prefix: FieldPath = ()
    if isinstance(data, dict) and data.get("kind") == "HorizontalPodAutoscaler":
        data, prefix = data.get("spec"), ("spec",)
    if not isinstance(data, dict):
        raise WrongShapeError("expected an HPA manifest or its spec (a mapping)", prefix)
    return {k: v for k, v in data.items() if k != "scaleTargetRef"}, prefix
