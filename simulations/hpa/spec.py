"""The part of a HorizontalPodAutoscaler (autoscaling/v2) the emulator reads, as strict models.

Field names are those of the Kubernetes API (camelCase in YAML/JSON), so the ``spec`` of a
real HPA manifest can be pasted as is. Two layers:

- pydantic models (:class:`HpaSpec`, :class:`HpaBehavior`, ...) validate user input;
- small frozen dataclasses (:class:`ScalingRules`, :class:`MetricSource`) are what the
  controller port works on. They also carry what the API cannot express but upstream test
  fixtures do (an unknown metric type, which the controller must report, not crash on).

API defaulting follows ``pkg/apis/autoscaling/v2/defaults.go``: when ``behavior`` is set,
each direction is filled from the defaults field by field (a user ``policies`` list
replaces the default list wholesale); when ``behavior`` is absent nothing is defaulted and
the legacy path (2x/4 scale-up cap, 5 min down stabilisation) applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from simulations.hpa.quantity import quantity_float, quantity_milli

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
MAX_INT64 = 2**63 - 1

Milli = Annotated[int, BeforeValidator(quantity_milli)]
"""A quantity field, held in milli-units."""


class _Api(BaseModel):
    # As the API server decodes JSON into Go structs: camelCase names only, no unknown
    # field, no coercion (``"3"`` or ``3.0`` is no int32); quantities take a string or a
    # number, as ``resource.Quantity`` does (``Milli``, ``quantity_float``).
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
    )


class HpaScalingPolicy(_Api):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    period_seconds: int = Field(gt=0, le=1800)


class HpaScalingRules(_Api):
    """One direction of ``spec.behavior``; unset fields take the API defaults."""

    stabilization_window_seconds: int | None = Field(default=None, ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[HpaScalingPolicy] | None = None
    tolerance: Annotated[float, BeforeValidator(quantity_float)] | None = Field(default=None, ge=0)

    @field_validator("policies")
    @classmethod
    def _at_least_one(cls, value: list[HpaScalingPolicy] | None) -> list[HpaScalingPolicy] | None:
        # Left out, the API server fills in the defaults; given as [], it is refused
        # (validateScalingRules): such a direction could never move.
        if value is not None and not value:
            raise ValueError("must specify at least one Policy")
        return value


class HpaBehavior(_Api):
    scale_up: HpaScalingRules | None = None
    scale_down: HpaScalingRules | None = None


class LabelSelector(_Api):
    match_labels: dict[str, str] = Field(default_factory=dict)
    # Accepted as the API accepts them; the selector plays no part in the emulation.
    match_expressions: list[dict[str, object]] = Field(default_factory=list)


class MetricIdentifier(_Api):
    name: str = Field(min_length=1)
    selector: LabelSelector | None = None


class MetricTarget(_Api):
    type: Literal["Value", "AverageValue"]
    value: Milli | None = None
    average_value: Milli | None = None

    @model_validator(mode="after")
    def _one_positive_target(self) -> MetricTarget:
        # As validateMetricTarget: one of the two, positive; the type is not checked
        # against it, and the controller reads averageValue when it is set.
        if self.value is not None and self.average_value is not None:
            raise ValueError("may not set both a target value for metric and a per-pod target")
        have = self.average_value if self.average_value is not None else self.value
        if have is None or have <= 0:
            wanted = "value" if self.type == "Value" else "averageValue"
            raise ValueError(f"target type {self.type} needs a positive {wanted}")
        return self

    @property
    def kind(self) -> Literal["Value", "AverageValue"]:
        """What the controller computes: per pod when ``averageValue`` is set."""
        return "AverageValue" if self.average_value is not None else "Value"

    @property
    def amount(self) -> int:
        """The target in milli-units."""
        return self.average_value if self.average_value is not None else (self.value or 0)


class ExternalMetricSpec(_Api):
    metric: MetricIdentifier
    target: MetricTarget


class HpaMetricSpec(_Api):
    """Only External metrics: the emulator drives an LWS from the autoscaler's API."""

    type: Literal["External"]
    external: ExternalMetricSpec


class HpaSpec(_Api):
    """``spec`` of a HorizontalPodAutoscaler, minus ``scaleTargetRef``."""

    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int = Field(ge=1)
    metrics: list[HpaMetricSpec] = Field(min_length=1)
    behavior: HpaBehavior | None = None

    @field_validator("max_replicas")
    @classmethod
    def _bounds(cls, value: int, info: ValidationInfo) -> int:
        # A field validator, so the error names maxReplicas and its line, not the spec.
        low = info.data.get("min_replicas")
        if low is not None and low > value:
            raise ValueError(f"minReplicas {low} > maxReplicas {value}")
        return value


class ControllerConfig(BaseModel):
    """kube-controller-manager settings (``--horizontal-pod-autoscaler-*`` flags), built
    by the simulator from its own options, by Python name."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    sync_period_seconds: float = Field(default=15.0, gt=0)
    tolerance: float = Field(default=0.1, ge=0)
    downscale_stabilization_seconds: float = Field(default=300.0, ge=0)
    configurable_tolerance: bool = Field(
        default=True, description="Feature gate HPAConfigurableTolerance (per-HPA tolerance)."
    )
    scale_up_limit_factor: float = 2.0
    scale_up_limit_minimum: float = 4.0


# ---- what the controller port works on --------------------------------------------------


@dataclass(frozen=True)
class ScalingPolicy:
    type: str  # "Pods" | "Percent"
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction after API defaulting. ``window`` None = "use the controller's
    downscale stabilisation" (only scale-down can be unset after defaulting)."""

    window: float | None
    select_policy: str  # "Max" | "Min" | "Disabled"
    policies: tuple[ScalingPolicy, ...]
    tolerance: float | None = None


DEFAULT_SCALE_UP = ScalingRules(
    0.0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),))


def default_rules(rules: HpaScalingRules | None, defaults: ScalingRules) -> ScalingRules:
    """``GenerateHPAScale{Up,Down}Rules``: copy each set field over the defaults."""
    if rules is None:
        return defaults
    policies = defaults.policies
    if rules.policies is not None:
        policies = tuple(ScalingPolicy(p.type, p.value, p.period_seconds) for p in rules.policies)
    return ScalingRules(
        window=(
            float(rules.stabilization_window_seconds)
            if rules.stabilization_window_seconds is not None
            else defaults.window
        ),
        select_policy=rules.select_policy or defaults.select_policy,
        policies=policies,
        tolerance=rules.tolerance,
    )


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules


@dataclass(frozen=True)
class MetricSource:
    """One entry of ``spec.metrics`` as the controller sees it.

    ``kind`` is External, Object, Pods, Resource or anything else (reported as
    InvalidMetricSourceType). ``target_type`` is Value, AverageValue or Utilization;
    ``target`` is in milli-units, or a percentage for Utilization.
    """

    kind: str
    name: str = ""
    target_type: str = "Value"
    target: int = 0


@dataclass(frozen=True)
class HpaConfig:
    """A defaulted HPA: what :class:`~simulations.hpa.controller.HpaEmulator` runs."""

    max_replicas: int
    metrics: tuple[MetricSource, ...]
    min_replicas: int = 1
    behavior: Behavior | None = None
    controller: ControllerConfig = field(default_factory=ControllerConfig)

    @classmethod
    def from_spec(cls, spec: HpaSpec, controller: ControllerConfig | None = None) -> HpaConfig:
        behavior = None
        if spec.behavior is not None:
            behavior = Behavior(
                default_rules(spec.behavior.scale_up, DEFAULT_SCALE_UP),
                default_rules(spec.behavior.scale_down, DEFAULT_SCALE_DOWN),
            )
        metrics = tuple(
            MetricSource(
                "External",
                m.external.metric.name,
                m.external.target.kind,
                m.external.target.amount,
            )
            for m in spec.metrics
        )
        return cls(
            max_replicas=spec.max_replicas,
            metrics=metrics,
            min_replicas=1 if spec.min_replicas is None else spec.min_replicas,
            behavior=behavior,
            controller=controller or ControllerConfig(),
        )
