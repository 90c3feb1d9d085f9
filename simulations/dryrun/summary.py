"""The figures a reviewer compares, computed over a whole timeline with numpy.

*Demand* is the load in groups, from the recorded totals and one yardstick policy's
per-group targets (the largest over its signals): 24 waiting requests with
``targetPerGroup: 8`` is 3 groups' worth; 1.8 groups' worth of KV cache at target 0.75 is
2.4 groups. With ``--compare`` both policies are measured with the first policy's
yardstick, so a looser target cannot hide load. TTFT is a symptom, not a load, and is
left out of demand.

- under-provisioned: demand above the ready groups (load above ready capacity);
- wrong size: ready groups differ from the demand rounded up and clamped to the policy's
  bounds (0 while the HPA holds the LWS at zero with no demand);
- replica-hours count groups *created* (they hold their GPUs while starting).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from autoscaler.errors import one_line
from autoscaler.policy.model import (
    KvCacheSignal,
    QueueDepthSignal,
    ScalingPolicy,
    TokenThroughputSignal,
)
from autoscaler.signals import Signal
from autoscaler.sources.families import LEADER_SIGNALS
from simulations.dryrun.load import RecordedLoad
from simulations.dryrun.loop import Timeline

_EPS = 1e-9


def signal_demands(load: RecordedLoad, yardstick: ScalingPolicy) -> list[tuple[str, np.ndarray]]:
    """Per load signal of the yardstick: (name, load in groups per step, NaN = no data)."""
    col = {signal: LEADER_SIGNALS.index(signal) for signal in LEADER_SIGNALS}
    parts: list[tuple[str, np.ndarray]] = []
    for spec in yardstick.spec.signals:
        if isinstance(spec, QueueDepthSignal):
            queue = load.load[:, col[Signal.QUEUE_DEPTH]]
            parts.append(("queueDepth", queue / spec.target_per_group))
        elif isinstance(spec, KvCacheSignal):
            parts.append(("kvCacheUtilization", load.load[:, col[Signal.KV_CACHE]] / spec.target))
        elif isinstance(spec, TokenThroughputSignal):
            prompt = load.load[:, col[Signal.PROMPT_TOKENS]]
            generation = load.load[:, col[Signal.GENERATION_TOKENS]]
            tokens = {"prompt": prompt, "generation": generation, "total": prompt + generation}
            capacity = spec.capacity_per_group * spec.target_utilization
            parts.append((f"tokens/{spec.tokens}", tokens[spec.tokens] / capacity))
    return parts


def demand_groups(load: RecordedLoad, yardstick: ScalingPolicy) -> np.ndarray:
    """Per-step load in groups: the largest over the yardstick's load signals (NaN where
    none has data)."""
    parts = [curve for _, curve in signal_demands(load, yardstick)]
    out = np.full(load.steps, np.nan)
    if not parts:
        return out
    stacked = np.vstack(parts)
    has = ~np.all(np.isnan(stacked), axis=0)
    out[has] = np.nanmax(stacked[:, has], axis=0)
    return out


def _longest_run_seconds(mask: np.ndarray, dt: np.ndarray) -> float:
    """Seconds of the longest run of True, each step lasting its ``dt``: with steps of
    15, 3600, 15 and 15 s, [T T F T] is 3615 s (steps times the median step read 30)."""
    if not mask.any():
        return 0.0
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(padded))
    elapsed = np.concatenate(([0.0], np.cumsum(dt)))
    return float((elapsed[edges[1::2]] - elapsed[edges[::2]]).max())


@dataclass(frozen=True)
class Summary:
    policy: str
    target: str
    start: float
    end: float
    steps: int
    step_seconds: float
    replica_hours: float
    gpu_hours: float | None
    underprovisioned_seconds: float
    underprovisioned_fraction: float
    scale_ups: int
    scale_downs: int
    wrong_size_seconds: float
    longest_wrong_size_seconds: float
    zero_seconds: float
    times_to_zero: int
    no_recommendation_seconds: float
    mean_ready: float
    max_created: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(timeline: Timeline, demand: np.ndarray) -> Summary:
    policy = timeline.policy
    times = timeline.times
    n = len(times)
    # Each step stands for the time until the next one (the last: the median step, or
    # with a single step the recording's own).
    step = float(np.median(np.diff(times))) if n > 1 else timeline.step_seconds
    dt = np.append(np.diff(times), step) if n else np.zeros(0)
    created = timeline.created.astype(float)
    ready = timeline.ready
    replica_hours = float((created * dt).sum() / 3600)
    gpus = policy.spec.gpus_per_group
    known = ~np.isnan(demand)
    under = known & (demand > ready + _EPS)
    bounds = policy.spec.replicas
    floor = 0 if policy.spec.scale_to_zero.enabled else bounds.min
    right = np.clip(np.ceil(np.nan_to_num(demand) - _EPS), floor, bounds.max)
    wrong = known & (ready != right)
    spec = timeline.hpa_replicas
    at_zero = spec == 0
    entered_zero = int(np.count_nonzero(at_zero[1:] & ~at_zero[:-1])) if n > 1 else 0
    total = float(dt.sum())
    return Summary(
        policy=policy.name,
        target=f"{policy.spec.target.namespace}/{policy.spec.target.name}",
        start=float(times[0]) if n else math.nan,
        end=float(times[-1]) if n else math.nan,
        steps=n,
        step_seconds=step,
        replica_hours=round(replica_hours, 4),
        gpu_hours=None if gpus is None else round(replica_hours * gpus, 4),
        underprovisioned_seconds=float(dt[under].sum()),
        underprovisioned_fraction=round(float(dt[under].sum()) / total, 6) if total else 0.0,
        scale_ups=timeline.scale_ups,
        scale_downs=timeline.scale_downs,
        wrong_size_seconds=float(dt[wrong].sum()),
        longest_wrong_size_seconds=_longest_run_seconds(wrong, dt),
        zero_seconds=float(dt[at_zero].sum()),
        times_to_zero=entered_zero,
        no_recommendation_seconds=float(dt[np.isnan(timeline.recommendation)].sum()),
        mean_ready=round(float(ready.mean()), 4) if n else 0.0,
        max_created=int(timeline.created.max()) if n else 0,
    )


@dataclass(frozen=True)
class Margins:
    """How much worse than the baseline a policy may be before ``--check`` fails."""

    replica_hours_percent: float = 10.0
    underprovisioned_seconds: float = 300.0
    longest_wrong_size_seconds: float = 600.0
    scale_events_percent: float = 50.0


CHECKED_FIGURES = (
    "replica_hours",
    "underprovisioned_seconds",
    "longest_wrong_size_seconds",
    "scale_ups",
    "scale_downs",
)
"""The figures :func:`regressions` compares; a baseline entry must hold each as a number."""


def figure_problem(value: object) -> str | None:
    """Why ``value`` is no figure to compare, or None: a finite number, not true/false
    (``True`` is an int to Python) and not NaN (every comparison with NaN is False, so a
    NaN baseline would pass any run as no regression)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {one_line(json.dumps(value, default=repr), 60)}"
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int past the float range
        finite = False
    return None if finite else f"must be a finite number, got {one_line(repr(value), 60)}"


def regressions(new: dict[str, object], base: dict[str, object], margins: Margins) -> list[str]:
    """Human-readable lines, one per figure worse than ``base`` beyond its margin; a
    ValueError naming the figure when one of :data:`CHECKED_FIGURES` is not a finite
    number in either."""

    def num(d: dict[str, object], key: str) -> float:
        value = d.get(key)
        problem = figure_problem(value)
        if problem is not None:
            whose = "baseline" if d is base else "new"
            raise ValueError(f"{whose} summary: {key}: {problem}")
        assert isinstance(value, int | float)
        return float(value)

    problems = []
    hours, base_hours = num(new, "replica_hours"), num(base, "replica_hours")
    if hours > base_hours * (1 + margins.replica_hours_percent / 100) + _EPS:
        problems.append(
            f"replica-hours {hours:.2f} > baseline {base_hours:.2f} "
            f"+{margins.replica_hours_percent:g}%"
        )
    for key, margin, label in (
        ("underprovisioned_seconds", margins.underprovisioned_seconds, "under-provisioned"),
        ("longest_wrong_size_seconds", margins.longest_wrong_size_seconds, "longest wrong size"),
    ):
        value, baseline = num(new, key), num(base, key)
        if value > baseline + margin + _EPS:
            problems.append(f"{label} {value:.0f}s > baseline {baseline:.0f}s + {margin:g}s")
    events = num(new, "scale_ups") + num(new, "scale_downs")
    base_events = num(base, "scale_ups") + num(base, "scale_downs")
    if events > max(base_events * (1 + margins.scale_events_percent / 100), base_events + 2):
        problems.append(
            f"{events:.0f} scale events > baseline {base_events:.0f} "
            f"+{margins.scale_events_percent:g}%"
        )
    return problems
