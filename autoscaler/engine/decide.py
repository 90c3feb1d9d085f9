"""``decide``: one LWS, one policy, one instant -> a recommendation, the reasons, a new state.

The order of the rules, each leaving a reason when it changes the outcome:

1. at zero: wake on the activation signal, else stay (or go to ``min`` when
   scale-to-zero is off);
2. proposals per signal; no usable leader signal -> wait for leaders (groups starting)
   or hold the last good value for ``missingMetrics.holdFor``, then fall back;
3. target = the largest proposal, raised to the demand projected one cold start ahead;
4. scale up: the lowest target of the up window, capped by the step limit;
5. scale down: blocked while any signal is above its target, while data is partial, or
   while the down window has not been observed in full; else the highest target of the
   down window, the step limit, and never a starting or too-young group;
6. bounds; scale-to-zero from exactly one group after ``idleAfter`` of idleness.
"""

from __future__ import annotations

import math

from autoscaler.durations import format_duration as fmt
from autoscaler.engine import windows
from autoscaler.engine.decision import Decision, Reason, ReasonCode, SignalProposal, SignalStatus
from autoscaler.engine.proposals import _usable, is_idle, propose
from autoscaler.engine.startup import cold_start_seconds, observe_starts, project_demand
from autoscaler.engine.state import EngineState, TimedInts, append_window
from autoscaler.policy.model import PolicySpec, ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot

R = ReasonCode


def decide(
    policy: ScalingPolicy, snapshot: LwsSnapshot | None, state: EngineState, now: float
) -> tuple[Decision, EngineState]:
    """Recommend a group count for ``policy``'s LWS; pure: same inputs, same outputs."""
    spec = policy.spec
    key = LwsKey(spec.target.namespace, spec.target.name)
    if state.first_seen is None:
        state = state.evolve(first_seen=now)
    if snapshot is not None:
        state = observe_starts(spec.cold_start, snapshot, state)
    cold, learned = cold_start_seconds(spec.cold_start, state)
    ctx = _Context(policy, key, now, cold, learned)
    if snapshot is None:
        return ctx.hold(state, None, (), "the source returned no data for this LWS")
    if snapshot.spec_replicas == 0:
        return ctx.from_zero(state, snapshot)
    return ctx.scale(state, snapshot)


class _Context:
    """The fixed inputs of one decision, so the rules below read as steps."""

    def __init__(
        self, policy: ScalingPolicy, key: LwsKey, now: float, cold: float, learned: bool
    ) -> None:
        self.policy, self.spec, self.key, self.now = policy, policy.spec, key, now
        self.cold, self.reasons = cold, list[Reason]()
        if learned:
            self.note(R.COLD_START_LEARNED, f"cold start {fmt(cold)} learned from observed starts")

    def note(self, code: ReasonCode, message: str) -> None:
        self.reasons.append(Reason(code, message))

    def done(
        self,
        state: EngineState,
        current: int | None,
        replicas: int | None,
        proposals: tuple[SignalProposal, ...],
        driver: str | None,
        demand: float | None = None,
        forecast: float | None = None,
    ) -> tuple[Decision, EngineState]:
        if replicas is not None:
            keep = max(
                (
                    s.period
                    for s in (self.spec.scale_up.max_step, self.spec.scale_down.max_step)
                    if s
                ),
                default=0.0,
            )
            state = state.evolve(
                recommendations=append_window(state.recommendations, self.now, replicas, keep)
            )
        decision = Decision(
            key=self.key,
            policy=self.policy.name,
            at=self.now,
            replicas=replicas,
            current=current,
            driver=driver,
            reasons=tuple(self.reasons),
            proposals=proposals,
            demand=demand,
            forecast=forecast,
            cold_start_seconds=self.cold,
        )
        return decision, state

    def hold(
        self,
        state: EngineState,
        current: int | None,
        proposals: tuple[SignalProposal, ...],
        why: str,
    ) -> tuple[Decision, EngineState]:
        """Missing or stale data: hold, then fall back; never read absence as zero load."""
        missing = self.spec.missing_metrics
        state = state.evolve(idle_since=None)
        if state.last_good is not None and self.now - state.last_good[0] <= missing.hold_for:
            held = state.last_good[1]
            age = fmt(self.now - state.last_good[0])
            self.note(
                R.HOLD, f"{why}; holding {held} from {age} ago, holdFor {fmt(missing.hold_for)}"
            )
            return self.done(state, current, held, proposals, "hold")
        if missing.then == "fallback" and missing.fallback_replicas is not None:
            self.note(R.FALLBACK, f"{why}; past holdFor, fallback to {missing.fallback_replicas}")
            return self.done(state, current, missing.fallback_replicas, proposals, "fallback")
        self.note(R.NO_RECOMMENDATION, f"{why}; past holdFor, no recommendation")
        return self.done(state, current, None, proposals, None)

    def from_zero(self, state: EngineState, snap: LwsSnapshot) -> tuple[Decision, EngineState]:
        stz, bounds = self.spec.scale_to_zero, self.spec.replicas
        if not stz.enabled:
            self.note(R.BOUNDS, f"LWS is at 0 but scale-to-zero is off: back to min {bounds.min}")
            return self.done(state.evolve(idle_since=None), 0, bounds.min, (), "bounds")
        assert stz.activation is not None
        sample = snap.aggregates.get(Signal.ACTIVATION)
        value, _ = _usable(sample, self.now, self.spec.metrics.stale_after)
        threshold = stz.activation.threshold
        if value is not None and value > threshold:
            self.note(R.ACTIVATION, f"activation {value:g} > threshold {threshold:g}: wake")
            return self.done(state.evolve(idle_since=None), 0, bounds.min, (), "activation")
        seen = "no fresh activation data" if value is None else f"activation {value:g}"
        self.note(R.AT_ZERO, f"at zero, {seen} (threshold {threshold:g}): stay at 0")
        idle_since = state.idle_since if state.idle_since is not None else self.now
        return self.done(state.evolve(idle_since=idle_since), 0, 0, (), "scaleToZero")

    def scale(self, state: EngineState, snap: LwsSnapshot) -> tuple[Decision, EngineState]:
        spec, now, current = self.spec, self.now, snap.spec_replicas
        proposals = propose(spec, snap, now)
        leader = [p for p in proposals if p.status in (SignalStatus.OK, SignalStatus.PARTIAL)]
        if not leader:
            if snap.ready_replicas == 0:
                held = _clamp(current, spec)
                self.note(
                    R.WAITING_FOR_LEADERS,
                    f"no ready group yet ({snap.starting_replicas} starting): hold at {held}",
                )
                state = state.evolve(last_good=(now, held), idle_since=None)
                return self.done(state, current, held, proposals, "startup")
            stale = any(p.status is SignalStatus.STALE for p in proposals)
            return self.hold(
                state, current, proposals, "signals stale" if stale else "signals missing"
            )
        active = [p for p in proposals if p.replicas is not None and p.needed is not None]
        best = max(active, key=lambda p: (p.replicas or 0, p.needed or 0.0))
        demand = max(p.needed or 0.0 for p in active)
        target, driver = best.replicas or 0, best.name
        self.note(
            R.SIGNAL,
            f"{best.name}: {best.value:.4g} per group vs target {best.target:g} "
            f"-> {demand:.2f} groups needed, proposal {target}",
        )
        if (
            best.replicas == current
            and best.needed is not None
            and math.ceil(best.needed) != current
        ):
            self.note(R.TOLERANCE, f"within tolerance {spec.tolerance:g} of {current}")

        forecast_cfg = spec.scale_up.forecast
        state = state.evolve(demand=append_window(state.demand, now, demand, forecast_cfg.lookback))
        projected = project_demand(state.demand, now, self.cold, forecast_cfg)
        if projected is not None and math.ceil(projected - 1e-9) > max(target, current):
            target, driver = math.ceil(projected - 1e-9), "forecast"
            self.note(
                R.FORECAST,
                f"demand rising: {projected:.2f} groups expected in "
                f"{fmt(self.cold)} (cold start) -> {target}",
            )

        idle = is_idle(spec, snap, now)
        idle_since = (state.idle_since if state.idle_since is not None else now) if idle else None
        state = state.evolve(idle_since=idle_since)
        idle_for = now - idle_since if idle_since is not None else 0.0
        stz = spec.scale_to_zero
        long_idle = stz.enabled and idle and idle_for >= stz.idle_after
        floor = 1 if long_idle else spec.replicas.min
        target = min(max(target, floor), spec.replicas.max)

        keep = max(spec.scale_up.stabilization_window, spec.scale_down.stabilization_window)
        history = state.targets
        state = state.evolve(targets=append_window(history, now, target, keep))
        if target > current:
            rec = self._up(history, current, target, state)
        elif target < current:
            rec = self._down(history, current, target, state, snap, proposals)
        else:
            rec = current
        rec = _clamp(rec, spec, floor)
        if rec != current and (current > spec.replicas.max or current < floor):
            self.note(R.BOUNDS, f"{current} is outside [{floor}, {spec.replicas.max}]")
        if rec <= current and snap.starting_replicas and demand > snap.ready_replicas:
            self.note(
                R.COVERED_BY_STARTING,
                f"demand {demand:.2f} covered by "
                f"{snap.ready_replicas} ready + {snap.starting_replicas} starting groups",
            )
        if long_idle and current == 1:
            rec, driver = 0, "scaleToZero"
            self.note(R.SCALE_TO_ZERO, f"idle {fmt(idle_for)} >= {fmt(stz.idle_after)}: 1 -> 0")
        elif idle and stz.enabled:
            self.note(
                R.IDLE, f"idle for {fmt(idle_for)} (scale to zero after {fmt(stz.idle_after)})"
            )
        state = state.evolve(last_good=(now, rec))
        return self.done(state, current, rec, proposals, driver, demand, projected)

    def _up(self, history: TimedInts, current: int, target: int, state: EngineState) -> int:
        up = self.spec.scale_up
        rec = max(
            current, windows.stabilised_up(history, self.now, up.stabilization_window, target)
        )
        if rec < target:
            self.note(
                R.SCALE_UP_WINDOW,
                f"lowest target in the last {fmt(up.stabilization_window)} is {rec}",
            )
        limit = windows.up_limit(up.max_step, state.recommendations, self.now, current)
        if limit is not None and rec > limit:
            self.note(R.STEP_LIMIT, f"scale-up step limit: at most {limit} now")
            rec = limit
        return rec

    def _down(
        self,
        history: TimedInts,
        current: int,
        target: int,
        state: EngineState,
        snap: LwsSnapshot,
        proposals: tuple[SignalProposal, ...],
    ) -> int:
        down, now = self.spec.scale_down, self.now
        pressed = [p.name for p in proposals if p.usable and p.above_target]
        if pressed:
            self.note(R.PRESSURE, f"{', '.join(pressed)} above target: no scale-down")
            return current
        if any(
            p.status is not SignalStatus.OK
            for p in proposals
            if p.status is not SignalStatus.NO_TRAFFIC
        ):
            self.note(R.PARTIAL_DATA, "some signals or leaders missing: no scale-down")
            return current
        assert state.first_seen is not None
        if now - state.first_seen < down.stabilization_window:
            self.note(
                R.WARMING_UP,
                f"only {fmt(now - state.first_seen)} of the "
                f"{fmt(down.stabilization_window)} down window observed: no scale-down",
            )
            return current
        rec = min(current, windows.stabilised_down(history, now, down.stabilization_window, target))
        if rec > target:
            self.note(
                R.SCALE_DOWN_WINDOW,
                f"highest target in the last {fmt(down.stabilization_window)} is {rec}",
            )
        limit = windows.down_limit(down.max_step, state.recommendations, now, current)
        if limit is not None and rec < limit:
            self.note(R.STEP_LIMIT, f"scale-down step limit: at least {limit} now")
            rec = limit
        return self._protect(rec, current, snap)

    def _protect(self, rec: int, current: int, snap: LwsSnapshot) -> int:
        """The LWS controller removes the highest indices first: keep any starting or
        too-young group among them by keeping everything up to its index."""
        down = self.spec.scale_down
        if not snap.groups:
            if snap.starting_replicas and not down.remove_starting_groups:
                keep = snap.ready_replicas + snap.starting_replicas
                if rec < keep:
                    self.note(R.PROTECT_STARTING, f"{snap.starting_replicas} groups starting")
                    return min(current, keep)
            return rec
        for group in sorted(snap.groups, key=lambda g: -g.index):
            if group.index < rec or group.index >= current:
                continue
            if group.ready_at is None and not down.remove_starting_groups:
                self.note(R.PROTECT_STARTING, f"group {group.index} is still starting")
                return group.index + 1
            if group.ready_at is not None and self.now - group.ready_at < down.min_group_age:
                age = fmt(self.now - group.ready_at)
                self.note(
                    R.PROTECT_YOUNG,
                    f"group {group.index} ready for only {age} "
                    f"(minGroupAge {fmt(down.min_group_age)})",
                )
                return group.index + 1
        return rec


def _clamp(value: int, spec: PolicySpec, floor: int | None = None) -> int:
    low = spec.replicas.min if floor is None else floor
    return min(max(value, low), spec.replicas.max)
