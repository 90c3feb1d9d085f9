"""The tolerance band (``autoscaler/engine/tolerance.py``), through the proposals that
use it: a dead band around the current size, headroom and spare groups on the way down;
and ``apply_tolerance`` itself at the fleet's smallest sizes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.engine.proposals import propose
from autoscaler.engine.tolerance import apply_tolerance
from tests.engine.factories import T0, make_policy, snapshot

QUEUE = {"type": "queueDepth", "targetPerGroup": 10}


@pytest.mark.parametrize(
    ("queue_total", "expected"),
    [
        (43, 4),  # 4.3 groups on 4: ratio 1.075, inside the 10% band -> keep 4
        (44, 4),  # 1.1: on the edge, still inside
        (45, 5),  # 1.125 -> ceil(4.5)
        (37, 4),  # 0.925 -> keep 4
        (29, 4),  # 0.725, but down with headroom: ceil(2.9 * 1.1) = ceil(3.19) = 4
        (27, 3),  # ceil(2.7 * 1.1) = ceil(2.97) = 3
        (10, 2),  # ceil(1.0 * 1.1) = 2: never below what the demand plus headroom needs
        (0, 0),  # no demand at all: 0 (the bounds apply later)
        (40, 4),  # exactly on target
    ],
)
def test_tolerance_band_keeps_the_current_size(queue_total: float, expected: int) -> None:
    policy = make_policy(signals=[QUEUE], tolerance=0.1)
    per_leader = [queue_total / 4] * 4
    (proposal,) = propose(policy.spec, snapshot(T0, queue=per_leader), T0)
    assert proposal.replicas == expected


@pytest.mark.parametrize(
    ("queue_total", "spare", "expected"),
    [
        # 4 groups, tolerance 0.1. The spare only ever lowers a scale-down's depth:
        (16, 0.0, 2),  # ceil(1.6 * 1.1) = ceil(1.76) = 2
        (16, 0.6, 3),  # ceil(max(1.76, 1.6 + 0.6)) = ceil(2.2) = 3
        (16, 1.0, 3),  # ceil(2.6) = 3
        (25, 0.6, 4),  # ceil(max(2.75, 3.1)) = 4: the current size, not below
        (27, 0.2, 3),  # ceil(max(2.97, 2.9)) = 3: the relative headroom is the larger
        (14, 1.0, 3),  # ceil(max(1.54, 2.4)) = 3
        (45, 1.0, 5),  # up is unchanged: ceil(4.5) = 5, no spare on the way up
        (44, 1.0, 4),  # inside the band: keep 4
        (0, 1.5, 0),  # no demand needs no spare: 0 (the bounds and scale-to-zero decide)
        (1, 1.5, 2),  # 0.1 groups: ceil(max(0.11, 1.6)) = 2
    ],
)
def test_spare_groups_deepen_the_headroom_of_a_scale_down(
    queue_total: float, spare: float, expected: int
) -> None:
    policy = make_policy(signals=[QUEUE], tolerance=0.1, scaleDown={"spareGroups": spare})
    per_leader = [queue_total / 4] * 4
    (proposal,) = propose(policy.spec, snapshot(T0, queue=per_leader), T0)
    assert proposal.replicas == expected


@settings(max_examples=300, deadline=None)
@given(
    needed=st.floats(0, 40),
    current=st.integers(1, 12),
    tolerance=st.sampled_from([0.0, 0.05, 0.1, 0.2]),
    spare=st.sampled_from([0.0, 0.3, 0.6, 1.0, 2.5]),
)
def test_spare_groups_never_propose_less_than_demand_plus_spare_below_the_current_size(
    needed: float, current: int, tolerance: float, spare: float
) -> None:
    """Below the current size, a proposal leaves both the relative and the whole-group
    headroom; it is never above the current size unless the demand leaves the band
    upwards, where the spare plays no part."""
    policy = make_policy(signals=[QUEUE], tolerance=tolerance, scaleDown={"spareGroups": spare})
    plain = make_policy(signals=[QUEUE], tolerance=tolerance)
    snap = snapshot(T0, queue=[needed * 10 / current] * current)
    (proposal,) = propose(policy.spec, snap, T0)
    (without,) = propose(plain.spec, snap, T0)
    assert proposal.replicas is not None
    assert without.replicas is not None
    assert without.replicas <= proposal.replicas
    if proposal.replicas < current and needed > 1e-6:  # no demand needs no spare
        assert proposal.replicas >= needed + spare - 1e-6
        assert proposal.replicas >= needed * (1 + tolerance) - 1e-6
    if proposal.replicas > current:
        assert proposal.replicas == without.replicas


def test_zero_tolerance_follows_demand_exactly() -> None:
    policy = make_policy(signals=[QUEUE], tolerance=0.0)
    (proposal,) = propose(policy.spec, snapshot(T0, queue=[10.25] * 4), T0)
    assert proposal.replicas == 5  # 4.1 groups


@pytest.mark.parametrize(
    ("needed", "current", "expected"),
    [
        # At zero groups there is no size to keep: any demand proposes ceil(needed).
        (2.5, 0, 3),
        (0.0, 0, 0),
        # One group: the band is 1 +/- 10%, as at any other size.
        (1.05, 1, 1),
        (0.95, 1, 1),
        (1.15, 1, 2),  # ratio 1.15, above the band: ceil(1.15)
        # No demand on one group proposes 0 (the bounds and scale-to-zero decide later).
        (0.0, 1, 0),
        # Down from one group with headroom: ceil(0.5 * 1.1) = 1, the size itself.
        (0.5, 1, 1),
    ],
)
def test_the_band_at_zero_and_one_group(needed: float, current: int, expected: int) -> None:
    assert apply_tolerance(needed, current, 0.1) == expected


def test_without_spare_groups_only_the_relative_headroom_applies() -> None:
    # The docstring's example: on 3 groups, 1.6 needs ceil(1.76) = 2; spare 0.6 makes
    # it ceil(2.2) = 3.
    assert apply_tolerance(1.6, 3, 0.1) == 2
    assert apply_tolerance(1.6, 3, 0.1, 0.6) == 3
