"""Stabilisation windows and step limits, both measured in seconds of history.

- Scale-up window: the *lowest* target of the window wins (a one-cycle spike does not
  order groups when the window is set); scale-down window: the *highest* wins, so a
  lull shorter than the window never removes a group.
- Step limits: relative to the size at the start of the last ``period`` (the smallest
  ``spec.replicas`` seen in it when going up, the largest when going down), at most
  ``groups`` or ``percent`` (whichever allows more) may be added or removed. With
  ``groups: 4, percent: 100`` from 3 groups, up to max(3+4, 3*2) = 7; once the LWS is at
  7, the next 4 may only come when 3 has left the period, as the HPA counts it.
"""

from __future__ import annotations

import math

from autoscaler.engine.state import TimedInts, within
from autoscaler.policy.model import StepLimit


def stabilised_up(targets: TimedInts, now: float, window: float, target: int) -> int:
    values = within(targets, now, window) if window > 0 else []
    return min([*values, target])


def stabilised_down(targets: TimedInts, now: float, window: float, target: int) -> int:
    values = within(targets, now, window) if window > 0 else []
    return max([*values, target])


def up_limit(limit: StepLimit | None, sizes: TimedInts, now: float, current: int) -> int | None:
    """Highest recommendation allowed now, or None when unlimited."""
    if limit is None:
        return None
    base = min([*within(sizes, now, limit.period), current])
    by_groups = base + limit.groups if limit.groups is not None else base
    by_percent = math.ceil(base * (1 + limit.percent / 100)) if limit.percent is not None else base
    # Never below the current size: the period's base can be far below it (someone
    # scaled by hand), and a scale-up limit must not turn into a scale-down.
    return max(by_groups, by_percent, base + 1, current)


def down_limit(limit: StepLimit | None, sizes: TimedInts, now: float, current: int) -> int | None:
    """Lowest recommendation allowed now, or None when unlimited."""
    if limit is None:
        return None
    base = max([*within(sizes, now, limit.period), current])
    by_groups = base - limit.groups if limit.groups is not None else base
    by_percent = math.floor(base * (1 - limit.percent / 100)) if limit.percent is not None else base
    # Never above the current size (as the HPA caps it): from 8 a minute ago, now 4 (set
    # by hand), with 1 group per period the limit is min(8 - 1, 4) = 4, not 7, so the
    # scale-down path can hold the size but never raise it.
    return max(0, min(by_groups, by_percent, base - 1, current))
