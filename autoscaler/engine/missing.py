"""Missing or stale data: "no data" is never read as "no load".

When no leader signal is usable the engine *holds* for ``missingMetrics.holdFor``: it
repeats the last recommendation made on fresh data (or, before any, the current size),
within the bounds of the policy in force (the state survives a policy reload).
Past the hold it recommends ``fallbackReplicas`` (or the held size, when that is
larger) or nothing at all (``replicas`` None: the HPA then keeps its current size). It
never scales down because data vanished.

Worked example: ``holdFor: 5m``, last good recommendation 4 at t=1000. At t=1200 the
source fails: hold 4 (200 s < 300 s). At t=1301: fallback (or no recommendation).

Not missing: latency signals that saw no request (``noTraffic``, every signal of a
``ttft``/``queueWait``-only policy) while the leaders report. That is zero demand, and
the ordinary rules (scale-down, scale-to-zero) apply; see :func:`silent_groups`.
"""

from __future__ import annotations

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode, SignalProposal, SignalStatus
from autoscaler.engine.leader_totals import usable_value
from autoscaler.engine.startup import SLOW_START_FACTOR
from autoscaler.engine.state import EngineState, no_group_serves
from autoscaler.snapshot import LwsSnapshot, group_index

R = ReasonCode


def hold(
    ctx: DecisionContext,
    state: EngineState,
    current: int | None,
    proposals: tuple[SignalProposal, ...],
    why: str,
) -> tuple[Decision, EngineState]:
    """Hold, then fall back; ``current`` is None when the source returned no snapshot."""
    missing, now = ctx.spec.missing_metrics, ctx.now
    # No data is not idle either: the scale-to-zero clock restarts with fresh data.
    state = state.evolve(idle_since=None)
    held: int | None
    if state.last_good is not None:
        since, good = state.last_good
        held = _within_bounds(ctx, good)
        what = f"holding {held} from {fmt(now - since)} ago"
        if held != good:
            what += f" ({good} then, outside the bounds of the policy now)"
    else:
        # Nothing recommended yet (a restarted server): hold what runs now.
        since = state.first_seen if state.first_seen is not None else now
        held = None if current is None else ctx.clamp(current)
        what = "nothing recommended yet, " + (
            "no size to hold" if held is None else f"holding the current size {held}"
        )
    if now - since <= missing.hold_for:
        ctx.note(R.HOLD, f"{why}; {what}, holdFor {fmt(missing.hold_for)}")
        leaving = still_leaving(ctx, state, held, current)
        return ctx.finish(state, current, held, proposals, "hold", draining=leaving)
    if missing.then == "fallback" and missing.fallback_replicas is not None:
        # A floor, never a cut: 6 busy groups blind past holdFor with fallbackReplicas 3
        # keep 6. Going to 3 in one decision would skip the step limit, the down window,
        # minGroupAge and the drain, and fail every request running on the 3 removed.
        fallback = max(missing.fallback_replicas, held or 0)
        what = f"fallback {fallback}"
        if fallback != missing.fallback_replicas:
            what += f" (fallbackReplicas {missing.fallback_replicas} only raises the size)"
        ctx.note(R.FALLBACK, f"{why}; past holdFor {fmt(missing.hold_for)}, {what}")
        leaving = still_leaving(ctx, state, fallback, current)
        return ctx.finish(state, current, fallback, proposals, "fallback", draining=leaving)
    ctx.note(R.NO_RECOMMENDATION, f"{why}; past holdFor {fmt(missing.hold_for)}")
    return ctx.finish(state, current, None, proposals, None)


def still_leaving(
    ctx: DecisionContext, state: EngineState, held: int | None, current: int | None
) -> tuple[str, ...]:
    """Leaders of drained groups that the held recommendation still removes (and that
    still exist: below ``current``, when the snapshot says).

    A drain that completed sent the lower size out: 2 idle groups drained to 1, then the
    scrape fails before the HPA applies 1. The hold repeats 1, so group 1 is still going,
    and its leader must stay out of routing (named in ``draining``); calling the drain off
    put it back into the Service while the LWS deleted it. A drain still pending had
    held the live size, which removes nothing: it is called off (its groups serve again).
    """
    if held is None or not state.draining:
        return ()
    name = ctx.key.name
    return tuple(
        pod
        for pod, _ in state.draining
        if (index := group_index(pod, name)) is not None
        and held <= index
        and (current is None or index < current)
    )


def _within_bounds(ctx: DecisionContext, good: int) -> int:
    """``good`` within what the policy allows *now*: the state outlives a policy reload.

    Recommended 10 under ``max: 10``, reloaded with ``max: 4``: hold 4, not 10. Below
    ``replicas.min`` (down to 0) only with scale-to-zero on, where the idle floor of 1 and
    the step to 0 are legitimate sizes to hold: 0, reloaded with scale-to-zero off and
    ``min: 2``, holds 2.
    """
    bounds = ctx.spec.replicas
    floor = 0 if ctx.spec.scale_to_zero.enabled else bounds.min
    return min(max(good, floor), bounds.max)


def wait_for_leaders(
    ctx: DecisionContext,
    state: EngineState,
    snapshot: LwsSnapshot,
    proposals: tuple[SignalProposal, ...],
    quiet_since: float | None = None,
) -> tuple[Decision, EngineState]:
    """No group is ready yet (all starting, or just woken from zero): keep the size.

    This is known state, not missing data, so it refreshes the hold's last good value.
    With scale-to-zero, ``quiet_since`` is the start of the activation's silence
    (``zero.quiet_while_unready``): once it lasts ``idleAfter``, and twice the cold start
    (the start is overdue, ``SlowStart``), the start is given up and the LWS goes back to
    0. No group serves, so there is nothing to drain.
    """
    current = snapshot.spec_replicas
    # Never before a start is overdue: with idleAfter 5m and a 10-minute cold start, a
    # start woken by one request was given up at 6 minutes, before it could serve.
    patience = max(ctx.spec.scale_to_zero.idle_after, SLOW_START_FACTOR * ctx.cold)
    if quiet_since is not None and ctx.now - quiet_since >= patience:
        ctx.note(
            R.SCALE_TO_ZERO,
            f"no group ready and the activation quiet for {fmt(ctx.now - quiet_since)} "
            f">= {fmt(patience)} (idleAfter, and twice the cold start): the start is "
            f"given up, {current} -> 0",
        )
        # The silence goes on in the state: until the HPA applies the 0, the next
        # decisions see the same LWS and give it up again, instead of holding 1.
        state = state.evolve(
            last_good=(ctx.now, 0),
            idle_since=quiet_since,
            demand=(),
            **no_group_serves(state, ctx.now),
        )
        return ctx.finish(state, current, 0, proposals, "scaleToZero")
    held = ctx.clamp(current)
    ctx.note(
        R.WAITING_FOR_LEADERS,
        f"no ready group yet ({snapshot.starting_replicas} starting): hold at {held}",
    )
    state = state.evolve(
        last_good=(ctx.now, held),
        idle_since=quiet_since,
        demand=(),
        **no_group_serves(state, ctx.now),
    )
    return ctx.finish(state, current, held, proposals, "startup")


def note_invalid(ctx: DecisionContext, proposals: tuple[SignalProposal, ...]) -> None:
    """Say which signals came to no finite demand (their status is ``invalid``)."""
    for p in proposals:
        if p.status is SignalStatus.INVALID:
            ctx.note(
                R.INVALID_SIGNAL,
                f"{p.name}: the samples come to no finite, non-negative number of groups "
                "(or are stamped in the future): unusable, as missing data",
            )


def why_unusable(proposals: tuple[SignalProposal, ...]) -> str:
    """The reason a decision without any usable signal gives for its hold."""
    if any(p.status is SignalStatus.STALE for p in proposals):
        return "every signal is stale"
    if any(p.status is SignalStatus.INVALID for p in proposals):
        return "no signal has a usable value"
    return "no signal has data"


def silent_groups(ctx: DecisionContext, snapshot: LwsSnapshot) -> int:
    """Ready groups whose leader reported no usable sample of any signal.

    Every source reports the leaders' gauges whatever the policy's signals, and a
    latency histogram sums the same leaders' buckets. So a latency quantile over no
    request (``noTraffic``) is known silence only for the leaders that report: with all
    of them silent it is as likely a failed scrape (no data, held as missing); with
    some silent, the silent ones may be serving (no scale-down, as with ``partial``).
    """
    now, stale_after = ctx.now, ctx.spec.metrics.stale_after
    reporting = 0
    for samples in snapshot.leaders.values():
        if any(usable_value(s, now, stale_after)[0] is not None for s in samples.values()):
            reporting += 1
    return max(0, snapshot.ready_replicas - reporting)
