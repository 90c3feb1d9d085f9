"""Cold start: learning how long a group takes to become ready, and projecting demand
over that time so scale-ups are sized for the load that will exist when groups arrive.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from operator import itemgetter

from autoscaler.engine.state import EngineState, TimedFloats
from autoscaler.policy.model import ColdStart, Forecast
from autoscaler.snapshot import LwsSnapshot

# A start longer than this is an outage (image pull loop, stuck scheduling), not a
# cold start; learning it would make every later scale-up wildly early.
_MAX_PLAUSIBLE_START = 4 * 3600.0


def observe_starts(config: ColdStart, snapshot: LwsSnapshot, state: EngineState) -> EngineState:
    """Record the start duration (created -> ready) of each group seen ready for the
    first time.

    A group is known by (index, creation time), so a group re-created at the same index
    is a new start. Groups absent from a snapshot (a source that lists no groups this
    cycle, or only some) are remembered, so they are not counted again when they
    reappear; one entry per index keeps the memory bounded by the largest size seen.
    """
    if not config.learn or not snapshot.groups:
        return state
    known = dict(state.seen_starts)
    durations = list(state.start_durations)
    for group in snapshot.groups:
        if known.get(group.index) == group.created_at:
            continue
        if group.ready_at is None:
            known.pop(group.index, None)  # re-created, still starting: count it when ready
            continue
        known[group.index] = group.created_at
        duration = group.ready_at - group.created_at
        if 0 < duration <= _MAX_PLAUSIBLE_START:
            durations.append(duration)
    seen = frozenset(known.items())
    if seen == state.seen_starts:
        return state
    return state.evolve(
        start_durations=tuple(durations[-config.max_observations :]), seen_starts=seen
    )


def quantile(values: tuple[float, ...], q: float) -> float:
    """Linear-interpolated quantile, as numpy's default: [60, 120, 300] at 0.75 -> 210."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def cold_start_seconds(config: ColdStart, state: EngineState) -> tuple[float, bool]:
    """(seconds, learned): the learned quantile once enough starts were seen, else the
    policy's expected value. A high quantile (default p75) is robust to one fast start
    from a warm node cache, which would otherwise make scale-ups late.
    """
    if config.learn and len(state.start_durations) >= config.min_observations:
        return quantile(state.start_durations, config.quantile), True
    return config.expected, False


def project_demand(
    history: TimedFloats, now: float, horizon: float, config: Forecast
) -> float | None:
    """Demand in groups expected ``horizon`` seconds from now, or None without a trend.

    A least-squares line through the last ``lookback`` seconds; only a rising trend is
    projected (falling load is left to the scale-down window). Worked example: demand
    rose from 2.0 to 3.0 groups over the last 300 s (slope 1/300 per s); with a 300 s
    cold start the projection is 3.0 + 300/300 = 4.0 groups. The projection is capped at
    ``maxGrowth`` times the current demand so one noisy minute cannot order a fleet.
    """
    if not config.enabled or horizon <= 0:
        return None
    # History is in time order (see ``append_window``): slice the lookback, no pass.
    start = bisect_left(history, now - config.lookback, key=itemgetter(0))
    points = history[start : bisect_right(history, now, key=itemgetter(0))]
    # Need a trend over at least a third of the lookback, from three points or more.
    if len(points) < 3 or points[-1][0] - points[0][0] < max(config.lookback / 3, 1e-6):
        return None
    # Least squares in one pass, with time relative to now so the sums stay small
    # (seconds within the lookback, not 1.7e9-second Unix times).
    n = len(points)
    sum_t = sum_d = sum_tt = sum_td = 0.0
    for t, d in points:
        x = t - now
        sum_t += x
        sum_d += d
        sum_tt += x * x
        sum_td += x * d
    var_t = sum_tt - sum_t * sum_t / n
    if var_t <= 0:
        return None
    slope = (sum_td - sum_t * sum_d / n) / var_t
    if slope <= 0:
        return None
    current = points[-1][1]
    projected = current + slope * horizon
    return min(projected, current * config.max_growth) if current > 0 else None
