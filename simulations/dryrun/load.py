"""The recorded load, and how it is spread over the simulated groups (open loop).

A recording says what each leader reported while the LWS ran the *recorded* number of
groups. The dry-run runs a different number, so it keeps the recorded **total** load and
spreads it evenly over the simulated ready groups:

- summed signals (waiting and running requests, prompt and generation tokens/s): the sum
  over leaders is conserved. 3 recorded groups waiting 12 requests in all, simulated with
  4 ready groups -> each simulated leader reports 3;
- KV-cache utilisation: the busy fraction times the ready groups ("groups' worth of KV
  cache in use") is conserved and capped at 1.0 per group. 0.6 on 2 groups, simulated on
  3 -> 0.4 each; simulated on 1 -> min(1.2, 1.0) = 1.0 (saturated);
- LWS-wide aggregates (the latency quantiles, the activation signal) are replayed as recorded.

A ready group whose leader did not report is assumed to carry the average load (as the
engine assumes). This is an open-loop approximation: the load does not react to the
simulated capacity (a real queue would grow while under-provisioned, and TTFT would
change), so results are comparative, not predictions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from autoscaler.policy.model import LATENCY_SIGNALS
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.base import SourceResult
from autoscaler.sources.families import LEADER_SIGNALS
from simulations.dryrun.frozen import sample

AGGREGATE_SIGNALS: tuple[Signal, ...] = (*LATENCY_SIGNALS, Signal.ACTIVATION)


@dataclass(frozen=True)
class RecordedLoad:
    """One LWS's recording as arrays over steps (index i = ``times[i]``).

    - ``present``: a snapshot exists for the LWS at that step (no source error);
    - ``load[i, s]``: total of leader signal ``LEADER_SIGNALS[s]`` over the recorded ready
      groups (KV: groups' worth of cache in use); NaN = no leader reported it;
    - ``load_ts[i, s]``: the oldest timestamp among the samples behind that total;
    - ``aggregate[i, a]`` / ``aggregate_ts``: ``AGGREGATE_SIGNALS`` as recorded;
    - ``spec``/``ready``: the recorded replica counts (for comparison plots);
    - ``step``: the recording's step, when known (what a one-step recording's step is).
    """

    key: LwsKey
    times: np.ndarray
    present: np.ndarray
    load: np.ndarray
    load_ts: np.ndarray
    aggregate: np.ndarray
    aggregate_ts: np.ndarray
    spec: np.ndarray
    ready: np.ndarray
    step: float | None = None

    @property
    def steps(self) -> int:
        return len(self.times)

    @property
    def step_seconds(self) -> float:
        """The median step; with a single step, the recording's (15 s when unknown)."""
        if len(self.times) > 1:
            return float(np.median(np.diff(self.times)))
        return 15.0 if self.step is None else self.step


def _valid(sample: Sample | None) -> bool:
    return sample is not None and math.isfinite(sample.value) and sample.value >= 0


def _row(snapshot: LwsSnapshot) -> tuple[list[float], list[float]]:
    totals, oldest = [math.nan] * len(LEADER_SIGNALS), [math.nan] * len(LEADER_SIGNALS)
    for s, signal in enumerate(LEADER_SIGNALS):
        total, reporting, ts = 0.0, 0, math.inf
        for samples in snapshot.leaders.values():
            sample = samples.get(signal)
            if sample is not None and _valid(sample):
                total += sample.value
                reporting += 1
                ts = min(ts, sample.timestamp)
        if reporting:
            # Ready groups that did not report carry the average of those that did.
            totals[s] = total * max(snapshot.ready_replicas, reporting) / reporting
            oldest[s] = ts
    return totals, oldest


def collect(
    key: LwsKey, history: Iterable[tuple[float, SourceResult]], step: float | None = None
) -> RecordedLoad:
    """Turn ``MetricSource.history`` output into arrays for one LWS (``step``: the
    history's step, for :attr:`RecordedLoad.step`)."""
    times: list[float] = []
    present: list[bool] = []
    loads: list[list[float]] = []
    load_ts: list[list[float]] = []
    aggs: list[list[float]] = []
    agg_ts: list[list[float]] = []
    spec: list[float] = []
    ready: list[float] = []
    blank = [math.nan] * len(LEADER_SIGNALS)
    for t, result in history:
        times.append(float(t))
        snapshot = result.snapshots.get(key) if key not in result.errors else None
        present.append(snapshot is not None)
        if snapshot is None:
            loads.append(blank)
            load_ts.append(blank)
            aggs.append([math.nan] * len(AGGREGATE_SIGNALS))
            agg_ts.append([math.nan] * len(AGGREGATE_SIGNALS))
            spec.append(math.nan)
            ready.append(math.nan)
            continue
        row, row_ts = _row(snapshot)
        loads.append(row)
        load_ts.append(row_ts)
        values, stamps = [], []
        for signal in AGGREGATE_SIGNALS:
            sample = snapshot.aggregates.get(signal)
            values.append(sample.value if sample is not None and _valid(sample) else math.nan)
            stamps.append(sample.timestamp if sample is not None and _valid(sample) else math.nan)
        aggs.append(values)
        agg_ts.append(stamps)
        spec.append(snapshot.spec_replicas)
        ready.append(snapshot.ready_replicas)
    width = len(LEADER_SIGNALS)
    return RecordedLoad(
        key=key,
        times=np.asarray(times, dtype=float),
        present=np.asarray(present, dtype=bool),
        load=np.asarray(loads, dtype=float).reshape(-1, width),
        load_ts=np.asarray(load_ts, dtype=float).reshape(-1, width),
        aggregate=np.asarray(aggs, dtype=float).reshape(-1, len(AGGREGATE_SIGNALS)),
        aggregate_ts=np.asarray(agg_ts, dtype=float).reshape(-1, len(AGGREGATE_SIGNALS)),
        spec=np.asarray(spec, dtype=float),
        ready=np.asarray(ready, dtype=float),
        step=step,
    )


class Redistributor:
    """Builds the per-leader samples the simulated ready groups report at each step.

    Precomputes Python-float rows once (numpy -> list) so the per-step work is a few
    divisions; a leader mapping is shared by every simulated leader of a step (they all
    report the same average) and reused while the inputs do not change. The ``*_view``
    methods give the same mappings read-only, for :mod:`.frozen` snapshots.
    """

    def __init__(self, load: RecordedLoad) -> None:
        self._load = load.load.tolist()
        self._ts = load.load_ts.tolist()
        # Most steps have no aggregate at all: they share one empty mapping.
        empty: dict[Signal, Sample] = {}
        self._aggregates = [empty] * load.steps
        for i in np.flatnonzero(~np.all(np.isnan(load.aggregate), axis=1)).tolist():
            self._aggregates[i] = {
                AGGREGATE_SIGNALS[a]: Sample(float(v), float(load.aggregate_ts[i, a]))
                for a, v in enumerate(load.aggregate[i].tolist())
                if not math.isnan(v)
            }
        views = {id(a): MappingProxyType(a) for a in self._aggregates}
        self._aggregate_views = [views[id(a)] for a in self._aggregates]
        self._last: tuple[int, int] | None = None
        self._samples: dict[Signal, Sample] = {}
        self._view: Mapping[Signal, Sample] = MappingProxyType(self._samples)

    def leader_samples(self, i: int, ready: int) -> dict[Signal, Sample]:
        """What each of ``ready`` simulated leaders reports at step ``i``."""
        if self._last == (i, ready):
            return self._samples
        samples: dict[Signal, Sample] = {}
        if ready > 0:
            for signal, total, ts in zip(LEADER_SIGNALS, self._load[i], self._ts[i], strict=True):
                if total != total:  # noqa: PLR0124  NaN: nobody reported it
                    continue
                value = total / ready
                if value > 1.0 and signal is Signal.KV_CACHE:
                    value = 1.0
                samples[signal] = sample(value, ts)
        self._last, self._samples = (i, ready), samples
        self._view = MappingProxyType(samples)
        return samples

    def leader_view(self, i: int, ready: int) -> Mapping[Signal, Sample]:
        """:meth:`leader_samples`, read-only."""
        if self._last != (i, ready):
            self.leader_samples(i, ready)
        return self._view

    def aggregates(self, i: int) -> dict[Signal, Sample]:
        """The LWS-wide samples of step ``i``, as recorded (do not mutate)."""
        return self._aggregates[i]

    def aggregate_view(self, i: int) -> Mapping[Signal, Sample]:
        """:meth:`aggregates`, read-only."""
        return self._aggregate_views[i]
