"""The recording source: replays a recorded file as if it were Prometheus.

A recording holds *raw* series (gauges, cumulative counters, histogram buckets), so the
signals are derived at replay time with the replaying policy's ``rateWindow`` and latency
quantiles, by the same rules as the live sources (:mod:`autoscaler.sources.families`,
:mod:`autoscaler.sources.derive`), vectorised with numpy in
:mod:`autoscaler.sources.recording_arrays`:

- everything is put on the recording's step grid once, at load;
- per (LWS, engine, model, window, quantiles) the per-pod signal arrays are computed once
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from autoscaler.errors import RecordingError
from autoscaler.policy.fields import MAX_GROUPS
from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.assemble import assemble, wake_threshold
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.families import LEADER_SIGNALS
from autoscaler.sources.promql import LabelNames, latency_quantiles
from autoscaler.sources.recording_arrays import TargetArrays, derive_arrays
from autoscaler.sources.recording_format import Recording, load_recording
from autoscaler.sources.recording_grid import Grid, window_rates

DEMO_RECORDING = "demo-recording.json.gz"


def default_recording_path() -> Path:
    """The small recording shipped with the package (``autoscaler/data``)."""
    return Path(str(files("autoscaler") / "data" / DEMO_RECORDING))


@dataclass
class _Columns:
    source: TargetArrays
    cells: list[tuple[str, Signal, list[float], list[float]]]
    latencies: dict[Signal, tuple[list[float], list[float]]]
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
        self._grid = Grid(recording, str(path) if path is not None else "the recording")
        self._wall_start, self._speed, self._loop = wall_start, speed, loop
        self._arrays: dict[
            tuple[LwsKey, ServingEngine, str | None, float, tuple[tuple[Signal, float], ...]],
            TargetArrays,
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
        """The LWS the recording holds series for (an LWS parked at zero may have only
        its activation series)."""
        grid = self._grid
        return tuple(sorted({k for k, _ in grid.raw} | set(grid.replicas) | set(grid.activation)))

    # -- derived arrays ----------------------------------------------------------------------
    def arrays(self, target: Target) -> TargetArrays:
        """The target's signals on the grid (computed once per window/quantiles, cached)."""
        metrics = target.policy.spec.metrics
        quantiles = latency_quantiles(target.policy)
        cache_key = (
            target.key,
            metrics.engine,
            metrics.model_name,
            metrics.rate_window,
            tuple(sorted(quantiles.items())),
        )
        if cache_key not in self._arrays:
            self._arrays[cache_key] = derive_arrays(
                self._grid,
                target.key,
                metrics.engine,
                metrics.model_name,
                metrics.rate_window,
                quantiles,
            )
        return self._arrays[cache_key]

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
            latencies={s: (v.tolist(), t.tolist()) for s, (v, t) in data.latencies.items()},
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
        for signal, (quantiles, stamps) in columns.latencies.items():
            if not math.isnan(quantiles[index]):
                aggregates[signal] = Sample(quantiles[index], wall(stamps[index], loops))
        if columns.activation is not None and not math.isnan(columns.activation[index]):
            stamp = wall(columns.times[index], loops)
            aggregates[Signal.ACTIVATION] = Sample(columns.activation[index], stamp)
        replicas = None
        if columns.replicas is not None:
            counts = [float(r[index]) for r in columns.replicas]
            # A count no LWS can have (NaN, +Inf or 1e300 written into the file, or one
            # below 0 or over the int32 of an LWS's replicas) is no count: the step goes on
            # without replica numbers rather than int() failing every fetch, or a snapshot
            # of 10**300 replicas. NaN fails the comparisons.
            if all(0 <= c <= MAX_GROUPS for c in counts):
                spec, status, ready = (int(c) for c in counts)
                replicas = (spec, status, ready)
        return assemble(
            target.key, now, leaders, aggregates, None, replicas, wake_above=wake_threshold(target)
        )

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
