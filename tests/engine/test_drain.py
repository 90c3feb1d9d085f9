"""``scaleDown.drain``: a scale-down waits until the groups it removes are idle."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.engine import EngineState, ReasonCode, decide
from autoscaler.engine.drain import MAX_DRAINED_GROUPS, destination, drain_view
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, group_index, leader_pod_name
from tests.engine.factories import (
    GENERATION_1000,
    T0,
    Driver,
    codes,
    make_policy,
    ready_groups,
    snapshot,
)

DRAIN = {"scaleDown": {"drain": {"enabled": True, "timeout": "2m"}}}
QUEUE_WAIT = {"type": "queueWait", "targetSeconds": 1}
QW = Signal.QUEUE_WAIT


def _busy(now: float, running: list[float], queue: list[float] | None = None) -> LwsSnapshot:
    """Ready groups, one per ``running`` value; a queue of 4 in each of four groups
    needs 1.6 groups, 2 with the 10% headroom of a scale-down."""
    return snapshot(
        now,
        groups=ready_groups(len(running), ready_at=T0 - 3600),
        queue=queue or [4.0] * len(running),
        running=running,
    )


@pytest.mark.parametrize(
    ("leader", "expected"),
    [("3", 3), ("model-3", 3), ("model-12", 12), ("model-3-1", None), ("other-3", None)],
)
def test_group_index_of_leader_keys(leader: str, expected: int | None) -> None:
    assert group_index(leader, "model") == expected


def test_without_drain_the_scale_down_is_immediate() -> None:
    d = Driver(make_policy())
    decision = d.step(_busy(d.now, [3, 3, 3, 3]))
    assert decision.replicas == 2
    assert decision.draining == ()


def test_scale_down_holds_until_the_removed_groups_are_idle() -> None:
    d = Driver(make_policy(**DRAIN))
    first = d.step(_busy(d.now, running=[3, 3, 3, 3]))
    # The rules ask for 2: groups 2 and 3 stop receiving requests, 4 stay recommended.
    assert first.replicas == 4
    assert first.draining == (leader_pod_name("model", 2), leader_pod_name("model", 3))
    assert "Draining" in codes(first)
    assert "draining (no new requests): model-2, model-3" in first.explain()
    # Group 2 has finished, group 3 still runs 2 requests: hold.
    second = d.at(15, groups=ready_groups(4, T0 - 3600), queue=[8, 8, 0, 0], running=[3, 3, 0, 2])
    assert second.replicas == 4
    assert "group(s) 3 finish" in " ".join(r.message for r in second.reasons)
    # Both idle: the lower recommendation goes out, still naming the drained leaders.
    third = d.at(15, groups=ready_groups(4, T0 - 3600), queue=[8, 8, 0, 0], running=[3, 3, 0, 0])
    assert third.replicas == 2
    assert third.draining == ("model-2", "model-3")


def test_idle_samples_from_before_the_drain_do_not_count() -> None:
    policy = make_policy(**DRAIN)
    now = T0
    # Groups 2 and 3 look idle, but in samples 5 s older than the drain: requests may
    # have reached them after that, so the engine waits for a newer sample.
    snap = snapshot(
        now, groups=ready_groups(4, T0 - 3600), queue=[8, 8, 0, 0], running=[3, 3, 0, 0], age=5
    )
    decision, state = decide(policy, snap, EngineState(), now)
    assert decision.replicas == 4
    assert state.draining == (("model-2", now), ("model-3", now))


def test_drain_times_out() -> None:
    d = Driver(make_policy(**DRAIN))
    assert d.step(_busy(d.now, running=[3, 3, 3, 3])).replicas == 4
    assert (
        d.at(119, groups=ready_groups(4, T0 - 3600), queue=[4] * 4, running=[3] * 4).replicas == 4
    )
    late = d.at(1, groups=ready_groups(4, T0 - 3600), queue=[4] * 4, running=[3] * 4)
    assert late.replicas == 2
    assert "still busy after 2m" in " ".join(r.message for r in late.reasons)


def test_load_returning_calls_the_drain_off() -> None:
    d = Driver(make_policy(**DRAIN))
    assert d.step(_busy(d.now, running=[3, 3, 3, 3])).draining
    back = d.at(15, groups=ready_groups(4, T0 - 3600), queue=[10] * 4, running=[3] * 4)
    assert back.replicas == 4
    assert back.draining == ()
    assert d.state.draining == ()
    # A later scale-down starts a new drain, with a new start time.
    again = d.at(15, groups=ready_groups(4, T0 - 3600), queue=[4] * 4, running=[3] * 4)
    assert again.draining == ("model-2", "model-3")
    began: dict[str, float] = dict(d.state.draining)
    assert began["model-2"] == d.now


def test_missing_data_calls_the_drain_off() -> None:
    d = Driver(make_policy(**DRAIN))
    assert d.step(_busy(d.now, running=[3, 3, 3, 3])).draining
    held = d.step(None, advance=15)
    assert held.draining == ()
    assert d.state.draining == ()


def test_starting_groups_count_as_drained() -> None:
    # Group 3 never became ready: nothing was routed to it, so it goes at once.
    groups = [*ready_groups(3, T0 - 3600), GroupStatus(3, T0 - 60, None)]
    policy = make_policy(
        scaleDown={"drain": {"enabled": True}, "removeStartingGroups": True},
        signals=[{"type": "queueDepth", "targetPerGroup": 10}],
    )
    snap = snapshot(T0, ready=3, starting=1, groups=groups, queue=[9, 9, 9], running=[3, 3, 3])
    decision, _ = decide(policy, snap, EngineState(), T0)
    assert decision.replicas == 3
    assert decision.draining == ("model-3",)


STZ: dict[str, Any] = {"enabled": True, "idleAfter": "1m", "activation": {"query": "x"}}
ONE_IDLE: dict[str, Any] = {
    "queue": [0],
    "running": [0],
    "generation": [0],
    "aggregates": {Signal.ACTIVATION: 0.0},  # the gateway answers: no traffic
}
# Idle for scale-to-zero (no activity seen), but without a running count the drain
# cannot confirm that the group finished: only the timeout ends it.
NO_RUNNING: dict[str, Any] = {
    "queue": [0],
    "generation": [0],
    "aggregates": {Signal.ACTIVATION: 0.0},
}
GATEWAY_BUSY: dict[str, Any] = {**ONE_IDLE, "aggregates": {Signal.ACTIVATION: 3.0}}


@pytest.mark.parametrize(
    ("during", "expected"),
    [
        # Drain from t=75; group 0 reports 0 running and 0 waiting at t=90: to 0.
        ([ONE_IDLE], [1, 0]),
        # Never confirmed: held until the 2 m timeout (t=195), then 0 anyway.
        ([NO_RUNNING] * 8, [1] * 8 + [0]),
        # t=90: the gateway sees requests, not idle: the drain is called off and group 0
        # serves again. Idle from t=105, a new drain starts at t=165 and ends at t=180.
        ([GATEWAY_BUSY, *[ONE_IDLE] * 6], [1, 1, 1, 1, 1, 1, 1, 0]),
    ],
    ids=["drained", "timeout", "called-off"],
)
def test_a_drain_to_zero_completes(during: list[dict[str, Any]], expected: list[int]) -> None:
    """The rules once looked at a drain to zero from 0 groups: they raised it to the
    floor of 1, which called the drain off, and it started afresh a cycle later, for
    ever (1, 1, 1, ... with the leader out of the Service every other cycle). They see
    the live group instead: nothing says "0 is outside [1, 10]" while it drains."""
    groups = ready_groups(1, T0 - 3600)
    d = Driver(make_policy(scaleToZero=STZ, **DRAIN))
    for _ in range(4):  # t = 15..60: idle, not for 1 m yet
        assert d.at(15, groups=groups, **ONE_IDLE).replicas == 1
    start = d.at(15, groups=groups, **ONE_IDLE)  # t = 75, idle since t = 15
    assert (start.replicas, start.draining) == (1, ("model-0",))
    decisions = [start, *(d.at(15, groups=groups, **snap) for snap in during)]
    assert [decision.replicas for decision in decisions] == expected
    assert all(ReasonCode.BOUNDS not in codes(decision) for decision in decisions)


def test_a_drain_to_one_group_ends_before_the_drain_to_zero_starts() -> None:
    # Idle long enough at 2 groups: first 2 -> 1 (group 1 drains). The rules see the 1
    # it is going to, but scale-to-zero needs one group that *exists*: going to 0 now
    # would take group 0 out of the Service too while group 1 finishes.
    d = Driver(make_policy(scaleToZero={**STZ, "idleAfter": 0}, **DRAIN))
    two = {"queue": [0, 0], "running": [0, 0], "groups": ready_groups(2, T0 - 3600)}
    first = d.at(0, **two)
    assert (first.replicas, first.draining) == (2, ("model-1",))
    second = d.at(15, **two)
    assert (second.replicas, second.draining) == (1, ("model-1",))
    assert ReasonCode.SCALE_TO_ZERO not in codes(second)
    third = d.at(15, groups=ready_groups(1, T0 - 3600), **ONE_IDLE)
    assert (third.replicas, third.draining) == (1, ("model-0",))
    assert d.at(15, groups=ready_groups(1, T0 - 3600), **ONE_IDLE).replicas == 0


def test_latency_guards_count_only_the_groups_still_serving_during_a_drain() -> None:
    # 7 groups at a p90 queue wait of 0.75 s: 7 x 0.75 = 5.25 groups, 6 with the 10%
    # headroom of a scale-down, so group 6 leaves the Service. With 6 serving, the p90
    # is 0.95 s (target 1 s): 6 x 0.95 = 5.7 groups, within tolerance of 6. Counted on
    # the 7 ready groups, 6.65 -> 7 called the drain off at once.
    policy = make_policy(
        signals=[QUEUE_WAIT, {"type": "queueDepth", "targetPerGroup": 10}], **DRAIN
    )
    d = Driver(policy)
    groups = ready_groups(7, T0 - 3600)
    first = d.at(0, groups=groups, queue=[5] * 7, running=[4] * 7, aggregates={QW: 0.75})
    assert first.draining == ("model-6",)
    second = d.at(
        15, groups=groups, queue=[5] * 6 + [0], running=[4] * 6 + [1], aggregates={QW: 0.95}
    )
    assert second.draining == ("model-6",)  # still draining: group 6 runs one request
    assert second.replicas == 7
    third = d.at(
        15, groups=groups, queue=[5] * 6 + [0], running=[4] * 6 + [0], aggregates={QW: 0.95}
    )
    assert third.replicas == 6


def test_without_group_detail_a_silent_leader_is_drained_not_removed_unseen() -> None:
    # Three ready groups, no per-group detail, group 2's leader missed this scrape: the
    # scale-down to 1 drains groups 1 and 2 and waits for group 2 to report idle.
    policy = make_policy(signals=[{"type": "ttft", "targetSeconds": 2}], **DRAIN)
    d = Driver(policy)
    first = d.at(0, ready=3, queue=[0, 0], running=[4, 4], aggregates={Signal.TTFT: 0.5})
    assert first.replicas == 3
    assert first.draining == ("model-1", "model-2")
    second = d.at(15, ready=3, queue=[0, 0], running=[4, 0], aggregates={Signal.TTFT: 0.5})
    assert second.replicas == 3  # group 2 was never seen idle
    assert "group(s) 2 finish" in second.explain()
    third = d.at(15, ready=3, queue=[0, 0, 0], running=[4, 0, 0], aggregates={Signal.TTFT: 0.5})
    assert third.replicas == 1


def test_the_groups_leaving_are_not_read_as_starting() -> None:
    # 7 ready groups drain to 6. The leaving group is ready: in the view the rules get,
    # it leaves the created count too. Kept there, it read as a starting group, and
    # ``holdWhileStarting`` capped a queue wait of 1.5 s on the 6 serving (6 x 1.5 = 9
    # groups) at the 7 that "exist".
    policy = make_policy(
        signals=[
            GENERATION_1000,
            {**QUEUE_WAIT, "holdWhileStarting": True},
        ],
        scaleDown={"drain": {"enabled": True, "timeout": "2m"}},
    )
    groups = ready_groups(7, T0 - 3600)
    driver = Driver(policy)
    first = driver.at(
        0,
        groups=groups,
        generation=[5400 / 7] * 7,
        queue=[0] * 7,
        running=[3] * 7,
        aggregates={QW: 0.7},
    )
    assert first.draining == ("model-6",)
    second = driver.at(
        15,
        groups=groups,
        generation=[900] * 6 + [0],
        queue=[0] * 7,
        running=[3] * 6 + [1],
        aggregates={QW: 1.5},
    )
    assert second.replicas == 9
    assert ReasonCode.COVERED_BY_STARTING not in codes(second)


def test_a_starting_group_below_the_leaving_ones_stays_starting_in_the_view() -> None:
    # Groups 0-4, group 1 restarting (not ready), a drain to 3 under way. The view the
    # rules get is groups 0-2: 2 ready and 1 starting (the counts alone read 3 ready).
    groups = ready_groups(5, T0 - 3600)
    groups[1] = GroupStatus(1, T0 - 60, None)
    snap = snapshot(T0, current=5, ready=4, starting=1, groups=groups, queue=[0, 0, 0, 0])
    state = EngineState(draining=(("model-3", T0 - 15), ("model-4", T0 - 15)))
    view = drain_view(state, snap)
    assert (view.spec_replicas, view.ready_replicas, view.starting_replicas) == (3, 2, 1)
    # Without per-group detail the counts cannot say which group is unready: the view
    # keeps it among those staying, so that no scale-down removes it unseen.
    counts_only = drain_view(state, snapshot(T0, current=5, ready=4, starting=1, queue=[0] * 4))
    assert (counts_only.ready_replicas, counts_only.starting_replicas) == (2, 1)


HOLDING_BACK: dict[str, dict[str, Any]] = {
    "scale-up-window": {"scaleUp": {"stabilizationWindow": "1m"}},
    "scale-up-step": {"scaleUp": {"maxStep": {"groups": 1, "period": "1m"}}},
    "isolated-burst": {
        "signals": [
            {
                "type": "queueDepth",
                "targetPerGroup": 10,
                "isolatedBurst": {"calmFor": "15s", "maxGroups": 1},
            }
        ]
    },
}


@pytest.mark.parametrize("holding", HOLDING_BACK)
def test_load_returning_before_the_lower_size_applies_calls_the_drain_off(holding: str) -> None:
    """4 idle groups drain to 1; drained, 1 goes out. Before the HPA applies it, 60
    requests wait on group 0 (the drained leaders get none): 6 groups' worth with 4 ready.
    As without a drain (4 or more: the rule holding a scale-up back never removes a group
    that exists), the three drained groups must serve again, not be removed for a cold
    start of new ones a minute later (before the fix: 1 or 2, the drain completed)."""
    spec = {**HOLDING_BACK[holding], "replicas": {"max": 8}}
    groups = ready_groups(4, T0 - 3600)
    quiet = {"groups": groups, "queue": [0] * 4, "running": [0] * 4}
    returning = {"groups": groups, "queue": [60, 0, 0, 0], "running": [4, 0, 0, 0]}
    without = Driver(make_policy(**spec))
    assert [without.at(0, **quiet).replicas, without.at(15, **quiet).replicas] == [1, 1]
    kept = without.at(15, **returning).replicas
    assert kept is not None
    assert kept >= 4
    d = Driver(make_policy(**spec, scaleDown={"drain": {"enabled": True, "timeout": "2m"}}))
    assert [d.at(0, **quiet).replicas, d.at(15, **quiet).replicas] == [4, 1]
    back = d.at(15, **returning)
    assert back.replicas is not None
    assert back.replicas >= 4
    assert back.draining == ()


@pytest.mark.parametrize(
    ("size", "listed"),
    [
        # Groups 1-17 drain; the even ones 2-16 still run a request: 8 runs, all listed.
        (18, "2, 4, 6, 8, 10, 12, 14, 16"),
        # Groups 1-19 drain; the even ones 2-18 are 9 runs: the first 8, then the count.
        (20, "2, 4, 6, 8, 10, 12, 14, 16 and 1 more (9 groups)"),
    ],
)
def test_a_reason_lists_the_first_eight_runs_of_busy_groups(size: int, listed: str) -> None:
    d = Driver(make_policy(replicas={"max": 30}, **DRAIN))
    groups = ready_groups(size, T0 - 3600)
    first = d.at(0, groups=groups, queue=[0] * size, running=[1] * size)
    assert first.draining == tuple(leader_pod_name("model", i) for i in range(1, size))
    assert f"holding {size} until group(s) 1-{size - 1} finish" in first.explain()
    # The odd groups have finished, the even ones (group 0 aside) still run a request.
    running = [1 if i % 2 == 0 else 0 for i in range(size)]
    second = d.at(15, groups=groups, queue=[0] * size, running=running)
    assert second.replicas == size
    assert f"holding {size} until group(s) {listed} finish their requests" in second.explain()


@pytest.mark.parametrize(
    ("pods", "current", "expected"),
    [
        (("model-2", "model-3"), 4, 2),
        (("model-3", "model-2"), 4, 2),  # the lowest index, in any order
        (("model-2", "model-3"), 3, 2),
        # The LWS is at (or below) the lowest drained index: no drain leads anywhere.
        (("model-2", "model-3"), 2, None),
        (("model-2", "model-3"), 1, None),
        (("other-2", "model-3-1"), 4, None),  # not this LWS's leaders
        ((), 4, None),
    ],
)
def test_a_drain_leads_to_its_lowest_index_until_the_lws_is_there(
    pods: tuple[str, ...], current: int, expected: int | None
) -> None:
    state = EngineState(draining=tuple((pod, T0 - 15) for pod in pods))
    snap = snapshot(T0, current=current, ready=4, groups=ready_groups(4, T0 - 3600))
    assert destination(state, snap) == expected


@pytest.mark.parametrize("detail", [True, False], ids=["groups", "counts-only"])
def test_a_group_at_or_above_the_current_size_is_never_drained(detail: bool) -> None:
    # The LWS is at 4, but group 4 (left from an earlier scale-down) is still there and
    # ready: the LWS controller is deleting it already. A drain from 4 to 2 takes groups
    # 2 and 3 only.
    groups = ready_groups(5, T0 - 3600) if detail else []
    snap = snapshot(T0, current=4, ready=5, groups=groups, queue=[4, 4, 4, 4, 0], running=[3] * 5)
    decision, state = decide(make_policy(**DRAIN), snap, EngineState(), T0)
    assert decision.replicas == 4
    assert decision.draining == ("model-2", "model-3")
    assert [pod for pod, _ in state.draining] == ["model-2", "model-3"]


@pytest.mark.parametrize(("current", "ready"), [(2000, 1500), (1500, 2000)])
def test_without_group_detail_a_drain_takes_at_most_its_cap_of_ready_groups(
    current: int, ready: int
) -> None:
    # Counts only: the lowest 1500 indices are the ready groups below the current size
    # (500 more still start, or 500 above it are already being deleted). The rules ask
    # for 1; one drain takes 1000 ready groups, 500-1499, and leads to 500 first.
    snap = snapshot(T0, current=current, ready=ready, queue=[0] * ready, running=[1] * ready)
    decision, _ = decide(make_policy(replicas={"max": 3000}, **DRAIN), snap, EngineState(), T0)
    assert decision.replicas == current
    assert decision.draining == tuple(
        leader_pod_name("model", i) for i in range(500, 500 + MAX_DRAINED_GROUPS)
    )
    assert (
        f"1 asked for: at most {MAX_DRAINED_GROUPS} ready groups drain at a time, -> 500 first"
        in decision.explain()
    )


def test_without_group_detail_a_smaller_drain_gives_back_the_groups_it_keeps() -> None:
    # Counts only, 4 ready groups: 4 -> 1 drains groups 1-3. The load comes back to 1.6
    # groups, 2 with the headroom: still a scale-down, now to 2. Group 1 stays: it
    # leaves the drain (and serves again); groups 2 and 3 keep their drain's start.
    d = Driver(make_policy(**DRAIN))
    first = d.at(0, queue=[0] * 4, running=[1] * 4)
    assert first.draining == ("model-1", "model-2", "model-3")
    began = d.now
    second = d.at(15, queue=[4] * 4, running=[1] * 4)
    assert second.replicas == 4
    assert second.draining == ("model-2", "model-3")
    assert d.state.draining == (("model-2", began), ("model-3", began))


def test_without_group_detail_a_group_removed_by_the_last_drain_is_not_drained_again() -> None:
    # Group 3's drain completed: the LWS is at 3, its leader still remembered. Idle, the
    # rules ask for 1: the new drain takes groups 1 and 2, not group 3, which is gone.
    state = EngineState(draining=(("model-3", T0 - 30),))
    snap = snapshot(T0, current=3, queue=[0] * 3, running=[1] * 3)
    decision, after = decide(make_policy(**DRAIN), snap, state, T0)
    assert decision.replicas == 3
    assert decision.draining == ("model-1", "model-2")
    assert after.draining == (("model-1", T0), ("model-2", T0))
