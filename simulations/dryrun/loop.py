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
from types import MappingProxyType

import numpy as np

from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus
from autoscaler.sources.families import LEADER_SIGNALS
from simulations.dryrun import frozen
from simulations.dryrun.load import RecordedLoad, Redistributor
from simulations.dryrun.replay import EngineDriver
from simulations.hpa import HpaConfig, HpaEmulator, MetricError, MetricValues, ScaleView
from simulations.hpa.readings import Reading
from simulations.lws_model import ColdStartModel, LwsModel

Progress = Callable[[int, int], None]
_KV = LEADER_SIGNALS.index(Signal.KV_CACHE)


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
    # Every write the HPA made, counted at its sync: a 60 s recording steps over three
    # syncs a minute, and the recorded ``hpa_replicas`` (one per step) would show
    # 1 -> 4 -> 8 -> 15 within a minute as one change.
    scale_ups: int = 0
    scale_downs: int = 0
    step_seconds: float = 15.0
    """The recording's step (:attr:`.load.RecordedLoad.step_seconds`): how long the last
    step, or a one-step recording's only one, lasts."""


def _initial(load: RecordedLoad, config: DryRunConfig) -> int:
    if config.initial_replicas is not None:
        return config.initial_replicas
    # Only a usable count: int(+Inf) raised after the previous outputs were removed.
    recorded = load.spec[np.isfinite(load.spec) & (load.spec >= 0)]
    start = int(recorded[0]) if len(recorded) else config.hpa.min_replicas
    return min(max(start, config.hpa.min_replicas), config.hpa.max_replicas)


def simulate(
    policy: ScalingPolicy,
    load: RecordedLoad,
    config: DryRunConfig,
    progress: Progress | None = None,
) -> Timeline:
    """Run ``policy`` over the recorded ``load``; deterministic for a given seed.

    The per-step work is the engine's, the HPA's and the LWS model's; everything that
    does not feed back (what the leaders reported, as a table) is computed with numpy
    after the loop, and immutable inputs that repeat (the HPA's reading of a given
    recommendation, its view of the scale subresource) are built once per value.
    """
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
    recommendation: list[float] = []
    demand: list[float] = []
    hpa_replicas: list[int] = []
    created: list[int] = []
    ready_before: list[int] = []
    ready_out: list[int] = []
    synced: list[bool] = []
    drivers: list[str] = []
    reasons: list[str] = []
    metrics = len(config.hpa.metrics)
    no_recommendation: list[Reading] = [MetricError("no recommendation")] * metrics
    readings: dict[int, list[Reading]] = {}
    scales: dict[tuple[int, int, int], ScaleView] = {}
    groups: tuple[GroupStatus, ...] | None = None
    names: list[str] = []
    spec_replicas, status_replicas = lws.spec_replicas, lws.status_replicas
    writes = {"up": 0, "down": 0}
    nan = math.nan
    every = max(1, n // 20)

    def sync(at: float, rec: int | None) -> bool:
        """One HPA reconcile at ``at`` reading ``rec``; True when it resized the LWS."""
        nonlocal spec_replicas, status_replicas
        if rec is None:
            reading = no_recommendation
        elif rec in readings:
            reading = readings[rec]
        else:
            reading = readings[rec] = [MetricValues.of(rec)] * metrics
        ready_at = lws.ready_replicas(at)
        view = (spec_replicas, status_replicas, ready_at)
        if (scale := scales.get(view)) is None:
            scale = scales[view] = ScaleView(spec_replicas, status_replicas, ready_pods=ready_at)
        result = hpa.reconcile(at, scale, reading)
        if result.replicas == spec_replicas:
            return False
        writes["up" if result.replicas > spec_replicas else "down"] += 1
        lws.scale(result.replicas, at)
        spec_replicas, status_replicas = lws.spec_replicas, lws.status_replicas
        return True

    last_rec: int | None = None
    for i in range(n):
        now = times[i]
        # The HPA syncs every sync period whatever the recording's step: with steps longer
        # than the period, the syncs in between read the recommendation of the step
        # before (all the engine had said by then). A 60 s recording used to get one sync
        # a minute, and a scale-up limit of 4 groups per 15 s became 4 per minute.
        stepped_over = False
        while (at := hpa.next_sync()) is not None and at < now - 1e-9:
            sync(at, last_rec)
            stepped_over = True
        ready = lws.ready_replicas(now)
        snapshot = None
        if present[i]:
            if lws.groups(now) is not groups:  # the model returns the same tuple until a change
                groups = lws.groups(now)
                names = [str(g.index) for g in groups if g.ready_at is not None]
            snapshot = frozen.snapshot(
                key,
                now,
                spec_replicas,
                status_replicas,
                ready,
                groups,
                MappingProxyType(dict.fromkeys(names, spread.leader_view(i, ready))),
                spread.aggregate_view(i),
            )
        decision = engine.step(now, snapshot)
        rec = last_rec = decision.replicas
        due = hpa.due(now)
        ready_after = ready
        if due and sync(now, rec):
            ready_after = lws.ready_replicas(now)  # a scale-down may remove ready groups
        synced.append(due or stepped_over)
        recommendation.append(nan if rec is None else rec)
        demand.append(nan if decision.demand is None else decision.demand)
        hpa_replicas.append(spec_replicas)
        created.append(status_replicas)
        ready_before.append(ready)
        ready_out.append(ready_after)
        drivers.append(decision.driver or "")
        # Reason codes are StrEnum members: joined, they read as their values.
        reasons.append(" ".join([r.code for r in decision.reasons]))
        if progress is not None and (i % every == 0 or i == n - 1):
            progress(i + 1, n)
    return Timeline(
        policy=policy,
        times=load.times,
        per_group=_per_group(load, np.asarray(ready_before, dtype=np.int64)),
        recommendation=np.asarray(recommendation, dtype=float),
        engine_demand=np.asarray(demand, dtype=float),
        hpa_replicas=np.asarray(hpa_replicas, dtype=np.int64),
        created=np.asarray(created, dtype=np.int64),
        ready=np.asarray(ready_out, dtype=np.int64),
        driver=drivers,
        reasons=reasons,
        hpa_synced=np.asarray(synced, dtype=bool),
        scale_ups=writes["up"],
        scale_downs=writes["down"],
        step_seconds=load.step_seconds,
    )


def _per_group(load: RecordedLoad, ready: np.ndarray) -> np.ndarray:
    """What each simulated ready leader reported, per step and leader signal: the
    recorded total over the groups ready at the step's start, KV capped at 1 (as
    :meth:`.load.Redistributor.leader_samples` spreads it); NaN without a snapshot,
    without a ready group, or where nobody reported the signal."""
    width = len(LEADER_SIGNALS)
    per_group = np.full((load.steps, width), math.nan)
    rows = load.present & (ready > 0)
    per_group[rows] = load.load[rows] / ready[rows, None]
    kv = per_group[:, _KV]
    kv[kv > 1.0] = 1.0
    return per_group
