"""The scale-up and scale-down sections of a policy (``spec.scaleUp``, ``spec.scaleDown``):
stabilisation windows, step limits, the forecast, group protection and draining.

Defaults suit multi-node LLM serving, where groups take minutes to start: scale-up is
immediate but bounded (4 groups or 100% a minute), scale-down slow (one group per two
minutes after a 10-minute window). ``docs/policy-reference.md`` documents each field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from autoscaler.policy import rules
from autoscaler.policy.fields import (
    MAX_GROUPS,
    Duration,
    PositiveDuration,
    PositiveWindowDuration,
    WindowDuration,
)
from autoscaler.policy.strict import StrictModel


class StepLimit(StrictModel):
    """At most ``groups`` (or ``percent`` of the current size, whichever is larger) per period."""

    groups: int | None = Field(default=None, ge=1, le=MAX_GROUPS)
    """At most this many groups added (removed) per period."""
    # 10,000% is a 100-fold step; far more would overflow the size it is applied to.
    percent: float | None = Field(default=None, gt=0, le=10_000)
    """At most this percentage of the size per period; with groups too, the larger
    change applies."""
    period: PositiveWindowDuration = 60.0
    """The period (a duration > 0): a step counts from the smallest size of the last
    period going up, the largest going down."""

    @model_validator(mode="after")
    def _needs_a_limit(self) -> StepLimit:
        rules.raise_violation(rules.step_has_limit(self.groups, self.percent))
        return self


class Forecast(StrictModel):
    """Size scale-ups for the load expected once new groups are ready."""

    enabled: bool = True
    """Size scale-ups for the demand a significant rising trend projects one cold start
    ahead."""
    lookback: WindowDuration = 300.0
    """History the trend (a least-squares line) is fitted on (a duration)."""
    max_growth: Annotated[float, Field(ge=1, le=100)] = 2.0
    """The projection is at most this multiple of the fitted demand now."""


class ScaleUp(StrictModel):
    """How fast groups are added: stabilisation, step limit and forecast."""

    stabilization_window: WindowDuration = 0.0
    """The lowest target of this window wins (a duration; 0 acts at once)."""
    max_step: StepLimit | None = Field(
        default_factory=lambda: StepLimit(groups=4, percent=100.0, period=60.0)
    )
    """The most groups added per period; null: unlimited."""
    forecast: Forecast = Field(default_factory=Forecast)
    """Size scale-ups for the load expected once the new groups are ready."""


class Drain(StrictModel):
    """Stop routing to the groups a scale-down removes, and remove them once idle.

    The server relabels the leader pods of the groups that will go
    (``lws-autoscaler.io/serving: "false"``), so a Service or gateway selecting
    ``serving: "true"`` stops sending them requests; the recommendation drops once their
    leaders report nothing running or waiting, or after ``timeout``.
    """

    enabled: bool = False
    """Take the leaving groups out of routing and lower the recommendation once they are
    idle."""
    timeout: PositiveDuration = 120.0
    """Lower it anyway after this long (a duration > 0); requests still running then
    fail."""


class ScaleDown(StrictModel):
    """How groups are removed: stabilisation, step limit, protection and draining."""

    stabilization_window: WindowDuration = 600.0
    """The highest target of this window wins (a duration); no scale-down until this long
    was observed without a gap."""
    max_step: StepLimit | None = Field(default_factory=lambda: StepLimit(groups=1, period=120.0))
    """The most groups removed per period; null: unlimited."""
    min_group_age: Duration = 600.0
    """Never remove a group ready for less than this (a duration), 1 -> 0 included."""
    # Headroom in whole groups, beside the tolerance's relative headroom: the larger of
    # the two wins. 10% of 1.6 groups is 0.16 of a group, too little to absorb a jump
    # on a small fleet; 0.6 keeps ceil(1.6 + 0.6) = 3 groups instead of ceil(1.76) = 2.
    spare_groups: Annotated[float, Field(ge=0, le=100)] = 0.0
    """A scale-down keeps at least this many groups of capacity above the demand, beside
    the tolerance's headroom (the larger wins)."""
    remove_starting_groups: bool = False
    """Allow removing groups that are still starting (a slow start, over twice the cold
    start, may be removed either way)."""
    # While every leader is idle, no scale-down for one cold start (the learned one when
    # coldStart.learn): removing a group and starting it again costs a cold start of GPU
    # time anyway, plus a cold start of queueing, so holding an idle group that long is
    # the break-even point (ski rental), whatever the silence turns out to last.
    hold_while_idle: bool = False
    """While every leader is idle, no scale-down until the idle stretch lasted one cold
    start."""
    drain: Drain = Field(default_factory=Drain)
    """Drain the leaving groups before removing them."""
