"""Prometheus answers parsed for :mod:`autoscaler.sources.prometheus`: result items
checked and flattened to points (a malformed series is a :class:`SourceUnavailableError`
for its query, never an ``AttributeError`` later), and the per-evaluation-time
:class:`Frame` the source fills from them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from autoscaler.errors import SourceUnavailableError
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, Sample

Json = dict[str, Any]
Points = list[tuple[dict[str, str], float, float]]  # (labels, time, value)


def parse_points(items: Iterable[Json]) -> Points:
    """Instant-vector and matrix items flattened to (labels, time, value)."""
    out: Points = []
    try:
        for item in items:
            metric = item.get("metric") or {}
            # Read later with .get() and used in keys, outside this guard: a label value
            # that is a list or an object raised an unhashable TypeError out of the fetch.
            if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
                raise TypeError(f"a series' labels must be strings, got {metric!r:.80}")
            pairs = item["values"] if "values" in item else [item["value"]]
            for t, v in pairs:
                out.append((metric, float(t), float(v)))
    # OverflowError: a time or value of hundreds of digits, which float() refuses.
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise SourceUnavailableError(f"Prometheus sent a malformed series: {exc!r}") from exc
    return out


class Frame:
    """Everything the queries said about one evaluation time."""

    def __init__(self) -> None:
        self.leaders: dict[LwsKey, dict[str, dict[Signal, Sample]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.aggregates: dict[LwsKey, dict[Signal, Sample]] = defaultdict(dict)
        self.series = 0


def merge_frames(frames: Mapping[float, Frame]) -> Frame:
    """One frame of every instant answer. They normally all carry ``t == now``, but a
    backend that stamps its evaluation time otherwise (1 s off for one query) would leave
    one frame per stamp; keeping only one dropped the other queries' signals silently.
    Where two frames hold the same signal, the later stamp wins."""
    whole = Frame()
    for t in sorted(frames):
        frame = frames[t]
        whole.series += frame.series
        for key, pods in frame.leaders.items():
            for pod, samples in pods.items():
                whole.leaders[key][pod].update(samples)
        for key, samples in frame.aggregates.items():
            whole.aggregates[key].update(samples)
    return whole


__all__ = ["Frame", "Points", "merge_frames", "parse_points"]
