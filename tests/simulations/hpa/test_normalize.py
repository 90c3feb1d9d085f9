"""The HPA's rate limits at their edges: which count and which ``ScalingLimited`` reason.

The controller writes the reason into the condition whether or not it limited
(``normalizeDesiredReplicas`` sets ScalingLimited False with the same reason), so a
reason wrong only at a tie still shows in ``kubectl describe hpa``. The upstream cases
(``test_conformance.py``) never land on these ties: a desired count equal to the
limit, and a limit equal to ``maxReplicas``.
"""

from __future__ import annotations

import pytest

from simulations.hpa.normalize import (
    HpaMemory,
    Recommendation,
    ScaleEvent,
    behavior_rate_limit,
    legacy_rate_limit,
    scale_down_limit,
    scale_up_limit,
    stabilize_with_behavior,
    store_scale_event,
)
from simulations.hpa.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    ScalingPolicy,
    ScalingRules,
)

HALF_PER_MINUTE = ScalingRules(None, "Max", (ScalingPolicy("Percent", 50, 60),))
DISABLED = ScalingRules(0.0, "Disabled", (ScalingPolicy("Pods", 4, 15),))


@pytest.mark.parametrize(
    ("current", "desired", "min_replicas", "max_replicas", "expected"),
    [
        # The cap is max(2 * current, 4): from 3, 6.
        (3, 10, 1, 10, (6, "ScaleUpLimit")),
        # From 2 the cap is 4, which is also maxReplicas: the bound is named, as upstream
        # (``hpaMaxReplicas > scaleUpLimit`` is false at a tie).
        (2, 10, 1, 4, (4, "TooManyReplicas")),
        # A desired count at the cap is within range, not limited.
        (2, 4, 1, 10, (4, "DesiredWithinRange")),
        (3, 0, 1, 10, (1, "TooFewReplicas")),
        (3, 1, 1, 10, (1, "DesiredWithinRange")),
    ],
)
def test_the_legacy_limit_names_the_bound_that_applies(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    expected: tuple[int, str],
) -> None:
    assert legacy_rate_limit(current, desired, min_replicas, max_replicas, 2.0, 4.0) == expected


@pytest.mark.parametrize(
    ("current", "desired", "min_replicas", "max_replicas", "up", "down", "expected"),
    [
        # The default scale-up allows max(current + 4, 2 * current): from 2, 6.
        (2, 10, 1, 20, DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN, (6, "ScaleUpLimit")),
        (2, 10, 1, 6, DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN, (6, "TooManyReplicas")),
        (2, 6, 1, 10, DEFAULT_SCALE_UP, DEFAULT_SCALE_DOWN, (6, "DesiredWithinRange")),
        (3, 5, 1, 10, DISABLED, DEFAULT_SCALE_DOWN, (3, "ScaleUpLimit")),
        # Half a minute's worth down: from 4, int(4 * 0.5) = 2.
        (4, 1, 1, 10, DEFAULT_SCALE_UP, HALF_PER_MINUTE, (2, "ScaleDownLimit")),
        (4, 2, 1, 10, DEFAULT_SCALE_UP, HALF_PER_MINUTE, (2, "DesiredWithinRange")),
        (4, 1, 2, 10, DEFAULT_SCALE_UP, HALF_PER_MINUTE, (2, "TooFewReplicas")),
        (5, 1, 1, 10, DEFAULT_SCALE_UP, DISABLED, (5, "ScaleDownLimit")),
        (4, 4, 1, 10, DEFAULT_SCALE_UP, HALF_PER_MINUTE, (4, "DesiredWithinRange")),
    ],
)
def test_the_behavior_limit_names_the_bound_that_applies(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    up: ScalingRules,
    down: ScalingRules,
    expected: tuple[int, str],
) -> None:
    outcome = behavior_rate_limit(
        current, desired, min_replicas, max_replicas, up, down, HpaMemory(), 1000.0
    )
    assert outcome == expected


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        # Exactly the longest period old is not yet outdated (``Before(cutoff)``): the
        # new event goes into a slot of its own.
        (60.0, [ScaleEvent(2, 940.0), ScaleEvent(1, 1000.0)]),
        # A second older is, and its slot is reused.
        (61.0, [ScaleEvent(1, 1000.0)]),
    ],
)
def test_a_scale_event_is_outdated_only_past_the_longest_period(
    age: float, expected: list[ScaleEvent]
) -> None:
    memory = HpaMemory(down_events=[ScaleEvent(2, 1000.0 - age)])
    store_scale_event(DEFAULT_SCALE_UP, HALF_PER_MINUTE, memory, 5, 4, 1000.0)
    assert memory.down_events == expected
    assert memory.up_events == []


@pytest.mark.parametrize(
    ("at", "up_window", "down_window", "expected"),
    [
        # At the longer window's cutoff exactly (1000 - 120): outside it (``After`` is
        # strict) but not older than it (``Before`` is strict too): its slot is kept.
        (880.0, 120.0, 60.0, [Recommendation(7, 880.0), Recommendation(3, 1000.0)]),
        (880.0, 60.0, 120.0, [Recommendation(7, 880.0), Recommendation(3, 1000.0)]),
        (879.0, 120.0, 60.0, [Recommendation(3, 1000.0)]),
        (879.0, 60.0, 120.0, [Recommendation(3, 1000.0)]),
    ],
)
def test_a_recommendation_slot_is_reused_only_once_older_than_both_windows(
    at: float, up_window: float, down_window: float, expected: list[Recommendation]
) -> None:
    recs = [Recommendation(7, at)]
    stable, _ = stabilize_with_behavior(recs, 5, 3, 1000.0, up_window, down_window)
    assert stable == 3  # the old 7 is inside neither window
    assert recs == expected


def test_both_limits_start_from_the_size_at_the_start_of_the_period() -> None:
    """``periodStartReplicas = current - added + deleted`` for either direction. At 6
    replicas, 2 added 30 s ago and 1 removed 20 s ago, the period began at 6 - 2 + 1 = 5:
    it may halve (to int(5 * 0.5) = 2) or double (to 10)."""
    up = [ScaleEvent(2, 970.0), ScaleEvent(9, 900.0)]  # the 9 is older than the minute
    down = [ScaleEvent(1, 980.0)]
    doubling = ScalingRules(0.0, "Max", (ScalingPolicy("Percent", 100, 60),))
    assert scale_down_limit(6, up, down, HALF_PER_MINUTE, 1000.0) == 2
    assert scale_up_limit(6, up, down, doubling, 1000.0) == 10


def test_percent_limits_round_away_from_the_change() -> None:
    """1% of 201 replicas is 2.01: three may be added (``math.Ceil``), and two removed
    (201 * 0.99 = 198.99, truncated by the int32 conversion to 198)."""
    one_percent = ScalingRules(0.0, "Max", (ScalingPolicy("Percent", 1, 60),))
    assert scale_up_limit(201, [], [], one_percent, 1000.0) == 204
    assert scale_down_limit(201, [], [], one_percent, 1000.0) == 198
