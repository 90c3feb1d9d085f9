"""Shared parsing for the HPA test-case handlers: strict field checks and the encodings
of rules, scale events, recommendations, tolerances and pods used by ``hpa-cases.json``.

Ages in the cases are seconds before :data:`NOW`, the fixed instant every case runs at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from autoscaler.errors import AutoscalerError
from simulations.hpa.calculator import (
    Pod,
    Tolerances,
)
from simulations.hpa.normalize import (
    Recommendation,
    ScaleEvent,
)
from simulations.hpa.spec import (
    HpaScalingRules,
    ScalingRules,
    default_rules,
)

NOW = 1_700_000_000.0
# Informational fields the case format carries for humans.
_PROSE = frozenset({"function", "rulesDefaulting"})

Inputs = Mapping[str, Any]
Outcome = dict[str, Any]


class CaseError(AutoscalerError):
    """The case cannot be run: unsupported function, unknown or malformed field."""


def check_keys(where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed - _PROSE)
    if unknown:
        raise CaseError(f"unsupported {where} field(s): {', '.join(unknown)}")


def as_int(inputs: Inputs, key: str) -> int:
    value = inputs.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CaseError(f"inputs.{key} must be an integer, got {value!r}")
    return value


def rules_from(data: object, defaults: ScalingRules) -> ScalingRules:
    if data is None:
        return defaults
    try:
        return default_rules(HpaScalingRules.model_validate(data), defaults)
    except ValidationError as exc:
        raise CaseError(f"invalid scaling rules: {exc.errors()[0]['msg']}") from None


def events_from(data: object) -> list[ScaleEvent]:
    if not isinstance(data, list):
        raise CaseError(f"scale events must be a list, got {data!r}")
    events = []
    for item in data:
        check_keys("scale event", item, {"replicaChange", "ageSeconds", "outdated"})
        events.append(
            ScaleEvent(
                int(item["replicaChange"]), NOW - item["ageSeconds"], bool(item.get("outdated"))
            )
        )
    return events


def recommendations_from(data: object) -> list[Recommendation] | None:
    if isinstance(data, str):
        if data.startswith("nil"):
            return None
        if data.startswith("[]"):
            return []
        raise CaseError(f"cannot read recommendations {data!r}")
    if not isinstance(data, list):
        raise CaseError(f"recommendations must be a list, got {data!r}")
    recs = []
    for item in data:
        check_keys("recommendation", item, {"recommendation", "ageSeconds"})
        recs.append(Recommendation(int(item["recommendation"]), NOW - item["ageSeconds"]))
    return recs


def tolerances_from(value: object) -> Tolerances:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Tolerances(float(value), float(value))
    if isinstance(value, dict) and set(value) <= {"scaleUp", "scaleDown"}:
        return Tolerances(float(value.get("scaleDown", 0.1)), float(value.get("scaleUp", 0.1)))
    raise CaseError(f"cannot read tolerance {value!r}")


def pods_from(inputs: Inputs, count: int) -> tuple[Pod, ...]:
    readiness = inputs.get("podReadiness")
    phases = inputs.get("podPhase")
    deleted = inputs.get("podDeletionTimestamp")
    requests = inputs.get("cpuRequestMilliPerPod")
    lists = [x for x in (readiness, phases, deleted, requests) if isinstance(x, list)]
    if lists:
        count = len(lists[0])
    pods = []
    for i in range(count):
        ready = True if not isinstance(readiness, list) else str(readiness[i]) == "True"
        pods.append(
            Pod(
                f"test-pod-{i}",
                phase=phases[i] if isinstance(phases, list) else "Running",
                ready=ready,
                deleted=bool(deleted[i]) if isinstance(deleted, list) else False,
                cpu_request_milli=int(requests[i]) if isinstance(requests, list) else 1000,
            )
        )
    return tuple(pods)
