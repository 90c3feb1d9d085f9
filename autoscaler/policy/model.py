"""The ScalingPolicy schema (``lws-autoscaler.io/v1alpha1``), as strict pydantic models.

Field names are camelCase in YAML (Kubernetes style) and snake_case in Python (the
loader accepts only the YAML names; code may build models by either). Every model
forbids unknown keys, refuses type coercion (``"3"`` is not an int) and non-finite
numbers (``.inf`` as a target would switch a signal off), and every window is a
duration (``"5m"`` or seconds). Defaults are chosen for multi-node LLM
serving: groups take minutes to start, so scale-up is immediate but bounded and
scale-down is slow. ``docs/policy-reference.md`` documents each field.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from autoscaler.policy import rules
from autoscaler.policy.fields import (
    MAX_GROUPS,
    DnsLabel,
    Duration,
    Fraction,
    LwsName,
    PositiveDuration,
    Target,
    cross_field_error,
)
from autoscaler.signals import ServingEngine, Signal

API_VERSION = "lws-autoscaler.io/v1alpha1"
KIND = "ScalingPolicy"


def _raise(violation: rules.Violation | None) -> None:
    if violation is not None:
        raise cross_field_error(violation.message, *violation.path)


def _tokens(signal: SignalSpec) -> str | None:
    return signal.tokens if isinstance(signal, TokenThroughputSignal) else None


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        # Both, so code can build models by Python name; YAML documents are validated
        # by alias only (``loader.policy_from_document``).
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
    )


class Metadata(_Strict):
    name: DnsLabel
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TargetRef(_Strict):
    """The LeaderWorkerSet this policy scales."""

    namespace: DnsLabel
    name: LwsName


class ReplicaBounds(_Strict):
    """Bounds on groups while serving. ``min`` is at least 1: zero is ``scaleToZero``'s job."""

    min: int = Field(default=1, ge=1, le=MAX_GROUPS)
    max: int = Field(ge=1, le=MAX_GROUPS)

    # Field validators (not model validators) so the error points at the `max:` line.
    @field_validator("max")
    @classmethod
    def _max_not_below_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("min")
        if low is not None and value < low:
            raise ValueError(f"max ({value}) must be >= min ({low})")
        return value


class MetricsConfig(_Strict):
    """Where the signals come from. Metric names follow ``engine`` unless overridden."""

    # Enums read from YAML arrive as strings; only they are exempt from strict mode.
    engine: Annotated[ServingEngine, Strict(False)] = ServingEngine.VLLM
    model_name: str | None = Field(
        default=None, description="Only series with this model_name label (shared Prometheus)."
    )
    rate_window: PositiveDuration = 60.0
    stale_after: PositiveDuration = Field(
        default=60.0, description="A sample older than this is stale: treated as missing."
    )
    overrides: dict[Annotated[Signal, Strict(False)], Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="PromQL per signal, replacing the engine's template for this policy.",
    )


class IsolatedBurst(_Strict):
    """A queue above target after ``calmFor`` without one orders at most ``maxGroups``."""

    calm_for: PositiveDuration
    max_groups: int = Field(default=1, ge=1, le=MAX_GROUPS)


class QueueDepthSignal(_Strict):
    """Waiting requests per ready group; scale so each group has at most the target."""

    type: Literal["queueDepth"]
    target_per_group: Target
    sustained_for: Duration = Field(
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


class KvCacheSignal(_Strict):
    """Average KV-cache utilisation (0..1) over ready groups."""

    type: Literal["kvCacheUtilization"]
    target: Fraction


class TokenThroughputSignal(_Strict):
    """Token throughput against a per-group capacity in tokens/s."""

    type: Literal["tokenThroughput"]
    tokens: Literal["prompt", "generation", "total"] = "generation"
    capacity_per_group: Target
    target_utilization: Fraction = 0.8


class _LatencyTarget(_Strict):
    """A quantile of a latency histogram over ``metrics.rateWindow``, against a target."""

    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.9
    target_seconds: Target


class TtftSignal(_LatencyTarget):
    """A TTFT quantile; scale up while it is above the target."""

    type: Literal["ttft"]
    signal: ClassVar[Signal] = Signal.TTFT


class QueueWaitSignal(_LatencyTarget):
    """A quantile of the time requests waited for their first scheduling; scale up while
    it is above the target. Unlike TTFT it leaves out the prefill itself, which more
    groups do not shorten."""

    type: Literal["queueWait"]
    signal: ClassVar[Signal] = Signal.QUEUE_WAIT


LatencySignal = TtftSignal | QueueWaitSignal
"""The signals read from a latency histogram: a quantile against a target in seconds."""
LATENCY_TYPES: frozenset[str] = frozenset(
    get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(LatencySignal)
)
"""Their ``type`` names (``ttft``, ``queueWait``): a quantile, not a per-group value."""
LATENCY_SIGNALS: tuple[Signal, ...] = tuple(cls.signal for cls in get_args(LatencySignal))
"""The histograms they read (TTFT, queue wait), in the union's order: a source reports
one quantile per LWS for each, over the leaders' summed bucket rates."""

SignalSpec = Annotated[
    QueueDepthSignal | KvCacheSignal | TokenThroughputSignal | TtftSignal | QueueWaitSignal,
    Field(discriminator="type"),
]


class ColdStart(_Strict):
    """How long a new group takes to become ready, and whether to learn it."""

    expected: Duration = 300.0
    learn: bool = True
    min_observations: int = Field(default=3, ge=1)
    max_observations: int = Field(default=20, ge=1)
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.75

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> ColdStart:
        _raise(rules.observation_window(self.min_observations, self.max_observations))
        return self


class StepLimit(_Strict):
    """At most ``groups`` (or ``percent`` of the current size, whichever is larger) per period."""

    groups: int | None = Field(default=None, ge=1, le=MAX_GROUPS)
    # 10,000% is a 100-fold step; far more would overflow the size it is applied to.
    percent: float | None = Field(default=None, gt=0, le=10_000)
    period: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _needs_a_limit(self) -> StepLimit:
        _raise(rules.step_has_limit(self.groups, self.percent))
        return self


class Forecast(_Strict):
    """Size scale-ups for the load expected once new groups are ready."""

    enabled: bool = True
    lookback: Duration = 300.0
    max_growth: Annotated[float, Field(ge=1, le=100)] = 2.0


class ScaleUp(_Strict):
    stabilization_window: Duration = 0.0
    max_step: StepLimit | None = Field(
        default_factory=lambda: StepLimit(groups=4, percent=100.0, period=60.0)
    )
    forecast: Forecast = Field(default_factory=Forecast)


class Drain(_Strict):
    """Stop routing to the groups a scale-down removes, and remove them once idle.

    The server relabels the leader pods of the groups that will go
    (``lws-autoscaler.io/serving: "false"``), so a Service or gateway selecting
    ``serving: "true"`` stops sending them requests; the recommendation drops once their
    leaders report nothing running or waiting, or after ``timeout``.
    """

    enabled: bool = False
    timeout: PositiveDuration = 120.0


class ScaleDown(_Strict):
    stabilization_window: Duration = 600.0
    max_step: StepLimit | None = Field(default_factory=lambda: StepLimit(groups=1, period=120.0))
    min_group_age: Duration = 600.0
    # Headroom in whole groups, beside the tolerance's relative headroom: the larger of
    # the two wins. 10% of 1.6 groups is 0.16 of a group, too little to absorb a jump
    # on a small fleet; 0.6 keeps ceil(1.6 + 0.6) = 3 groups instead of ceil(1.76) = 2.
    spare_groups: Annotated[float, Field(ge=0, le=100)] = 0.0
    remove_starting_groups: bool = False
    # While every leader is idle, no scale-down for one cold start (the learned one when
    # coldStart.learn): removing a group and starting it again costs a cold start of GPU
    # time anyway, plus a cold start of queueing, so holding an idle group that long is
    # the break-even point (ski rental), whatever the silence turns out to last.
    hold_while_idle: bool = False
    drain: Drain = Field(default_factory=Drain)


class Activation(_Strict):
    """The signal that wakes a model at zero: a PromQL expression on the gateway."""

    query: Annotated[str, Field(min_length=1)]
    threshold: Annotated[float, Field(ge=0)] = 0.0


class ScaleToZero(_Strict):
    enabled: bool = False
    idle_after: Duration = 900.0
    activation: Activation | None = Field(default=None, validate_default=True)

    @field_validator("activation")
    @classmethod
    def _activation_when_enabled(
        cls, value: Activation | None, info: ValidationInfo
    ) -> Activation | None:
        if info.data.get("enabled") and value is None:
            raise ValueError(
                "required when scale-to-zero is enabled: a model at zero exports no "
                "vLLM metrics, so only the gateway can wake it"
            )
        return value


class MissingMetrics(_Strict):
    """What to recommend when signals are missing or stale ("no data" is never zero)."""

    hold_for: Duration = 300.0
    then: Literal["fallback", "noRecommendation"] = "noRecommendation"
    fallback_replicas: int | None = Field(default=None, ge=1, le=MAX_GROUPS, validate_default=True)

    @field_validator("fallback_replicas")
    @classmethod
    def _fallback_needs_count(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("then") == "fallback" and value is None:
            raise ValueError("required when `then` is 'fallback'")
        return value


class PolicySpec(_Strict):
    target: TargetRef
    replicas: ReplicaBounds
    gpus_per_group: int | None = Field(default=None, ge=1, le=MAX_GROUPS)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    signals: Annotated[list[SignalSpec], Field(min_length=1)]
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    cold_start: ColdStart = Field(default_factory=ColdStart)
    scale_up: ScaleUp = Field(default_factory=ScaleUp)
    scale_down: ScaleDown = Field(default_factory=ScaleDown)
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero)
    missing_metrics: MissingMetrics = Field(default_factory=MissingMetrics)

    @model_validator(mode="after")
    def _fallback_within_bounds(self) -> PolicySpec:
        fallback, bounds = self.missing_metrics.fallback_replicas, self.replicas
        _raise(rules.fallback_within_bounds(fallback, bounds.min, bounds.max))
        return self

    @field_validator("signals")
    @classmethod
    def _signals_unique(cls, signals: list[SignalSpec]) -> list[SignalSpec]:
        identities = [
            (index, rules.signal_identity(s.type, _tokens(s))) for index, s in enumerate(signals)
        ]
        for violation in rules.unique_signals(identities)[:1]:
            _raise(violation)
        return signals


class ScalingPolicy(_Strict):
    """One policy document: which LWS, on which signals, with which stabilisation."""

    api_version: Literal["lws-autoscaler.io/v1alpha1"]
    kind: Literal["ScalingPolicy"]
    metadata: Metadata
    spec: PolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name
