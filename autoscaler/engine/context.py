"""The fixed inputs of one decision and the reasons collected while the rules run.

Each rule module (``missing``, ``zero``, ``stabilize``) receives a :class:`DecisionContext`
instead of a long argument list, notes why it changed the outcome, and ends through
:meth:`DecisionContext.finish`, which records the recommendation for the step limits.
:func:`note_driver` writes the driving signal's reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autoscaler.engine.decision import (
    Decision,
    Reason,
    ReasonCode,
    SignalProposal,
    format_groups,
    make_decision,
    make_reason,
)
from autoscaler.engine.state import EngineState, append_window
from autoscaler.policy.model import LATENCY_TYPES, PolicySpec, QueueDepthSignal, ScalingPolicy
from autoscaler.snapshot import LwsKey

# Integer groups from float demand: 4.0000000001 groups is 4, not 5 (as ``decide``).
_EPSILON = 1e-9


class DecisionContext:
    """Policy, instant and cold-start time of one ``decide`` call, plus its reasons."""

    __slots__ = ("cold", "key", "now", "policy", "reasons", "spec", "unobserved")

    def __init__(
        self, policy: ScalingPolicy, now: float, cold: float, unobserved: bool = False
    ) -> None:
        self.policy = policy
        self.spec: PolicySpec = policy.spec
        self.key = LwsKey(self.spec.target.namespace, self.spec.target.name)
        self.now = now
        self.cold = cold
        # The time since the last decision was not observed (``state.unobserved_gap``):
        # no stretch of idleness runs across it.
        self.unobserved = unobserved
        self.reasons: list[Reason] = []

    @property
    def target_history_seconds(self) -> float:
        """Targets are kept as long as the longer stabilisation window needs them."""
        return max(
            self.spec.scale_up.stabilization_window, self.spec.scale_down.stabilization_window
        )

    @property
    def queue_history_seconds(self) -> float:
        """Queue totals are kept as long as the longest ``queueDepth.sustainedFor``."""
        return max(
            [s.sustained_for for s in self.spec.signals if isinstance(s, QueueDepthSignal)],
            default=0.0,
        )

    def note(self, code: ReasonCode, message: str) -> None:
        self.reasons.append(make_reason(code, message))

    def clamp(self, value: int, floor: int | None = None) -> int:
        """``value`` within ``[floor, replicas.max]``; ``floor`` defaults to ``replicas.min``."""
        low = self.spec.replicas.min if floor is None else floor
        return min(max(value, low), self.spec.replicas.max)

    def finish(
        self,
        state: EngineState,
        current: int | None,
        replicas: int | None,
        proposals: tuple[SignalProposal, ...],
        driver: str | None,
        demand: float | None = None,
        forecast: float | None = None,
        changes: Mapping[str, object] | None = None,
        draining: tuple[str, ...] = (),
    ) -> tuple[Decision, EngineState]:
        """The decision, and ``state`` with ``changes`` and this decision recorded."""
        keep = _step_history_seconds(self.spec)
        sizes = state.sizes
        if current is not None:
            sizes = append_window(sizes, self.now, current, keep)
        state = state.evolve(sizes=sizes, **(changes or {}))
        decision = make_decision(
            self.key,
            self.policy.name,
            self.now,
            replicas,
            current,
            driver,
            tuple(self.reasons),
            proposals,
            demand,
            forecast,
            self.cold,
            draining,
        )
        return decision, state


def _step_history_seconds(spec: PolicySpec) -> float:
    """Sizes are kept as long as the longest step period needs them
    (0 without step limits); runs once per decision, hence no list and no ``max``."""
    up, down = spec.scale_up.max_step, spec.scale_down.max_step
    if up is None:
        return 0.0 if down is None else down.period
    if down is None or down.period <= up.period:
        return up.period
    return down.period


def note_driver(ctx: DecisionContext, best: SignalProposal, demand: float, current: int) -> None:
    """The driving signal's reason (value, target, groups needed, proposal) and, when its
    proposal is the current size but its demand rounds to another, the tolerance's."""
    per = "" if best.name in LATENCY_TYPES else " per group"
    ctx.note(
        ReasonCode.SIGNAL,
        f"{best.name}: {best.value:.4g}{per} vs target {best.target:g} "
        f"-> {format_groups(demand)} groups needed, proposal {format_groups(best.replicas)}",
    )
    needed = best.needed or 0.0
    if best.replicas == current and math.ceil(needed - _EPSILON) != current:
        if needed > current or needed >= current * (1 - ctx.spec.tolerance):
            ctx.note(
                ReasonCode.TOLERANCE,
                f"{format_groups(needed)} groups is within tolerance of {current}",
            )
        else:
            ctx.note(
                ReasonCode.TOLERANCE,
                f"{format_groups(needed)} groups plus {ctx.spec.tolerance:g} tolerance as headroom "
                f"still needs {current}",
            )
