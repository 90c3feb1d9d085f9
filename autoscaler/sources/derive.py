"""Rates and windowed quantiles from successive raw readings (direct scrape).

Counters are cumulative, so a rate needs two readings: the increase between the oldest
and newest reading inside the window, divided by the time between them. A counter that
went *down* was reset (the pod or engine restarted); as in PromQL, the increase across a
reset is the new value, because the counter restarted from zero. Worked example:
readings 1000, 1300, 40, 100 over 30 s increase by 300 + 40 + 60 = 400, i.e. 13.3/s,
where a naive ``(100 - 1000) / 30`` would be -30/s.

For a counter that grows linearly this equals PromQL's ``rate()`` exactly (Prometheus
extrapolates to the window edges, which changes nothing for a straight line), which is
what lets the three sources agree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence

from autoscaler.signals import Signal
from autoscaler.snapshot import Sample
from autoscaler.sources.histogram import bucket_quantile

# Per reading: each latency signal's cumulative histogram {le: count}.
Histograms = Mapping[Signal, Mapping[float, float]]


def increase(values: Sequence[float]) -> float:
    """Total increase of a counter over successive values, counting resets as restarts."""
    total = 0.0
    for before, after in itertools.pairwise(values):
        total += after - before if after >= before else after
    return total


def _in_window(times: Sequence[float], now: float, window: float) -> list[int]:
    return [i for i, t in enumerate(times) if now - window <= t <= now]


def window_rate(
    times: Sequence[float],
    values: Sequence[float],
    now: float,
    window: float,
    read_times: Sequence[float] | None = None,
) -> float | None:
    """Per-second rate over the readings in ``[now - window, now]``; None with fewer than
    two. The span is between the readings' ``read_times`` when given (when the pages
    really came), else between their ``times``."""
    index = _in_window(times, now, window)
    if len(index) < 2:
        return None
    stamps = times if read_times is None else read_times
    span = stamps[index[-1]] - stamps[index[0]]
    if span <= 0:
        return None
    return increase([values[i] for i in index]) / span


def window_bucket_rates(
    times: Sequence[float],
    buckets: Sequence[Mapping[float, float]],
    now: float,
    window: float,
) -> dict[float, float]:
    """Per-bucket rates of a cumulative histogram over the window (bounds seen in every reading)."""
    index = _in_window(times, now, window)
    if len(index) < 2:
        return {}
    span = times[index[-1]] - times[index[0]]
    if span <= 0:
        return {}
    bounds = set(buckets[index[0]])
    for i in index[1:]:
        bounds &= set(buckets[i])
    return {le: increase([buckets[i][le] for i in index]) / span for le in bounds}


def summed_quantile(quantile: float, per_leader: Sequence[Mapping[float, float]]) -> float | None:
    """The quantile of the bucket rates summed over leaders (``sum by (le)`` in PromQL)."""
    total: dict[float, float] = {}
    for buckets in per_leader:
        for le, rate in buckets.items():
            total[le] = total.get(le, 0.0) + rate
    return bucket_quantile(quantile, total)


def window_quantile(
    quantile: float,
    histories: Iterable[Sequence[tuple[float, Mapping[float, float]]]],
    now: float,
    window: float,
) -> tuple[float, float] | None:
    """One histogram's quantile over the window, summed over leaders, and the time of the
    newest reading behind it; None when no leader has two readings in the window.

    ``histories`` holds, per leader, its (time, cumulative buckets) readings in time order.
    """
    per_leader: list[Mapping[float, float]] = []
    newest = -math.inf
    for history in histories:
        rates = window_bucket_rates([t for t, _ in history], [b for _, b in history], now, window)
        if rates:
            per_leader.append(rates)
            newest = max(newest, history[-1][0])
    value = summed_quantile(quantile, per_leader)
    return None if value is None else (value, newest)


def latency_samples(
    quantiles: Mapping[Signal, float],
    histories: Sequence[Sequence[tuple[float, Histograms]]],
    now: float,
    window: float,
) -> dict[Signal, Sample]:
    """Each latency signal's quantile over the window, as the LWS-wide aggregate sample.

    ``histories`` holds, per leader, its (time, histograms) readings in time order; a
    reading without a signal's histogram is no reading of it (not an empty one).
    """
    samples: dict[Signal, Sample] = {}
    for signal, quantile in quantiles.items():
        per_leader = [[(t, h[signal]) for t, h in history if signal in h] for history in histories]
        found = window_quantile(quantile, per_leader, now, window)
        if found is not None:
            samples[signal] = Sample(*found)
    return samples
