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

from typing import Annotated, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoscaler.policy import rules
from autoscaler.policy.fields import (
    MAX_GROUPS,
    DnsLabel,
    Duration,
    LwsName,
    PositiveDuration,
    cross_field_error,
)
from autoscaler.policy.metrics_spec import MetricsConfig, ScrapeEndpoint
from autoscaler.policy.signal_specs import (
    LATENCY_SIGNALS,
    LATENCY_TYPES,
    IsolatedBurst,
    KvCacheSignal,
    LatencySignal,
    QueueDepthSignal,
    QueueWaitSignal,
    SignalSpec,
    TokenThroughputSignal,
    TtftSignal,
)
from autoscaler.policy.strict import StrictModel

API_VERSION = "lws-autoscaler.io/v1alpha1"
KIND = "ScalingPolicy"

# The signal models live in signal_specs and are re-exported: `from ...model import
# QueueDepthSignal` keeps working.
__all__ = [
    "API_VERSION",
    "KIND",
    "LATENCY_SIGNALS",
    "LATENCY_TYPES",
    "Activation",
    "ColdStart",
    "Drain",
    "Forecast",
    "IsolatedBurst",
    "KvCacheSignal",
    "LatencySignal",
    "Metadata",
    "MetricsConfig",
    "MissingMetrics",
    "PolicySpec",
    "QueueDepthSignal",
    "QueueWaitSignal",
    "ReplicaBounds",
    "ScaleDown",
    "ScaleToZero",
    "ScaleUp",
    "ScalingPolicy",
    "ScrapeEndpoint",
    "SignalSpec",
    "StepLimit",
    "TargetRef",
    "TokenThroughputSignal",
    "TtftSignal",
]


def _raise(violation: rules.Violation | None) -> None:
    if violation is not None:
        raise cross_field_error(violation.message, *violation.path)


def _tokens(signal: SignalSpec) -> str | None:
    return signal.tokens if isinstance(signal, TokenThroughputSignal) else None


class Metadata(StrictModel):
    name: DnsLabel
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class TargetRef(StrictModel):
    """The LeaderWorkerSet this policy scales."""

    namespace: DnsLabel
    name: LwsName


class ReplicaBounds(StrictModel):
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


class ColdStart(StrictModel):
    """How long a new group takes to become ready, and whether to learn it."""

    expected: PositiveDuration = 300.0
    learn: bool = True
    min_observations: int = Field(default=3, ge=1)
    max_observations: int = Field(default=20, ge=1)
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.75

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> ColdStart:
        _raise(rules.observation_window(self.min_observations, self.max_observations))
        return self


class StepLimit(StrictModel):
    """At most ``groups`` (or ``percent`` of the current size, whichever is larger) per period."""

    groups: int | None = Field(default=None, ge=1, le=MAX_GROUPS)
    # 10,000% is a 100-fold step; far more would overflow the size it is applied to.
    percent: float | None = Field(default=None, gt=0, le=10_000)
    period: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _needs_a_limit(self) -> StepLimit:
        _raise(rules.step_has_limit(self.groups, self.percent))
        return self


class Forecast(StrictModel):
    """Size scale-ups for the load expected once new groups are ready."""

    enabled: bool = True
    lookback: Duration = 300.0
    max_growth: Annotated[float, Field(ge=1, le=100)] = 2.0


class ScaleUp(StrictModel):
    stabilization_window: Duration = 0.0
    max_step: StepLimit | None = Field(
        default_factory=lambda: StepLimit(groups=4, percent=100.0, period=60.0)
    )
    forecast: Forecast = Field(default_factory=Forecast)


class Drain(StrictModel):
    """Stop routing to the groups a scale-down removes, and remove them once idle.

    The server relabels the leader pods of the groups that will go
    (``lws-autoscaler.io/serving: "false"``), so a Service or gateway selecting
    ``serving: "true"`` stops sending them requests; the recommendation drops once their
    leaders report nothing running or waiting, or after ``timeout``.
    """

    enabled: bool = False
    timeout: PositiveDuration = 120.0


class ScaleDown(StrictModel):
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


class Activation(StrictModel):
    """The signal that wakes a model at zero: a PromQL expression on the gateway."""

    query: Annotated[str, Field(min_length=1, pattern=r"\S")]
    threshold: Annotated[float, Field(ge=0)] = 0.0


class ScaleToZero(StrictModel):
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


class MissingMetrics(StrictModel):
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


class PolicySpec(StrictModel):
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

    @model_validator(mode="after")
    def _overrides_run(self) -> PolicySpec:
        latency = [s.signal for s in self.signals if isinstance(s, LatencySignal)]
        for violation in rules.overrides_run(self.metrics.overrides, latency)[:1]:
            _raise(violation)
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


class ScalingPolicy(StrictModel):
    """One policy document: which LWS, on which signals, with which stabilisation."""

    api_version: Literal["lws-autoscaler.io/v1alpha1"]
    kind: Literal["ScalingPolicy"]
    metadata: Metadata
    spec: PolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name
