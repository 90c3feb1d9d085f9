"""``queueDepth.isolatedBurst``: the first queue burst after a calm stretch orders little.

The waiting-requests gauge is one instant. After a long calm, one scrape that catches a
burst cannot tell a passing burst (the running groups clear it within seconds) from the
start of real demand, and the groups it orders arrive a cold start later either way.
So the first decision that sees the queue above its target after ``calmFor`` of
decisions that all saw it at or below target adds at most ``maxGroups`` groups. A
queue that is still above target at the next decision, or that comes back within
``calmFor``, is no longer isolated and orders in full, as without the option.

Worked example, target 12 per group, ``calmFor: 15m``, ``maxGroups: 1``: 3 groups,
the queue at or below 36 for the last 20 minutes, then one scrape shows 51 waiting:
51 / 12 = 4.25 groups, proposal 5, limited to 3 + 1 = **4**. At the next scrape (15 s
later) the queue is 11: nothing more. Had it been 60 there: 5 groups, in full. With
``maxGroups: 0`` the first scrape orders nothing (proposal 3), so only a burst that
lasts to the next decision, or comes back within ``calmFor``, orders.

Calm must have been *observed*: a decision where a queue signal has no usable value
(or no snapshot at all) ends the stretch, and so does a gap between decisions longer
than ``metrics.staleAfter`` (a restarted server starts with no stretch). With no
evidence of calm the burst is not called isolated.
"""

from __future__ import annotations

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import ReasonCode, SignalProposal, format_groups, make_proposal
from autoscaler.policy.model import QueueDepthSignal

R = ReasonCode


Calm = tuple[float, float]
"""(start, last decision) of a calm stretch."""


def limit_isolated_burst(
    ctx: DecisionContext,
    proposals: tuple[SignalProposal, ...],
    current: int,
    calm: Calm | None,
) -> tuple[tuple[SignalProposal, ...], Calm | None]:
    """Proposals with an isolated queue burst limited, and the calm stretch after this
    decision.

    ``proposals`` are in policy order; ``calm`` is the stretch before this decision (None:
    not calm). The stretch after it is None when a queue signal with ``isolatedBurst``
    is above target or unusable now. Without any such signal both come back unchanged.
    """
    now = ctx.now
    watched = [
        (i, spec.isolated_burst)
        for i, spec in enumerate(ctx.spec.signals)
        if isinstance(spec, QueueDepthSignal) and spec.isolated_burst is not None
    ]
    if not watched:
        return proposals, calm
    if calm is not None and now - calm[1] > ctx.spec.metrics.stale_after:
        calm = None  # unobserved time is no evidence of calm
    if all(proposals[i].usable and not proposals[i].above_target for i, _ in watched):
        return proposals, (now if calm is None else calm[0], now)
    if calm is None:
        return proposals, None
    calm_for = now - calm[0]
    out = list(proposals)
    for i, burst in watched:
        proposal = proposals[i]
        ceiling = current + burst.max_groups
        if calm_for < burst.calm_for or (proposal.replicas or 0) <= ceiling:
            continue
        ctx.note(
            R.ISOLATED_BURST,
            f"{proposal.name} above target for the first time in {fmt(calm_for)} "
            f"(calmFor {fmt(burst.calm_for)}): proposal {format_groups(proposal.replicas)} "
            f"limited to {ceiling}",
        )
        out[i] = make_proposal(
            proposal.name,
            proposal.status,
            proposal.target,
            proposal.value,
            proposal.needed,
            ceiling,
            proposal.reporting,
        )
    return tuple(out), None
