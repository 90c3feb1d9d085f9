"""Missing or stale data: "no data" is never read as "no load".

When no leader signal is usable the engine *holds* for ``missingMetrics.holdFor``: it
repeats the last recommendation made on fresh data (or, before any, the current size).
Past the hold it recommends ``fallbackReplicas`` or nothing at all (``replicas`` None:
the HPA then keeps its current size). It never scales down because data vanished.

Worked example: ``holdFor: 5m``, last good recommendation 4 at t=1000. At t=1200 the
source fails: hold 4 (200 s < 300 s). At t=1301: fallback (or no recommendation).
"""

from __future__ import annotations

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode, SignalProposal
from autoscaler.engine.state import EngineState
from autoscaler.snapshot import LwsSnapshot

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
        since, held = state.last_good
        what = f"holding {held} from {fmt(now - since)} ago"
    else:
        # Nothing recommended yet (a restarted server): hold what runs now.
        since = state.first_seen if state.first_seen is not None else now
        held = None if current is None else ctx.clamp(current)
        what = "nothing recommended yet, " + (
            "no size to hold" if held is None else f"holding the current size {held}"
        )
    if now - since <= missing.hold_for:
        ctx.note(R.HOLD, f"{why}; {what}, holdFor {fmt(missing.hold_for)}")
        return ctx.finish(state, current, held, proposals, "hold")
    if missing.then == "fallback" and missing.fallback_replicas is not None:
        fallback = missing.fallback_replicas
        ctx.note(R.FALLBACK, f"{why}; past holdFor {fmt(missing.hold_for)}, fallback {fallback}")
        return ctx.finish(state, current, fallback, proposals, "fallback")
    ctx.note(R.NO_RECOMMENDATION, f"{why}; past holdFor {fmt(missing.hold_for)}")
    return ctx.finish(state, current, None, proposals, None)


def wait_for_leaders(
    ctx: DecisionContext,
    state: EngineState,
    snapshot: LwsSnapshot,
    proposals: tuple[SignalProposal, ...],
) -> tuple[Decision, EngineState]:
    """No group is ready yet (all starting, or just woken from zero): keep the size.

    This is known state, not missing data, so it refreshes the hold's last good value.
    """
    current = snapshot.spec_replicas
    held = ctx.clamp(current)
    ctx.note(
        R.WAITING_FOR_LEADERS,
        f"no ready group yet ({snapshot.starting_replicas} starting): hold at {held}",
    )
    state = state.evolve(last_good=(ctx.now, held), idle_since=None)
    return ctx.finish(state, current, held, proposals, "startup")
