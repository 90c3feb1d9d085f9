"""Stabilisation: from the target the load calls for to what may be recommended now.

- Up: the lowest target of ``scaleUp.stabilizationWindow`` (0s: act at once), capped
  by the step limit.
- Down, in order: no scale-down while any signal is above its target (pressure), while
  a signal or a leader is missing (partial data), or before the down window has been
  observed without a gap (warm-up). Then the highest target of the window, the step
  limit, and never a group that is still starting or younger than ``minGroupAge``.
"""

from __future__ import annotations

from autoscaler.durations import format_duration as fmt
from autoscaler.engine import windows
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import ReasonCode, SignalProposal, SignalStatus
from autoscaler.engine.startup import is_slow_start
from autoscaler.engine.state import EngineState, TimedInts
from autoscaler.snapshot import LwsSnapshot

R = ReasonCode


def scale_up(
    ctx: DecisionContext, history: TimedInts, sizes: TimedInts, current: int, target: int
) -> int:
    """``history`` holds the targets of earlier decisions (this one's not included),
    ``sizes`` the ``spec.replicas`` they saw."""
    up = ctx.spec.scale_up
    rec = max(current, windows.stabilised_up(history, ctx.now, up.stabilization_window, target))
    if rec < target:
        ctx.note(
            R.SCALE_UP_WINDOW, f"lowest target in the last {fmt(up.stabilization_window)} is {rec}"
        )
    limit = windows.up_limit(up.max_step, sizes, ctx.now, current)
    if limit is not None and rec > limit:
        ctx.note(R.STEP_LIMIT, f"scale-up step limit: at most {limit} now")
        rec = limit
    return rec


def scale_down(
    ctx: DecisionContext,
    history: TimedInts,
    sizes: TimedInts,
    observed_since: float,
    snapshot: LwsSnapshot,
    proposals: tuple[SignalProposal, ...],
    target: int,
) -> int:
    down, now, current = ctx.spec.scale_down, ctx.now, snapshot.spec_replicas
    pressed = [p.name for p in proposals if p.usable and p.above_target]
    if pressed:
        ctx.note(R.PRESSURE, f"{', '.join(pressed)} above target: no scale-down")
        return current
    incomplete = [
        p.name for p in proposals if p.status not in (SignalStatus.OK, SignalStatus.NO_TRAFFIC)
    ]
    if incomplete:
        ctx.note(R.PARTIAL_DATA, f"{', '.join(incomplete)}: data incomplete, no scale-down")
        return current
    observed = now - observed_since
    if observed < down.stabilization_window:
        ctx.note(
            R.WARMING_UP,
            f"only {fmt(observed)} of the {fmt(down.stabilization_window)} down window "
            "observed: no scale-down",
        )
        return current
    rec = min(current, windows.stabilised_down(history, now, down.stabilization_window, target))
    if rec > target:
        ctx.note(
            R.SCALE_DOWN_WINDOW,
            f"highest target in the last {fmt(down.stabilization_window)} is {rec}",
        )
    limit = windows.down_limit(down.max_step, sizes, now, current)
    if limit is not None and rec < limit:
        ctx.note(R.STEP_LIMIT, f"scale-down step limit: at least {limit} now")
        rec = limit
    return protect_groups(ctx, rec, snapshot)


def protect_groups(ctx: DecisionContext, rec: int, snapshot: LwsSnapshot) -> int:
    """The LWS controller removes the highest indices first: keep any starting or
    too-young group among them by keeping everything up to its index.

    Groups 0..4 with group 3 still starting and a wish to go to 2: groups 2, 3 and 4
    would go, group 3 among them, so the answer is 4 (only group 4 is removed).

    A group starting for over ``SLOW_START_FACTOR`` cold starts (reported ``SlowStart``)
    is not protected: it is capacity on the way only while the load needs it. With 2
    ready and 2 stuck Pending for GPUs at a demand of 0.3 groups, protecting them kept 4
    recommended for 6 hours, and their pending pods kept asking a cluster autoscaler for
    GPU nodes.
    """
    down, current = ctx.spec.scale_down, snapshot.spec_replicas
    if not snapshot.groups:
        # Without per-group detail only the counts are known: keep every starting group.
        keep = snapshot.ready_replicas + snapshot.starting_replicas
        if snapshot.starting_replicas and not down.remove_starting_groups and rec < keep:
            ctx.note(R.PROTECT_STARTING, f"{snapshot.starting_replicas} groups starting")
            return min(current, keep)
        return rec
    for group in sorted(snapshot.groups, key=lambda g: -g.index):
        if group.index < rec or group.index >= current:
            continue
        if group.ready_at is None:
            if down.remove_starting_groups or is_slow_start(group, ctx.now, ctx.cold):
                continue
            ctx.note(R.PROTECT_STARTING, f"group {group.index} is still starting")
            return group.index + 1
        age = ctx.now - group.ready_at
        if age < down.min_group_age:
            ctx.note(
                R.PROTECT_YOUNG,
                f"group {group.index} ready for only {fmt(age)} "
                f"(minGroupAge {fmt(down.min_group_age)})",
            )
            return group.index + 1
    return rec


def observation_start(ctx: DecisionContext, state: EngineState) -> float:
    """Start a new observation stretch after a gap longer than the down window, or than
    ``metrics.staleAfter`` if that is longer.

    The down window must be observed in full before any scale-down: after a restart,
    after an outage so long that the window holds no target from before it, and after
    the clock stepped back (``state.rebased`` clears ``observed_since``). The
    ``staleAfter`` floor is for windows shorter than the decision interval: a 10 s window
    with decisions every 15 s would otherwise restart the stretch at every decision and
    never allow a scale-down. A gap up to ``staleAfter`` (60 s by default) is one the
    data itself tolerates.
    """
    last = state.targets[-1][0] if state.targets else None
    gap = max(ctx.spec.scale_down.stabilization_window, ctx.spec.metrics.stale_after)
    # A target stamped after now (the clock stepped back) says nothing of the gap: the
    # stretch restarts, the cautious reading of time that cannot be measured.
    if state.observed_since is None or last is None or not 0 <= ctx.now - last <= gap:
        return ctx.now
    return state.observed_since


def keep_existing_under_pressure(
    ctx: DecisionContext, rec: int, snapshot: LwsSnapshot, proposals: tuple[SignalProposal, ...]
) -> int:
    """While a signal is above its target, never drop below the groups that exist
    (ready + starting), even when ``spec.replicas`` already asks for fewer."""
    existing = snapshot.ready_replicas + snapshot.starting_replicas
    if rec >= existing or not any(p.usable and p.above_target for p in proposals):
        return rec
    ctx.note(R.PRESSURE, f"a signal is above target: keeping the {existing} existing groups")
    return existing
