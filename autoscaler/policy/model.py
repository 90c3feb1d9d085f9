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
)
from autoscaler.policy.metrics_spec import MetricsConfig, ScrapeEndpoint
from autoscaler.policy.scaling_specs import Drain, Forecast, ScaleDown, ScaleUp, StepLimit
from autoscaler.policy.schedule_specs import Schedule
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
    "Schedule",
    "ScrapeEndpoint",
    "SignalSpec",
    "StepLimit",
    "TargetRef",
    "TokenThroughputSignal",
    "TtftSignal",
]


def _tokens(signal: SignalSpec) -> str | None:
    return signal.tokens if isinstance(signal, TokenThroughputSignal) else None


class Metadata(StrictModel):
    """The policy's identity: its name is unique across the policies loaded together."""

    name: DnsLabel
    """The policy's name, shown in decisions and metrics; unique across loaded policies."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Free-form labels."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Free-form annotations."""


class TargetRef(StrictModel):
    """The LeaderWorkerSet this policy scales."""

    namespace: DnsLabel
    """The namespace of the LeaderWorkerSet."""
    name: LwsName
    """The LeaderWorkerSet's metadata.name; at most one policy per (namespace, name)."""


class ReplicaBounds(StrictModel):
    """Bounds on groups while serving. ``min`` is at least 1: zero is ``scaleToZero``'s job."""

    min: int = Field(default=1, ge=1, le=MAX_GROUPS)
    """Fewest groups while serving; zero is scaleToZero's job, never min's."""
    max: int = Field(ge=1, le=MAX_GROUPS)
    """Most groups; at least min."""

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
    """Time from group creation to ready (a duration > 0), used until enough starts were
    observed."""
    learn: bool = True
    """Learn the cold-start time from the starts the engine watches end."""
    min_observations: int = Field(default=3, ge=1)
    """Starts to observe before the learned value replaces expected."""
    max_observations: int = Field(default=20, ge=1)
    """Only the latest starts are kept; at least minObservations."""
    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.75
    """The learned cold start is this quantile of the kept start durations."""

    @model_validator(mode="after")
    def _window_holds_minimum(self) -> ColdStart:
        window = rules.observation_window(self.min_observations, self.max_observations)
        rules.raise_violation(window)
        return self


class Activation(StrictModel):
    """The signal that wakes a model at zero: a PromQL expression on the gateway."""

    query: Annotated[str, Field(min_length=1, pattern=r"\S")]
    """PromQL on the gateway or ingress; it must return 0, not nothing, without traffic.
    $namespace and $name are substituted."""
    threshold: Annotated[float, Field(ge=0)] = 0.0
    """At zero, wake up when the query's value is above this."""


class ScaleToZero(StrictModel):
    """Going to zero groups when idle, and waking up on the gateway's traffic."""

    enabled: bool = False
    """Allow going to zero groups."""
    idle_after: Duration = 900.0
    """How long every leader must report no traffic before 1 -> 0 (a duration); also how
    long a wake with no group ready waits without activation before it gives up."""
    activation: Activation | None = Field(default=None, validate_default=True)
    """The query that wakes the LWS at zero; required when enabled."""

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
    """While no signal has usable data, repeat the last recommendation for this long (a
    duration)."""
    then: Literal["fallback", "noRecommendation"] = "noRecommendation"
    """After holdFor: no recommendation (the HPA keeps its size), or fallbackReplicas as
    a floor."""
    fallback_replicas: int | None = Field(default=None, ge=1, le=MAX_GROUPS, validate_default=True)
    """Required with then: fallback; within replicas.min and replicas.max."""

    @field_validator("fallback_replicas")
    @classmethod
    def _fallback_needs_count(cls, value: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("then") == "fallback" and value is None:
            raise ValueError("required when `then` is 'fallback'")
        return value


class PolicySpec(StrictModel):
    """Which LWS, its bounds, the signals it scales on, and how it stabilises."""

    target: TargetRef
    """The namespace and name of the LeaderWorkerSet this policy scales."""
    replicas: ReplicaBounds
    """Bounds on groups while serving."""
    gpus_per_group: int | None = Field(default=None, ge=1, le=MAX_GROUPS)
    """GPUs in one group (leader + workers), for GPU-hour reports; not used to decide."""
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    """Where the signals come from."""
    signals: Annotated[list[SignalSpec], Field(min_length=1)]
    """What to scale on; the recommendation is the largest of the per-signal proposals."""
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.1
    """Dead band: a demand within this share of the current size proposes the current
    size."""
    cold_start: ColdStart = Field(default_factory=ColdStart)
    """How long a new group takes to become ready."""
    scale_up: ScaleUp = Field(default_factory=ScaleUp)
    """Scale-up stabilisation, step limit and forecast."""
    scale_down: ScaleDown = Field(default_factory=ScaleDown)
    """Scale-down stabilisation, step limit, group protection and draining."""
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero)
    """Going to zero groups when idle; disabled by default."""
    missing_metrics: MissingMetrics = Field(default_factory=MissingMetrics)
    """What to recommend when data is missing or stale."""
    schedules: Annotated[list[Schedule], Field(max_length=100)] = Field(default_factory=list)
    """Floors on the groups by time of day and day of week; none by default."""

    @model_validator(mode="after")
    def _fallback_within_bounds(self) -> PolicySpec:
        fallback, bounds = self.missing_metrics.fallback_replicas, self.replicas
        rules.raise_violation(rules.fallback_within_bounds(fallback, bounds.min, bounds.max))
        return self

    @model_validator(mode="after")
    def _schedules_fit(self) -> PolicySpec:
        floors = [(index, s.min_replicas) for index, s in enumerate(self.schedules)]
        names = [(index, s.name) for index, s in enumerate(self.schedules)]
        bounds = self.replicas
        rules.raise_first(
            violation._replace(path=("schedules", *violation.path))
            for violation in [
                *rules.schedules_within_bounds(floors, bounds.max),
                *rules.listed_twice(names, "schedule", ("name",)),
            ]
        )
        return self

    @model_validator(mode="after")
    def _overrides_run(self) -> PolicySpec:
        latency = [s.signal for s in self.signals if isinstance(s, LatencySignal)]
        rules.raise_first(rules.overrides_run(self.metrics.overrides, latency))
        return self

    @field_validator("signals")
    @classmethod
    def _signals_unique(cls, signals: list[SignalSpec]) -> list[SignalSpec]:
        identities = [
            (index, rules.signal_identity(s.type, _tokens(s))) for index, s in enumerate(signals)
        ]
        rules.raise_first(rules.listed_twice(identities, "signal"))
        return signals


class ScalingPolicy(StrictModel):
    """One policy document: which LWS, on which signals, with which stabilisation."""

    api_version: Literal["lws-autoscaler.io/v1alpha1"]
    """The schema's version."""
    kind: Literal["ScalingPolicy"]
    """The document's kind."""
    metadata: Metadata
    """The policy's name, labels and annotations."""
    spec: PolicySpec
    """The policy itself."""

    @property
    def name(self) -> str:
        return self.metadata.name
