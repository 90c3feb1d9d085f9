"""Per-signal proposals: from leader samples to "how many groups would meet the target".

Every signal reduces to a *demand in groups*. For the per-group signals it is the sum
over reporting leaders divided by the per-group target, e.g. 3 leaders waiting 12, 4 and
8 requests with ``targetPerGroup: 5`` need (12+4+8)/5 = 4.8 groups, so the proposal is 5.
KV-cache utilisation works the same way on fractions: 0.9 + 0.7 at target 0.8 need
1.6/0.8 = 2 groups. Throughput divides tokens/s by ``capacityPerGroup *
targetUtilization``. TTFT and queue wait are quantiles, not sums, so they scale the
ready count by ``observed/target``: a p90 queue wait of 1.5 s against 1 s on 4 ready
groups proposes 4 × 1.5 = 6.

Which samples count, and the share of a group whose leader is silent, are worked out
in ``leader_totals``. A signal with no usable sample is MISSING or STALE, never zero.
Samples that are usable one by one but come to no finite demand (two leaders waiting
1e308 each sum to infinity; a TTFT of 1e306 s against 0.001 s) make the signal INVALID,
unusable like a missing one: infinity is no number of groups, and ``ceil`` of it raises.
So does a latency quantile that is infinite, negative or stamped in the future; a NaN
one is a window without requests (``noTraffic``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from autoscaler.engine.decision import (
    SignalProposal,
    SignalStatus,
    format_groups,
    make_proposal,
)
from autoscaler.engine.leader_totals import leader_total, usable_value
from autoscaler.engine.state import EngineState, TimedFloats
from autoscaler.engine.tolerance import apply_tolerance
from autoscaler.policy.model import LatencySignal, PolicySpec, QueueDepthSignal
from autoscaler.snapshot import LwsSnapshot


def _total_proposal(
    name: str,
    target: float,
    total: float,
    reporting: int,
    status: SignalStatus,
    snapshot: LwsSnapshot,
    band: tuple[float, float],
) -> SignalProposal:
    if not reporting:
        return make_proposal(name, status, target)
    needed = total / target
    if not math.isfinite(needed):
        return make_proposal(name, SignalStatus.INVALID, target, reporting=reporting)
    ready = snapshot.ready_replicas
    groups = reporting if reporting > ready else ready
    return make_proposal(
        name,
        status,
        target,
        total / groups,
        needed,
        apply_tolerance(needed, snapshot.spec_replicas, *band),
        reporting,
    )


def lowest_since(history: TimedFloats, now: float, seconds: float, current: float) -> float:
    """The lowest of ``current`` and the values recorded in ``[now - seconds, now]``.

    ``queueDepth.sustainedFor``: with decisions every 15 s and 30 s, queue totals 0, 120
    (a burst), 0 give 0 at the burst, and the burst orders nothing; 40, 80, 120 (a growing
    backlog) give 40 at the third decision, so a backlog that lasts 30 s is acted on.
    With no earlier decision in the window (a restart, a gap in the data) the current
    total alone counts. Histories hold a handful of entries, so a backwards scan is
    cheaper than a search.
    """
    horizon = now - seconds
    lowest = current
    for at, value in reversed(history):
        if at < horizon:
            break
        if at <= now and value < lowest:
            lowest = value
    return lowest


def _latency_proposal(
    spec: LatencySignal,
    snapshot: LwsSnapshot,
    now: float,
    stale_after: float,
    band: tuple[float, float],
    holding: bool,
) -> SignalProposal:
    name = spec.type
    sample = snapshot.aggregates.get(spec.signal)
    value, stale = usable_value(sample, now, stale_after)
    if value is None:
        if stale:
            return make_proposal(name, SignalStatus.STALE, spec.target_seconds)
        if sample is None or math.isnan(sample.value):
            # Nothing observed in the window (no prefill finished for TTFT; no request
            # finished for vLLM's queue time; PromQL's histogram_quantile over zero
            # rates is NaN): no evidence either way, so the signal neither proposes nor
            # blocks.
            return make_proposal(name, SignalStatus.NO_TRAFFIC, spec.target_seconds)
        # An infinite or negative quantile, or one stamped in the future, is a broken
        # reading, not a window without requests: unusable, as missing data.
        return make_proposal(name, SignalStatus.INVALID, spec.target_seconds)
    ready = snapshot.ready_replicas
    if not ready:
        # No group serves (every leader failed readiness while the quantile is still in
        # the rate window): ready x observed / target is 0 groups whatever the latency,
        # which is no reading of demand. Missing, so the engine waits for leaders.
        return make_proposal(name, SignalStatus.MISSING, spec.target_seconds, value)
    needed = ready * value / spec.target_seconds
    if not math.isfinite(needed):
        return make_proposal(name, SignalStatus.INVALID, spec.target_seconds, value)
    replicas = apply_tolerance(needed, snapshot.spec_replicas, *band)
    if spec.hold_while_starting and holding:
        # The quantile is over requests the ready groups finished in the window: groups
        # on their way show in it only once they serve. A p90 wait of 7.7 s on 3 ready
        # groups needs 3 x 7.7 / 1 s = 23; with 4 ordered on it and starting, the same
        # waits would order more at every decision until those 4 are ready. Proposing
        # the 7 that exist holds until then; ``needed`` keeps the signal's own reading.
        replicas = min(replicas, ready + snapshot.starting_replicas)
    return make_proposal(
        name,
        SignalStatus.OK,
        spec.target_seconds,
        value,
        needed,
        replicas,
        len(snapshot.leaders),
    )


def propose(policy: PolicySpec, snapshot: LwsSnapshot, now: float) -> tuple[SignalProposal, ...]:
    """One proposal per signal of the policy, in policy order, from this snapshot alone
    (no ``sustainedFor`` history: the current queue counts)."""
    return propose_with_history(policy, snapshot, now, ())[0]


def propose_with_history(
    policy: PolicySpec,
    snapshot: LwsSnapshot,
    now: float,
    queue_totals: TimedFloats,
    holds: Holds | None = None,
) -> tuple[tuple[SignalProposal, ...], float | None]:
    """One proposal per signal, in policy order, and the total queue to remember.

    ``holds``: what ``holdWhileStarting`` holds now (:func:`backlog_holds`); by
    default, everything while groups start.

    A ``queueDepth`` signal with ``sustainedFor`` is sized by the lowest total queue of
    the decisions in that window (:func:`lowest_since` over ``queue_totals``, which holds
    the earlier decisions' totals). The second value is this decision's total queue
    over all ready groups, for the caller to append; None when no queue signal
    sustains, or the queue has no usable sample or no finite total.
    """
    stale_after = policy.metrics.stale_after
    band = (policy.tolerance, policy.scale_down.spare_groups)  # see apply_tolerance
    if holds is None:
        holds = STARTING if snapshot.starting_replicas else Holds()
    out: list[SignalProposal] = []
    queue_now: float | None = None
    for spec in policy.signals:
        if isinstance(spec, LatencySignal):
            out.append(_latency_proposal(spec, snapshot, now, stale_after, band, holds.latency))
            continue
        name, target, total, reporting, status = leader_total(
            spec, snapshot, now, stale_after, policy.metrics.rate_window
        )
        # An infinite total stays out of the history (its proposal is INVALID): the
        # lowest total of the window would otherwise size the signal despite garbage.
        if (
            isinstance(spec, QueueDepthSignal)
            and spec.sustained_for > 0
            and reporting
            and math.isfinite(total)
        ):
            queue_now = total
            total = lowest_since(queue_totals, now, spec.sustained_for, total)
        proposal = _total_proposal(name, target, total, reporting, status, snapshot, band)
        if isinstance(spec, QueueDepthSignal) and spec.hold_while_starting and holds.queue:
            proposal = _held(proposal, snapshot)
        out.append(proposal)
    return tuple(out), queue_now


def _held(proposal: SignalProposal, snapshot: LwsSnapshot) -> SignalProposal:
    """``queueDepth.holdWhileStarting``: at most the groups that exist while it holds.

    2 ready groups with 241 waiting at target 8 need 30.1 groups; with a third starting,
    the proposal is 3. The backlog grew while the ready groups were short; the group on
    its way drains it. Without the hold, the same backlog orders more groups at every
    decision of the cold start (on the default trace, up to the maximum of 12).
    ``needed`` keeps the signal's own reading."""
    exists = snapshot.ready_replicas + snapshot.starting_replicas
    if proposal.replicas is None or proposal.replicas <= exists:
        return proposal
    return dataclasses.replace(proposal, replicas=exists)


@dataclass(frozen=True, slots=True)
class Holds:
    """Whether ``holdWhileStarting`` holds the queue signals and the latency guards now."""

    queue: bool = False
    latency: bool = False


STARTING = Holds(queue=True, latency=True)


def backlog_holds(
    snapshot: LwsSnapshot, state: EngineState, now: float, cold: float, rate_window: float
) -> Holds:
    """What ``holdWhileStarting`` holds now: everything while groups start; after a
    stretch of decisions with no group serving (at zero, or every group starting or
    unready: ``EngineState.unserved_since`` to ``rates_from``), the queue for as long
    as that stretch lasted, at most one cold start, and the latency guards a rate
    window longer.

    With no group serving, the gateway holds every request; the first group to serve
    gets that backlog at once. Woken from zero with 1.6 requests/s and a 5-minute cold
    start, about 480 requests reach the one woken group together: 40 groups' worth at
    ``targetPerGroup: 12``, and the p90 queue wait of the requests it finishes next is
    minutes. Every one of them already waited a cold start, and groups ordered now would
    serve a cold start later, when one group at that rate has long drained them (tested
    in the closed loop: 5 groups ordered, 4 of them for nothing). A latency quantile
    keeps the backlog's waits for ``metrics.rateWindow`` after the last of them is
    served (vLLM observes a queue time when the request finishes), hence its longer
    hold. A stretch of one decision (every leader unready for one scrape) holds no
    queue: the backlog of one interval is small, and a real overload must not wait a
    cold start; the latency guards are still held for the rate window, whose quantile
    the flap's waits are in (15 s in 2 minutes: an eighth of the requests). Load the
    woken groups cannot carry keeps the queue past the hold, and
    the rules order then; the token throughput signal is never held."""
    if snapshot.starting_replicas:
        return STARTING
    if state.rates_from is None or state.unserved_since is None:
        return Holds()
    # From the first decision without a serving group to the first with one again:
    # n such decisions 15 s apart are n x 15 s, so one of them (a readiness flap over
    # one scrape) holds no queue, since the first serving decision comes 15 s after it.
    interval = state.interval or 0.0
    stretch = min(cold, state.rates_from - state.unserved_since + interval)
    if stretch <= 0:
        return Holds()
    since = now - state.rates_from
    return Holds(queue=since < stretch, latency=since < stretch + rate_window)


def backlog_message(
    proposals: tuple[SignalProposal, ...], held: frozenset[str], exists: int
) -> str | None:
    """Why a held signal orders nothing with no group starting (a wake's backlog), or
    None when no held signal reads more than the groups that exist."""
    over = [p for p in proposals if p.name in held and (p.needed or 0.0) > exists]
    if not over:
        return None
    needs = ", ".join(f"{p.name} needs {format_groups(p.needed)}" for p in over)
    return (
        f"{needs}, held at the {exists} group(s) there: a backlog gathered while no group "
        "served, which they drain"
    )


def held_while_starting(spec: PolicySpec, holds: Holds) -> frozenset[str]:
    """Names of the signals ``holdWhileStarting`` holds now (``holds``: see
    :func:`backlog_holds`)."""
    if not (holds.queue or holds.latency):
        return frozenset()
    return frozenset(
        s.type
        for s in spec.signals
        if (isinstance(s, QueueDepthSignal) and holds.queue and s.hold_while_starting)
        or (isinstance(s, LatencySignal) and holds.latency and s.hold_while_starting)
    )
