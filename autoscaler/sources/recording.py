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
from numpy.typing import NDArray

from autoscaler.errors import RecordingError
from autoscaler.signals import MetricKind, ServingEngine, Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.assemble import assemble
from autoscaler.sources.base import SourceResult, Target
from autoscaler.sources.families import LEADER_SIGNALS, RANK_LABELS, Reduction, family
from autoscaler.sources.histogram import bucket_quantiles
from autoscaler.sources.promql import LabelNames, ttft_quantile
from autoscaler.sources.recording_format import (
    ACTIVATION_SERIES,
    REPLICA_SERIES,
    Recording,
    load_recording,
)

Array = NDArray[np.float64]
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


def _reduce(arrays: list[Array], reduction: Reduction) -> Array:
    stack = np.vstack(arrays)
    present = np.sum(~np.isnan(stack), axis=0)
    total = np.nansum(stack, axis=0)
    if reduction is Reduction.MEAN:
        total = total / np.maximum(present, 1)
    return np.where(present > 0, total, np.nan)


def _reset_adjusted(values: Array) -> Array:
    """Cumulative values with resets undone: 1000, 1300, 40, 100 -> 1000, 1300, 1340, 1400."""
    drop = np.diff(values) < 0
    correction = np.concatenate(([0.0], np.cumsum(np.where(drop, values[:-1], 0.0))))
    return values + correction


def window_rates(times: Array, counter: Array, window: float) -> tuple[Array, Array]:
    """PromQL-style ``rate(counter[window])`` at every grid time, and the newest sample's
    time behind each rate: the increase between the first and last samples inside
    ``[t - window, t]`` (resets counted as restarts) over the time between them."""
    rate = np.full(times.shape, np.nan)
    stamp = np.full(times.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(counter))
    if valid.size < 2:
        return rate, stamp
    t_valid = times[valid]
    adjusted = _reset_adjusted(counter[valid])
    last = np.searchsorted(t_valid, times, side="right") - 1
    first = np.searchsorted(t_valid, times - window - 1e-9, side="left")
    ok = (last >= 0) & (last > first)
    lo, hi = first[ok], last[ok]
    rate[ok] = (adjusted[hi] - adjusted[lo]) / (t_valid[hi] - t_valid[lo])
    stamp[ok] = t_valid[hi]
    return rate, stamp


class _Grid:
    """The recording's raw series, reduced per pod, on its step grid."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.labels = recording.labels
        count = round((recording.end - recording.start) / recording.step) + 1
        self.times: Array = recording.start + np.arange(count, dtype=np.float64) * recording.step
        # raw[(key, pod)][sample name] -> [(labels, le, array)]
        self.raw: dict[
            tuple[LwsKey, str], dict[str, list[tuple[dict[str, str], float | None, Array]]]
        ]
        self.raw = defaultdict(lambda: defaultdict(list))
        self.replicas: dict[LwsKey, dict[str, Array]] = defaultdict(dict)
        self.activation: dict[LwsKey, Array] = {}
        names = {v: k for k, v in REPLICA_SERIES.items()}
        for series in recording.series:
            metric = series.metric
            key = LwsKey(metric.get(self.labels.namespace, ""), metric.get(self.labels.lws, ""))
            array = self._on_grid(series.points)
            name = metric.get("__name__", "")
            if name in names:
                self.replicas[key][names[name]] = array
                continue
            if name == ACTIVATION_SERIES:
                self.activation[key] = array
                continue
            pod = metric.get(self.labels.pod)
            if not pod or not key.namespace or not key.name:
                continue
            le = float(metric["le"]) if "le" in metric else None
            self.raw[(key, pod)][name].append((metric, le, array))

    def _on_grid(self, points: Sequence[tuple[float, float]]) -> Array:
        array = np.full(self.times.shape, np.nan)
        if points:
            data = np.asarray(points, dtype=float)
            index = np.rint((data[:, 0] - self.recording.start) / self.recording.step)
            inside = (index >= 0) & (index < array.size)
            array[index[inside].astype(int)] = data[inside, 1]
        return array

    def pods(self, key: LwsKey) -> list[str]:
        return sorted(pod for k, pod in self.raw if k == key)

    def family_array(
        self, key: LwsKey, pod: str, engine: ServingEngine, signal: Signal, model: str | None
    ) -> dict[float | None, Array]:
        """One pod's reduced raw array(s) for a signal: {None: array} or {le: array}."""
        fam = family(engine, signal)
        ranks = RANK_LABELS[engine] if fam.kind is MetricKind.GAUGE else frozenset()
        found: dict[float | None, Array] = {}
        for name in fam.sample_names:
            groups: dict[tuple[float | None, tuple[tuple[str, str], ...]], list[Array]]
            groups = defaultdict(list)
            for labels, le, array in self.raw.get((key, pod), {}).get(name, []):
                if model is not None and labels.get("model_name", model) != model:
                    continue
                rest = tuple(
                    sorted(
                        (k, v)
                        for k, v in labels.items()
                        if k not in ranks and k not in ("__name__", "le")
                    )
                )
                groups[(le, rest)].append(array)
            by_le: dict[float | None, list[Array]] = defaultdict(list)
            for (le, _), arrays in groups.items():
                by_le[le].append(np.fmax.reduce(np.vstack(arrays), axis=0))
            for le, arrays in by_le.items():
                reduced = _reduce(arrays, fam.reduction)
                # First candidate wins where present (vLLM's two KV-cache generations).
                found[le] = (
                    np.where(np.isnan(found[le]), reduced, found[le]) if le in found else reduced
                )
        return found


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
        self._grid = _Grid(recording)
        self._wall_start, self._speed, self._loop = wall_start, speed, loop
        self._arrays: dict[
            tuple[LwsKey, ServingEngine, str | None, float, float | None], TargetArrays
        ] = {}
        self._built: dict[tuple[object, ...], LwsSnapshot | str] = {}

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
            matrix = np.vstack([_reduce(bucket_rates[b], Reduction.SUM) for b in bounds])
            ttft = bucket_quantiles(quantile, bounds, matrix)
            ttft_stamp = np.fmax.reduce(np.vstack(bucket_stamps), axis=0)
            ttft_stamp = np.where(np.isnan(ttft), np.nan, ttft_stamp)
        reporting = np.zeros(times.size)
        if pods:
            any_signal = np.zeros((len(pods), times.size), dtype=bool)
            for signal in LEADER_SIGNALS:
                any_signal |= ~np.isnan(values[signal])
            reporting = any_signal.sum(axis=0).astype(float)
        recorded = grid.replicas.get(key, {})
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
            return recorded_time
        cycle = self._grid.times.size * self.step
        return self._wall_start + (recorded_time - self.start + loops * cycle) / self._speed

    def _snapshot(self, target: Target, index: int, loops: int, now: float) -> LwsSnapshot | str:
        metrics = target.policy.spec.metrics
        cache_key = (
            target.key,
            metrics.engine,
            metrics.model_name,
            metrics.rate_window,
            ttft_quantile(target),
            index,
            loops,
        )
        cached = self._built.get(cache_key)
        if cached is not None and (
            not isinstance(cached, LwsSnapshot) or cached.observed_at == now
        ):
            return cached
        data = self.arrays(target)
        leaders: dict[str, dict[Signal, Sample]] = {}
        for row, pod in enumerate(data.pods):
            samples = {}
            for signal in LEADER_SIGNALS:
                value = data.values[signal][row, index]
                if not math.isnan(value):
                    stamp = self._to_wall(float(data.stamps[signal][row, index]), loops)
                    samples[signal] = Sample(float(value), stamp)
            if samples:
                leaders[pod] = samples
        aggregates = {}
        if not math.isnan(data.ttft[index]):
            aggregates[Signal.TTFT] = Sample(
                float(data.ttft[index]), self._to_wall(float(data.ttft_stamp[index]), loops)
            )
        if data.activation is not None and not math.isnan(data.activation[index]):
            stamp = self._to_wall(float(data.times[index]), loops)
            aggregates[Signal.ACTIVATION] = Sample(float(data.activation[index]), stamp)
        replicas = None
        if data.replicas_recorded:
            replicas = tuple(int(r[index]) for r in data.replicas)
        built = assemble(
            target.key,
            now,
            leaders,
            aggregates,
            None,
            replicas if replicas is None else (replicas[0], replicas[1], replicas[2]),
        )
        self._built[cache_key] = built
        return built

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
        self._built.clear()
