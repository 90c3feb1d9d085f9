"""Handlers for cases that exercise one function of the HPA controller: stabilisation,
rate limits (legacy and ``behavior``) and scale-event bookkeeping."""

from __future__ import annotations

import re

from simulations.hpa.case_support import (
    NOW,
    CaseError,
    Inputs,
    Outcome,
    as_int,
    check_keys,
    events_from,
    recommendations_from,
    rules_from,
)
from simulations.hpa.normalize import (
    HpaMemory,
    behavior_rate_limit,
    change_in_period,
    legacy_rate_limit,
    scale_down_limit,
    scale_up_limit,
    stabilize_legacy,
    stabilize_with_behavior,
    store_scale_event,
)
from simulations.hpa.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    ControllerConfig,
)


def behavior_rate(inputs: Inputs) -> Outcome:
    check_keys("inputs", inputs, {
        "currentReplicas", "prenormalizedDesiredReplicas", "minReplicas", "maxReplicas",
        "scaleUpRules", "scaleDownRules", "scaleUpEvents", "scaleDownEvents",
    })  # fmt: skip
    memory = HpaMemory(
        up_events=events_from(inputs.get("scaleUpEvents", [])),
        down_events=events_from(inputs.get("scaleDownEvents", [])),
    )
    replicas, condition = behavior_rate_limit(
        as_int(inputs, "currentReplicas"),
        as_int(inputs, "prenormalizedDesiredReplicas"),
        as_int(inputs, "minReplicas"),
        as_int(inputs, "maxReplicas"),
        rules_from(inputs.get("scaleUpRules"), DEFAULT_SCALE_UP),
        rules_from(inputs.get("scaleDownRules"), DEFAULT_SCALE_DOWN),
        memory,
        NOW,
    )
    return {"replicas": replicas, "condition": condition}


def stabilize_behavior(inputs: Inputs) -> Outcome:
    check_keys("inputs", inputs, {
        "recommendations", "currentReplicas", "prenormalizedDesiredReplicas",
        "scaleUpStabilizationWindowSeconds", "scaleDownStabilizationWindowSeconds",
    })  # fmt: skip
    recs = recommendations_from(inputs["recommendations"]) or []
    replicas, _ = stabilize_with_behavior(
        recs,
        as_int(inputs, "currentReplicas"),
        as_int(inputs, "prenormalizedDesiredReplicas"),
        NOW,
        float(inputs["scaleUpStabilizationWindowSeconds"]),
        float(inputs["scaleDownStabilizationWindowSeconds"]),
    )
    return {"replicas": replicas, "storedRecommendationValues": [r.value for r in recs]}


def stabilize_plain(inputs: Inputs) -> Outcome:
    check_keys("inputs", inputs, {
        "downscaleStabilisationWindowSeconds", "recommendations", "prenormalizedDesiredReplicas",
    })  # fmt: skip
    recs = recommendations_from(inputs["recommendations"]) or []
    replicas = stabilize_legacy(
        recs,
        as_int(inputs, "prenormalizedDesiredReplicas"),
        NOW,
        float(inputs["downscaleStabilisationWindowSeconds"]),
    )
    return {"replicas": replicas, "recommendationLogLength": len(recs)}


def legacy_rules(inputs: Inputs) -> Outcome:
    check_keys(
        "inputs", inputs, {"currentReplicas", "desiredReplicas", "minReplicas", "maxReplicas"}
    )
    ctl = ControllerConfig()
    replicas, condition = legacy_rate_limit(
        as_int(inputs, "currentReplicas"),
        as_int(inputs, "desiredReplicas"),
        as_int(inputs, "minReplicas"),
        as_int(inputs, "maxReplicas"),
        ctl.scale_up_limit_factor,
        ctl.scale_up_limit_minimum,
    )
    return {"replicas": replicas, "condition": condition}


def _limit(inputs: Inputs, up: bool) -> Outcome:
    check_keys("inputs", inputs, {"currentReplicas", "scaleUpEvents", "scaleDownEvents", "rules"})
    if inputs.get("rules") is None:
        raise CaseError("inputs.rules is required")
    fn = scale_up_limit if up else scale_down_limit
    limit = fn(
        as_int(inputs, "currentReplicas"),
        events_from(inputs.get("scaleUpEvents", [])),
        events_from(inputs.get("scaleDownEvents", [])),
        rules_from(inputs["rules"], DEFAULT_SCALE_UP if up else DEFAULT_SCALE_DOWN),
        NOW,
    )
    return {"limit": limit}


def store_events(inputs: Inputs) -> Outcome:
    """Count the change within the period named in ``function``, then store one scale-up
    and one scale-down (the transitions named in ``function``); both must agree."""
    check_keys(
        "inputs", inputs, {"prevScaleEvents", "behaviorRulesForThatDirection", "replicaChange"}
    )
    function = str(inputs["function"])
    period = re.search(r"getReplicasChangePerPeriod\((\d+)", function)
    moves = re.findall(r"(\d+)\s*->\s*(\d+)", function)
    if period is None or not moves:
        raise CaseError(f"cannot read the period and transitions from {function!r}")
    raw_rules = inputs["behaviorRulesForThatDirection"]
    change = as_int(inputs, "replicaChange")
    outcome: Outcome = {}
    for before, after in ((int(a), int(b)) for a, b in moves):
        if abs(after - before) != change:
            raise CaseError(f"transition {before}->{after} does not match replicaChange {change}")
        events = events_from(inputs["prevScaleEvents"])
        counted = change_in_period(float(period.group(1)), events, NOW)
        rules = None if raw_rules is None else rules_from(raw_rules, DEFAULT_SCALE_UP)
        memory = HpaMemory(
            up_events=events if after > before else [],
            down_events=events if after <= before else [],
        )
        store_scale_event(rules, rules, memory, before, after, NOW)
        result = {
            f"replicasChangeInLast{period.group(1)}s": counted,
            "eventsAfterStore": [
                {"replicaChange": e.change, "outdated": e.outdated} for e in events
            ],
        }
        if outcome and result != outcome:
            return {"scaleUp": outcome, "scaleDown": result}
        outcome = result
    return outcome


def limit_up(inputs: Inputs) -> Outcome:
    return _limit(inputs, up=True)


def limit_down(inputs: Inputs) -> Outcome:
    return _limit(inputs, up=False)
