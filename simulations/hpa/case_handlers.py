"""One handler per kind of upstream HPA test case (the ``inputs.function`` of a case).

Each handler reads the case's ``inputs`` strictly (an unknown field is a
:class:`~simulations.hpa.case_support.CaseError`, never silently ignored), runs the
emulator's port of the function under test at a fixed instant, and returns the actual
outcome under the same keys as the case's ``expected``.
"""

from __future__ import annotations

from collections.abc import Callable

from simulations.hpa.case_controller import calculator, reconcile
from simulations.hpa.case_functions import (
    behavior_rate,
    legacy_rules,
    limit_down,
    limit_up,
    stabilize_behavior,
    stabilize_plain,
    store_events,
)
from simulations.hpa.case_support import CaseError, Inputs, Outcome

__all__ = ["CaseError", "handler_for"]

Handler = Callable[[Inputs], Outcome]

# (prefix of inputs.function, handler); the first match wins, so longer names come first.
HANDLERS: tuple[tuple[str, Handler], ...] = (
    ("convertDesiredReplicasWithBehaviorRate", behavior_rate),
    ("convertDesiredReplicasWithRules", legacy_rules),
    ("stabilizeRecommendationWithBehaviors", stabilize_behavior),
    ("stabilizeRecommendation", stabilize_plain),
    ("calculateScaleUpLimitWithScalingRules", limit_up),
    ("calculateScaleDownLimitWithBehaviors", limit_down),
    ("getReplicasChangePerPeriod", store_events),
    ("reconcileAutoscaler", reconcile),
    ("podMetric", calculator),
    ("externalMetric", calculator),
    ("externalPerPodMetric", calculator),
    ("object ", calculator),
    ("objectPerPodMetric", calculator),
)


def handler_for(function: str) -> Handler:
    for prefix, handler in HANDLERS:
        if function.startswith(prefix):
            return handler
    raise CaseError(f"unsupported function {function!r}")
