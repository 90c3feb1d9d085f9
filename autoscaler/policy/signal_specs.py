"""The signal specifications of a policy's ``spec.signals`` list, one model per ``type``.

Each is a per-signal target the engine turns into a demand in groups
(``autoscaler.engine.proposals``); ``docs/policy-reference.md`` documents each field.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import Field

from autoscaler.policy.fields import (
    MAX_GROUPS,
    Fraction,
    PositiveDuration,
    Target,
    WindowDuration,
)
from autoscaler.policy.strict import StrictModel
from autoscaler.signals import Signal


class IsolatedBurst(StrictModel):
    """A queue above target after ``calmFor`` without one orders at most ``maxGroups``."""

    calm_for: PositiveDuration
    """A queue above target after this long (a duration > 0) of decisions that all saw
    it usable and at or below target is an isolated burst."""
    max_groups: int = Field(default=1, ge=0, le=MAX_GROUPS)
    """An isolated burst's proposal is at most the current size plus this (0: it orders
    nothing); a queue still above target at the next decision, or back within calmFor,
    orders in full."""


class QueueDepthSignal(StrictModel):
    """Waiting requests per ready group; scale so each group has at most the target."""

    type: Literal["queueDepth"]
    """Waiting requests per ready group (vllm:num_requests_waiting, sglang:num_queue_reqs)."""
    target_per_group: Target
    """Waiting requests per ready group the policy accepts."""
    sustained_for: WindowDuration = Field(
        default=0.0,
        description=(
            "Size by the lowest total queue of the decisions in this window, so a burst "
            "that drains within it orders nothing; 0 reads the current queue alone."
        ),
    )
    isolated_burst: IsolatedBurst | None = Field(
        default=None,
        description=(
            "The first decision that sees the queue above target after calmFor of "
            "decisions at or below it adds at most maxGroups groups; a queue that is "
            "still there at the next decision, or recurs within calmFor, orders in full."
        ),
    )
    hold_while_starting: bool = Field(
        default=False,
        description=(
            "While groups are starting, propose at most the groups that exist (ready + "
            "starting): the groups on their way will drain the queue the ready ones "
            "built, and the same backlog would order groups again at every decision "
            "until those are ready. Also after groups serve again after none did (a "
            "wake from zero), for as long as none served, at most one cold start: they "
            "drain the gateway's backlog."
        ),
    )


class KvCacheSignal(StrictModel):
    """Average KV-cache utilisation (0..1) over ready groups."""

    type: Literal["kvCacheUtilization"]
    """Mean KV-cache utilisation over ready groups (vllm:kv_cache_usage_perc,
    sglang:token_usage)."""
    target: Fraction
    """Mean KV-cache use (0..1] the policy aims for."""


class TokenThroughputSignal(StrictModel):
    """Token throughput against a per-group capacity in tokens/s."""

    type: Literal["tokenThroughput"]
    """Token throughput against a per-group capacity."""
    tokens: Literal["prompt", "generation", "total"] = "generation"
    """Which token rate: prefill, decode, or their sum."""
    capacity_per_group: Target
    """Tokens/s one group sustains within the latency SLO."""
    target_utilization: Fraction = 0.8
    """Aim for this share of the capacity."""


class _LatencyTarget(StrictModel):
    """A quantile of a latency histogram over ``metrics.rateWindow``, against a target."""

    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.9
    """Which quantile of the histogram, over metrics.rateWindow."""
    target_seconds: Target
    """The latency target in seconds; scale up while the quantile is above it."""
    hold_while_starting: bool = Field(
        default=False,
        description=(
            "While groups are starting, propose at most the groups that exist (ready + "
            "starting): the quantile covers requests the ready groups already finished, "
            "so it cannot see the groups on their way, and the same waits would order "
            "groups again at every decision until those are ready. Also after groups "
            "serve again after none did (a wake from zero), as the queue does, and a "
            "rateWindow longer."
        ),
    )


class TtftSignal(_LatencyTarget):
    """A TTFT quantile; scale up while it is above the target."""

    type: Literal["ttft"]
    """A time-to-first-token quantile (vllm:time_to_first_token_seconds,
    sglang:time_to_first_token_seconds)."""
    signal: ClassVar[Signal] = Signal.TTFT


class QueueWaitSignal(_LatencyTarget):
    """A quantile of the time requests waited for their first scheduling; scale up while
    it is above the target. Unlike TTFT it leaves out the prefill itself, which more
    groups do not shorten."""

    type: Literal["queueWait"]
    """A queue-wait quantile, arrival to first scheduling
    (vllm:request_queue_time_seconds, sglang:queue_time_seconds)."""
    signal: ClassVar[Signal] = Signal.QUEUE_WAIT


LatencySignal = TtftSignal | QueueWaitSignal
"""The signals read from a latency histogram: a quantile against a target in seconds."""
LATENCY_SIGNAL_OF: dict[str, Signal] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls.signal for cls in get_args(LatencySignal)
}
"""Each latency ``type`` and the histogram it reads (``ttft`` -> ``ttftSeconds``)."""
LATENCY_TYPES: frozenset[str] = frozenset(LATENCY_SIGNAL_OF)
"""Their ``type`` names (``ttft``, ``queueWait``): a quantile, not a per-group value."""
LATENCY_SIGNALS: tuple[Signal, ...] = tuple(cls.signal for cls in get_args(LatencySignal))
"""The histograms they read (TTFT, queue wait), in the union's order: a source reports
one quantile per LWS for each, over the leaders' summed bucket rates."""

SignalSpec = Annotated[
    QueueDepthSignal | KvCacheSignal | TokenThroughputSignal | TtftSignal | QueueWaitSignal,
    Field(discriminator="type"),
]
