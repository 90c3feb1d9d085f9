"""HPA specs for tests: the HPA our chart renders, on ``lws_recommended_replicas``."""

from __future__ import annotations

from typing import Any

from simulations.hpa import HpaSpec


def recommendation_doc(
    behavior: dict[str, Any] | None = None,
    min_replicas: int | None = 1,
    max_replicas: int = 20,
    **extra: Any,
) -> dict[str, Any]:
    """The HPA spec as JSON: External metric ``lws_recommended_replicas``, AverageValue 1,
    ``min..max`` (``min_replicas`` None leaves ``minReplicas`` out)."""
    doc: dict[str, Any] = {
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
    if min_replicas is not None:
        doc["minReplicas"] = min_replicas
    if behavior is not None:
        doc["behavior"] = behavior
    return doc


def recommendation_hpa(
    behavior: dict[str, Any] | None = None,
    min_replicas: int = 1,
    max_replicas: int = 20,
    **extra: Any,
) -> HpaSpec:
    """:func:`recommendation_doc`, validated."""
    return HpaSpec.model_validate(recommendation_doc(behavior, min_replicas, max_replicas, **extra))
