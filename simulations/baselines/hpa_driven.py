"""Autoscalers that act through a HorizontalPodAutoscaler (the emulator in
:mod:`simulations.hpa`), every HPA sync period (15 s):

- **ours**: the engine's ``decide`` on a snapshot built by the production source path,
  published as ``lws_recommended_replicas`` and followed by the HPA our chart deploys
  (External metric, AverageValue 1, the chart's permissive ``behavior`` and tolerance, read
  from ``charts/lws-autoscaler/values.yaml`` so the two cannot drift apart);
- **seed**: the recipe many teams copy: a Pods metric ``vllm:num_requests_waiting`` per
  leader with AverageValue 10, scale-up stabilisation 300 s, scale-down 600 s;
- **keda**: vLLM production-stack's ScaledObject: Prometheus trigger on
  ``vllm:num_requests_waiting`` with threshold 5, summed over pods here (the published
  query has no ``sum``, and KEDA's Prometheus scaler refuses an answer with more than
  one series, so as published it stops working at two leaders). KEDA turns a Prometheus trigger
  into an External metric with an AverageValue target equal to the threshold (its
  default ``metricType``), so the HPA wants ``ceil(sum / 5)`` groups, with the HPA's
  default behaviour. ``pollingInterval`` (30 s) and ``cooldownPeriod`` (300 s) only
  govern activation and the scale to zero (https://keda.sh/docs/latest/reference/
  scaledobject-spec); the recipe's ``minReplicaCount`` is 1, so they change nothing here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from autoscaler.engine import EngineState, decide
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import group_index
from simulations.closedloop import LoopConfig, LoopView
from simulations.decision_log import DecisionRow, decision_row
from simulations.hpa.calculator import Pod, ScaleView
from simulations.hpa.controller import HpaEmulator
from simulations.hpa.quantity import quantity_milli
from simulations.hpa.readings import (
    MetricError,
    MetricValues,
    PodMetricValues,
    Reading,
)
from simulations.hpa.spec import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    ControllerConfig,
    HpaBehavior,
    HpaConfig,
    MetricSource,
    ScalingRules,
    default_rules,
)

REPO = Path(__file__).resolve().parents[2]
CHART_VALUES = REPO / "charts" / "lws-autoscaler" / "values.yaml"


LOOP_STEP = LoopConfig().step  # the moments the loop can call a controller at
# The recipes as published: the seed recipe's AverageValue of waiting requests per pod,
# and the threshold of production-stack's KEDA ScaledObject.
SEED_AVERAGE_WAITING = 10.0
KEDA_THRESHOLD = 5.0


def engine_lag_problem(
    lag: float, sync: float = ControllerConfig().sync_period_seconds
) -> str | None:
    """Why ``lag`` cannot be ours' engine lag (``Ours``), or None: it must fall on the
    loop's steps and before the next HPA sync."""
    if not 0 <= lag < sync or (lag / LOOP_STEP) % 1:
        return f"must be a multiple of {LOOP_STEP:g} s below the {sync:g} s HPA sync"
    return None


def _scale_view(view: LoopView) -> ScaleView:
    state = view.state
    pods = tuple(Pod(p.name, ready=p.ready) for p in state.leaders)
    return ScaleView(state.spec_replicas, state.status_replicas, state.ready_replicas, pods)


class HpaDriven:
    """An HPA reconciling every sync period on the value ``read(view)`` returns."""

    def __init__(self, name: str, config: HpaConfig, read: Callable[[LoopView], Reading]) -> None:
        self.name = name
        self.period = config.controller.sync_period_seconds
        self.hpa = HpaEmulator(config)
        self._read = read

    def decide(self, view: LoopView) -> int | None:
        return self._sync(view, self._read)

    def _sync(self, view: LoopView, read: Callable[[LoopView], Reading]) -> int | None:
        """One HPA sync on the metric ``read`` gives."""
        scale = _scale_view(view)
        if scale.spec_replicas == 0 and self.hpa.config.min_replicas != 0:
            # At zero with minReplicas > 0 the HPA is disabled (KEDA's activation is
            # someone else's job). With minReplicas 0 (HPAScaleToZero) it goes on: an
            # External AverageValue target sizes from the metric alone, so ours wakes.
            return None
        return self.hpa.reconcile(view.now, scale, [read(view)]).replicas


def _waiting(view: LoopView) -> dict[str, float]:
    return {
        pod: reading.values[Signal.QUEUE_DEPTH]
        for pod, reading in view.store.latest().items()
        if Signal.QUEUE_DEPTH in reading.values and pod in view.state.leader_names
    }


def seed_recipe(
    max_replicas: int,
    average_waiting: float = SEED_AVERAGE_WAITING,
    up_window: int = 300,
    down_window: int = 600,
) -> HpaDriven:
    rules_up = ScalingRules(
        float(up_window), DEFAULT_SCALE_UP.select_policy, DEFAULT_SCALE_UP.policies
    )
    rules_down = ScalingRules(
        float(down_window), DEFAULT_SCALE_DOWN.select_policy, DEFAULT_SCALE_DOWN.policies
    )
    config = HpaConfig(
        max_replicas=max_replicas,
        metrics=(
            MetricSource(
                "Pods", "vllm:num_requests_waiting", "AverageValue", quantity_milli(average_waiting)
            ),
        ),
        behavior=Behavior(rules_up, rules_down),
    )

    def read(view: LoopView) -> Reading:
        per_pod = _waiting(view)
        if not per_pod:
            return MetricError("no vllm:num_requests_waiting series for the leaders")
        return PodMetricValues({pod: quantity_milli(v) for pod, v in per_pod.items()})

    return HpaDriven("seed", config, read)


def keda_recipe(max_replicas: int, threshold: float = KEDA_THRESHOLD) -> HpaDriven:
    config = HpaConfig(
        max_replicas=max_replicas,
        metrics=(
            MetricSource("External", "s0-prometheus", "AverageValue", quantity_milli(threshold)),
        ),
    )

    def read(view: LoopView) -> Reading:
        # sum(vllm:num_requests_waiting); an empty result is 0 (ignoreNullValues: true).
        return MetricValues.of(sum(_waiting(view).values()))

    return HpaDriven("keda", config, read)


def chart_behavior(values_file: Path = CHART_VALUES) -> tuple[Behavior, float | None]:
    """The ``behavior`` and tolerance of the HPA our chart renders, from its values."""
    values: dict[str, Any] = yaml.safe_load(values_file.read_text())["hpa"]
    behavior = HpaBehavior.model_validate(
        {"scaleUp": values["scaleUp"], "scaleDown": values["scaleDown"]}
    )
    assert behavior.scale_up is not None
    assert behavior.scale_down is not None
    tolerance = values.get("tolerance")
    tol = float(tolerance) if tolerance not in (None, "") else None
    return (
        Behavior(
            default_rules(behavior.scale_up, DEFAULT_SCALE_UP),
            default_rules(behavior.scale_down, DEFAULT_SCALE_DOWN),
        ),
        tol,
    )


class Ours(HpaDriven):
    """The engine on production snapshots, followed by the chart's HPA.

    ``lag``: how long before each HPA sync the server's cycle decides (a multiple of
    the loop's 0.5 s step, below the 15 s sync). 0 decides at the sync itself, so the
    HPA reads a recommendation 0 s old; in a cluster the two cycles run independently,
    and with a lag of 5 s the HPA at 15:00 reads what the server decided at 14:55 from
    the scrape of 14:45. The controller is then called every ``gcd(15, lag)`` seconds
    and acts only at those two moments.
    """

    def __init__(self, policy: ScalingPolicy, lag: float = 0.0) -> None:
        behavior, tolerance = chart_behavior()
        if tolerance is not None:
            behavior = Behavior(
                ScalingRules(
                    behavior.scale_up.window,
                    behavior.scale_up.select_policy,
                    behavior.scale_up.policies,
                    tolerance,
                ),
                ScalingRules(
                    behavior.scale_down.window,
                    behavior.scale_down.select_policy,
                    behavior.scale_down.policies,
                    tolerance,
                ),
            )
        bounds = policy.spec.replicas
        config = HpaConfig(
            max_replicas=bounds.max,
            # As the chart renders it: 0 for a scale-to-zero policy.
            min_replicas=0 if policy.spec.scale_to_zero.enabled else bounds.min,
            metrics=(MetricSource("External", "lws_recommended_replicas", "AverageValue", 1000),),
            behavior=behavior,
        )
        super().__init__("ours", config, self._recommend)
        self._sync_period = sync = self.period
        problem = engine_lag_problem(lag, sync)
        if problem:
            raise ValueError(f"engine lag {problem}, got {lag:g}")
        self.lag = lag
        if lag:
            steps = math.gcd(round(sync / LOOP_STEP), round(lag / LOOP_STEP))
            self.period = steps * LOOP_STEP
        self._published: Reading = MetricError("the server has published no recommendation yet")
        self.policy = policy
        self.engine_state = EngineState()
        self.decisions: list[DecisionRow] = []
        self._cordoned: frozenset[int] = frozenset()

    def cordoned(self) -> frozenset[int]:
        """The groups the last decision drains (``scaleDown.drain``): no new requests."""
        return self._cordoned

    def decide(self, view: LoopView) -> int | None:
        if not self.lag:
            return super().decide(view)
        sync = self._sync_period
        phase = view.now % sync
        wanted = None
        if phase < 1e-6 or sync - phase < 1e-6:
            wanted = self._sync(view, lambda _view: self._published)
        if abs(phase - (sync - self.lag)) < 1e-6:
            self._published = self._recommend(view)
        return wanted

    def _recommend(self, view: LoopView) -> Reading:
        snapshot = view.store.snapshot(self.policy, view.now, view.state)
        decision, self.engine_state = decide(self.policy, snapshot, self.engine_state, view.now)
        state = view.state
        self.decisions.append(
            decision_row(decision, state.spec_replicas, state.status_replicas, state.ready_replicas)
        )
        name = view.state.key.name
        indices = (group_index(pod, name) for pod in decision.draining)
        self._cordoned = frozenset(i for i in indices if i is not None)
        if decision.replicas is None:
            return MetricError("the engine made no recommendation")
        return MetricValues.of(decision.replicas)
