"""HPA specs for tests: the HPA our chart renders, on ``lws_recommended_replicas``."""

from __future__ import annotations

from typing import Any

from simulations.hpa import HpaSpec


def recommendation_hpa(
    behavior: dict[str, Any] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 20,
    **extra: Any,
) -> HpaSpec:
    """External metric ``lws_recommended_replicas``, AverageValue 1, ``min..max``."""
    doc: dict[str, Any] = {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [
            {
                "type": "External",
                "external": {
                    "metric": {"name": "lws_recommended_replicas"},
                    "target": {"type": "AverageValue", "averageValue": "1"},
                },
            }
        ],
        **extra,
    }
    if behavior is not None:
        doc["behavior"] = behavior
    return HpaSpec.model_validate(doc)
