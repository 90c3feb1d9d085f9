"""Orchestration of ``lws-autoscaler simulate``: pair policies with the recording's LWS,
run each through :func:`~simulations.dryrun.loop.simulate`, write the outputs.

Policies whose target is not in the recording are skipped with a note; a ``--compare``
policy is paired with the primary policy of the same target (skipped with a note when
there is none) and reads its own load. Both are measured with the primary policy's
yardstick (see :mod:`.summary`). A policy that reads nothing from the recording is an
error, raised before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from autoscaler.errors import AutoscalerError
from autoscaler.policy.model import ScalingPolicy
from autoscaler.signals import ServingEngine
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.recording import RecordingSource
from simulations.dryrun.fast_load import can_read_fast, collect_recording
from simulations.dryrun.load import RecordedLoad, collect
from simulations.dryrun.loop import DryRunConfig, Timeline, simulate
from simulations.dryrun.report import (
    format_table,
    summary_document,
    write_summary,
    write_timeline,
)
from simulations.dryrun.summary import Summary, demand_groups, summarize
from simulations.hpa import ControllerConfig, HpaConfig
from simulations.hpa.chart import chart_hpa_spec, load_hpa_spec
from simulations.lws_model import ColdStartModel

RunPlan = tuple[ScalingPolicy, RecordedLoad, DryRunConfig]
"""One simulation to run: the policy, its recorded load, its HPA and cold starts."""


@dataclass(frozen=True)
class RunOptions:
    out: Path
    hpa_file: Path | None = None
    tolerance_gate: bool = True
    cluster_tolerance: float = 0.1
    sync_period: float = 15.0
    cold_start: float | None = None
    cold_start_spread: float = 0.2
    seed: int = 0
    progress: TextIO | None = None
    plot: bool = True
    before_writing: Callable[[], object] | None = None
    """Called once everything is read and configured, before the first file is written
    (the CLI clears the previous outputs there, so a bad input leaves them as they were)."""


@dataclass
class RunResult:
    primary: list[Summary] = field(default_factory=list)
    compared: list[Summary] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    table: str = ""


def _key(policy: ScalingPolicy) -> LwsKey:
    return LwsKey(policy.spec.target.namespace, policy.spec.target.name)


def dry_run_config(policy: ScalingPolicy, options: RunOptions) -> DryRunConfig:
    spec = load_hpa_spec(options.hpa_file) if options.hpa_file else chart_hpa_spec(policy)
    controller = ControllerConfig(
        sync_period_seconds=options.sync_period,
        tolerance=options.cluster_tolerance,
        configurable_tolerance=options.tolerance_gate,
    )
    median = policy.spec.cold_start.expected if options.cold_start is None else options.cold_start
    return DryRunConfig(
        hpa=HpaConfig.from_spec(spec, controller),
        cold_start=ColdStartModel(median, options.cold_start_spread),
        seed=options.seed,
    )


def _progress(stream: TextIO | None, name: str) -> Any:
    if stream is None:
        return None

    def report(done: int, total: int) -> None:
        if total >= 2000:
            end = "\n" if done == total else "\r"
            stream.write(f"  {name}: {done}/{total} steps ({100 * done // total}%){end}")
            stream.flush()

    return report


def _load(source: RecordingSource, policy: ScalingPolicy, stream: TextIO | None) -> RecordedLoad:
    if stream is not None:
        stream.write(f"reading the recording for {policy.name} ({_key(policy)})\n")
    target = Target(policy)
    if can_read_fast(source, target):
        load = collect_recording(source, target)
    else:
        history = source.history([target], source.start, source.end, source.step)
        load = collect(_key(policy), history, source.step)
    if not (np.isfinite(load.load).any() or np.isfinite(load.aggregate).any()):
        # Nothing to replay would run as a clean, idle run with exit 0: say why instead.
        raise AutoscalerError(f"{policy.name}: {_nothing_read(source, target)}")
    return load


def _nothing_read(source: RecordingSource, target: Target) -> str:
    """Why the recording gives ``target`` no sample at any step: the source's own error
    for PromQL overrides, else the engine and model asked for (and those recorded)."""
    metrics = target.policy.spec.metrics
    if metrics.overrides:
        error = source.fetch([target], source.start).errors.get(target.key)
        if error:
            return f"nothing to replay: {error}"
    asked = (metrics.engine, metrics.model_name)
    found = f"no {_series_name(*asked)} series of {target.key} in the recording"
    held = {(t.engine, t.model_name) for t in source.recording.targets if t.key == target.key}
    if held and asked not in held:
        found += f" (recorded for {', '.join(sorted(_series_name(*h) for h in held))})"
    return f"nothing to replay: {found}"


def _series_name(engine: ServingEngine, model: str | None) -> str:
    return engine.value if model is None else f"{engine.value} model {model}"


def _partners(
    chosen: Sequence[ScalingPolicy],
    compare: Sequence[ScalingPolicy],
    recorded: set[LwsKey],
    stream: TextIO | None,
) -> dict[LwsKey, ScalingPolicy]:
    """The compared policy of each chosen primary's LWS (a policy set holds one per LWS);
    one with no primary to pair with is skipped with a note, like a skipped primary."""
    targets = {_key(p) for p in chosen}
    for policy in compare:
        key = _key(policy)
        if key not in targets and stream is not None:
            why = "is not in the recording" if key not in recorded else "has no --policies policy"
            stream.write(f"skipping --compare {policy.name}: {key} {why}\n")
    return {_key(p): p for p in compare if _key(p) in targets}


def output_patterns(policies: Sequence[ScalingPolicy]) -> list[str]:
    """The names run_simulation writes for ``policies`` (glob patterns): what a new run
    clears from --out first (:mod:`simulations.previous_outputs`). Timelines by their
    pattern, since a previous run's policies may have had other names."""
    pngs = dict.fromkeys(f"{k.namespace}_{k.name}.png" for k in map(_key, policies))
    return ["summary.json", "timeline-*.csv", *pngs]


def _assumptions(options: RunOptions, step: float) -> dict[str, Any]:
    return {
        "hpa": str(options.hpa_file) if options.hpa_file else "chart default",
        "hpaToleranceGate": options.tolerance_gate,
        "clusterTolerance": options.cluster_tolerance,
        "hpaSyncPeriodSeconds": options.sync_period,
        "coldStartMedianSeconds": options.cold_start or "policy coldStart.expected",
        "coldStartSpread": options.cold_start_spread,
        "seed": options.seed,
        "stepSeconds": step,
        "load": "open loop: recorded totals spread over the simulated ready groups",
    }


def run_simulation(
    source: RecordingSource,
    primary: Sequence[ScalingPolicy],
    compare: Sequence[ScalingPolicy] = (),
    options: RunOptions | None = None,
) -> RunResult:
    options = options or RunOptions(out=Path("simulation"))
    recorded = set(source.keys)
    chosen = [p for p in primary if _key(p) in recorded]
    stream = options.progress
    for policy in primary:
        if policy not in chosen and stream is not None:
            stream.write(f"skipping {policy.name}: {_key(policy)} is not in the recording\n")
    if not chosen:
        held = ", ".join(str(k) for k in sorted(recorded)) or "nothing"
        raise AutoscalerError(f"no policy targets an LWS of the recording (it holds {held})")
    partners = _partners(chosen, compare, recorded, stream)
    # Read every load and HPA spec first: what cannot be read fails before any write.
    planned: list[tuple[ScalingPolicy, RecordedLoad, list[RunPlan]]] = []
    for policy in chosen:
        load = _load(source, policy, stream)
        runs: list[RunPlan] = [(policy, load, dry_run_config(policy, options))]
        partner = partners.get(_key(policy))
        if partner is not None:
            # Its own load even with the same metrics: the latency quantiles and the wake
            # threshold (what is read from the recording) come from the rest of the policy.
            runs.append((partner, _load(source, partner, stream), dry_run_config(partner, options)))
        planned.append((policy, load, runs))
    if options.before_writing is not None:
        options.before_writing()
    options.out.mkdir(parents=True, exist_ok=True)
    result = RunResult()
    primary_labels = {policy.name for policy in chosen}
    for policy, load, runs in planned:
        demand = demand_groups(load, policy)
        timelines: list[Timeline] = []
        summaries: list[Summary] = []
        for number, (run_policy, run_load, config) in enumerate(runs):
            # A compared policy is usually an edited copy under the same name: its files
            # and figures get their own label, or they would overwrite the primary's.
            # The same for a compared policy named like another LWS's primary.
            label = run_policy.name
            if number and label in primary_labels:
                label = f"{label}.compare"
            timeline = simulate(run_policy, run_load, config, _progress(stream, label))
            summary = replace(summarize(timeline, demand), policy=label)
            timelines.append(timeline)
            summaries.append(summary)
            name = f"timeline-{label}.csv"
            result.files.append(write_timeline(options.out / name, timeline, run_load, demand))
        result.primary.append(summaries[0])
        result.compared.extend(summaries[1:])
        if options.plot:
            from simulations.dryrun.plot import draw

            png = options.out / f"{load.key.namespace}_{load.key.name}.png"
            result.files.append(draw(png, load, timelines, summaries, demand))
    every = [*result.primary, *result.compared]
    step = result.primary[0].step_seconds if result.primary else math.nan
    # Each LWS's demand is measured with its own primary policy's targets.
    yardsticks = {s.target: s.policy for s in result.primary}
    document = summary_document(every, yardsticks, _assumptions(options, step))
    if result.compared:
        document["compare"] = [s.policy for s in result.compared]
    result.files.append(write_summary(options.out / "summary.json", document))
    result.table = format_table(every)
    return result
