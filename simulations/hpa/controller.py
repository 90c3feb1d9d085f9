"""``HpaEmulator``: one HorizontalPodAutoscaler, reconciled on a manual clock.

A port of ``reconcileAutoscaler`` and ``computeReplicasForMetrics`` from the Kubernetes HPA
controller (see ``shared/reference/hpa-algorithm.md``), in this order each sync:

1. seed the recommendation history with the current size (a fresh controller cannot scale
   down for one stabilisation window);
2. ``spec.replicas == 0`` with ``minReplicas != 0``: scaling disabled, nothing changes;
   outside [min, max]: straight to the bound, no metrics, no rate limits;
3. one proposal per metric; the largest valid one wins. All metrics failing, or some
   failing while the valid ones propose fewer than ``spec.replicas``: no change this sync
   and no memory update (never scale down on partial data);
4. stabilisation and rate limits (legacy or ``behavior``), then rescale and store the
   scale event.

Time is an argument: the caller decides when a sync happens (every ``sync_period_seconds``,
15 s by default; :meth:`HpaEmulator.due` says whether one is due).
"""

from __future__ import annotations

from collections.abc import Sequence

from simulations.hpa.calculator import (
    MetricComputeError,
    ScaleView,
    Tolerances,
    average_value_replicas,
    pod_metric_replicas,
    value_replicas,
)
from simulations.hpa.normalize import (
    HpaMemory,
    Recommendation,
    behavior_rate_limit,
    legacy_rate_limit,
    stabilize_legacy,
    stabilize_with_behavior,
    store_scale_event,
)
from simulations.hpa.readings import (
    Condition,
    MetricError,
    MetricValues,
    PodMetricValues,
    Reading,
    ReconcileResult,
)
from simulations.hpa.spec import HpaConfig, MetricSource

_FAILED_GET = {
    "External": "FailedGetExternalMetric",
    "Object": "FailedGetObjectMetric",
    "Pods": "FailedGetPodsMetric",
    "Resource": "FailedGetResourceMetric",
}
"""The ScalingActive reason when a metric of each source type cannot be read."""


class _MetricFailedError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HpaEmulator:
    """One HPA and its controller memory. Not thread-safe; one instance per simulated HPA."""

    def __init__(self, config: HpaConfig, memory: HpaMemory | None = None) -> None:
        self.config = config
        self.memory = memory if memory is not None else HpaMemory()
        # Kept as the (type, status, reason) triples ``conditions()`` returns, by type.
        self._conditions: dict[str, Condition] = {}
        self._next_sync: float | None = None
        self._tolerances = self._tolerances_for(config)
        self._described = [_describe(source) for source in config.metrics]

    # -- scheduling -----------------------------------------------------------------------

    def due(self, now: float) -> bool:
        """True when the next scheduled sync is at or before ``now`` (or none happened)."""
        scheduled = self._next_sync
        return scheduled is None or now >= scheduled - 1e-9

    def next_sync(self) -> float | None:
        """When the next sync is scheduled; None before the first. Syncs keep their
        cadence from the first one (the controller requeues each HPA every sync period),
        so a caller that steps more coarsely must run the ones it stepped over."""
        return self._next_sync

    def step(self, now: float, scale: ScaleView, values: Sequence[float | None]) -> int:
        """Convenience for simulators: one External value per metric (None = fetch error);
        reconciles only when :meth:`due`, and returns ``spec.replicas`` afterwards."""
        if not self.due(now):
            return scale.spec_replicas
        readings: list[Reading] = [
            MetricError("no value") if v is None else MetricValues.of(v) for v in values
        ]
        return self.reconcile(now, scale, readings).replicas

    # -- the controller -------------------------------------------------------------------

    def _set(self, kind: str, status: bool, reason: str) -> None:
        self._conditions[kind] = (kind, "True" if status else "False", reason)

    def conditions(self) -> tuple[Condition, ...]:
        return tuple(self._conditions.values())

    @staticmethod
    def _tolerances_for(config: HpaConfig) -> Tolerances:
        """``tolerancesForHpa``: the cluster tolerance, overridden per direction by
        ``behavior.scale{Up,Down}.tolerance`` when the feature gate is on."""
        ctl, behavior = config.controller, config.behavior
        down = up = ctl.tolerance
        if behavior is not None and ctl.configurable_tolerance:
            if behavior.scale_down.tolerance is not None:
                down = behavior.scale_down.tolerance
            if behavior.scale_up.tolerance is not None:
                up = behavior.scale_up.tolerance
        return Tolerances(down, up)

    def reconcile(
        self, now: float, scale: ScaleView, readings: Sequence[Reading]
    ) -> ReconcileResult:
        cfg = self.config
        if len(readings) != len(cfg.metrics):
            raise ValueError(f"{len(readings)} readings for {len(cfg.metrics)} metrics")
        period = cfg.controller.sync_period_seconds
        scheduled = self._next_sync
        if scheduled is None or now < scheduled - 1e-9 or now >= scheduled + period - 1e-9:
            self._next_sync = now + period  # the first sync, one off schedule, or a gap
        else:
            self._next_sync = scheduled + period  # on schedule, even if a little late
        self._set("AbleToScale", True, "SucceededGetScale")
        current = scale.spec_replicas
        if self.memory.recommendations is None:
            self.memory.recommendations = [Recommendation(current, now)]
        rescale, desired, reason, proposal = True, 0, "", None
        error: str | None = None
        if current == 0 and cfg.min_replicas != 0:
            rescale = False
            self._set("ScalingActive", False, "ScalingDisabled")
        elif current > cfg.max_replicas:
            desired, reason = cfg.max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < cfg.min_replicas:
            desired, reason = cfg.min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric, error = self._replicas_for_metrics(scale, readings)
            except _MetricFailedError as failed:
                self._set("ScalingActive", False, failed.reason)
                return ReconcileResult(current, False, None, "", self.conditions(), str(failed))
            desired = max(desired, proposal)
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(now, current, desired)
            rescale = desired != current
        if rescale:
            self._set("AbleToScale", True, "SucceededRescale")
            behavior = cfg.behavior
            store_scale_event(
                behavior.scale_up if behavior else None,
                behavior.scale_down if behavior else None,
                self.memory,
                current,
                desired,
                now,
            )
        else:
            desired = current
        return ReconcileResult(desired, rescale, proposal, reason, self.conditions(), error)

    def _replicas_for_metrics(
        self, scale: ScaleView, readings: Sequence[Reading]
    ) -> tuple[int, str, str | None]:
        """``computeReplicasForMetrics``: (largest proposal, its metric, first error)."""
        replicas, metric, invalid = 0, "", 0
        first: _MetricFailedError | None = None
        for source, described, reading in zip(
            self.config.metrics, self._described, readings, strict=True
        ):
            try:
                proposal = self._replicas_for_metric(source, reading, scale)
            except _MetricFailedError as failed:
                invalid += 1
                first = first or failed
                continue
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, described
        if first is not None and (invalid >= len(readings) or replicas < scale.spec_replicas):
            raise first
        self._set("ScalingActive", True, "ValidMetricFound")
        return replicas, metric, None if first is None else str(first)

    def _replicas_for_metric(self, source: MetricSource, reading: Reading, scale: ScaleView) -> int:
        kind = source.kind
        failure = _FAILED_GET.get(kind)
        if failure is None:
            raise _MetricFailedError(
                "InvalidMetricSourceType", f'unknown metric source type "{kind}"'
            )
        if isinstance(reading, MetricError):
            raise _MetricFailedError(
                failure, f"unable to get {kind} metric {source.name}: {reading.message}"
            )
        tol, current = self._tolerances, scale.spec_replicas
        try:
            if kind in ("External", "Object"):
                if not isinstance(reading, MetricValues):
                    raise MetricComputeError(f"{kind} metrics need series values")
                values = reading.values_milli if kind == "External" else reading.values_milli[:1]
                if source.target_type == "AverageValue":
                    return average_value_replicas(
                        values, source.target, scale.status_replicas, tol
                    )[0]
                if source.target_type == "Value":
                    return value_replicas(values, source.target, current, tol, scale)[0]
                raise MetricComputeError(f"invalid {kind} metric target {source.target_type}")
            if not isinstance(reading, PodMetricValues):
                raise MetricComputeError(f"{kind} metrics need per-pod values")
            return pod_metric_replicas(
                reading.per_pod_milli,
                source.target,
                current,
                tol,
                scale,
                utilization=source.target_type == "Utilization",
                cpu=kind == "Resource" and source.name == "cpu",
            )[0]
        except MetricComputeError as exc:
            raise _MetricFailedError(failure, str(exc)) from None

    def _normalize(self, now: float, current: int, desired: int) -> int:
        cfg, ctl, recs = self.config, self.config.controller, self.memory.recommendations
        assert recs is not None
        if cfg.behavior is None:
            stable = stabilize_legacy(recs, desired, now, ctl.downscale_stabilization_seconds)
            self._set(
                "AbleToScale",
                True,
                "ScaleDownStabilized" if stable != desired else "ReadyForNewScale",
            )
            final, limited = legacy_rate_limit(
                current,
                stable,
                cfg.min_replicas,
                cfg.max_replicas,
                ctl.scale_up_limit_factor,
                ctl.scale_up_limit_minimum,
            )
        else:
            up, down = cfg.behavior.scale_up, cfg.behavior.scale_down
            down_window = (
                ctl.downscale_stabilization_seconds if down.window is None else down.window
            )
            stable, why = stabilize_with_behavior(
                recs, current, desired, now, up.window or 0.0, down_window
            )
            self._set("AbleToScale", True, why if stable != desired else "ReadyForNewScale")
            final, limited = behavior_rate_limit(
                current, stable, cfg.min_replicas, cfg.max_replicas, up, down, self.memory, now
            )
        self._set("ScalingLimited", final != stable, limited)
        return final


def _describe(source: MetricSource) -> str:
    if source.kind == "External":
        return f"external metric {source.name}"
    if source.kind == "Resource":
        return f"{source.name} resource utilization (percentage of request)"
    return f"{source.kind.lower()} metric {source.name}"
