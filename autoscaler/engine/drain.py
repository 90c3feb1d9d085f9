"""Drain before removal (``scaleDown.drain``): which groups a scale-down removes, and
whether they have finished their in-flight requests.

A LeaderWorkerSet scaled from ``current`` to ``rec`` groups deletes the groups with
index ``>= rec`` (leader pods ``<lws>-<index>``), workers included, so every request
still running on them fails. With draining on, the engine names those leaders in
``Decision.draining`` (the server relabels them out of the Service, so they get no new
requests) and keeps recommending ``current`` until each of them reports nothing running
and nothing waiting in a sample taken after its drain began, or the timeout passes.
Only then does the lower recommendation go out.

Worked example: 5 groups, the rules ask for 3; groups 3 and 4 are drained. At the
next decision group 3 reports 0 running, group 4 still 2: hold 5. Fifteen seconds later
both report 0: recommend 3. Had load come back before that (the rules ask for 5 again),
the drain is called off and both groups serve again at once, without a cold start; the
rules that hold a scale-up back count from the live size then (``decide``), so an up
window cannot hold the target at 3 while the queue needs 5 and let the drain go on.

While a drain runs, the rules look at the LWS as the size it is going to
(:func:`destination`): the scale-down was already decided, so the 10% headroom a
scale-down keeps must not count the leaving group again. Without that, a demand of 5.79
groups would end a drain from 7 to 6 (ceil(5.79 * 1.1) = 7) that a plain scale-down to
6 keeps (5.79 is within 10% of 6); only a demand that would scale *up* from 6 calls the
drain off.

Groups that are not ready have never been routed to and count as drained.

Without group detail (counts only), one drain takes at most ``MAX_DRAINED_GROUPS`` ready
groups; the next scale-down takes the next ones. Every ready group a drain takes is one
entry in the state, one leader in ``Decision.draining`` and one pod the server relabels,
and a snapshot of 2**31 - 1 ready groups (a count no cluster has, but one the schema's
``replicas.max`` allows) dropping to 1 made 2**31 - 2 of them: the engine ran out of
memory. From 100,000 ready groups to 1 the decision took 80 ms and a 688,523-character
reason; capped, it drains groups 99,000-99,999 and recommends 99,000.
"""

from __future__ import annotations

import dataclasses

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import ReasonCode
from autoscaler.engine.state import EngineState
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsSnapshot, group_index, leader_pod_name

_IN_FLIGHT = (Signal.RUNNING, Signal.QUEUE_DEPTH)

Draining = tuple[tuple[str, float], ...]

MAX_DRAINED_GROUPS = 1000
"""Most ready groups one drain takes when the snapshot has no group detail."""
# Indices listed in a reason: 300 drained groups printed a reason of 1,400 characters.
_LISTED_RUNS = 8


def destination(state: EngineState, snapshot: LwsSnapshot) -> int | None:
    """The size a running drain leads to (its lowest drained index), or None."""
    if not state.draining:
        return None
    indices = [group_index(pod, snapshot.key.name) for pod, _ in state.draining]
    lowest = min((i for i in indices if i is not None), default=None)
    return lowest if lowest is not None and lowest < snapshot.spec_replicas else None


def _groups_from(
    snapshot: LwsSnapshot, rec: int, current: int
) -> dict[int, tuple[str | None, bool]]:
    """Index -> (snapshot leader key or None without metrics, whether the group is
    ready) for the groups ``rec <= index < current`` (higher ones are already being
    deleted by the LWS controller)."""
    name = snapshot.key.name
    going: dict[int, tuple[str | None, bool]] = {
        g.index: (None, g.ready_at is not None) for g in snapshot.groups if rec <= g.index < current
    }
    for leader in snapshot.leaders:
        index = group_index(leader, name)
        if index is None or not rec <= index < current:
            continue
        # Without group detail, a leader that reports is a ready group's.
        ready = going[index][1] if index in going else not snapshot.groups
        going[index] = (leader, ready)
    if not snapshot.groups:
        # Without group detail only the counts are known: the lowest indices are taken
        # as the ready ones (groups start in index order). A ready group whose leader
        # missed this scrape may still serve: it is drained like the others, and waited
        # for until it reports idle or the timeout passes, never removed unseen.
        for index in range(rec, min(current, snapshot.ready_replicas)):
            going.setdefault(index, (None, True))
    return going


def _idle_since(snapshot: LwsSnapshot, leader: str | None, since: float, now: float) -> bool:
    """True when ``leader`` reported 0 running and 0 waiting in samples newer than ``since``."""
    if leader is None:
        return False
    samples = snapshot.leaders[leader]
    for signal in _IN_FLIGHT:
        sample = samples.get(signal)
        if sample is None or not since < sample.timestamp <= now or sample.value != 0:
            return False
    return True


def drain_view(state: EngineState, snapshot: LwsSnapshot) -> LwsSnapshot:
    """``snapshot`` as the rules see it while a drain is under way: at the size it is
    going to (unchanged without a drain).

    Not a drain to zero: at 0 the rules cannot run (a group is needed, and scale-to-zero
    needs exactly one), they would raise the size to the floor of 1 and call the drain
    off, every other cycle. They keep seeing the live group and decide 1 -> 0 again each
    cycle until the drain ends; returning load ends the idleness, and with it the drain.
    The drained groups are out of the Service, so the latency guards scale the groups
    still serving: a p90 wait of 0.95 s (target 1 s) on 6 serving of 7 ready needs
    6 x 0.95 = 5.7 groups, not 7 x 0.95 = 6.65 -> 7, which would call off the drain the
    rules just decided. The leaving groups are ready ones, so they leave the created
    count too: kept in it, 7 created and 6 ready in the view read as 1 starting group
    that does not exist, and ``holdWhileStarting`` held a guard for it.
    """
    going_to = destination(state, snapshot)
    if not going_to:
        return snapshot
    staying = [g for g in snapshot.groups if g.index < going_to]
    if len({g.index for g in staying}) == going_to:
        # With detail on every group that stays (those below the destination): groups
        # 0-4 with group 1 starting, draining to 3, are 2 ready and 1 starting, where the
        # counts alone read 3 ready and none starting.
        created = going_to
        ready = sum(1 for g in staying if g.ready_at is not None)
    else:
        # Counts only: which groups are unready is unknown, so the view keeps every one
        # of them (the protection of starting groups keeps any scale-down from removing
        # them). 4 created, 3 ready, draining to 3: 3 created, 2 ready and 1 starting.
        # Read as 3 ready, a group that crashed (group 0, unready, staying) was no
        # longer seen, and the rules drained the 2 ready groups that stay as well,
        # leaving 1 group, not serving.
        created = min(snapshot.status_replicas, going_to)
        ready = max(0, created - snapshot.starting_replicas)
    return dataclasses.replace(
        snapshot, spec_replicas=going_to, status_replicas=created, ready_replicas=ready
    )


def drain(
    ctx: DecisionContext, state: EngineState, snapshot: LwsSnapshot, current: int, rec: int
) -> tuple[int, tuple[str, ...], Draining]:
    """(recommendation, leader pods to keep out of routing, drain state to remember).

    Off, or not a scale-down: ``rec`` unchanged and nothing drains. Nor above
    ``replicas.max``: the bounds are hard, a drain never holds the LWS above them.
    """
    policy = ctx.spec.scale_down.drain
    if not policy.enabled or rec >= current or current > ctx.spec.replicas.max:
        return rec, (), ()
    now, name = ctx.now, snapshot.key.name
    wanted = rec
    if not snapshot.groups:
        rec = max(rec, min(current, snapshot.ready_replicas) - MAX_DRAINED_GROUPS)
    began = dict(state.draining)
    going = _groups_from(snapshot, rec, current)
    if not snapshot.groups:
        # Counts only: a group already draining whose leader missed this scrape while
        # another is unready may be the unready one or not. It was serving when its drain
        # began, so it is waited for (until idle or the timeout), never removed unseen.
        for pod in began:
            index = group_index(pod, name)
            if index is not None and rec <= index < current:
                going.setdefault(index, (None, True))
    remembered: list[tuple[str, float]] = []
    pending: list[int] = []
    timed_out: list[int] = []
    for index in sorted(going):
        pod = leader_pod_name(name, index)
        since = began.get(pod, now)
        remembered.append((pod, since))
        leader, ready = going[index]
        if not ready or _idle_since(snapshot, leader, since, now):
            continue
        (pending if now - since < policy.timeout else timed_out).append(index)
    pods = tuple(pod for pod, _ in remembered)
    if rec > wanted:
        ctx.note(
            ReasonCode.DRAINING,
            f"{wanted} asked for: at most {MAX_DRAINED_GROUPS} ready groups drain at a time, "
            f"-> {rec} first",
        )
    if pending:
        ctx.note(
            ReasonCode.DRAINING,
            f"holding {current} until group(s) {_join(pending)} finish their requests "
            f"(at most {fmt(policy.timeout)}), then {rec}",
        )
        return current, pods, tuple(remembered)
    if timed_out:
        ctx.note(
            ReasonCode.DRAINING,
            f"group(s) {_join(timed_out)} still busy after {fmt(policy.timeout)}: "
            f"{current} -> {rec} anyway",
        )
    elif going:
        ctx.note(
            ReasonCode.DRAINING, f"group(s) {_join(sorted(going))} drained: {current} -> {rec}"
        )
    return rec, pods, tuple(remembered)


def _join(indices: list[int]) -> str:
    """Sorted indices as runs, the first ``_LISTED_RUNS`` of them: [1, 2, 3, 7] reads
    "1-3, 7"; the even indices 0-598 read "0, 2, 4, 6, 8, 10, 12, 14 and 292 more (300
    groups)"."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    shown = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:_LISTED_RUNS])
    if len(runs) <= _LISTED_RUNS:
        return shown
    return f"{shown} and {len(runs) - _LISTED_RUNS} more ({len(indices)} groups)"
