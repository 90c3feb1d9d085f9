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
    per_group = np.full((n, len(LEADER_SIGNALS)), np.nan)
    recommendation = np.full(n, np.nan)
    demand = np.full(n, np.nan)
    hpa_replicas = np.zeros(n, dtype=np.int64)
    created = np.zeros(n, dtype=np.int64)
    ready_out = np.zeros(n, dtype=np.int64)
    synced = np.zeros(n, dtype=bool)
    drivers: list[str] = []
    reasons: list[str] = []
    every = max(1, n // 20)
    for i in range(n):
        now = times[i]
        ready = lws.ready_replicas(now)
        snapshot = None
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
            for s, signal in enumerate(LEADER_SIGNALS):
                sample = samples.get(signal)
                if sample is not None:
                    per_group[i, s] = sample.value
        decision = engine.step(now, snapshot)
        rec = decision.replicas
        if hpa.due(now):
            reading = MetricError("no recommendation") if rec is None else MetricValues.of(rec)
            scale = ScaleView(lws.spec_replicas, lws.status_replicas, ready_pods=ready)
            result = hpa.reconcile(now, scale, [reading] * len(config.hpa.metrics))
            if result.replicas != lws.spec_replicas:
                lws.scale(result.replicas, now)
            synced[i] = True
        recommendation[i] = math.nan if rec is None else rec
        demand[i] = math.nan if decision.demand is None else decision.demand
        hpa_replicas[i] = lws.spec_replicas
        created[i] = lws.status_replicas
        ready_out[i] = lws.ready_replicas(now)
        drivers.append(decision.driver or "")
        reasons.append(" ".join(r.code.value for r in decision.reasons))
        if progress is not None and (i % every == 0 or i == n - 1):
            progress(i + 1, n)
    return Timeline(
        policy=policy,
        times=load.times,
        per_group=per_group,
        recommendation=recommendation,
        engine_demand=demand,
        hpa_replicas=hpa_replicas,
        created=created,
        ready=ready_out,
        driver=drivers,
        reasons=reasons,
        hpa_synced=synced,
    )
