"""A leader pod's history of raw readings, and the snapshot derived from it.

Shared by the direct-scrape source (:mod:`autoscaler.sources.scrape`), which adds a
reading per pod at each fetch, and the closed-loop benchmark (``simulations.metrics``),
which adds the readings of its simulated leaders. Gauges are the newest reading; token
rates and latency quantiles come from the readings inside the policy's ``rateWindow``
(:mod:`autoscaler.sources.derive`), per data-parallel engine, then summed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.signals import MetricKind, Signal
from autoscaler.snapshot import LwsSnapshot, Sample
from autoscaler.sources.assemble import assemble
from autoscaler.sources.base import Target
from autoscaler.sources.cluster import LwsState
from autoscaler.sources.derive import Histograms, latency_samples, window_rate
from autoscaler.sources.exposition import PartKey, RawReading
from autoscaler.sources.families import LEADER_SIGNALS, family
from autoscaler.sources.promql import latency_quantiles


@dataclass
class PodHistory:
    """One leader pod's readings over the last ``keep`` seconds, in time order.

    ``times`` are the loop's ticks (windows and freshness are read against them);
    ``read_times`` when each page really came, on a monotonic clock, for the time
    between two readings. A rate over ticks is off by however much the fetch started
    late: a 3 s cluster read in one cycle of a 60 s window made 100 tokens/s read 105,
    then 95; an overrun cycle (14 s late), 77 and 123.
    """

    times: deque[float] = field(default_factory=deque)
    readings: deque[RawReading] = field(default_factory=deque)
    read_times: deque[float] = field(default_factory=deque)

    def add(
        self, at: float, reading: RawReading, keep: float, read_at: float | None = None
    ) -> None:
        """Add a reading at tick ``at``; ``read_at`` defaults to ``at`` (a simulation,
        whose pages come exactly at the tick)."""
        read_at = at if read_at is None else read_at
        if self.times and (at <= self.times[-1] or read_at <= self.read_times[-1]):
            # The clock stepped back (or stood still): the window is no longer in order.
            self.times.clear()
            self.readings.clear()
            self.read_times.clear()
        self.times.append(at)
        self.readings.append(reading)
        self.read_times.append(read_at)
        while self.times and self.times[0] < at - keep:
            self.times.popleft()
            self.readings.popleft()
            self.read_times.popleft()


def leader_samples(
    history: PodHistory, signals: Sequence[Signal], target: Target, now: float
) -> dict[Signal, Sample]:
    """The per-leader samples of one pod from its reading history."""
    samples: dict[Signal, Sample] = {}
    if not history.times:
        return samples
    engine = target.policy.spec.metrics.engine
    window = target.policy.spec.metrics.rate_window
    times = list(history.times)
    for signal in signals:
        present = [
            (t, r.values[signal])
            for t, r in zip(times, history.readings, strict=True)
            if signal in r.values
        ]
        if not present:
            continue
        if family(engine, signal).kind is MetricKind.GAUGE:
            samples[signal] = Sample(present[-1][1], present[-1][0])
            continue
        rate = _parts_rate(history, signal, now, window)
        if rate is not None:
            samples[signal] = Sample(rate, present[-1][0])
    return samples


def _parts_rate(history: PodHistory, signal: Signal, now: float, window: float) -> float | None:
    """The sum of each part's (data-parallel engine's) rate over the window.

    Summing first and then taking the rate would read one engine's reset as a reset of
    the sum: two engines at 100/s, 10,000 tokens each, one restarting, count the other's
    10,000 as new. Per part, the reset is that engine's alone.
    """
    series: dict[PartKey, tuple[list[float], list[float], list[float]]] = {}
    readings = zip(history.times, history.readings, history.read_times, strict=True)
    for at, reading, read_at in readings:
        for part, value in reading.counter_parts.get(signal, {}).items():
            times, values, reads = series.setdefault(part, ([], [], []))
            times.append(at)
            values.append(value)
            reads.append(read_at)
    rates = [window_rate(t, v, now, window, reads) for t, v, reads in series.values()]
    known = [rate for rate in rates if rate is not None]
    return math.fsum(known) if known else None


def snapshot_from_histories(
    target: Target, pods: Mapping[str, PodHistory], now: float, state: LwsState | None
) -> LwsSnapshot | str:
    """``target``'s snapshot from its leaders' reading histories (or why there is none):
    gauges, per-engine rates and latency quantiles, merged with the LWS state. The
    closed-loop benchmark builds its snapshots here too (``simulations.metrics``)."""
    leaders = {p: leader_samples(h, LEADER_SIGNALS, target, now) for p, h in pods.items()}
    return assemble(target.key, now, leaders, _latencies(target, pods, now), state)


def _latencies(target: Target, pods: Mapping[str, PodHistory], now: float) -> dict[Signal, Sample]:
    # One history per (pod, part): bucket rates are summed over them anyway, and taken
    # per data-parallel engine an engine's reset is its own (see _parts_rate).
    histories: list[list[tuple[float, Histograms]]] = []
    for history in pods.values():
        by_part: dict[PartKey, list[tuple[float, Histograms]]] = {}
        for at, reading in zip(history.times, history.readings, strict=True):
            for part, histograms in reading.histogram_parts.items():
                by_part.setdefault(part, []).append((at, histograms))
        histories.extend(by_part.values())
    policy = target.policy
    return latency_samples(
        latency_quantiles(policy), histories, now, policy.spec.metrics.rate_window
    )
