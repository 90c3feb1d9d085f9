"""The HPA spec as the API server validates and defaults it, and the controller's flags:
what ``HpaConfig.from_spec`` hands the emulator. Bounds and defaults are written out from
the API (``validation.go``, ``defaults.go``), not read back from the port's constants."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from simulations.hpa import ControllerConfig, HpaConfig, HpaSpec
from simulations.hpa.spec import ScalingPolicy, ScalingRules
from tests.simulations.hpa.factories import recommendation_doc


def _policy(period: int) -> dict[str, Any]:
    return {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": period}]}}


def _hpa_doc(behavior: dict[str, Any] | None = None, metric_name: str = "m") -> dict[str, Any]:
    doc = recommendation_doc(behavior, min_replicas=None, max_replicas=3)
    doc["metrics"][0]["external"]["metric"]["name"] = metric_name
    return doc


@pytest.mark.parametrize(
    ("doc", "accepted"),
    [
        (_hpa_doc(_policy(1)), True),
        (_hpa_doc(_policy(1800)), True),  # validation.go: at most 30 minutes
        (_hpa_doc(_policy(0)), False),
        (_hpa_doc(_policy(1801)), False),
        (_hpa_doc({"scaleUp": {"stabilizationWindowSeconds": 3600}}), True),  # at most 1 h
        (_hpa_doc({"scaleUp": {"stabilizationWindowSeconds": 3601}}), False),
        (_hpa_doc({"scaleUp": {"stabilizationWindowSeconds": -1}}), False),
        (_hpa_doc(metric_name=""), False),  # a metric needs a name
        (_hpa_doc(metric_name="x"), True),
        ({**_hpa_doc(), "maxReplicas": 0}, False),
        ({**_hpa_doc(), "maxReplicas": 1}, True),
        ({**_hpa_doc(), "minReplicas": 3}, True),  # min == max
        ({**_hpa_doc(), "minReplicas": 4}, False),
        ({**_hpa_doc(), "minReplicas": 0}, True),  # HPAScaleToZero
        ({**_hpa_doc(), "minReplicas": -1}, False),
        # Go structs take camelCase JSON names only.
        ({**_hpa_doc(), "min_replicas": 1}, False),
        ({**_hpa_doc(), "minReplicas": 1}, True),
    ],
)
def test_the_hpa_spec_is_bounded_as_the_api_server_validates_it(
    doc: dict[str, Any], accepted: bool
) -> None:
    if accepted:
        HpaSpec.model_validate(doc)
    else:
        with pytest.raises(ValidationError):
            HpaSpec.model_validate(doc)


def _external_target(target: dict[str, Any]) -> dict[str, Any]:
    doc = _hpa_doc()
    doc["metrics"][0]["external"]["target"] = target
    return doc


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        ({"type": "Value", "value": "1m"}, True),  # any positive amount
        ({"type": "Value", "value": "0"}, False),
        ({"type": "AverageValue", "averageValue": "0"}, False),
        ({"type": "AverageValue", "averageValue": "-1"}, False),
        ({"type": "Value", "value": "1", "averageValue": "1"}, False),
    ],
)
def test_a_metric_target_needs_one_positive_amount(target: dict[str, Any], accepted: bool) -> None:
    doc = _external_target(target)
    if accepted:
        HpaSpec.model_validate(doc)
    else:
        with pytest.raises(ValidationError):
            HpaSpec.model_validate(doc)


def test_behavior_directions_left_out_take_the_api_defaults() -> None:
    """``defaults.go``: scale-up at once, by max(4 pods, 100%) per 15 s; scale-down by
    100% per 15 s after the controller's window (None here: 300 s, its flag)."""
    config = HpaConfig.from_spec(HpaSpec.model_validate(_hpa_doc({})))
    assert config.min_replicas == 1  # minReplicas left out
    assert config.behavior is not None
    assert config.behavior.scale_up == ScalingRules(
        0.0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
    )
    assert config.behavior.scale_down == ScalingRules(
        None, "Max", (ScalingPolicy("Percent", 100, 15),)
    )
    assert config.controller.downscale_stabilization_seconds == 300.0
    assert config.controller.sync_period_seconds == 15.0


@pytest.mark.parametrize(
    ("flags", "accepted"),
    [
        ({"sync_period_seconds": 0.5}, True),
        ({"sync_period_seconds": 0.0}, False),
        ({"sync_period_seconds": math.inf}, False),
        ({"downscale_stabilization_seconds": 0.0}, True),
        ({"downscale_stabilization_seconds": -1.0}, False),
    ],
)
def test_the_controller_flags_are_checked(flags: dict[str, float], accepted: bool) -> None:
    if accepted:
        ControllerConfig(**flags)
    else:
        with pytest.raises(ValidationError):
            ControllerConfig(**flags)
