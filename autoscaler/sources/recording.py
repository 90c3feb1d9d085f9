"""The recording source: replays a recorded file as if it were Prometheus.

A recording holds *raw* series (gauges, cumulative counters, histogram buckets), so the
signals are derived at replay time with the replaying policy's ``rateWindow`` and TTFT
quantile, by the same rules as the live sources (:mod:`autoscaler.sources.families`,
:mod:`autoscaler.sources.derive`), vectorised with numpy:

- everything is put on the recording's step grid once, at load;
- per (LWS, engine, model, window, quantile) the per-pod signal arrays are computed once
  and cached (:meth:`RecordingSource.arrays`), so ``history()`` over 40,320 steps only
  builds snapshot objects (and reuses them for repeated grid points).

Time: by default ``now`` *is* recording time (the dry-run simulator). With ``wall_start``
the recording is replayed from that wall-clock instant at ``speed`` times real time,
optionally looping; sample timestamps are mapped back to wall time so staleness checks
still hold (``lws-autoscaler serve`` with the built-in demo uses this).

Replica counts come from the recording's ``lws:*_replicas`` series when present,
otherwise from the number of leaders reporting at that step (see ``docs/sources.md``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from autoscaler.errors import RecordingError
from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.assemble import assemble
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.families import LEADER_SIGNALS, Reduction, family
from autoscaler.sources.histogram import bucket_quantiles
from autoscaler.sources.promql import LabelNames, ttft_quantile
from autoscaler.sources.recording_format import Recording, load_recording
from autoscaler.sources.recording_grid import Array, Grid, reduce_arrays, window_rates

DEMO_RECORDING = "demo-recording.json.gz"


def default_recording_path() -> Path:
    """The small recording shipped with the package (``autoscaler/data``)."""
    return Path(str(files("autoscaler") / "data" / DEMO_RECORDING))


@dataclass(frozen=True)
class TargetArrays:
    """One target's derived signals on the recording grid (NaN = no sample).

    ``values[signal]`` and ``stamps[signal]`` have one row per pod in ``pods``; ``ttft``
    is LWS-wide; ``replicas`` is (spec, status, ready) per step, from the recorded series
    or, where they are missing, the number of reporting leaders.
    """

    times: Array
    pods: tuple[str, ...]
    values: dict[Signal, Array]
    stamps: dict[Signal, Array]
    ttft: Array
    ttft_stamp: Array
    replicas: tuple[Array, Array, Array]
    replicas_recorded: bool
    activation: Array | None = None


@dataclass
class _Columns:
    source: TargetArrays
    cells: list[tuple[str, Signal, list[float], list[float]]]
    ttft: list[float]
    ttft_stamp: list[float]
    activation: list[float] | None
    times: list[float]
    replicas: list[list[float]] | None


class RecordingSource:
    """:class:`~autoscaler.sources.base.MetricSource` replaying a recording file."""

    name = "recording"

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        recording: Recording | None = None,
        labels: LabelNames | None = None,
        wall_start: float | None = None,
        speed: float = 1.0,
        loop: bool = False,
    ) -> None:
        if recording is None:
            recording = load_recording(
                path if path is not None else default_recording_path(), labels
            )
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.path = Path(path) if path is not None else None
        self.recording = recording
        self._grid = Grid(recording)
        self._wall_start, self._speed, self._loop = wall_start, speed, loop
        self._arrays: dict[
            tuple[LwsKey, ServingEngine, str | None, float, float | None], TargetArrays
        ] = {}
        self._rows: dict[int, _Columns] = {}

    @property
    def start(self) -> float:
        return self.recording.start

    @property
    def end(self) -> float:
        return self.recording.end

    @property
    def step(self) -> float:
        return self.recording.step

    @property
    def keys(self) -> tuple[LwsKey, ...]:
        """The LWS the recording holds series for."""
        return tuple(sorted({k for k, _ in self._grid.raw} | set(self._grid.replicas)))

    # -- derived arrays ----------------------------------------------------------------------
    def arrays(self, target: Target) -> TargetArrays:
        """The target's signals on the grid (computed once per window/quantile, cached)."""
        metrics = target.policy.spec.metrics
        quantile = ttft_quantile(target)
        cache_key = (target.key, metrics.engine, metrics.model_name, metrics.rate_window, quantile)
        if cache_key not in self._arrays:
            self._arrays[cache_key] = self._derive(
                target.key, metrics.engine, metrics.model_name, metrics.rate_window, quantile
            )
        return self._arrays[cache_key]

    def _derive(
        self,
        key: LwsKey,
        engine: ServingEngine,
        model: str | None,
        window: float,
        quantile: float | None,
    ) -> TargetArrays:
        grid, times = self._grid, self._grid.times
        pods = tuple(grid.pods(key))
        empty = np.full((len(pods), times.size), np.nan)
        values = {s: empty.copy() for s in LEADER_SIGNALS}
        stamps = {s: empty.copy() for s in LEADER_SIGNALS}
        bucket_rates: dict[float, list[Array]] = defaultdict(list)
        bucket_stamps: list[Array] = []
        for row, pod in enumerate(pods):
            for signal in LEADER_SIGNALS:
                raw = grid.family_array(key, pod, engine, signal, model).get(None)
                if raw is None:
                    continue
                if family(engine, signal).kind is MetricKind.GAUGE:
                    values[signal][row] = raw
                    stamps[signal][row] = np.where(np.isnan(raw), np.nan, times)
                else:
                    values[signal][row], stamps[signal][row] = window_rates(times, raw, window)
            if quantile is not None:
                for le, raw in grid.family_array(key, pod, engine, Signal.TTFT, model).items():
                    if le is not None:
                        rate, stamp = window_rates(times, raw, window)
                        bucket_rates[le].append(rate)
                        bucket_stamps.append(stamp)
        ttft = np.full(times.size, np.nan)
        ttft_stamp = np.full(times.size, np.nan)
        if quantile is not None and bucket_rates:
            bounds = sorted(bucket_rates)
            matrix = np.vstack([reduce_arrays(bucket_rates[b], Reduction.SUM) for b in bounds])
            ttft = bucket_quantiles(quantile, bounds, matrix)
            ttft_stamp = np.fmax.reduce(np.vstack(bucket_stamps), axis=0)
            ttft_stamp = np.where(np.isnan(ttft), np.nan, ttft_stamp)
        reporting = np.zeros(times.size)
        if pods:
            any_signal = np.zeros((len(pods), times.size), dtype=bool)
            for signal in LEADER_SIGNALS:
                any_signal |= ~np.isnan(values[signal])
            reporting = any_signal.sum(axis=0).astype(float)
        recorded = {
            name: _carry_forward(array, times, REPLICA_CARRY_SECONDS)
            for name, array in grid.replicas.get(key, {}).items()
        }
        replicas = tuple(
            np.where(np.isnan(recorded[f]), reporting, recorded[f]) if f in recorded else reporting
            for f in ("spec", "status", "ready")
        )
        return TargetArrays(
            times,
            pods,
            values,
            stamps,
            ttft,
            ttft_stamp,
            (replicas[0], replicas[1], replicas[2]),
            bool(recorded),
            grid.activation.get(key),
        )

    # -- snapshots ---------------------------------------------------------------------------
    def _position(self, now: float) -> tuple[int, int]:
        """(grid index, loop count) of ``now``; index -1 before the start."""
        elapsed = (
            now - self.start if self._wall_start is None else (now - self._wall_start) * self._speed
        )
        cycle = self._grid.times.size * self.step
        loops = 0
        if self._loop and elapsed >= 0:
            loops = int(elapsed // cycle)
            elapsed -= loops * cycle
        return math.floor(elapsed / self.step + 1e-9), loops

    def _to_wall(self, recorded_time: float, loops: int) -> float:
        if self._wall_start is None:
            return float(recorded_time)
        cycle = self._grid.times.size * self.step
        return self._wall_start + (recorded_time - self.start + loops * cycle) / self._speed

    def _columns(self, target: Target) -> _Columns:
        """The target's arrays as per-step Python rows (cached): indexing lists is ~10x
        cheaper than numpy scalars, which matters for 40,320-step histories."""
        data = self.arrays(target)
        cached = self._rows.get(id(data))
        if cached is not None and cached.source is data:
            return cached
        cells = [
            (pod, signal, data.values[signal][row].tolist(), data.stamps[signal][row].tolist())
            for row, pod in enumerate(data.pods)
            for signal in LEADER_SIGNALS
        ]
        columns = _Columns(
            source=data,
            cells=cells,
            ttft=data.ttft.tolist(),
            ttft_stamp=data.ttft_stamp.tolist(),
            activation=None if data.activation is None else data.activation.tolist(),
            times=data.times.tolist(),
            replicas=[r.tolist() for r in data.replicas] if data.replicas_recorded else None,
        )
        self._rows[id(data)] = columns
        return columns

    def _snapshot(self, target: Target, index: int, loops: int, now: float) -> LwsSnapshot | str:
        columns = self._columns(target)
        wall = self._to_wall
        leaders: dict[str, dict[Signal, Sample]] = {}
        for pod, signal, values, stamps in columns.cells:
            value = values[index]
            if value == value:  # noqa: PLR0124  (NaN test without a call per cell)
                leaders.setdefault(pod, {})[signal] = Sample(value, wall(stamps[index], loops))
        aggregates = {}
        ttft = columns.ttft[index]
        if not math.isnan(ttft):
            aggregates[Signal.TTFT] = Sample(ttft, wall(columns.ttft_stamp[index], loops))
        if columns.activation is not None and not math.isnan(columns.activation[index]):
            stamp = wall(columns.times[index], loops)
            aggregates[Signal.ACTIVATION] = Sample(columns.activation[index], stamp)
        replicas = None
        if columns.replicas is not None:
            spec, status, ready = (int(r[index]) for r in columns.replicas)
            replicas = (spec, status, ready)
        return assemble(target.key, now, leaders, aggregates, None, replicas)

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        index, loops = self._position(now)
        snapshots, errors = {}, {}
        for target in targets:
            if index < 0 or index >= self._grid.times.size:
                errors[target.key] = (
                    f"the recording covers {self.start:.0f}..{self.end:.0f} (recording time); "
                    f"nothing at {self._recording_time(now):.0f}"
                )
                continue
            if target.policy.spec.metrics.overrides:
                errors[target.key] = "a recording holds raw series only: overrides cannot replay"
                continue
            built = self._snapshot(target, index, loops, now)
            if isinstance(built, str):
                errors[target.key] = built
            else:
                snapshots[target.key] = built
        return SourceResult(snapshots, errors)

    def _recording_time(self, now: float) -> float:
        index, _ = self._position(now)
        return self.start + index * self.step

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        if step <= 0:
            raise RecordingError("history step must be positive")
        for target in targets:
            self.arrays(target)  # derive up front, once
        count = math.floor((end - start) / step + 1e-9) + 1
        for i in range(max(0, count)):
            now = start + i * step
            yield now, self.fetch(targets, now)

    def close(self) -> None:
        self._rows.clear()


__all__ = [
    "DEMO_RECORDING",
    "RecordingSource",
    "TargetArrays",
    "default_recording_path",
    "window_rates",
]


# A replica count does not change because one kube-state-metrics scrape failed (Prometheus
# then writes a staleness marker, and the range query has a hole): the last recorded value
# holds for up to Prometheus's own 5-minute lookback before the leaders are counted instead.
REPLICA_CARRY_SECONDS = 300.0


def _carry_forward(values: Array, times: Array, horizon: float) -> Array:
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
