"""The tolerance band: from a continuous demand in groups to an integer proposal.

Every signal's demand (``proposals``) goes through :func:`apply_tolerance`, with the
current size, ``spec.tolerance`` and ``scaleDown.spareGroups``.
"""

from __future__ import annotations

import math

# Float noise on the band's edges and on whole numbers of groups (see below).
_EPSILON = 1e-9


def apply_tolerance(needed: float, current: int, tolerance: float, spare: float = 0.0) -> int:
    """HPA-style dead band, with headroom on the way down (hysteresis).

    Up: within ``tolerance`` of the current size, keep it; above, ``ceil(needed)``. With
    4 groups and tolerance 0.1, a demand of 4.3 groups (ratio 1.075) keeps 4, and so does
    4.4 (exactly on the edge: the band is inclusive), while 4.5 (ratio 1.125) proposes 5.

    Down: ``ceil(max(needed * (1 + tolerance), needed + spare))``, never above the current
    size, so the groups that remain still have a full band of headroom: the demand that
    allowed the scale-down would have to rise by (1 + tolerance)^2 (21% at 0.1) before it
    asked for a group back. On 5 groups, 3.92 needs ceil(4.31) = 5: keep 5 (a plain
    ``ceil`` would go to 4, and a 12.5% wobble to 4.41 would order the 5th group again, a
    cold start paid for noise); 3.6 needs ceil(3.96) = 4. ``spare`` (``scaleDown.
    spareGroups``) is headroom in whole groups, for small fleets where 10% is a fraction
    of one: on 3 groups, 1.6 needs ceil(1.76) = 2, but with spare 0.6 ceil(2.2) = 3. The
    epsilons absorb float noise: 4.4/4 - 1 is 0.10000000000000009, and 2.0000000001
    groups must not become 3.
    """
    if current > 0 and abs(needed / current - 1.0) <= tolerance + _EPSILON:
        return current
    up = max(0, math.ceil(needed - _EPSILON))
    if up >= current:
        return up
    # No demand at all needs no spare: the bounds, and scale-to-zero, decide there (a
    # spare of 1.5 would otherwise hold an idle LWS at 2 groups, above the floor of 1
    # that scale-to-zero lowers it to).
    kept = max(needed * (1.0 + tolerance), needed + spare if needed > _EPSILON else 0.0)
    return min(current, max(0, math.ceil(kept - _EPSILON)))
