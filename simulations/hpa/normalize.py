"""From a metric proposal to the replica count the HPA writes: stabilisation and rate limits.

Two paths, as in ``horizontal.go``:

- no ``behavior``: the highest recommendation of the last 5 min (down stabilisation),
  then at most ``max(2 * current, 4)`` and within [min, max];
- with ``behavior``: the scale-up window keeps the *lowest* recent recommendation and the
  scale-down window the *highest*; then the Pods/Percent policies limit the change per
  period, counting the scale events of both directions still inside each policy's period.
  Worked example: Percent 300/300 s from 6 replicas after +4 and -2 events 60 s ago
  starts from 6 - 4 + 2 = 4 and allows ceil(4 * 4.0) = 16.

The controller's memory (:class:`HpaMemory`) is plain lists mutated in place, like the Go
maps: recommendations and scale events are never deleted, only overwritten once obsolete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulations.hpa.spec import MAX_INT32, MIN_INT32, ScalingRules


@dataclass
class Recommendation:
    value: int
    at: float


@dataclass
class ScaleEvent:
    change: int  # >= 0: replicas added (up list) or removed (down list)
    at: float
    outdated: bool = False


@dataclass
class HpaMemory:
    """Per-HPA controller state; ``recommendations`` None until the first reconcile."""

    recommendations: list[Recommendation] | None = None
    up_events: list[ScaleEvent] = field(default_factory=list)
    down_events: list[ScaleEvent] = field(default_factory=list)


def _store_recommendation(
    recs: list[Recommendation], found: int | None, value: int, now: float
) -> None:
    if found is None:
        recs.append(Recommendation(value, now))
    else:
        recs[found] = Recommendation(value, now)


def stabilize_legacy(recs: list[Recommendation], desired: int, now: float, window: float) -> int:
    """``stabilizeRecommendation``: the max of the window; the LAST obsolete slot is reused."""
    highest, found, cutoff = desired, None, now - window
    for i, rec in enumerate(recs):
        if rec.at < cutoff:
            found = i
        elif rec.value > highest:
            highest = rec.value
    _store_recommendation(recs, found, desired, now)
    return highest


def stabilize_with_behavior(
    recs: list[Recommendation],
    current: int,
    desired: int,
    now: float,
    up_window: float,
    down_window: float,
) -> tuple[int, str]:
    """``stabilizeRecommendationWithBehaviors`` -> (stabilised, reason). The unstabilised
    ``desired`` is what gets stored."""
    up_rec, down_rec = desired, desired
    up_cut, down_cut = now - up_window, now - down_window
    found = None
    for i, rec in enumerate(recs):
        if rec.at > up_cut:  # strictly inside the window, as time.After
            up_rec = min(rec.value, up_rec)
        if rec.at > down_cut:
            down_rec = max(rec.value, down_rec)
        if rec.at < up_cut and rec.at < down_cut:
            found = i
    result = max(current, up_rec)
    result = min(result, down_rec)
    _store_recommendation(recs, found, desired, now)
    reason = "ScaleUpStabilized" if desired >= current else "ScaleDownStabilized"
    return result, reason


def legacy_rate_limit(
    current: int, desired: int, min_replicas: int, max_replicas: int, factor: float, minimum: float
) -> tuple[int, str]:
    """``convertDesiredReplicasWithRules``: the 2x/4 scale-up cap and the bounds."""
    limit = int(max(factor * current, minimum))
    if max_replicas > limit:
        allowed_max, condition = limit, "ScaleUpLimit"
    else:
        allowed_max, condition = max_replicas, "TooManyReplicas"
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas"
    if desired > allowed_max:
        return allowed_max, condition
    return desired, "DesiredWithinRange"


def change_in_period(period: float, events: list[ScaleEvent], now: float) -> int:
    """``getReplicasChangePerPeriod``: events strictly younger than ``period``."""
    cutoff = now - period
    return sum(e.change for e in events if e.at > cutoff)


def scale_up_limit(
    current: int, up: list[ScaleEvent], down: list[ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """``calculateScaleUpLimitWithScalingRules``: highest count the policies allow now."""
    if rules.select_policy == "Disabled":
        return current
    pick_min = rules.select_policy == "Min"
    result = MAX_INT32 if pick_min else MIN_INT32
    for p in rules.policies:
        start = (
            current
            - change_in_period(p.period_seconds, up, now)
            + change_in_period(p.period_seconds, down, now)
        )
        # Percent rounds up, or a small target could never grow: 1 * 1.5 -> 2.
        proposed = start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100))
        result = min(result, proposed) if pick_min else max(result, proposed)
    return result


def scale_down_limit(
    current: int, up: list[ScaleEvent], down: list[ScaleEvent], rules: ScalingRules, now: float
) -> int:
    """``calculateScaleDownLimitWithBehaviors``: lowest count the policies allow now.
    Percent truncates toward zero (Go's int32 conversion): 11 * 0.5 = 5.5 -> 5."""
    if rules.select_policy == "Disabled":
        return current
    pick_max = rules.select_policy == "Min"  # the smallest change is the highest floor
    result = MIN_INT32 if pick_max else MAX_INT32
    for p in rules.policies:
        start = (
            current
            - change_in_period(p.period_seconds, up, now)
            + change_in_period(p.period_seconds, down, now)
        )
        proposed = start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100))
        result = max(result, proposed) if pick_max else min(result, proposed)
    return result


def behavior_rate_limit(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    scale_up: ScalingRules,
    scale_down: ScalingRules,
    memory: HpaMemory,
    now: float,
) -> tuple[int, str]:
    """``convertDesiredReplicasWithBehaviorRate`` -> (replicas, ScalingLimited reason)."""
    if desired > current:
        limit = max(
            scale_up_limit(current, memory.up_events, memory.down_events, scale_up, now), current
        )
        if max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
        else:
            allowed, reason = max_replicas, "TooManyReplicas"
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(
            scale_down_limit(current, memory.up_events, memory.down_events, scale_down, now),
            current,
        )
        if min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = min_replicas, "TooFewReplicas"
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def store_scale_event(
    scale_up: ScalingRules | None,
    scale_down: ScalingRules | None,
    memory: HpaMemory,
    previous: int,
    new: int,
    now: float,
) -> None:
    """``storeScaleEvent``: only with a behavior. Events older than the longest policy
    period of their direction are marked outdated; the last outdated slot is reused."""
    if scale_up is None or scale_down is None:
        return
    if new > previous:
        events, rules, change = memory.up_events, scale_up, new - previous
    else:
        events, rules, change = memory.down_events, scale_down, previous - new
    longest = max((p.period_seconds for p in rules.policies), default=0)
    found = None
    for i, event in enumerate(events):
        if event.at < now - longest:
            event.outdated = True
        if event.outdated:
            found = i
    if found is None:
        events.append(ScaleEvent(change, now))
    else:
        events[found] = ScaleEvent(change, now)
