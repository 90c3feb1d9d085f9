"""The dry-run loop: recorded load -> engine -> HPA emulation -> LWS model, step by step.

At each recorded instant ``t``:

1. the simulated LWS reports what it looks like at ``t`` (groups created, ready) and its
   ready leaders report the recorded load spread over them (:mod:`.load`);
2. the engine decides, exactly as the server would (:class:`.replay.EngineDriver`);
3. when a sync is due (every 15 s by default) the HPA reads that recommendation as the
   External metric and may write ``spec.replicas``; no recommendation = a failed read;
4. the LWS model creates or deletes groups accordingly.

The HPA reads the recommendation of the same step: the server's loop and the HPA's sync
are assumed to line up (at most one recording step of extra delay in reality).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsSnapshot
from simulations.dryrun.load import LEADER_SIGNALS, RecordedLoad, Redistributor
from simulations.dryrun.replay import EngineDriver
from simulations.hpa import HpaConfig, HpaEmulator, MetricError, MetricValues, ScaleView
from simulations.lws_model import ColdStartModel, LwsModel

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DryRunConfig:
    hpa: HpaConfig
    cold_start: ColdStartModel
    seed: int = 0
    initial_replicas: int | None = None
    """Groups at the start; None = the recorded ``spec.replicas`` of the first step
    with data (clamped to the HPA bounds)."""


@dataclass(frozen=True)
class Timeline:
    """Per-step outcome of one policy. Arrays share the index of ``times``.

    ``recommendation`` is NaN where the engine made none; ``per_group[:, s]`` is what each
    simulated ready leader reported for ``LEADER_SIGNALS[s]`` (NaN = no data).
    """

    policy: ScalingPolicy
    times: np.ndarray
    per_group: np.ndarray
    recommendation: np.ndarray
    engine_demand: np.ndarray
    hpa_replicas: np.ndarray
    created: np.ndarray
    ready: np.ndarray
    driver: list[str]
    reasons: list[str]
    hpa_synced: np.ndarray


def _initial(load: RecordedLoad, config: DryRunConfig) -> int:
    if config.initial_replicas is not None:
        return config.initial_replicas
    recorded = load.spec[~np.isnan(load.spec)]
    start = int(recorded[0]) if len(recorded) else config.hpa.min_replicas
    return min(max(start, config.hpa.min_replicas), config.hpa.max_replicas)


def simulate(
    policy: ScalingPolicy,
    load: RecordedLoad,
    config: DryRunConfig,
    progress: Progress | None = None,
) -> Timeline:
    """Run ``policy`` over the recorded ``load``; deterministic for a given seed."""
    n = load.steps
    times = load.times.tolist()
    present = load.present.tolist()
    t0 = times[0] if n else 0.0
    lws = LwsModel(
        config.cold_start, np.random.default_rng(config.seed), _initial(load, config), t0
    )
    engine = EngineDriver(policy)
    hpa = HpaEmulator(config.hpa)
    spread = Redistributor(load)
    key = load.key
    width = len(LEADER_SIGNALS)
    nan_row = [math.nan] * width
    per_group: list[list[float]] = []
    recommendation: list[float] = []
    demand: list[float] = []
    hpa_replicas: list[int] = []
    created: list[int] = []
    ready_out: list[int] = []
    synced: list[bool] = []
    drivers: list[str] = []
    reasons: list[str] = []
    metrics = len(config.hpa.metrics)
    every = max(1, n // 20)
    for i in range(n):
        now = times[i]
        ready = lws.ready_replicas(now)
        snapshot = None
        row = nan_row
        if present[i]:
            samples = spread.leader_samples(i, ready)
            groups = lws.groups(now)
            leaders = {str(g.index): samples for g in groups if g.ready_at is not None}
            snapshot = LwsSnapshot(
                key,
                now,
                lws.spec_replicas,
                lws.status_replicas,
                ready,
                groups,
                leaders,
                spread.aggregates(i),
            )
            row = [s.value if (s := samples.get(signal)) else math.nan for signal in LEADER_SIGNALS]
        decision = engine.step(now, snapshot)
        rec = decision.replicas
        due = hpa.due(now)
        if due:
            reading = MetricError("no recommendation") if rec is None else MetricValues.of(rec)
            scale = ScaleView(lws.spec_replicas, lws.status_replicas, ready_pods=ready)
            result = hpa.reconcile(now, scale, [reading] * metrics)
            if result.replicas != lws.spec_replicas:
                lws.scale(result.replicas, now)
        per_group.append(row)
        synced.append(due)
        recommendation.append(math.nan if rec is None else rec)
        demand.append(math.nan if decision.demand is None else decision.demand)
        hpa_replicas.append(lws.spec_replicas)
        created.append(lws.status_replicas)
        ready_out.append(lws.ready_replicas(now))
        drivers.append(decision.driver or "")
        reasons.append(" ".join([r.code.value for r in decision.reasons]))
        if progress is not None and (i % every == 0 or i == n - 1):
            progress(i + 1, n)
    return Timeline(
        policy=policy,
        times=load.times,
        per_group=np.asarray(per_group, dtype=float).reshape(n, width),
        recommendation=np.asarray(recommendation, dtype=float),
        engine_demand=np.asarray(demand, dtype=float),
        hpa_replicas=np.asarray(hpa_replicas, dtype=np.int64),
        created=np.asarray(created, dtype=np.int64),
        ready=np.asarray(ready_out, dtype=np.int64),
        driver=drivers,
        reasons=reasons,
        hpa_synced=np.asarray(synced, dtype=bool),
    )
