"""``decide``: one LWS, one policy, one instant -> a recommendation, the reasons, a new state.

The order of the rules, each leaving a reason when it changes the outcome:

1. cold start: learn start durations from groups seen ready for the first time;
2. no snapshot -> hold (``missing``); at zero -> wake on activation or stay (``zero``);
3. one proposal per signal (``proposals``; a ``queueDepth`` with ``sustainedFor`` reads
   the lowest total queue of that window, one with ``isolatedBurst`` adds few groups
   for the first burst after a calm stretch, ``bursts``); none usable -> wait for leaders when no
   group is ready yet, else hold for ``missingMetrics.holdFor``, then fall back; every
   signal a latency quantile over no request (``noTraffic``) while leaders report ->
   zero demand, and the rules below apply;
4. target = the largest proposal (its signal is the driver), raised to the demand
   projected one cold start ahead when that is above both the target and the current
   size (``startup.project_demand``): the forecast sizes scale-ups, it never holds a
   scale-down back;
5. bounds: ``[min, max]``, or ``[1, max]`` once idle for ``idleAfter``;
6. stabilisation (``stabilize``): up window and step limit, or the down rules;
7. never below the groups that exist while a signal is above its target;
8. scale-to-zero from exactly one group after ``idleAfter`` of idleness (``zero``);
9. with ``scaleDown.drain``, a lower recommendation waits until the groups it removes
   have finished their requests (``drain``);
10. a scheduled floor raises the outcome, on data before the drain (``schedule``);
11. an operator's pause replaces it; the rules' state goes on (``pause``).
"""

from __future__ import annotations

import math

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.bursts import limit_isolated_burst
from autoscaler.engine.context import DecisionContext, note_driver
from autoscaler.engine.decision import Decision, ReasonCode, SignalProposal, SignalStatus
from autoscaler.engine.decision import format_groups as groups
from autoscaler.engine.drain import drain, drain_view
from autoscaler.engine.missing import (
    hold,
    note_invalid,
    silent_groups,
    wait_for_leaders,
    why_unusable,
)
from autoscaler.engine.pause import apply_pause, state_for_rules
from autoscaler.engine.proposals import (
    backlog_holds,
    backlog_message,
    held_while_starting,
    propose_with_history,
)
from autoscaler.engine.schedule import NO_FLOOR, Floor, floor_at, raise_to_floor
from autoscaler.engine.stabilize import (
    keep_existing_under_pressure,
    observation_start,
    scale_down,
    scale_up,
)
from autoscaler.engine.startup import (
    SLOW_START_FACTOR,
    cold_start_seconds,
    observe_starts,
    project_demand,
    slow_starts,
)
from autoscaler.engine.state import EngineState, append_window, rebased, unobserved_gap
from autoscaler.engine.zero import (
    busy_leaders,
    from_zero,
    holds_while_idle,
    quiet_while_unready,
    to_zero,
    track_idle,
)
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsSnapshot

R = ReasonCode
# Integer proposals from float demand: 4.0000000001 groups is 4, not 5.
_EPSILON = 1e-9


def decide(
    policy: ScalingPolicy, snapshot: LwsSnapshot | None, state: EngineState, now: float
) -> tuple[Decision, EngineState]:
    """Recommend a group count for ``policy``'s LWS; pure: same inputs, same outputs."""
    spec = policy.spec
    state = rebased(state, now)
    if state.first_seen is None:
        state = state.evolve(first_seen=now)
    unobserved = unobserved_gap(state, now, spec.metrics.stale_after)
    if snapshot is not None:
        state = observe_starts(spec.cold_start, snapshot, state)
    cold, learned = cold_start_seconds(spec.cold_start, state)
    ctx = DecisionContext(policy, now, cold, unobserved)
    scheduled = floor_at(spec, now, cold) if spec.schedules else NO_FLOOR
    if learned:
        ctx.note(R.COLD_START_LEARNED, f"cold start {fmt(cold)} learned from observed starts")
    starts_late = slow_starts(snapshot, now, cold) if snapshot is not None else ()
    for index, seconds in starts_late:
        ctx.note(
            R.SLOW_START,
            f"group {index} not ready {fmt(seconds)} after its creation, over "
            f"{SLOW_START_FACTOR:g}x the cold start ({fmt(cold)}): check its pods; it still "
            "counts as starting capacity, but a scale-down may remove it",
        )
    if snapshot is None or snapshot.spec_replicas == 0:
        # No data, or no leader at zero: no evidence of a calm queue (``isolatedBurst``).
        state = state.evolve(queue_calm=None)
    before, state = state, state_for_rules(snapshot, state)
    if snapshot is None:
        decision, state = hold(ctx, state, None, (), "the source returned no data for this LWS")
    elif snapshot.spec_replicas == 0:
        decision, state = from_zero(ctx, state, snapshot)
    else:
        decision, state = _scale(ctx, state, snapshot, scheduled)
    decision, state = raise_to_floor(policy, scheduled, decision, state, now)
    decision, state = apply_pause(policy, snapshot, before, decision, state, now)
    last = state.decided_at
    interval = now - last if last is not None and now > last else state.interval
    served = now if snapshot is not None and snapshot.ready_replicas else state.served_at
    state = state.evolve(decided_at=now, interval=interval, served_at=served)
    if state.draining and not decision.draining:
        # Held without usable data, or no scale-down any more: the drain is called off
        # (the leaders serve again) and starts afresh if a scale-down comes back.
        state = state.evolve(draining=())
    return decision, state


def _scale(
    ctx: DecisionContext, state: EngineState, snapshot: LwsSnapshot, scheduled: Floor
) -> tuple[Decision, EngineState]:
    live = snapshot
    # A drain under way: the rules see the LWS at the size it is going to.
    snapshot = drain_view(state, snapshot)
    spec, now, current = ctx.spec, ctx.now, snapshot.spec_replicas
    holds = backlog_holds(snapshot, state, now, ctx.cold, spec.metrics.rate_window)
    proposals, queue_now = propose_with_history(spec, snapshot, now, state.queue_totals, holds)
    note_invalid(ctx, proposals)
    queue_totals = state.queue_totals
    if queue_now is not None:
        queue_totals = append_window(queue_totals, now, queue_now, ctx.queue_history_seconds)
    # Against the live size: groups a drain is taking away exist, and serve again at once.
    proposals, calm = limit_isolated_burst(ctx, proposals, live.spec_replicas, state.queue_calm)
    if calm != state.queue_calm:
        # Every return below carries the calm stretch (a hold ends it: no usable queue).
        # Without ``isolatedBurst`` it never changes, and the state is not copied.
        state = state.evolve(queue_calm=calm)
    # The largest proposal (ties: the larger need, then policy order) and the largest
    # need, in one pass: what ``max`` with a key and ``max`` over the needs would pick.
    best: SignalProposal | None = None
    best_key = (0, 0.0)
    demand = 0.0
    held = held_while_starting(spec, holds)
    exists = snapshot.ready_replicas + snapshot.starting_replicas
    for p in proposals:
        if p.replicas is None or p.needed is None:
            continue
        key = (p.replicas or 0, p.needed or 0.0)
        need = p.needed or 0.0
        if p.name in held:
            # A held guard's demand is capped like its proposal: the forecast would
            # otherwise project its raw reading (3 ready x 8 s / 1 s = 24 groups on
            # 3 + 4) and order the groups the hold refused, at every decision.
            need = min(need, exists)
        if best is None:
            best, best_key, demand = p, key, need
            continue
        if key > best_key:
            best, best_key = p, key
        demand = max(demand, need)
    if held and not snapshot.starting_replicas:
        backlog = backlog_message(proposals, held, exists)
        if backlog is not None:
            ctx.note(R.WAKE_BACKLOG, backlog)
    silent = 0
    if best is None:
        if snapshot.ready_replicas == 0:
            quiet_since = quiet_while_unready(ctx, state, snapshot)
            return wait_for_leaders(ctx, state, live, proposals, quiet_since)
        quiet = all(p.status is SignalStatus.NO_TRAFFIC for p in proposals)
        silent = silent_groups(ctx, snapshot) if quiet else 0
        if not quiet:
            return hold(ctx, state, live.spec_replicas, proposals, why_unusable(proposals))
        if silent == snapshot.ready_replicas:
            why = "no request observed, and no leader reports"
            return hold(ctx, state, live.spec_replicas, proposals, why)
        names = ", ".join(p.name for p in proposals)
        driver = proposals[0].name
        busy = busy_leaders(spec, snapshot, now)
        if busy:
            # Nothing finished in the window, yet requests wait or run: no evidence of
            # how many groups they need, and certainly not of none. Keep the size.
            target = current
            ctx.note(
                R.SIGNAL,
                f"{names}: no request in the window, but {busy} leader(s) report requests "
                f"waiting or running -> keep {current}",
            )
        else:
            # Latency signals that saw no request, confirmed by idle reporting leaders:
            # known state with zero demand, not missing data (no hold, no fallback).
            target = 0
            ctx.note(R.SIGNAL, f"{names}: no request in the window -> 0 groups needed")
    else:
        target, driver = best.replicas or 0, best.name
        note_driver(ctx, best, demand, current)

    observed_since = observation_start(ctx, state)

    forecast = spec.scale_up.forecast
    demand_history, projected = state.demand, None
    if forecast.enabled:
        rate_window = spec.metrics.rate_window
        # Rates over a window that has not filled since the first decision (a fresh
        # source, a restarted server) or since no group served (a wake from zero) are
        # not demand yet: their warm-up is no trend. Woken with a steady load of 1.5
        # groups, the first group's rate spread over the window reads 0.19, 0.38 ...
        # 1.5 groups in 2 minutes, which the forecast projected to 3.2 (4 groups).
        warm_since = state.first_seen if state.rates_from is None else state.rates_from
        if warm_since is None or now - warm_since >= rate_window:
            demand_history = append_window(demand_history, now, demand, forecast.lookback)
        projected = project_demand(demand_history, now, ctx.cold, forecast, rate_window)
    if projected is not None and math.ceil(projected - _EPSILON) > max(target, current):
        target, driver = math.ceil(projected - _EPSILON), "forecast"
        ctx.note(
            R.FORECAST,
            f"demand rising: {groups(projected)} groups expected in {fmt(ctx.cold)} "
            f"(cold start) -> {target}",
        )

    idle_since, idleness = track_idle(ctx, state, snapshot)
    floor = 1 if idleness.long_enough else spec.replicas.min
    target = ctx.clamp(target, floor)
    if target < current and holds_while_idle(ctx, idleness, current, target):
        # The held size is the target, also in the down window: when traffic returns,
        # the rate windows take their length to fill again, and a window remembering
        # only the silence would remove groups the returning load needs.
        target = current
    if target > current and live.spec_replicas > current:
        # Load back while a drain runs: the groups it takes away are still there, so the
        # target keeps them at once and the rules that hold a scale-up back (window, step
        # limit) count from the live size, as without a drain. From the destination, a
        # 1-minute up window held 4 groups draining to 1 at 1 while 60 requests waited,
        # and the drain removed 3 ready groups that new ones had to replace.
        rec = min(target, live.spec_replicas)
        if target > rec:
            rec = scale_up(ctx, state.targets, state.sizes, rec, target)
    elif target > current:
        rec = scale_up(ctx, state.targets, state.sizes, current, target)
    elif target < current and silent:
        ctx.note(
            R.PARTIAL_DATA,
            f"no request observed, but {silent} of {snapshot.ready_replicas} ready groups' "
            "leaders did not report: no scale-down",
        )
        rec = current
    elif target < current:
        # The step limit counts from the live size too: after a stalled loop no size of the
        # period is left, and from the destination a drain of 3 -> 2 deepened to 1.
        sizes = state.sizes if live is snapshot else (*state.sizes, (now, live.spec_replicas))
        rec = scale_down(ctx, state.targets, sizes, observed_since, snapshot, proposals, target)
    else:
        rec = current
    rec = ctx.clamp(keep_existing_under_pressure(ctx, rec, snapshot, proposals), floor)
    if rec != current and not floor <= current <= spec.replicas.max:
        ctx.note(R.BOUNDS, f"{current} is outside [{floor}, {spec.replicas.max}]")
    if rec <= current and snapshot.starting_replicas and demand > snapshot.ready_replicas:
        ctx.note(
            R.COVERED_BY_STARTING,
            f"demand {groups(demand)} covered by {snapshot.ready_replicas} ready + "
            f"{snapshot.starting_replicas} starting groups",
        )
    # From exactly one group that exists: while a drain takes 2 groups to 1, the rules see
    # 1, but going to 0 then would drain group 0 as well, leaving no group in the
    # Service while group 1 still finishes its requests.
    if rec < scheduled.groups:
        # After the stabilisation rules (a schedule is no spike to smooth), before the
        # drain (a drain of the groups it keeps is called off).
        ctx.note(R.SCHEDULED, f"{scheduled.message} (the rules: {rec})")
        rec, driver = scheduled.groups, "schedule"
    if not scheduled.groups and to_zero(ctx, idleness, live):
        rec, driver = 0, "scaleToZero"
    rec, draining, drain_state = drain(ctx, state, live, live.spec_replicas, rec)
    return ctx.finish(
        state,
        live.spec_replicas,
        rec,
        proposals,
        driver,
        demand,
        projected,
        {
            "observed_since": observed_since,
            # A floor is a target too: the down window holds it once its window closes.
            "targets": append_window(
                state.targets, now, max(target, scheduled.groups), ctx.target_history_seconds
            ),
            "demand": demand_history,
            "queue_totals": queue_totals,
            "idle_since": idle_since,
            "last_good": (now, rec),
            "draining": drain_state,
        },
        draining,
    )
