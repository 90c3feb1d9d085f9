"""Orchestration of ``lws-autoscaler simulate``: pair policies with the recording's LWS,
run each through :func:`~simulations.dryrun.loop.simulate`, write the outputs.

Policies whose target is not in the recording are skipped with a note; a ``--compare``
policy is paired with the primary policy of the same target. Both are measured with the
primary policy's yardstick (see :mod:`.summary`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from autoscaler.errors import AutoscalerError
from autoscaler.policy.model import ScalingPolicy
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
        return collect_recording(source, target)
    history = source.history([target], source.start, source.end, source.step)
    return collect(_key(policy), history)


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
    partners = {_key(p): p for p in compare}
    # Read every load and HPA spec first: what cannot be read fails before any write.
    planned: list[tuple[ScalingPolicy, RecordedLoad, list[RunPlan]]] = []
    for policy in chosen:
        load = _load(source, policy, stream)
        runs: list[RunPlan] = [(policy, load, dry_run_config(policy, options))]
        partner = partners.get(_key(policy))
        if partner is not None:
            partner_load = load if partner.spec.metrics == policy.spec.metrics else None
            run_load = partner_load or _load(source, partner, stream)
            runs.append((partner, run_load, dry_run_config(partner, options)))
        planned.append((policy, load, runs))
    if options.before_writing is not None:
        options.before_writing()
    options.out.mkdir(parents=True, exist_ok=True)
    result = RunResult()
    for policy, load, runs in planned:
        demand = demand_groups(load, policy)
        timelines: list[Timeline] = []
        summaries: list[Summary] = []
        for number, (run_policy, run_load, config) in enumerate(runs):
            # A compared policy is usually an edited copy under the same name: its files
            # and figures get their own label, or they would overwrite the primary's.
            label = run_policy.name
            if number and label == policy.name:
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
    document = summary_document(every, chosen[0].name, _assumptions(options, step))
    if result.compared:
        document["compare"] = [s.policy for s in result.compared]
    result.files.append(write_summary(options.out / "summary.json", document))
    result.table = format_table(every)
    return result
