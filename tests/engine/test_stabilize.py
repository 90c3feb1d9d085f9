"""``stabilize.protect_groups``: which groups a scale-down must keep, table-driven, and
through ``decide`` for the case where ``spec.replicas`` is below the groups that exist."""

from __future__ import annotations

import math

import pytest

from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import ReasonCode
from autoscaler.engine.stabilize import protect_groups
from autoscaler.snapshot import GroupStatus
from tests.engine.factories import T0, Driver, make_policy, snapshot

AGE = {"scaleDown": {"minGroupAge": "2m"}}
READY_LONG_AGO = T0 - 600.0


def _group(index: int, state: str) -> GroupStatus:
    """``ready``: ready 10 minutes ago; ``young``: ready 30 s ago; ``starting``."""
    if state == "starting":
        return GroupStatus(index, T0 - 60.0)
    ready_at = READY_LONG_AGO if state == "ready" else T0 - 30.0
    return GroupStatus(index, ready_at - 300.0, ready_at)


@pytest.mark.parametrize(
    ("states", "current", "wish", "kept", "reason"),
    [
        # The LWS controller removes the highest indices first.
        (["ready"] * 5, 5, 2, 2, None),
        (["ready", "ready", "ready", "starting", "ready"], 5, 2, 4, ReasonCode.PROTECT_STARTING),
        (["ready", "ready", "young", "ready"], 4, 1, 3, ReasonCode.PROTECT_YOUNG),
        (["ready", "ready", "ready", "starting"], 4, 4, 4, None),
        # Groups at or above spec.replicas are already on their way out: a group 3 still
        # starting while spec.replicas is 2 must not turn a scale-down into 4.
        (["ready", "ready", "ready", "starting"], 2, 1, 1, None),
        (["ready", "ready", "young", "young"], 2, 1, 1, None),
    ],
)
def test_which_groups_a_scale_down_keeps(
    states: list[str], current: int, wish: int, kept: int, reason: ReasonCode | None
) -> None:
    policy = make_policy(**AGE)
    groups = [_group(i, state) for i, state in enumerate(states)]
    ready = sum(1 for g in groups if g.ready_at is not None)
    snap = snapshot(
        T0, current=current, ready=ready, starting=len(groups) - ready, groups=groups, queue=[0]
    )
    ctx = DecisionContext(policy, T0, 300.0)
    assert protect_groups(ctx, wish, snap) == kept
    assert kept <= max(current, wish)
    codes = {r.code for r in ctx.reasons}
    assert (reason in codes) if reason else not codes


def test_a_group_ready_since_an_unknown_time_is_kept_as_young() -> None:
    """``ready_at`` infinite (``sources.kube.READY_TIME_UNKNOWN``): never old enough to go."""
    policy = make_policy(**AGE)
    groups = [_group(0, "ready"), GroupStatus(1, T0 - 900.0, math.inf)]
    snap = snapshot(T0, current=2, ready=2, groups=groups, queue=[0, 0])
    ctx = DecisionContext(policy, T0, 300.0)
    assert protect_groups(ctx, 1, snap) == 2
    assert {r.code for r in ctx.reasons} == {ReasonCode.PROTECT_YOUNG}
    decision = Driver(policy).step(snap)
    assert decision.replicas == 2
    assert decision.demand is not None
    assert math.isfinite(decision.demand)


def test_a_decision_never_scales_up_for_a_group_above_spec_replicas() -> None:
    """spec.replicas 2 with groups 0-2 ready and group 3 still starting (a scale-down
    the controller is carrying out) and no load: the decision goes down, never to 4."""
    groups = [_group(0, "ready"), _group(1, "ready"), _group(2, "ready"), _group(3, "starting")]
    snap = snapshot(T0, current=2, ready=3, starting=1, groups=groups, queue=[0, 0, 0])
    decision = Driver(make_policy()).step(snap)
    assert decision.replicas == 1
