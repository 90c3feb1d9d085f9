"""The recording's raw series on its step grid, and the vectorised rate they need.

:class:`Grid` puts every series of a :class:`~autoscaler.sources.recording_format.
Recording` on the step grid once (NaN where a series has no sample) and reduces one pod's
series per family with the rules of :mod:`autoscaler.sources.families`, so curl'ed
per-engine series and the recorder's per-pod series replay alike. Counters and histogram
buckets are rated per series, then summed (:meth:`Grid.family_rates`), as PromQL's
``sum(rate())``. :func:`window_rates` is PromQL's ``rate()`` on the grid (no
extrapolation). A grid is at most :data:`MAX_GRID_CELLS` steps x series, and a bucket
bound that is not a number is a :class:`~autoscaler.errors.RecordingError`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from autoscaler.errors import RecordingError
from autoscaler.signals import ServingEngine, Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.families import Reduction, copies_labels, family
from autoscaler.sources.recording_format import ACTIVATION_SERIES, REPLICA_SERIES, Recording
from autoscaler.sources.recording_points import PointArrays

Array = NDArray[np.float64]


def reduce_arrays(arrays: list[Array], reduction: Reduction) -> Array:
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
    last = np.searchsorted(t_valid, times, side="right") - 1
    first = np.searchsorted(t_valid, times - window - 1e-9, side="left")
    ok = (last >= 0) & (last > first)
    lo, hi = first[ok], last[ok]
    # A counter recorded as +Inf or 1e308 makes inf - inf (NaN: unusable, as PromQL's
    # rate() gives it) or an overflow: IEEE results, without numpy's RuntimeWarning,
    # which simulate printed on stderr.
    with np.errstate(invalid="ignore", over="ignore"):
        adjusted = _reset_adjusted(counter[valid])
        rate[ok] = (adjusted[hi] - adjusted[lo]) / (t_valid[hi] - t_valid[lo])
    stamp[ok] = t_valid[hi]
    return rate, stamp


MAX_GRID_CELLS = 64 * 2**20
"""Steps x series a grid may hold: each series is one float64 per step, so 64 Mi cells
are 512 MiB (a week at 15 s, 40,320 steps, with 1,664 series; a day with 11,650).
:data:`~autoscaler.sources.recording_format.MAX_GRID_STEPS` alone let a few-KB file of
20 one-sample series over 5,000,000 steps ask for 800 MiB."""


class Grid:
    """The recording's raw series, reduced per pod, on its step grid."""

    def __init__(self, recording: Recording, origin: str = "the recording") -> None:
        """``origin`` names the recording in errors (its path)."""
        self.recording = recording
        self.labels = recording.labels
        count = round((recording.end - recording.start) / recording.step) + 1
        if count * len(recording.series) > MAX_GRID_CELLS:
            raise RecordingError(
                f"{origin}: {len(recording.series):,} series x {count:,} steps is over "
                f"{MAX_GRID_CELLS:,} grid cells ({MAX_GRID_CELLS * 8 >> 20} MiB): record a "
                "shorter span, a longer step, or fewer LWS"
            )
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
            le = _bound(metric, origin) if "le" in metric else None
            self.raw[(key, pod)][name].append((metric, le, array))

    def _on_grid(self, points: Sequence[tuple[float, float]]) -> Array:
        array = np.full(self.times.shape, np.nan)
        if not points:
            return array
        if isinstance(points, PointArrays):  # read from a file: arrays already
            times, values = points.times, points.values
        else:
            data = np.asarray(points, dtype=float)
            times, values = data[:, 0], data[:, 1]
        index = np.rint((times - self.recording.start) / self.recording.step)
        inside = (index >= 0) & (index < array.size)
        array[index[inside].astype(int)] = values[inside]
        return array

    def pods(self, key: LwsKey) -> list[str]:
        return sorted(pod for k, pod in self.raw if k == key)

    def family_array(
        self, key: LwsKey, pod: str, engine: ServingEngine, signal: Signal, model: str | None
    ) -> dict[float | None, Array]:
        """One pod's reduced raw array(s) for a signal: {None: array} or {le: array}."""
        fam = family(engine, signal)
        found: dict[float | None, Array] = {}
        for by_le in self._series(key, pod, engine, signal, model):
            for le, arrays in by_le.items():
                found[le] = _first_present(found.get(le), reduce_arrays(arrays, fam.reduction))
        return found

    def family_rates(
        self,
        key: LwsKey,
        pod: str,
        engine: ServingEngine,
        signal: Signal,
        model: str | None,
        window: float,
    ) -> dict[float | None, tuple[Array, Array]]:
        """One pod's counter (or bucket) rates over ``window`` and their stamps, by ``le``:
        each series' rate, then the sum, as PromQL's ``sum(rate())``. Summing counters
        first read one engine's restart as a reset of the sum: engines at 10,006,000 and
        6,000 tokens, one restarting at 0, made a 10,006,000-token "increase" (166,917
        tokens/s instead of 200)."""
        found: dict[float | None, tuple[Array, Array]] = {}
        for by_le in self._series(key, pod, engine, signal, model):
            for le, arrays in by_le.items():
                pairs = [window_rates(self.times, array, window) for array in arrays]
                rate = reduce_arrays([r for r, _ in pairs], Reduction.SUM)
                stamp = np.fmax.reduce(np.vstack([t for _, t in pairs]), axis=0)
                if le in found:
                    rate, stamp = (
                        _first_present(found[le][0], rate),
                        _first_present(found[le][1], stamp),
                    )
                found[le] = (rate, stamp)
        return found

    def _series(
        self, key: LwsKey, pod: str, engine: ServingEngine, signal: Signal, model: str | None
    ) -> list[dict[float | None, list[Array]]]:
        """Per candidate name, in order, the pod's distinct series by ``le`` (copies
        collapsed with max: a gauge's rank labels, SGLang's TP ranks repeating one value,
        and the scrape labels of a leader read by two jobs)."""
        fam = family(engine, signal)
        copies = copies_labels(engine, fam.kind)
        out = []
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
                        if k not in copies and k not in ("__name__", "le")
                    )
                )
                groups[(le, rest)].append(array)
            by_le: dict[float | None, list[Array]] = defaultdict(list)
            for (le, _), arrays in groups.items():
                by_le[le].append(np.fmax.reduce(np.vstack(arrays), axis=0))
            out.append(by_le)
        return out


def _first_present(earlier: Array | None, later: Array) -> Array:
    """The earlier candidate name wins where present (vLLM's two KV-cache generations)."""
    return later if earlier is None else np.where(np.isnan(earlier), later, earlier)


def _bound(metric: dict[str, str], origin: str) -> float:
    """A histogram bucket's ``le``, or a RecordingError naming the series."""
    try:
        return float(metric["le"])
    except ValueError:
        labels = ", ".join(f"{k}={v!r}" for k, v in metric.items() if k != "__name__")
        raise RecordingError(
            f"{origin}: series {metric.get('__name__', '')}{{{labels}}} has a bucket bound "
            f"that is not a number: le={metric['le']!r}"
        ) from None
