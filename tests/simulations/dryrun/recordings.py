"""Small recordings written in the real format, for dry-run tests: per-pod gauges, replica
counts and an activation series given as arrays over steps (NaN = no point)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from autoscaler.snapshot import LwsKey
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording_format import (
    ACTIVATION_SERIES,
    REPLICA_SERIES,
    RecordedTarget,
    Recording,
    Series,
    save_recording,
)

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "policies"
START, STEP = 1_767_225_600.0, 15.0
LLAMA_70B = LwsKey("inference", "llama-70b")
DEV_8B = LwsKey("dev", "llama-8b-dev")
WAITING = "vllm:num_requests_waiting"

PodSeries = Mapping[str, Mapping[str, np.ndarray]]


def _points(times: np.ndarray, values: np.ndarray) -> list[tuple[float, float]]:
    pairs = zip(times.tolist(), np.asarray(values, dtype=float).tolist(), strict=True)
    return [(t, v) for t, v in pairs if not math.isnan(v)]


def write_recording(
    path: Path,
    key: LwsKey,
    steps: int,
    pods: PodSeries,
    replicas: Sequence[np.ndarray] | None = None,
    activation: np.ndarray | None = None,
    start: float = START,
    step: float = STEP,
) -> Path:
    """``pods``: {pod: {metric: values}}; ``replicas``: (spec, status, ready) values."""
    labels = LabelNames()
    times = start + np.arange(steps) * step
    lws = {labels.namespace: key.namespace, labels.lws: key.name}
    series = []
    for name, values in zip(REPLICA_SERIES.values(), replicas or (), strict=False):
        series.append(Series({"__name__": name, **lws}, _points(times, values)))
    if activation is not None:
        series.append(Series({"__name__": ACTIVATION_SERIES, **lws}, _points(times, activation)))
    for pod, metrics in pods.items():
        for name, values in metrics.items():
            metric = {"__name__": name, **lws, labels.pod: pod}
            series.append(Series(metric, _points(times, values)))
    end = float(times[-1])
    recording = Recording(start, end, step, labels, (RecordedTarget(key),), series)
    return save_recording(recording, path)


def waiting_pods(count: int, values: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """``count`` leader pods, each with ``values`` waiting requests."""
    return {f"pod-{p}": {WAITING: values} for p in range(count)}
