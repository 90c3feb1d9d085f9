"""Every variant on every named trace through the closed loop, and the rule that chooses.

Each (variant, trace) pair is one run of :func:`simulations.closedloop.run` with the
engine on production snapshots (``Ours``), set up exactly as the benchmark sets up
ours: the same warm start and loop timing (:func:`simulations.bench.run_setup`) and
figures (:func:`simulations.bench_runs.summarise`). Runs are independent, so ``jobs`` > 1
spreads them over processes; each process reads a trace once.

The rule (``docs/engine.md``): a variant must reach the SLO target on every gate
trace; among those, the best attainment on the score trace wins (compared at 0.01%,
finer differences are noise), and the fewest GPU-hours over the gate and score traces
break ties. Without a score trace the fewest GPU-hours win.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulations.bench import BenchConfig, run_setup
from simulations.bench_runs import OURS, play, summarise
from simulations.profile import load_profile
from simulations.traces import Trace
from simulations.tune.traces import NamedTrace
from simulations.tune.variants import Variant
from simulations.workload import WorkloadOptions, load_workload

Progress = Callable[[str, float], None]
# Attainments closer than this are a tie (0.01%): the code trace moves by more between
# settings that change nothing it reacts to.
_TIE = 1e-4


@dataclass(frozen=True)
class TuningConfig:
    profile: str
    slo_queue_wait: float = 1.0
    slo_target: float = 0.99
    also_slo: tuple[float, ...] = ()
    seed: int = 0
    jobs: int = 1
    cold_start: float | None = None
    """Median cold start in seconds; None keeps the profile's."""


@dataclass(frozen=True)
class Roles:
    """Which trace plays which part in the rule; ``shown`` ones are only reported."""

    gates: tuple[str, ...]
    score: str | None
    shown: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        names = [*self.gates, *([self.score] if self.score else []), *self.shown]
        return tuple(dict.fromkeys(names))


@dataclass
class TuningResult:
    """``figures[variant][trace]``: the benchmark's figures of that run, plus
    ``slo_attainment_at`` for each ``also_slo``."""

    figures: dict[str, dict[str, dict[str, Any]]]
    failed_gates: dict[str, list[str]]
    chosen: str | None
    variants: list[Variant] = field(default_factory=list)


@functools.lru_cache(maxsize=4)
def _load(path: Path, options: WorkloadOptions) -> Trace:
    return load_workload(path, options)


def run_one(variant: Variant, trace: NamedTrace, config: TuningConfig) -> dict[str, Any]:
    """The figures of ``variant`` on ``trace`` (top level, so processes can run it)."""
    profile = load_profile(config.profile).with_cold_start(config.cold_start)
    arrivals = _load(trace.path, trace.options)
    bench = BenchConfig(config.slo_queue_wait, config.slo_target, config.seed)
    result, figures = play(OURS, run_setup(arrivals, profile, variant.policy, bench))
    figures["slo_attainment_at"] = {
        f"{s:g}": summarise(result, s)["slo_attainment"] for s in config.also_slo
    }
    return figures


def choose(
    figures: Mapping[str, Mapping[str, Mapping[str, Any]]], roles: Roles, target: float
) -> tuple[str | None, dict[str, list[str]]]:
    """(the winner by the rule or None, the gate traces each variant missed)."""
    failed = {
        name: [g for g in roles.gates if runs[g]["slo_attainment"] < target]
        for name, runs in figures.items()
    }
    passing = [name for name, missed in failed.items() if not missed]
    if not passing:
        return None, failed
    ranked = [*roles.gates, *([roles.score] if roles.score else [])]

    def cost(name: str) -> float:
        return sum(float(figures[name][t]["gpu_hours"]) for t in ranked)

    if roles.score is None:
        return min(passing, key=cost), failed
    score = roles.score
    best = max(float(figures[n][score]["slo_attainment"]) for n in passing)
    tied = [n for n in passing if float(figures[n][score]["slo_attainment"]) >= best - _TIE]
    return min(tied, key=cost), failed


def run_tuning(
    variants: Sequence[Variant],
    traces: Sequence[NamedTrace],
    roles: Roles,
    config: TuningConfig,
    progress: Progress | None = None,
) -> TuningResult:
    """Every variant on every trace (in trace order, so a process reuses its trace)."""
    jobs = [(v, t) for t in traces for v in variants]
    results: list[dict[str, Any]] = []

    def done(label: str) -> None:
        if progress is not None:
            progress(label, len(results) / len(jobs))

    if config.jobs <= 1:
        for variant, trace in jobs:
            results.append(run_one(variant, trace, config))
            done(f"{variant.name} @ {trace.name}")
    else:
        with ProcessPoolExecutor(config.jobs) as pool:
            futures = [pool.submit(run_one, v, t, config) for v, t in jobs]
            for (variant, trace), future in zip(jobs, futures, strict=True):
                results.append(future.result())
                done(f"{variant.name} @ {trace.name}")
    figures: dict[str, dict[str, dict[str, Any]]] = {v.name: {} for v in variants}
    for (variant, trace), figure in zip(jobs, results, strict=True):
        figures[variant.name][trace.name] = figure
    chosen, failed = choose(figures, roles, config.slo_target)
    return TuningResult(figures, failed, chosen, list(variants))
