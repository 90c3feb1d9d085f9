"""A recording-shaped history made from a load curve, for tests and benchmarks.

Yields what ``MetricSource.history`` yields (``(t, SourceResult)``) for one LWS whose
``ready`` groups share a given total load: waiting requests, running requests, KV-cache
use and token rates, all proportional to the curve. Used where a real recording is not
the point (the speed benchmark, hand-computed golden cases).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsKey, LwsSnapshot, Sample
from autoscaler.sources.base import SourceResult


def daily_curve(steps: int, step: float, low: float, high: float, seed: int = 0) -> np.ndarray:
    """Load in groups' worth: a day/night sine between ``low`` and ``high`` plus 5% noise."""
    t = np.arange(steps) * step
    base = low + (high - low) * 0.5 * (1 - np.cos(2 * math.pi * t / 86_400))
    noise = np.random.default_rng(seed).normal(1.0, 0.05, steps)
    return np.clip(base * noise, 0.0, None)


def history_from_curve(
    key: LwsKey,
    start: float,
    step: float,
    queue_total: np.ndarray,
    kv_units: np.ndarray | None = None,
    tokens_total: np.ndarray | None = None,
    ready: int = 4,
) -> Iterator[tuple[float, SourceResult]]:
    """Per step: ``ready`` leaders splitting the totals evenly; a NaN total = a gap in the
    recording (the source returns an error for the LWS at that step)."""
    groups = tuple(GroupStatus(i, start - 86_400, start - 86_400) for i in range(ready))
    for i, queue in enumerate(queue_total.tolist()):
        now = start + i * step
        if math.isnan(queue):
            yield now, SourceResult(errors={key: "no data in the recording"})
            continue
        per: dict[Signal, Sample] = {
            Signal.QUEUE_DEPTH: Sample(queue / ready, now - 5),
            Signal.RUNNING: Sample(2.0 * queue / ready, now - 5),
        }
        if kv_units is not None:
            per[Signal.KV_CACHE] = Sample(min(1.0, float(kv_units[i]) / ready), now - 5)
        if tokens_total is not None:
            per[Signal.GENERATION_TOKENS] = Sample(float(tokens_total[i]) / ready, now - 5)
            per[Signal.PROMPT_TOKENS] = Sample(0.0, now - 5)
        leaders = {str(g): per for g in range(ready)}
        snapshot = LwsSnapshot(key, now, ready, ready, ready, groups, leaders)
        yield now, SourceResult(snapshots={key: snapshot})
