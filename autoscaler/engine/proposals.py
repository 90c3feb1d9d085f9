"""Per-signal proposals: from leader samples to "how many groups would meet the target".

Every signal reduces to a *demand in groups*. For the per-group signals it is the sum
over reporting leaders divided by the per-group target, e.g. 3 leaders waiting 12, 4 and
8 requests with ``targetPerGroup: 5`` need (12+4+8)/5 = 4.8 groups, so the proposal is 5.
KV-cache utilisation works the same way on fractions: 0.9 + 0.7 at target 0.8 need
1.6/0.8 = 2 groups. Throughput divides tokens/s by ``capacityPerGroup *
targetUtilization``. TTFT and queue wait are quantiles, not sums, so they scale the
ready count by ``observed/target``: a p90 queue wait of 1.5 s against 1 s on 4 ready
groups proposes 4 × 1.5 = 6.

Samples that are NaN, infinite, negative or older than ``metrics.staleAfter`` are
dropped; a signal with no usable sample is MISSING or STALE, never zero. Samples that
are usable one by one but come to no finite demand (two leaders waiting 1e308 each sum to
infinity; a TTFT of 1e306 s against 0.001 s) make the signal INVALID, unusable like a
missing one: infinity is no number of groups, and ``ceil`` of it raises. A ready group
whose leader did not report is assumed to carry the average, except for token rates
from a group ready for less than ``metrics.rateWindow`` (see ``_leader_total``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from autoscaler.engine.decision import SignalProposal, SignalStatus, make_proposal
from autoscaler.engine.state import TimedFloats
from autoscaler.engine.tolerance import apply_tolerance
from autoscaler.policy.model import (
    KvCacheSignal,
    LatencySignal,
    PolicySpec,
    QueueDepthSignal,
    SignalSpec,
    TokenThroughputSignal,
)
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsSnapshot, Sample, group_leader

# A clock skew larger than this between a sample and ``now`` marks the sample unusable.
_MAX_FUTURE_SKEW = 30.0
# Utilisation above 100% is a unit mistake (percent vs fraction), not load.
_MAX_FRACTION = 1.0


_TOKEN_SIGNALS: dict[str, tuple[Signal, ...]] = {
    "prompt": (Signal.PROMPT_TOKENS,),
    "generation": (Signal.GENERATION_TOKENS,),
    "total": (Signal.PROMPT_TOKENS, Signal.GENERATION_TOKENS),
}
_TOKEN_NAMES = {tokens: f"tokenThroughput/{tokens}" for tokens in _TOKEN_SIGNALS}
_QUEUE_SAMPLES = (Signal.QUEUE_DEPTH,)
_KV_SAMPLES = (Signal.KV_CACHE,)


def _leader_plan(spec: SignalSpec) -> tuple[str, float, tuple[Signal, ...], float]:
    """(name, per-group target, the leader samples summed, largest plausible sample)."""
    if isinstance(spec, QueueDepthSignal):
        return spec.type, spec.target_per_group, _QUEUE_SAMPLES, math.inf
    if isinstance(spec, KvCacheSignal):
        return spec.type, spec.target, _KV_SAMPLES, _MAX_FRACTION
    assert isinstance(spec, TokenThroughputSignal)
    target = spec.capacity_per_group * spec.target_utilization
    return _TOKEN_NAMES[spec.tokens], target, _TOKEN_SIGNALS[spec.tokens], math.inf


def usable_value(
    sample: Sample | None, now: float, stale_after: float
) -> tuple[float | None, bool]:
    """(value, stale): value is None when the sample cannot be used."""
    if sample is None or not math.isfinite(sample.value) or sample.value < 0:
        return None, False
    # Written so that a NaN timestamp fails (every comparison with NaN is False): a
    # sample of unknown age is not usable, where "> now + skew" would pass it as fresh.
    if not sample.timestamp <= now + _MAX_FUTURE_SKEW:
        return None, False
    if now - sample.timestamp > stale_after:
        return None, True
    return sample.value, False


def _leader_values(
    wanted: tuple[Signal, ...],
    ceiling: float,
    leaders: Mapping[str, Mapping[Signal, Sample]],
    now: float,
    stale_after: float,
) -> tuple[float, int, bool]:
    """(sum over reporting leaders of their ``wanted`` samples, leaders counted, whether
    a stale sample was seen).

    A leader counts only if every wanted sample is usable (the checks of
    :func:`usable_value`, inlined: this is the engine's innermost loop). The sum is a
    plain one: at most a few hundred non-negative terms, so rounding stays near 1e-14
    relative, far below any tolerance.
    """
    grand, reporting = 0.0, 0
    saw_stale = False
    latest = now + _MAX_FUTURE_SKEW
    # Leaders that report the very same (read-only) mapping get the same verdict, so
    # it is worked out once: the dry-run's simulated leaders all share one mapping.
    previous: Mapping[Signal, Sample] | None = None
    counts, total = False, 0.0
    for samples in leaders.values():
        if samples is not previous:
            previous, counts, total = samples, False, 0.0
            for signal in wanted:
                sample = samples.get(signal)
                if sample is None:
                    break
                value, timestamp = sample.value, sample.timestamp
                # ``0 <= value < inf`` is False for NaN, infinities and negatives alike;
                # ``timestamp <= latest`` is False for a NaN timestamp (unknown age).
                if not 0.0 <= value < math.inf or not timestamp <= latest:
                    break
                if now - timestamp > stale_after:
                    saw_stale = True
                    break
                if value > ceiling:
                    break
                total += value
            else:
                counts = True
        if counts:
            grand += total
            reporting += 1
    return grand, reporting, saw_stale


def _newcomers(
    snapshot: LwsSnapshot,
    wanted: tuple[Signal, ...],
    now: float,
    stale_after: float,
    rate_window: float,
) -> tuple[float, int]:
    """(tokens/s to take off the leaders' total, newcomers without a rate) for the
    groups ready for less than ``rate_window``.

    A newcomer's rate covers only the seconds since it became ready, while the others'
    cover the whole window, and those first seconds are the backlog it was started for.
    Summed as they are, the total counts that backlog as lasting demand. Its increase
    spread over the whole window puts it on the others' footing: 30 s at 10,000
    tokens/s in a 120 s window counts 10,000 x 30/120 = 2,500 (7,500 taken off).
    A newcomer with no rate yet (a rate needs two readings) adds nothing: its load is
    still in the rates of the groups it takes it from.
    """
    since = now - rate_window
    excess, silent = 0.0, 0
    for group in snapshot.groups:
        if group.ready_at is None or group.ready_at <= since:
            continue
        samples = group_leader(snapshot, group.index)
        rate = 0.0
        for signal in wanted:
            value, _ = usable_value(samples.get(signal), now, stale_after)
            if value is None:
                silent += 1
                break
            rate += value
        else:
            excess += rate * (1.0 - max(0.0, now - group.ready_at) / rate_window)
    return excess, silent


def _leader_total(
    spec: SignalSpec, snapshot: LwsSnapshot, now: float, stale_after: float, rate_window: float
) -> tuple[str, float, float, int, SignalStatus]:
    """(name, per-group target, total over all ready groups, leaders counted, status)."""
    name, target, wanted, ceiling = _leader_plan(spec)
    total, reporting, saw_stale = _leader_values(
        wanted, ceiling, snapshot.leaders, now, stale_after
    )
    if not reporting:
        return name, target, 0.0, 0, SignalStatus.STALE if saw_stale else SignalStatus.MISSING
    silent = max(0, snapshot.ready_replicas - reporting)
    if isinstance(spec, TokenThroughputSignal) and snapshot.groups:
        # Seen in the default benchmark: 5 groups for about 50k tokens/s arriving (4.6
        # groups at 11k), 3 of them ready and saturated at 14.3k each. One newcomer
        # silent, averaged in: 42.9k x 4/3 = 57k (5.2 groups). A scrape later, the second
        # silent: 52.8k x 5/4 = 66k (6.0 groups), and 2 groups were ordered that nobody
        # needed; then the newcomers' backlog-filled first seconds read 62k and ordered
        # a 6th. Spread over the window they read 46k (4.2 groups).
        excess, new_silent = _newcomers(snapshot, wanted, now, stale_after, rate_window)
        # inf - inf is NaN, and max(0.0, NaN) is 0.0: an overflow must stay unusable
        # (INVALID below), never read as no load.
        total = max(0.0, total - excess) if math.isfinite(total - excess) else math.inf
        silent -= min(silent, new_silent)
    if not silent:
        status = SignalStatus.OK if reporting >= snapshot.ready_replicas else SignalStatus.PARTIAL
        return name, target, total, reporting, status
    # A ready group whose leader did not report (scrape failed, pod vanished
    # mid-window): assume it carries the average load rather than none.
    return name, target, total * (reporting + silent) / reporting, reporting, SignalStatus.PARTIAL


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
) -> SignalProposal:
    name = spec.type
    value, stale = usable_value(snapshot.aggregates.get(spec.signal), now, stale_after)
    if value is None:
        # Nothing observed in the window (no prefill finished for TTFT; no request
        # finished for vLLM's queue time): no evidence either way, so the signal neither
        # proposes nor blocks.
        status = SignalStatus.STALE if stale else SignalStatus.NO_TRAFFIC
        return make_proposal(name, status, spec.target_seconds)
    ready = snapshot.ready_replicas
    needed = ready * value / spec.target_seconds
    if not math.isfinite(needed):
        return make_proposal(name, SignalStatus.INVALID, spec.target_seconds, value)
    replicas = apply_tolerance(needed, snapshot.spec_replicas, *band)
    if spec.hold_while_starting and snapshot.starting_replicas:
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
    policy: PolicySpec, snapshot: LwsSnapshot, now: float, queue_totals: TimedFloats
) -> tuple[tuple[SignalProposal, ...], float | None]:
    """One proposal per signal, in policy order, and the total queue to remember.

    A ``queueDepth`` signal with ``sustainedFor`` is sized by the lowest total queue of
    the decisions in that window (:func:`lowest_since` over ``queue_totals``, which holds
    the earlier decisions' totals). The second value is this decision's total queue
    over all ready groups, for the caller to append; None when no queue signal
    sustains, or the queue has no usable sample or no finite total.
    """
    stale_after = policy.metrics.stale_after
    band = (policy.tolerance, policy.scale_down.spare_groups)  # see apply_tolerance
    out: list[SignalProposal] = []
    queue_now: float | None = None
    for spec in policy.signals:
        if isinstance(spec, LatencySignal):
            out.append(_latency_proposal(spec, snapshot, now, stale_after, band))
            continue
        name, target, total, reporting, status = _leader_total(
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
        if isinstance(spec, QueueDepthSignal) and spec.hold_while_starting:
            proposal = _held(proposal, snapshot)
        out.append(proposal)
    return tuple(out), queue_now


def _held(proposal: SignalProposal, snapshot: LwsSnapshot) -> SignalProposal:
    """``queueDepth.holdWhileStarting``: at most the groups that exist while some start.

    2 ready groups with 241 waiting at target 8 need 30.1 groups; with a third starting,
    the proposal is 3. The backlog grew while the ready groups were short; the group on
    its way drains it. Without the hold, the same backlog orders more groups at every
    decision of the cold start (on the default trace, up to the maximum of 12).
    ``needed`` keeps the signal's own reading."""
    exists = snapshot.ready_replicas + snapshot.starting_replicas
    if not snapshot.starting_replicas or proposal.replicas is None or proposal.replicas <= exists:
        return proposal
    return dataclasses.replace(proposal, replicas=exists)
