"""``lws-autoscaler benchmark``: the closed-loop benchmark on a request trace.

Runs ours, the published recipes (as published and tuned with hindsight), static
provisioning and the oracle on the same seeded arrivals, and writes ``results.json``,
``meta.json``, ``results.md``, ``timeline.png``, ``tradeoff.png`` and ``decisions.csv``
(ours' decisions) to ``--out``. See ``docs/benchmark.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from autoscaler.cli.arg_types import (
    job_count,
    non_negative_float,
    positive_float,
    positive_int,
    writable_folder,
)
from autoscaler.cli.progress import with_progress
from autoscaler.cli.seed_options import add_seed_options, read_seeds, seed_of
from autoscaler.errors import AutoscalerError
from autoscaler.output_files import write_text
from autoscaler.policy.model import ScalingPolicy
from simulations.baselines.hpa_driven import engine_lag_problem
from simulations.bench import BenchConfig, goal_check, load_ours_policy, run_benchmark
from simulations.closedloop import LoopConfig
from simulations.previous_outputs import remove_previous
from simulations.profile import DEFAULT_PROFILE, ServingProfile, available_profiles, load_profile
from simulations.report import OUTPUT_FILES, markdown_table, write_outputs
from simulations.seeds import SeedsError, seed_row, seeds_markdown, verdict
from simulations.traces import FORMATS, Trace
from simulations.workload import WorkloadOptions, default_trace, load_workload


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="closed-loop benchmark of ours vs the published autoscaling recipes",
        description="Replay a request trace through a model of vLLM groups, scaled by "
        "lws-autoscaler and by the published recipes (seed HPA, KEDA, Knative KPA), "
        "tuned and untuned, plus static provisioning and an oracle. Writes results.json, "
        "meta.json, results.md, timeline.png, tradeoff.png and decisions.csv (ours' "
        "decisions, with the signal and rule behind each).",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        default=None,
        help="trace file (default: the Azure conversation trace)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="trace format (default: guessed from the suffix, and for a .csv from its first "
        "line: the Azure header or ServeGen rows)",
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        help=f"serving profile name or YAML path ({', '.join(available_profiles())})",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="policy for 'ours' (default: the profile's example policy)",
    )
    parser.add_argument(
        "--engine-lag",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="how long before each HPA sync ours' server decides: the age of the "
        "recommendation the HPA reads (a multiple of 0.5 below 15; default 0)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        dest="changes",
        help="change ours' policy for this run: PATH below spec, VALUE as YAML (e.g. "
        "'scaleDown.stabilizationWindow=5m'); repeatable",
    )
    parser.add_argument(
        "--rate-scale",
        type=positive_float,
        default=4.0,
        help="multiply the request rate, keeping the shape (default 4)",
    )
    parser.add_argument(
        "--time-compression",
        type=positive_float,
        default=1.0,
        help="divide every arrival time (ServeGen language/*: 14 days at 24 -> 14 hours)",
    )
    parser.add_argument(
        "--start", type=non_negative_float, default=0.0, help="skip the first SECONDS"
    )
    parser.add_argument(
        "--duration", type=positive_float, default=None, help="keep SECONDS of the trace"
    )
    parser.add_argument(
        "--cold-start",
        type=positive_float,  # as profiles and `tune` require
        default=None,
        help="median cold start in seconds (default: the profile's)",
    )
    parser.add_argument(
        "--slo-queue-wait",
        type=positive_float,
        default=1.0,
        help="queue-wait SLO in seconds (default 1)",
    )
    parser.add_argument(
        "--slo-target",
        type=positive_float,
        default=0.99,
        help="fraction of requests that must meet it (default 0.99)",
    )
    parser.add_argument(
        "--servegen-category",
        default="reason/deepseek-r1",
        help="ServeGen client category (default reason/deepseek-r1)",
    )
    parser.add_argument(
        "--servegen-clients",
        type=positive_int,
        default=None,
        help="only the first N ServeGen clients",
    )
    parser.add_argument(
        "--lengths",
        type=Path,
        default=None,
        help="an Azure-format request-level trace giving ServeGen requests their token "
        "lengths (default: the conversation trace)",
    )
    add_seed_options(
        parser,
        "run the whole benchmark once per seed (e.g. 0-4 or 0,3,7) into OUT/seed-N, "
        "and summarise in OUT/seeds.json and OUT/seeds.md",
    )
    parser.add_argument(
        "--jobs",
        type=job_count,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="runs at once, in processes; the figures do not depend on it "
        "(default: one per core, at most 4; at most 4 x the cores, and no more "
        "processes than runs are started)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("benchmark-out"),
        help=(
            "where results.json, meta.json, results.md, timeline.png, tradeoff.png and "
            "decisions.csv go (default benchmark-out); a run first removes the files of "
            "these names, seeds.json, seeds.md and those in seed-N/ left by a previous "
            "run, and nothing else"
        ),
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


class BenchmarkOptionsError(AutoscalerError):
    """Options that cannot run; the CLI prints them and exits 2, as for any usage error."""


def _check(args: argparse.Namespace) -> tuple[int, ...] | None:
    """The seeds to run (None: the single ``--seed``); every bad option at once."""
    problems = []
    if not 0 < args.slo_target <= 1:
        problems.append("--slo-target must be in (0, 1]")
    lag_problem = engine_lag_problem(args.engine_lag)
    if lag_problem:
        problems.append(f"--engine-lag {lag_problem}")
    seeds = None
    try:
        seeds = read_seeds(args)
    except SeedsError as err:
        problems.append(str(err))
    if problems:
        raise BenchmarkOptionsError("; ".join(problems))
    return seeds


def run(args: argparse.Namespace) -> int:
    seeds = _check(args)
    writable_folder(args.out)
    profile = load_profile(args.profile).with_cold_start(args.cold_start)
    policy = load_ours_policy(profile, args.policy, args.changes)
    # Every seed's arrivals before the previous outputs go: a trace that cannot be read,
    # or a seed whose sample is empty, must leave the last run's results where they are.
    workloads = {seed: _workload(args, seed) for seed in seeds or (seed_of(args),)}
    remove_previous(args.out, previous_outputs())
    if seeds is None:
        ((seed, trace),) = workloads.items()
        _, figures, written = _one(args, profile, policy, seed, trace, args.out)
        print(markdown_table(figures, args.slo_target))
        for file in written:
            print(f"wrote {file}")
        return 0
    rows = []
    for seed, trace in workloads.items():
        out = args.out / f"seed-{seed}"
        if not args.quiet:
            print(f"seed {seed} -> {out}", file=sys.stderr)
        meta, figures, _ = _one(args, profile, policy, seed, trace, out)
        rows.append(seed_row(seed, figures, meta["goal"]))
    table = seeds_markdown(rows, args.slo_target)
    summary = {"seeds": rows, "verdict": verdict(rows)}
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "seeds.json", json.dumps(summary, indent=2) + "\n")
    write_text(args.out / "seeds.md", f"# Closed-loop benchmark over seeds\n\n{table}")
    print(table)
    print(f"wrote {args.out / 'seeds.json'}")
    print(f"wrote {args.out / 'seeds.md'}")
    return 0


def previous_outputs() -> list[str]:
    """What a run clears from --out first: the names it writes, for one seed or several.

    Both sets, whichever this run is: a single-seed run beside a previous run's
    seeds.md would read as part of it."""
    return [
        *OUTPUT_FILES,
        "seeds.json",
        "seeds.md",
        *(f"seed-[0-9]*/{name}" for name in OUTPUT_FILES),
    ]


def _workload(args: argparse.Namespace, seed: int) -> Trace:
    """The arrivals of one seed, as the options ask."""
    options = WorkloadOptions(
        format=args.format,
        rate_scale=args.rate_scale,
        time_compression=args.time_compression,
        start=args.start,
        duration=args.duration,
        seed=seed,
        lengths=args.lengths,
        category=args.servegen_category,
        clients=args.servegen_clients,
    )
    return load_workload(args.trace or default_trace(), options)


def _one(
    args: argparse.Namespace,
    profile: ServingProfile,
    policy: ScalingPolicy,
    seed: int,
    trace: Trace,
    out: Path,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[Path]]:
    """The whole benchmark on one seed's arrivals, its outputs written to ``out``: (meta,
    figures, the files written)."""
    path = args.trace or default_trace()
    config = BenchConfig(
        args.slo_queue_wait, args.slo_target, seed, LoopConfig(engine_lag=args.engine_lag)
    )
    bench, wall = with_progress(
        args.quiet, lambda bar: run_benchmark(trace, profile, policy, config, bar, args.jobs)
    )
    meta = {
        "trace": str(path),
        "requests": len(trace),
        "duration_s": round(trace.duration, 1),
        "rate_scale": args.rate_scale,
        "time_compression": args.time_compression,
        "profile": profile.name,
        "policy": str(args.policy or profile.policy),
        "cold_start_median_s": profile.cold_start.median_seconds,
        "slo_queue_wait_s": args.slo_queue_wait,
        "slo_target": args.slo_target,
        "seed": seed,
        "jobs": args.jobs,
        "wall_seconds": round(wall, 1),
        "goal": goal_check(bench.figures, args.slo_target, bench.goal_bounds),
        # The trace options as given (null: not given, the default applied), after the
        # keys above so that those stay as they were.
        "start": args.start,
        "duration": args.duration,
        "format": args.format,
        "servegen_category": args.servegen_category,
        "servegen_clients": args.servegen_clients,
        "lengths": None if args.lengths is None else str(args.lengths),
        "policy_changes": list(args.changes),
        "engine_lag_s": args.engine_lag,
    }
    return meta, bench.figures, write_outputs(bench, out, meta, args.slo_target)
