"""``stabilize.protect_groups``: which groups a scale-down must keep, table-driven, and
through ``decide`` for the case where ``spec.replicas`` is below the groups that exist;
and which of the windows and step limits ``scale_up``/``scale_down`` name as the reason."""

from __future__ import annotations

import math

import pytest

from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import ReasonCode
from autoscaler.engine.proposals import propose
from autoscaler.engine.stabilize import (
    keep_existing_under_pressure,
    observation_start,
    protect_groups,
    scale_down,
    scale_up,
)
from autoscaler.engine.state import EngineState, TimedInts
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


@pytest.mark.parametrize(
    ("current", "ready", "starting", "wish", "kept", "reason"),
    [
        # Without per-group detail, every starting group is kept: 3 ready + 2 starting.
        (5, 3, 2, 2, 5, ReasonCode.PROTECT_STARTING),
        (5, 5, 0, 2, 2, None),  # nothing starting: the wish
        (5, 3, 2, 5, 5, None),  # the wish keeps them all already: nothing to protect
        # spec.replicas 2 below the 4 that exist (a scale-down under way): never above 2.
        (2, 2, 2, 1, 2, ReasonCode.PROTECT_STARTING),
    ],
)
def test_without_group_detail_a_scale_down_keeps_the_starting_groups_up_to_spec_replicas(
    current: int, ready: int, starting: int, wish: int, kept: int, reason: ReasonCode | None
) -> None:
    snap = snapshot(T0, current=current, ready=ready, starting=starting, queue=[0] * ready)
    ctx = DecisionContext(make_policy(), T0, 300.0)
    assert protect_groups(ctx, wish, snap) == kept
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


# A 60 s window and at most 2 groups per 60 s, both ways.
STEPPED = {
    "scaleUp": {"stabilizationWindow": "60s", "maxStep": {"groups": 2, "period": "60s"}},
    "scaleDown": {"stabilizationWindow": "60s", "maxStep": {"groups": 2, "period": "60s"}},
}


@pytest.mark.parametrize(
    ("history", "target", "expected", "reasons"),
    [
        # From 3: the window's lowest (5) is the target itself, and 3 + 2 = 5 allows it
        # exactly: neither held it back, neither is named.
        (((T0 - 30, 5),), 5, 5, set()),
        (((T0 - 30, 4),), 6, 4, {ReasonCode.SCALE_UP_WINDOW}),  # 4 within 60 s
        ((), 7, 5, {ReasonCode.STEP_LIMIT}),  # at most 3 + 2
    ],
)
def test_scale_up_names_a_window_or_step_limit_only_when_it_held_the_target_back(
    history: TimedInts, target: int, expected: int, reasons: set[ReasonCode]
) -> None:
    ctx = DecisionContext(make_policy(**STEPPED), T0, 300.0)
    assert scale_up(ctx, history, (), 3, target) == expected
    assert {r.code for r in ctx.reasons} == reasons


@pytest.mark.parametrize(
    ("history", "target", "expected", "reasons"),
    [
        # From 6: the window's highest (4) is the target itself, and 6 - 2 = 4 allows it
        # exactly: neither held it back, neither is named.
        (((T0 - 30, 4),), 4, 4, set()),
        (((T0 - 30, 5),), 4, 5, {ReasonCode.SCALE_DOWN_WINDOW}),  # 5 within 60 s
        ((), 2, 4, {ReasonCode.STEP_LIMIT}),  # at least 6 - 2
    ],
)
def test_scale_down_names_a_window_or_step_limit_only_when_it_held_the_target_back(
    history: TimedInts, target: int, expected: int, reasons: set[ReasonCode]
) -> None:
    ctx = DecisionContext(make_policy(**STEPPED), T0, 300.0)
    snap = snapshot(T0, queue=[1] * 6)  # 6 ready groups, no per-group detail
    assert scale_down(ctx, history, (), T0 - 600, snap, (), target) == expected
    assert {r.code for r in ctx.reasons} == reasons


@pytest.mark.parametrize(
    ("rec", "kept", "reason"),
    [
        (2, 4, ReasonCode.PRESSURE),  # below the 3 ready + 1 starting: all 4 kept
        (4, 4, None),  # already every existing group: nothing kept back, nothing named
        (5, 5, None),
    ],
)
def test_under_pressure_a_recommendation_never_drops_below_the_existing_groups(
    rec: int, kept: int, reason: ReasonCode | None
) -> None:
    policy = make_policy()
    # spec.replicas 2, with 3 ready and 1 starting; 30 waiting per group, target 10.
    snap = snapshot(T0, current=2, ready=3, starting=1, queue=[30, 30, 30])
    proposals = propose(policy.spec, snap, T0)
    ctx = DecisionContext(policy, T0, 300.0)
    assert keep_existing_under_pressure(ctx, rec, snap, proposals) == kept
    codes = {r.code for r in ctx.reasons}
    assert (reason in codes) if reason else not codes


@pytest.mark.parametrize(
    ("observed_since", "last", "start"),
    [
        (T0 - 1000, T0 - 15, T0 - 1000),  # the usual pace: the stretch goes on
        (T0 - 1000, T0 - 600, T0 - 1000),  # a gap of exactly the 10 min window: not longer
        (T0 - 1000, T0 - 601, T0),  # longer than the window: a new stretch
        (T0 - 1000, T0, T0 - 1000),  # a target stamped now
        (T0 - 1000, T0 + 15, T0),  # stamped after now (the clock stepped back)
        (None, T0 - 15, T0),  # no stretch yet
    ],
)
def test_the_observation_stretch_restarts_after_a_gap_longer_than_the_down_window(
    observed_since: float | None, last: float, start: float
) -> None:
    policy = make_policy(scaleDown={"stabilizationWindow": "10m"})  # staleAfter 60 s: shorter
    state = EngineState(observed_since=observed_since, targets=((last, 3),))
    assert observation_start(DecisionContext(policy, T0, 300.0), state) == start
