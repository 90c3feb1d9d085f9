"""A recording's raw series turned into one target's signal arrays, vectorised with numpy.

Owns :class:`TargetArrays` and :func:`derive_arrays`: gauges are taken as recorded,
counters and histogram buckets become ``rate()`` over the replaying policy's window
(:func:`~autoscaler.sources.recording_grid.window_rates`), each latency quantile comes
from its histogram's summed bucket rates, and replica counts come from the recorded series
or, where those are missing, from the number of leaders reporting.
:mod:`autoscaler.sources.recording` caches the result per (LWS, engine, model, window,
quantiles) and builds snapshots from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.families import LEADER_SIGNALS, Reduction, family
from autoscaler.sources.histogram import bucket_quantiles
from autoscaler.sources.recording_grid import Array, Grid, reduce_arrays


@dataclass(frozen=True)
class TargetArrays:
    """One target's derived signals on the recording grid (NaN = no sample).

    ``values[signal]`` and ``stamps[signal]`` have one row per pod in ``pods``;
    ``latencies[signal]`` is an LWS-wide (quantile, stamp) pair; ``replicas`` is (spec,
    status, ready) per step, from the recorded series or, where they are missing, the
    number of reporting leaders (NaN where neither: no data at that step).
    """

    times: Array
    pods: tuple[str, ...]
    values: dict[Signal, Array]
    stamps: dict[Signal, Array]
    latencies: dict[Signal, tuple[Array, Array]]
    replicas: tuple[Array, Array, Array]
    replicas_recorded: bool
    activation: Array | None = None


def derive_arrays(
    grid: Grid,
    key: LwsKey,
    engine: ServingEngine,
    model: str | None,
    window: float,
    quantiles: Mapping[Signal, float],
) -> TargetArrays:
    times = grid.times
    pods = tuple(grid.pods(key))
    empty = np.full((len(pods), times.size), np.nan)
    values = {s: empty.copy() for s in LEADER_SIGNALS}
    stamps = {s: empty.copy() for s in LEADER_SIGNALS}
    for row, pod in enumerate(pods):
        for signal in LEADER_SIGNALS:
            if family(engine, signal).kind is MetricKind.GAUGE:
                raw = grid.family_array(key, pod, engine, signal, model).get(None)
                if raw is not None:
                    values[signal][row] = raw
                    stamps[signal][row] = np.where(np.isnan(raw), np.nan, times)
                continue
            rated = grid.family_rates(key, pod, engine, signal, model, window).get(None)
            if rated is not None:
                values[signal][row], stamps[signal][row] = rated
    latencies = {
        signal: _latency(grid, key, pods, engine, model, window, signal, quantile)
        for signal, quantile in quantiles.items()
    }
    reporting = np.zeros(times.size)
    if pods:
        any_signal = np.zeros((len(pods), times.size), dtype=bool)
        for signal in LEADER_SIGNALS:
            any_signal |= ~np.isnan(values[signal])
        reporting = any_signal.sum(axis=0).astype(float)
    recorded = {
        name: carry_forward(array, times, REPLICA_CARRY_SECONDS)
        for name, array in grid.replicas.get(key, {}).items()
    }
    # Where no count is recorded and no leader reports, the step has no data: NaN, not
    # "0 replicas" (absence is not zero), so a replay starts from the first recorded size
    # and the step reads as a gap.
    counted = np.where(reporting > 0, reporting, np.nan)
    replicas = tuple(
        np.where(np.isnan(recorded[f]), counted, recorded[f]) if f in recorded else counted
        for f in ("spec", "status", "ready")
    )
    return TargetArrays(
        times,
        pods,
        values,
        stamps,
        latencies,
        (replicas[0], replicas[1], replicas[2]),
        bool(recorded),
        grid.activation.get(key),
    )


def _latency(
    grid: Grid,
    key: LwsKey,
    pods: tuple[str, ...],
    engine: ServingEngine,
    model: str | None,
    window: float,
    signal: Signal,
    quantile: float,
) -> tuple[Array, Array]:
    """One histogram's quantile over the summed bucket rates of all leaders, and its stamp
    (the newest sample behind it); NaN where no leader had two samples in the window."""
    bucket_rates: dict[float, list[Array]] = defaultdict(list)
    bucket_stamps: list[Array] = []
    for pod in pods:
        for le, (rate, stamp) in grid.family_rates(key, pod, engine, signal, model, window).items():
            if le is not None:
                bucket_rates[le].append(rate)
                bucket_stamps.append(stamp)
    if not bucket_rates:
        nothing = np.full(grid.times.size, np.nan)
        return nothing, nothing.copy()
    bounds = sorted(bucket_rates)
    matrix = np.vstack([reduce_arrays(bucket_rates[b], Reduction.SUM) for b in bounds])
    value = bucket_quantiles(quantile, bounds, matrix)
    stamp = np.fmax.reduce(np.vstack(bucket_stamps), axis=0)
    return value, np.where(np.isnan(value), np.nan, stamp)


# A replica count does not change because one kube-state-metrics scrape failed (Prometheus
# then writes a staleness marker, and the range query has a hole): the last recorded value
# holds for up to Prometheus's own 5-minute lookback before the leaders are counted instead.
REPLICA_CARRY_SECONDS = 300.0


def carry_forward(values: Array, times: Array, horizon: float) -> Array:
    """Fill NaN gaps with the previous value, for at most ``horizon`` seconds.

    [3, nan, nan, 4] at 15 s steps with a 20 s horizon gives [3, 3, nan, 4].
    """
    present = ~np.isnan(values)
    if present.all() or not present.any():
        return values
    last = np.maximum.accumulate(np.where(present, np.arange(values.size), -1))
    filled = np.where(last >= 0, values[np.maximum(last, 0)], np.nan)
    too_old = (last < 0) | (times - times[np.maximum(last, 0)] > horizon)
    return np.where(present, values, np.where(too_old, np.nan, filled))
