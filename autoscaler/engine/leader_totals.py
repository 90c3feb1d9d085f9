"""Totals over the leaders: which samples count, and how a group's share is estimated.

A per-group signal sums one reading over the leaders of the ready groups. Samples that
are NaN, infinite, negative, in the future or older than ``metrics.staleAfter`` are
dropped, and a leader counts only when all the samples it needs are usable. A ready
group whose leader did not report is assumed to carry the average, except for token
rates from a group ready for less than ``metrics.rateWindow``, whose first seconds are
the backlog it was started for (see :func:`leader_total`). ``usable_value`` is the one
test of a sample, shared with the missing-data and scale-to-zero rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autoscaler.engine.decision import SignalStatus
from autoscaler.policy.model import (
    KvCacheSignal,
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


def leader_total(
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
