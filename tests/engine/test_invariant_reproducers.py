"""Plain reproducers of what the rule invariants (``test_rule_invariants.py``) found.

Each is a minimised closed-loop draw written out as exact snapshots. A product defect
found there is added here as a strict ``xfail`` until it is fixed (the strict mark then
fails as XPASS: remove it, and any ``KNOWN_DEFECT`` exemption in
``test_rule_invariants.py`` that points at it). Six are fixed (the first two in 06d4d09,
three more in 0baee55, the gap after a clock step back the clock catches up on in the
commit after it) and stay as regression tests.
"""

from __future__ import annotations

import pytest

from autoscaler.engine import ReasonCode
from autoscaler.snapshot import LwsSnapshot
from tests.engine.factories import T0, Driver, codes, make_policy, ready_groups, snapshot

DRAIN = {"drain": {"enabled": True, "timeout": "2m"}}
OLD = ready_groups(3, T0 - 3600)  # ready for an hour: no protection applies


def _idle(now: float, size: int) -> LwsSnapshot:
    groups = ready_groups(size, T0 - 3600)
    return snapshot(now, groups=groups, queue=[0.0] * size, running=[0.0] * size)


def _silent(now: float, size: int) -> LwsSnapshot:
    """``size`` ready groups whose leaders all missed the scrape."""
    return snapshot(now, current=size, ready=size, groups=ready_groups(size, T0 - 3600))


@pytest.mark.parametrize("blind", ["no snapshot", "every leader silent"])
def test_a_hold_after_a_completed_drain_keeps_the_groups_it_removes_drained(blind: str) -> None:
    """docs/engine.md §4: a lower recommendation removes groups rec..current-1 only once
    they are drained. A hold on missing data that repeats a completed drain's size must
    not call the drain off as well: with ``draining`` empty, ``server/cordon.py`` labelled
    ``model-1`` serving again while the recommendation still removed group 1 (the defect,
    from ``decide`` clearing ``state.draining`` whenever a decision names no leader).

    2 idle groups, ``drain: {timeout: 2m}``, no windows, no step limit:
    t=0 drain group 1 (recommend 2), t=15 drained (recommend 1, ``draining`` model-1),
    t=30 the HPA has not applied 1 yet and the scrape fails: the engine held 1 with
    ``draining`` empty; now it keeps naming ``model-1``."""
    d = Driver(make_policy(scaleDown=DRAIN))
    start = d.step(_idle(d.now, 2))
    assert (start.replicas, start.draining) == (2, ("model-1",))
    done = d.step(_idle(d.now + 15, 2), advance=15)
    assert (done.replicas, done.draining) == (1, ("model-1",))
    held = d.step(None if blind == "no snapshot" else _silent(d.now + 15, 2), advance=15)
    assert ReasonCode.HOLD in codes(held)
    # Either the groups stay out of routing until they go, or they are not removed.
    assert held.draining == ("model-1",) or held.replicas == 2


def test_a_drain_across_a_stalled_loop_removes_one_step_per_period() -> None:
    """docs/engine.md §4: the scale-down step limit counts from the largest size of the
    last period, and never more than ``groups`` per ``period``. 3 idle groups,
    ``maxStep: {groups: 1, period: 45s}``, drain on, no windows:

    - t=0: the rules ask for 1, the step limit allows 2: group 2 drains, recommend 3;
    - t=200 (the loop stalled: no decision for 200 s): the LWS is still at 3, yet the
      drain deepens to group 1 as well (the step limit counted from 2, the drain's
      destination, since no size was seen in the last 45 s);
    - t=215: both drained: recommend 1, two groups in one step from 3.

    Without the stall, every decision records the live size 3 and the drain stays at 2.
    (The defect: ``stabilize.scale_down`` counted the limit from ``drain_view``'s size.)"""
    policy = make_policy(scaleDown={**DRAIN, "maxStep": {"groups": 1, "period": "45s"}})
    d = Driver(policy)
    first = d.step(_idle(d.now, 3))
    assert (first.replicas, first.draining) == (3, ("model-2",))
    d.step(_idle(d.now + 200, 3), advance=200)
    after = d.step(_idle(d.now + 15, 3), advance=15)
    assert after.current == 3
    assert after.replicas is not None
    assert after.replicas >= 2, f"3 -> {after.replicas} in one step of at most 1 group"


def test_without_a_stall_a_drain_removes_one_step_per_period() -> None:
    """The same drain without the stall: the live size 3 is seen every 15 s, and the
    recommendation goes to 2 only."""
    policy = make_policy(scaleDown={**DRAIN, "maxStep": {"groups": 1, "period": "45s"}})
    d = Driver(policy)
    for advance in (0, 15, 15, 15, 15):
        decision = d.step(_idle(d.now + advance, 3), advance=advance)
        assert decision.replicas in (2, 3)
        assert decision.draining == ("model-2",)


def test_a_hold_after_the_drained_size_applied_names_no_deleted_group() -> None:
    """docs/engine.md §4: a lower recommendation ``rec`` removes the groups with index
    ``rec .. current-1`` and the decision names *their* leaders; the property in
    ``test_properties.py`` checks that draining leaders are "all of groups that exist
    under the current size". 2 idle groups, drain on: t=0 drain group 1, t=15 drained
    (recommend 1), t=30 the HPA has applied 1 (``spec.replicas`` 1, group 1 deleted) and
    the one leader misses the scrape: the hold still names ``model-1``. The server then
    labels a pod that no longer exists, and would label out a new group 1 created
    while the hold lasts."""
    d = Driver(make_policy(scaleDown=DRAIN))
    assert d.step(_idle(d.now, 2)).draining == ("model-1",)
    assert d.step(_idle(d.now + 15, 2), advance=15).replicas == 1
    held = d.step(_silent(d.now + 15, 1), advance=15)
    assert ReasonCode.HOLD in codes(held)
    assert held.current == 1
    assert held.draining == ()


def _busy(now: float) -> LwsSnapshot:
    groups = ready_groups(2, T0 - 3600)
    return snapshot(now, groups=groups, queue=[10.0, 10.0], running=[3.0, 3.0])


def test_after_a_clock_step_back_a_gap_still_restarts_the_warm_up() -> None:
    """docs/engine.md §4: no scale-down until the down window has been observed in full,
    "without a gap between decisions longer than the window"; §6: "data missing for
    longer than the down window ... restarts the warm-up, so the first decisions after
    an outage cannot scale down on a single observation"; §7: after a step back "the
    down window [gets] its length".

    ``scaleDown.stabilizationWindow: 2m``: 2 busy groups observed every 15 s for 150 s
    (target 2); the clock steps back 600 s and the source returns nothing (a hold);
    200 s later 2 idle groups: the engine recommends 1 at once. Without the step back
    (the hold at 165 s, the idle groups at 365 s) it says ``WindowsWarmingUp``."""
    d = Driver(make_policy(scaleDown={"stabilizationWindow": "2m"}))
    for advance in [0.0] + [15.0] * 10:
        assert d.step(_busy(d.now + advance), advance=advance).replicas == 2
    assert ReasonCode.HOLD in codes(d.step(None, advance=-600))
    after = d.step(_idle(d.now + 200, 2), advance=200)
    assert after.replicas == 2
    assert ReasonCode.WARMING_UP in codes(after)


def _partial(now: float) -> LwsSnapshot:
    """2 ready groups, group 1's leader silent: a target of 1, but ``PartialData``."""
    groups = ready_groups(2, T0 - 3600)
    return snapshot(now, current=2, ready=2, groups=groups, queue=[0.0], running=[0.0])


@pytest.mark.parametrize("hold_after", [-600.0, 15.0], ids=["clock-stepped-back", "steady-clock"])
def test_a_gap_after_a_clock_step_back_restarts_the_warm_up_once_the_clock_catches_up(
    hold_after: float,
) -> None:
    """As above (docs/engine.md §4, §6, §7), with the gap measured after the clock has
    caught up with the last observation. ``scaleDown.stabilizationWindow: 2m``; 2 ready
    groups observed every 15 s for 150 s with group 1's leader silent (target 1, no
    scale-down: ``PartialData``); the clock steps back 600 s and the source returns
    nothing (a hold at -450 s); 700 s later (the clock reads 250 s) both leaders report
    idle. The clock reads 100 s since the last observation, but 700 s passed without
    one: the warm-up restarts (``WindowsWarmingUp``), as on a steady clock (the hold at
    165 s, the data at 865 s). It recommended 1 on that first complete observation
    while the step back restarted the stretch at the hold."""
    d = Driver(make_policy(scaleDown={"stabilizationWindow": "2m"}))
    for advance in [0.0] + [15.0] * 10:
        assert ReasonCode.PARTIAL_DATA in codes(d.step(_partial(d.now + advance), advance))
    assert ReasonCode.HOLD in codes(d.step(None, advance=hold_after))
    after = d.step(_idle(d.now + 700, 2), advance=700)
    assert after.replicas == 2
    assert ReasonCode.WARMING_UP in codes(after)


def test_without_a_clock_step_a_gap_restarts_the_warm_up() -> None:
    """The same sequence on a steady clock: the gap restarts the warm-up."""
    d = Driver(make_policy(scaleDown={"stabilizationWindow": "2m"}))
    for advance in [0.0] + [15.0] * 10:
        assert d.step(_busy(d.now + advance), advance=advance).replicas == 2
    assert ReasonCode.HOLD in codes(d.step(None, advance=15))
    after = d.step(_idle(d.now + 200, 2), advance=200)
    assert after.replicas == 2
    assert ReasonCode.WARMING_UP in codes(after)


def test_without_group_detail_a_drained_group_is_not_removed_unseen() -> None:
    """docs/engine.md §4 and drain.py: without group detail "a ready group whose leader
    missed this scrape may still serve: it is drained like the others, and waited for
    until it reports idle or the timeout passes, never removed unseen"; and the decision
    names the leaders of the groups it removes.

    Counts only (no group detail), 4 ready groups, queues 7, 6, 6, 6 and one request
    running on each (1.9 groups needed at most: 3 with the headroom), drain on with a
    2-minute timeout: t=0 group 3 drains (recommend 4, ``draining`` model-3). t=15 one
    group fails readiness (ready 3 of 4: which one is unknown) and group 3's leader
    misses the scrape: the engine recommends 3 with ``draining`` empty, 15 s into a
    2-minute drain, group 3 never seen idle. With group 3's leader reporting 2 running
    it holds 4, as it should."""
    d = Driver(make_policy(scaleDown=DRAIN))
    first = d.at(0, queue=[7, 6, 6, 6], running=[1, 1, 1, 1])
    assert (first.replicas, first.draining) == (4, ("model-3",))
    after = d.at(15, current=4, ready=3, starting=1, queue=[7, 6, 6], running=[1, 1, 1])
    assert after.replicas == 4
    assert after.draining == ("model-3",)


def test_without_group_detail_a_drain_never_leaves_only_a_crashed_group() -> None:
    """docs/engine.md §4: a scale-down never removes a starting group, and without group
    detail the counts cannot say which group is the unready one, so no scale-down goes
    deeper while one is unready. Found by ``test_rules_hold_in_a_closed_loop``: counts
    only, 4 ready groups, queues 7, 6, 6, 6 (3 groups with the headroom): t=0 group 3
    drains. t=15 group 0 crashes (ready 3 of 4, its leader silent) and the queues are
    empty. The drain's view of the LWS read 3 ready of 3 (the crashed group was taken
    for the leaving one), so the rules went on to 1 and drained groups 1 and 2 as well:
    the one group left would have been group 0, not serving. Now the drain stays at
    group 3 (the view keeps the unready group: 3 created, 2 ready, 1 starting)."""
    d = Driver(make_policy(scaleDown=DRAIN))
    first = d.at(0, queue=[7, 6, 6, 6], running=[1, 1, 1, 1])
    assert (first.replicas, first.draining) == (4, ("model-3",))
    after = d.at(15, current=4, ready=3, starting=1, queue=[None, 0, 0, 0], running=[None, 1, 1, 1])
    assert after.draining == ("model-3",)
    assert after.replicas == 4
