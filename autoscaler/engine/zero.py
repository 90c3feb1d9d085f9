"""Idleness: scale-to-zero and back, and the hold of an idle LWS's size.

- Going to zero: only when ``scaleToZero.enabled``, only from exactly one group, and only
  after every leader has reported no waiting, running or token traffic (and the
  activation signal stayed at or below its threshold) for ``idleAfter`` without a
  break, and only while the activation query has a fresh value: at zero it is the one
  signal that can wake the LWS, so without it 1 -> 0 would be for good. While idle
  that long the floor is 1 instead of ``replicas.min``, so a larger LWS first shrinks
  through the ordinary scale-down rules, then goes 1 -> 0.
- At zero: no vLLM pod exports anything, so only the activation signal (a gateway
  query) counts. Above its threshold: wake to ``replicas.min`` at once, no window, no
  step limit. No fresh activation data: stay at zero (there is nothing to hold).
- At zero with scale-to-zero disabled (someone scaled the LWS to 0 by hand): back to min.
- ``scaleDown.holdWhileIdle``: while idle for less than one cold start, no scale-down.
  A silence shorter than a cold start (a paused client, a gateway restart) would
  otherwise cost the groups removed during it a full cold start when traffic returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from autoscaler.durations import format_duration as fmt
from autoscaler.engine.context import DecisionContext
from autoscaler.engine.decision import Decision, ReasonCode
from autoscaler.engine.leader_totals import usable_value
from autoscaler.engine.stabilize import protect_groups
from autoscaler.engine.state import EngineState, no_group_served_last, no_group_serves
from autoscaler.policy.model import PolicySpec
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsSnapshot, Sample

R = ReasonCode


@dataclass(frozen=True, slots=True)
class Idleness:
    """Whether the LWS is idle now, for how long, and whether that allows zero."""

    idle: bool
    idle_for: float
    long_enough: bool
    can_wake: bool = True
    """False when the activation query has no fresh value: at zero nothing could wake the
    LWS (``from_zero`` stays at 0 without data), so it must not go there."""


def from_zero(
    ctx: DecisionContext, state: EngineState, snapshot: LwsSnapshot
) -> tuple[Decision, EngineState]:
    """The LWS runs zero groups: wake on activation, else stay at zero.

    Each outcome becomes the last good recommendation, so a data outage right after a
    wake-up holds the wake-up size, never the zero that came before it.
    """
    stz, bounds = ctx.spec.scale_to_zero, ctx.spec.replicas
    if not stz.enabled or stz.activation is None:
        ctx.note(R.BOUNDS, f"LWS is at 0 but scale-to-zero is off: back to min {bounds.min}")
        return _at_zero(ctx, state, bounds.min, "bounds")
    sample = snapshot.aggregates.get(Signal.ACTIVATION)
    value, _ = usable_value(sample, ctx.now, ctx.spec.metrics.stale_after)
    threshold = stz.activation.threshold
    if value is not None and value > threshold:
        ctx.note(R.ACTIVATION, f"activation {value:g} > threshold {threshold:g}: wake to min")
        return _at_zero(ctx, state, bounds.min, "activation")
    seen = "no fresh activation data" if value is None else f"activation {value:g}"
    ctx.note(R.AT_ZERO, f"at zero, {seen} (threshold {threshold:g}): stay at 0")
    return _at_zero(ctx, state, 0, "scaleToZero")


def quiet_while_unready(
    ctx: DecisionContext, state: EngineState, snapshot: LwsSnapshot
) -> float | None:
    """No group ready: since when a scale-to-zero LWS's activation has had fresh values at
    or below its threshold (None: it has not, or the policy cannot go to zero).

    Woken by one request, then a group that never starts (no GPU node, an image that
    cannot be pulled) held one group's pods for a day with the gateway silent. After
    ``idleAfter`` of that silence the start is given up (``missing.wait_for_leaders``).
    Unobserved time between decisions (``state.unobserved_gap``) restarts the stretch.
    """
    stz, stale_after = ctx.spec.scale_to_zero, ctx.spec.metrics.stale_after
    if not stz.enabled or stz.activation is None:
        return None
    value, _ = usable_value(snapshot.aggregates.get(Signal.ACTIVATION), ctx.now, stale_after)
    if value is None or value > stz.activation.threshold:
        return None
    if state.idle_since is None or ctx.unobserved:
        return ctx.now
    return state.idle_since


def _at_zero(
    ctx: DecisionContext, state: EngineState, replicas: int, driver: str
) -> tuple[Decision, EngineState]:
    # The idle clock only runs while serving: it restarts once groups are back.
    # No group serves: the rates that come back after a wake start from nothing (see
    # ``EngineState.rates_from``).
    state = state.evolve(
        idle_since=None, last_good=(ctx.now, replicas), demand=(), **no_group_serves(state, ctx.now)
    )
    return ctx.finish(state, 0, replicas, (), driver)


def track_idle(
    ctx: DecisionContext, state: EngineState, snapshot: LwsSnapshot
) -> tuple[float | None, Idleness]:
    """The new start of the current idle stretch, and the idleness now; only policies
    with scale-to-zero or ``holdWhileIdle`` pay for the idleness check."""
    stz = ctx.spec.scale_to_zero
    if not (stz.enabled or ctx.spec.scale_down.hold_while_idle):
        return None, _NOT_IDLE
    if not is_idle(ctx.spec, snapshot, ctx.now):
        return None, _NOT_IDLE
    # Unobserved time is no evidence of idleness (as for ``isolatedBurst``'s calm): idle
    # at 12:00 and again at 12:20 with no decision between is idle for 0 s. Nor is the
    # silence while no group was ready (``quiet_while_unready``): a woken group's
    # idleness counts from the first decision it serves in.
    since = state.idle_since
    if since is None or ctx.unobserved or no_group_served_last(state):
        since = ctx.now
    idle_for = ctx.now - since
    can_wake = stz.activation is None or (
        usable_value(
            snapshot.aggregates.get(Signal.ACTIVATION), ctx.now, ctx.spec.metrics.stale_after
        )[0]
        is not None
    )
    return since, Idleness(True, idle_for, stz.enabled and idle_for >= stz.idle_after, can_wake)


_NOT_IDLE = Idleness(False, 0.0, False)


def to_zero(ctx: DecisionContext, idleness: Idleness, snapshot: LwsSnapshot) -> bool:
    """True when this decision takes the LWS (``snapshot``, as it is, not as a drain
    will leave it) from one group to zero (and says why). The group must be older than
    ``minGroupAge``, as for any other scale-down."""
    if not idleness.idle or not ctx.spec.scale_to_zero.enabled:
        return False
    idle_after = ctx.spec.scale_to_zero.idle_after
    if idleness.long_enough and snapshot.spec_replicas == 1:
        if not idleness.can_wake:
            ctx.note(
                R.IDLE,
                f"idle {fmt(idleness.idle_for)} >= {fmt(idle_after)}, but the activation "
                "query has no fresh value: at 0 nothing could wake it, so it stays at 1",
            )
            return False
        if protect_groups(ctx, 0, snapshot):
            return False  # too young (or still starting): protect_groups said why
        ctx.note(R.SCALE_TO_ZERO, f"idle {fmt(idleness.idle_for)} >= {fmt(idle_after)}: 1 -> 0")
        return True
    ctx.note(R.IDLE, f"idle for {fmt(idleness.idle_for)} (scale to zero after {fmt(idle_after)})")
    return False


def holds_while_idle(ctx: DecisionContext, idleness: Idleness, current: int, target: int) -> bool:
    """True when a scale-down from ``current`` to ``target`` waits for the idle stretch
    to last one cold start (and says why).

    Worked numbers (2-minute rate window, 5-minute cold start, 3-minute down window, one
    group a minute): in a 7-minute silence the rate windows empty after 2 minutes, and
    without the hold groups go one a minute from about minute 3; the returning traffic
    then queues for a cold start while they are ordered back. With it the LWS is idle
    from minute 2 and held until minute 7, and since the held size is the target the down
    window keeps it until minute 10: a longer silence then shrinks by the ordinary rules,
    having cost at most one cold start of idle groups (plus the window), which is what
    starting them again would have cost in GPU time.
    """
    if not ctx.spec.scale_down.hold_while_idle or not idleness.idle:
        return False
    if idleness.idle_for >= ctx.cold:
        return False
    ctx.note(
        R.IDLE_HOLD,
        f"idle for {fmt(idleness.idle_for)} < cold start {fmt(ctx.cold)}: "
        f"holding {current} instead of {target}",
    )
    return True


_ACTIVITY_SIGNALS = (
    Signal.QUEUE_DEPTH,
    Signal.RUNNING,
    Signal.PROMPT_TOKENS,
    Signal.GENERATION_TOKENS,
)


def busy_leaders(policy: PolicySpec, snapshot: LwsSnapshot, now: float) -> int:
    """Leaders with a fresh sample of waiting, running or token traffic above 0.

    A latency-only policy reads its quantile over requests that finished (vLLM's queue
    time) or got a first token (TTFT) in the window: with long generations, or an engine
    stuck, a window can hold none while 300 requests wait. The leaders' gauges tell that
    silence from an idle LWS.
    """
    stale_after = policy.metrics.stale_after
    return sum(
        _activity(samples, now, stale_after) is True for samples in snapshot.leaders.values()
    )


def _activity(samples: Mapping[Signal, Sample], now: float, stale_after: float) -> bool | None:
    """Whether one leader shows traffic (a usable waiting, running or token sample above
    0); None when it has no usable activity sample at all."""
    seen = False
    for signal in _ACTIVITY_SIGNALS:
        value, _ = usable_value(samples.get(signal), now, stale_after)
        if value is None:
            continue
        if value > 0:
            return True
        seen = True
    return False if seen else None


def is_idle(policy: PolicySpec, snapshot: LwsSnapshot, now: float) -> bool:
    """True when every leader reports no waiting, no running and no tokens, and the
    activation signal (if any) is at or below its threshold.

    A leader with no fresh activity sample, or a ready group without a reporting leader,
    makes the LWS *not* idle: no data is not zero.
    """
    stale_after = policy.metrics.stale_after
    # A ready group whose leader did not report may be the one serving traffic.
    if not snapshot.leaders or len(snapshot.leaders) < snapshot.ready_replicas:
        return False
    if any(_activity(s, now, stale_after) is not False for s in snapshot.leaders.values()):
        return False
    activation = policy.scale_to_zero.activation
    if activation is not None:
        value, _ = usable_value(snapshot.aggregates.get(Signal.ACTIVATION), now, stale_after)
        if value is not None and value > activation.threshold:
            return False
    return True
