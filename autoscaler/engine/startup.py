"""Cold start: learning how long a group takes to become ready, and projecting demand
over that time so scale-ups are sized for the load that will exist when groups arrive.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from operator import itemgetter

from autoscaler.engine.state import EngineState, TimedFloats
from autoscaler.policy.model import ColdStart, Forecast
from autoscaler.snapshot import GroupStatus, LwsSnapshot

# A start longer than this is an outage (image pull loop, stuck scheduling), not a
# cold start; learning it would make every later scale-up wildly early.
_MAX_PLAUSIBLE_START = 4 * 3600.0
# A group still starting after this many cold starts is reported (reason SlowStart). The
# simulated cold starts (lognormal, sigma 0.2) exceed 1.5x the median about once in 50
# starts (2.0 sigma) and 2x about once in 4,000 (ln 2 / 0.2 = 3.5 sigma), so this flags
# what an operator should look at: pods Pending for GPUs, an image pull looping, NCCL
# hanging.
SLOW_START_FACTOR = 2.0
# A start this many times the median of the observed ones is not learned (an outlier, see
# ``typical_starts``). Wider than the SlowStart factor: starts of 60, 120 and 300 s (a
# warm node cache, then a cold one) are ordinary spread, not an outage.
OUTLIER_FACTOR = 4.0


def observe_starts(config: ColdStart, snapshot: LwsSnapshot, state: EngineState) -> EngineState:
    """Record the start duration (created -> ready) of each group seen ready for the
    first time, if it became ready while the engine watched.

    A group is known by (index, creation time), so a group re-created at the same index
    is a new start. Groups absent from a snapshot (a source that lists no groups this
    cycle, or only some) are remembered, so they are not counted again when they
    reappear; one entry per index keeps the memory bounded by the largest size seen.

    Only groups that turned ready at or after ``state.first_seen`` are learned. A group
    already ready when the engine first sees it may have turned Ready again since its
    start: a container restart keeps the pod's creation time and moves the Ready
    condition's transition time, so a group created 3 h ago and Ready again for 1 h would
    read as a 2-hour cold start (with starts of 300 s and 290 s, a learned p75 of 3,750 s).
    """
    if not config.learn or not snapshot.groups or _nothing_new(snapshot, state.seen_starts):
        return state
    known = dict(state.seen_starts)
    durations = list(state.start_durations)
    watched_from = state.first_seen if state.first_seen is not None else -math.inf
    for group in snapshot.groups:
        if known.get(group.index) == group.created_at:
            continue
        if group.ready_at is None:
            known.pop(group.index, None)  # re-created, still starting: count it when ready
            continue
        known[group.index] = group.created_at
        duration = group.ready_at - group.created_at
        if 0 < duration <= _MAX_PLAUSIBLE_START and group.ready_at >= watched_from:
            durations.append(duration)
    seen = frozenset(known.items())
    if seen == state.seen_starts:
        return state
    return state.evolve(
        start_durations=tuple(durations[-config.max_observations :]), seen_starts=seen
    )


def slow_starts(snapshot: LwsSnapshot, now: float, cold: float) -> tuple[tuple[int, float], ...]:
    """(index, seconds since creation) of each group not ready more than
    ``SLOW_START_FACTOR`` cold starts after its creation, by index: with a 5-minute cold
    start, a group created 11 minutes ago and not ready is slow, one created 9 minutes ago
    is not. A group whose leader crashed after it was ready is not ready either, and is
    reported the same way (its pods need a look just as much).

    The group still counts as capacity on the way: ordering another group in its place
    would pile up replicas exactly when they cannot start (no GPU node free), the failure
    the startup-aware rules exist to prevent. It is no longer protected from a scale-down
    the load allows (``stabilize.protect_groups``).
    """
    return tuple(
        (g.index, now - g.created_at)
        for g in sorted(snapshot.groups, key=lambda g: g.index)
        if is_slow_start(g, now, cold)
    )


def is_slow_start(group: GroupStatus, now: float, cold: float) -> bool:
    """Not ready ``SLOW_START_FACTOR`` cold starts after its creation. A creation time of
    0 is unknown (a pod without ``creationTimestamp``), not 1970: never slow."""
    return (
        group.ready_at is None
        and group.created_at > 0
        and now - group.created_at > SLOW_START_FACTOR * cold
    )


def _nothing_new(snapshot: LwsSnapshot, seen: frozenset[tuple[int, float]]) -> bool:
    """True when no group changes what is known: every ready group already counted and
    no starting group at a known index (the usual case, checked without copying)."""
    for group in snapshot.groups:
        if group.ready_at is not None:
            if (group.index, group.created_at) not in seen:
                return False
        elif any(index == group.index for index, _ in seen):
            return False
    return True


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
        return quantile(typical_starts(state.start_durations), config.quantile), True
    return config.expected, False


def typical_starts(durations: tuple[float, ...]) -> tuple[float, ...]:
    """The starts without their one outlier: a single start over ``OUTLIER_FACTOR`` times
    the median.

    Starts of 300 s, 310 s and 3 h (one group waited for a GPU node) have a p75 of
    5,555 s: every scale-up would then be sized 1.5 h ahead and an idle fleet held for
    1.5 h. Measured against the median (the lower one of an even count, so that one
    outlier of two cannot pull it up) the 3 h start is over 4 x 310 s and is left out:
    p75 of (300, 310) = 307.5 s. Starts of 60, 120 and 300 s (a warm node cache, then a
    cold one) are all kept (300 < 4 x 120): p75 210 s. Two or more such starts are a
    pattern, not an accident, and all count: a pool where 3 of 8 starts wait ~480 s for
    a new node beside ~90 s on a warm one learns its p75 (~470 s), not 95 s.
    """
    ordered = sorted(durations)
    limit = OUTLIER_FACTOR * ordered[(len(ordered) - 1) // 2]
    outliers = sum(1 for d in durations if d > limit)
    if outliers != 1:
        return durations
    return tuple(d for d in durations if d <= limit)


# A trend is projected only when its slope stays positive at this many standard errors
# below the fitted value (one-sided, about 97.7% for normal residuals): a demand that
# merely wobbles around a level is not a trend, however steep a least-squares line
# through the wobble happens to be.
TREND_CONFIDENCE_Z = 2.0


def project_demand(
    history: TimedFloats,
    now: float,
    horizon: float,
    config: Forecast,
    smoothing_seconds: float = 0.0,
) -> float | None:
    """Demand in groups expected ``horizon`` seconds from now, or None without a trend.

    A least-squares line ``level + slope * (t - now)`` through the last ``lookback``
    seconds; the projection is ``level + slope_low * horizon`` where ``slope_low`` is the
    slope's lower confidence bound (``slope - 2 * standard error``). Only a significant
    rising trend is projected: falling or flat load is left to the scale-down window.

    - Worked example: demand rose steadily from 2.0 to 3.0 groups over the last 300 s
      (slope 1/300 per s, no scatter, so the bound equals the slope); with a 300 s cold
      start the projection is 3.0 + 300/300 = 4.0 groups.
    - Noise: demand flat at 3.2 groups for 300 s (every 15 s), then one reading of 4.4
      has a fitted slope of 0.00104 per s but a standard error of 0.0012 (inflated as
      below): no projection. A plain least-squares projection would have said
      4.4 + 0.00104 * 300 = 4.71, i.e. 5 groups, from a single 15-second burst.
    - ``smoothing_seconds``: the signals are rates over ``metrics.rateWindow``, so points
      closer together than that share most of their requests and are not independent;
      the standard error is inflated by sqrt(window / spacing) (60 s rates every 15 s:
      x2), the variance inflation of a moving average sampled within its window.
    - The level is the fitted line at ``now``, not the last (noisy) point, and the
      projection is capped at ``maxGrowth`` times that level.
    """
    if not config.enabled or horizon <= 0:
        return None
    # History is in time order (see ``append_window``): slice the lookback, no pass.
    start = bisect_left(history, now - config.lookback, key=itemgetter(0))
    points = history[start : bisect_right(history, now, key=itemgetter(0))]
    n = len(points)
    # A trend needs at least three points spanning half the lookback.
    if n < 3:
        return None
    span = points[-1][0] - points[0][0]
    if span < max(config.lookback / 2, 1e-6):
        return None
    # Least squares with time relative to now, so the sums stay small (seconds within
    # the lookback, not 1.7e9-second Unix times).
    sum_t = sum_d = sum_tt = sum_td = sum_dd = 0.0
    for t, d in points:
        x = t - now
        sum_t += x
        sum_d += d
        sum_tt += x * x
        sum_td += x * d
        sum_dd += d * d
    var_t = sum_tt - sum_t * sum_t / n
    if var_t <= 0:
        return None
    cov = sum_td - sum_t * sum_d / n
    slope = cov / var_t
    # The comparisons are written to fail on NaN, too: demands beyond about 1e154 groups
    # (a garbage gauge that is still finite) overflow the sums of squares to infinity,
    # and inf - inf is NaN, which ``slope <= 0`` would let through to a ``ceil``.
    if not slope > 0:
        return None
    # Residual sum of squares: Syy - Sxy^2 / Sxx (clamped: rounding can make it < 0).
    residual = sum_dd - sum_d * sum_d / n - cov * slope
    if math.isnan(residual):
        return None
    residual = max(0.0, residual)
    spacing = span / (n - 1)
    inflation = max(1.0, smoothing_seconds / spacing)
    standard_error = math.sqrt(residual / (n - 2) / var_t * inflation)
    slope_low = slope - TREND_CONFIDENCE_Z * standard_error
    if not slope_low > 0:
        return None
    level = (sum_d - slope * sum_t) / n  # the fitted line at x = 0, i.e. now
    if not level > 0:
        return None
    projected = min(level + slope_low * horizon, level * config.max_growth)
    return projected if math.isfinite(projected) else None
