"""Stabilisation windows and step limits, both measured in seconds of history.

- Scale-up window: the *lowest* target of the window wins (a one-cycle spike does not
  order groups when the window is set); scale-down window: the *highest* wins, so a
  lull shorter than the window never removes a group.
- Step limits: relative to the size at the start of the last ``period`` (the smallest
  ``spec.replicas`` seen in it when going up, the largest when going down), at most
  ``groups`` or ``percent`` (whichever allows more) may be added or removed. With
  ``groups: 4, percent: 100`` from 3 groups, up to max(3+4, 3*2) = 7; once the LWS is at
  7, no more may come until the size 3 has left the period, as the HPA counts it (then
  up to max(7+4, 7*2) = 14).
- Percentages are applied in exact arithmetic, to the percent as written in the policy:
  in floats, 10 * (1 - 80/100) is 1.9999999999999996 and 50 * (1 + 10/100) is
  55.00000000000001, so ``percent: 80`` down from 10 gave 1 instead of 2 and
  ``percent: 10`` up from 50 gave 56 instead of 55.
"""

from __future__ import annotations

import math
from fractions import Fraction

from autoscaler.engine.state import TimedInts, within
from autoscaler.policy.model import StepLimit


def stabilised_up(targets: TimedInts, now: float, window: float, target: int) -> int:
    values = within(targets, now, window) if window > 0 else []
    return min([*values, target])


def stabilised_down(targets: TimedInts, now: float, window: float, target: int) -> int:
    values = within(targets, now, window) if window > 0 else []
    return max([*values, target])


def _exact_percent(percent: float) -> Fraction:
    """``percent`` as the decimal it was written as: ``repr`` is the shortest decimal
    that reads back as the same float, so 33.3 is 333/10, not the binary
    33.2999999999999971578..., and 0.1% of 1000 groups is exactly 1."""
    return Fraction(repr(percent))


def up_limit(limit: StepLimit | None, sizes: TimedInts, now: float, current: int) -> int | None:
    """Highest recommendation allowed now, or None when unlimited."""
    if limit is None:
        return None
    # Sizes of 0 are ignored: a wake from zero goes to ``replicas.min`` at once, outside
    # the step limit, so the period counts from the size it woke to. From 0, a percent
    # allows 0 groups and only the "at least one" below would be left: with
    # ``{percent: 100, period: 5m}`` and a demand of 20 groups after a wake to 1, the
    # base 0 held the LWS at max(0, 0 + 1, 1) = 1 for five minutes; from the base 1 it
    # may double to 2 at once (and to 4 once 1 has left the period).
    base = min([*(size for size in within(sizes, now, limit.period) if size > 0), current])
    by_groups = base + limit.groups if limit.groups is not None else base
    by_percent = base
    percent = limit.percent
    # A NaN percent (the policy model refuses it) limits like an absent one.
    if percent is not None and not math.isnan(percent):
        if math.isinf(percent):
            return None  # whichever allows more: an infinite percent allows anything
        # ceil(base * (100 + percent) / 100): 50 groups +10% is 55 exactly.
        by_percent = math.ceil(base * (100 + _exact_percent(percent)) / 100)
    # Never below the current size: the period's base can be far below it (someone
    # scaled by hand), and a scale-up limit must not turn into a scale-down.
    return max(by_groups, by_percent, base + 1, current)


def down_limit(limit: StepLimit | None, sizes: TimedInts, now: float, current: int) -> int | None:
    """Lowest recommendation allowed now, or None when unlimited."""
    if limit is None:
        return None
    base = max([*within(sizes, now, limit.period), current])
    by_groups = base - limit.groups if limit.groups is not None else base
    by_percent = base
    percent = limit.percent
    if percent is not None and not math.isnan(percent):
        # floor(base * (100 - percent) / 100): 10 groups -80% keeps 2 exactly; 100% or
        # more (infinity included) allows all of them to go.
        by_percent = (
            0 if percent >= 100 else math.floor(base * (100 - _exact_percent(percent)) / 100)
        )
    # Never above the current size (as the HPA caps it): from 8 a minute ago, now 4 (set
    # by hand), with 1 group per period the limit is min(8 - 1, 4) = 4, not 7, so the
    # scale-down path can hold the size but never raise it.
    return max(0, min(by_groups, by_percent, base - 1, current))
