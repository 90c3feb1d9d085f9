"""``lws-autoscaler tune``: variants of a policy on named traces, and the tuning rule.

Reproduces the tuning tables of ``docs/engine.md``: the policy as it is (``shipped``)
and each ``--set`` variant run through the closed loop on every trace; the rule picks
the variant that reaches the SLO target on every gate trace with the best attainment
on the score trace. Writes ``results.json``, ``results.md`` and ``tuning.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from autoscaler.cli.arg_types import (
    job_count,
    non_negative_float,
    positive_float,
    writable_folder,
)
from autoscaler.cli.progress import with_progress
from autoscaler.cli.seed_options import add_seed_options, read_seeds, seed_of
from autoscaler.errors import AutoscalerError
from simulations.bench import REPO
from simulations.previous_outputs import remove_previous
from simulations.profile import DEFAULT_PROFILE, available_profiles, load_profile
from simulations.seeds import SeedsError
from simulations.tune.report import OUTPUT_FILES, markdown_table, write_outputs
from simulations.tune.runner import Roles, TuningConfig, read_traces, run_tuning
from simulations.tune.traces import resolve
from simulations.tune.variants import TuningError, Variant, build_variants, load_base
from simulations.workload import SHARED_TRACES

DEFAULT_GATES = ("servegen-day2", "servegen-day4", "servegen-day6")
DEFAULT_SCORE = "azure-code"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="compare variants of a policy on named traces, with the tuning rule",
        description="Run a policy and its --set/--grid variants through the closed loop "
        "on named traces. A variant must reach the SLO target on every --gate trace; then "
        "the best attainment on the --score trace wins, fewest GPU-hours breaking ties. "
        "Traces: azure-conv, azure-code, mooncake, servegen-dayN, servegen-dayN-M, or a "
        ".csv/.jsonl trace file. See docs/engine.md.",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="FILE",
        help="policy file (default: the profile's example policy)",
    )
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help=f"serving profile ({', '.join(available_profiles())})",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NAME:PATH=VALUE",
        help="a change of variant NAME, PATH relative to spec, VALUE as YAML "
        "(e.g. 'dw2:scaleDown.stabilizationWindow=2m'); repeat to add changes or variants",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="PATH=[V1, V2, ...]",
        help="sweep PATH over the listed values; several --grid multiply into one "
        "variant per combination (e.g. 'scaleDown.minGroupAge=[0s, 1m, 2m]')",
    )
    parser.add_argument(
        "--gate",
        action="append",
        default=None,
        metavar="TRACE",
        help=f"trace that must reach the target (default: {', '.join(DEFAULT_GATES)})",
    )
    parser.add_argument(
        "--score",
        default=DEFAULT_SCORE,
        metavar="TRACE",
        help=f"trace whose attainment ranks the variants; 'none' to rank by GPU-hours "
        f"(default {DEFAULT_SCORE})",
    )
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="TRACE",
        help="trace only reported, never used to choose",
    )
    parser.add_argument(
        "--traces-dir",
        type=Path,
        default=SHARED_TRACES,
        metavar="DIR",
        help="where the named traces' files are (default ../shared/traces)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="replay only the first SECONDS of each trace",
    )
    parser.add_argument(
        "--rate-factor",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="multiply every named trace's rate by X (default 1: set-ups sized for the "
        "70B profile; e.g. 0.5 for a model whose group serves half as much)",
    )
    parser.add_argument(
        "--cold-start",
        type=non_negative_float,
        default=None,
        metavar="SECONDS",
        help="median cold start in seconds (default: the profile's)",
    )
    parser.add_argument(
        "--slo-queue-wait",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="queue-wait SLO (default 1)",
    )
    parser.add_argument(
        "--slo-target",
        type=positive_float,
        default=0.99,
        metavar="FRACTION",
        help="fraction of requests that must meet it (default 0.99)",
    )
    parser.add_argument(
        "--also-slo",
        type=positive_float,
        action="append",
        default=[],
        metavar="SECONDS",
        help="also report attainment at this queue wait; repeatable",
    )
    add_seed_options(
        parser,
        "run every variant on every trace once per seed (e.g. 0-2): a gate must pass on "
        "each seed; the score is the mean attainment, GPU-hours the mean",
    )
    parser.add_argument(
        "--jobs",
        type=job_count,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="runs at once (default: one per core, at most 4; at most 4 x the cores, "
        "and no more processes than runs are started)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("tune-out"),
        metavar="DIR",
        help="where results.json, results.md and tuning.png go (default tune-out); a run "
        "first removes the files of these names left by a previous run, and nothing else",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> list[str]:
    problems = []
    # The numbers themselves are checked at parse time (arg_types); what is left is what
    # their types cannot say.
    if not 0 < args.slo_target <= 1:
        problems.append("--slo-target must be in (0, 1]")
    if args.cold_start is not None and args.cold_start <= 0:
        problems.append("--cold-start must be > 0")
    try:
        read_seeds(args)
    except SeedsError as err:
        problems.append(str(err))
    return problems


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    return read_seeds(args) or (seed_of(args),)


def _variants(args: argparse.Namespace, problems: list[str]) -> tuple[Path, list[Variant]]:
    """The policy file and its variants; what is wrong goes to ``problems``."""
    try:
        policy_path = args.policy or REPO / load_profile(args.profile).policy
    except AutoscalerError as exc:
        problems.append(str(exc))
        return Path(), []
    try:
        return policy_path, build_variants(load_base(policy_path), args.sets, args.grid)
    except AutoscalerError as exc:
        problems.append(str(exc))
        return policy_path, []


def run(args: argparse.Namespace) -> int:
    # Every problem of every option at once, before --out is touched.
    problems = _check(args)
    policy_path, variants = _variants(args, problems)
    score = None if args.score == "none" else args.score
    roles = Roles(tuple(dict.fromkeys(args.gate or DEFAULT_GATES)), score, tuple(args.show))
    traces = []
    for name in roles.all:
        try:
            traces.append(resolve(name, args.traces_dir, 0, args.duration, args.rate_factor))
        except TuningError as exc:
            problems.append(str(exc))
    if problems:
        raise TuningError("\n".join(problems))
    writable_folder(args.out)
    profile = load_profile(args.profile)
    # A trace that cannot be read, with any seed's arrivals, must leave the last run's
    # outputs where they are.
    for seed in _seeds(args):
        read_traces(traces, seed)
    remove_previous(args.out, OUTPUT_FILES)
    config = TuningConfig(
        args.profile,
        args.slo_queue_wait,
        args.slo_target,
        # 5 and 5.0 are one column (and one key of the results).
        tuple({f"{s:g}": s for s in args.also_slo}.values()),
        _seeds(args),
        args.jobs,
        args.cold_start,
    )
    result, wall = with_progress(
        args.quiet, lambda bar: run_tuning(variants, traces, roles, config, bar)
    )
    meta = {
        "policy": str(policy_path),
        "profile": profile.name,
        "cold_start_median_s": profile.with_cold_start(args.cold_start).cold_start.median_seconds,
        "traces_dir": str(args.traces_dir),
        # The files read: a trace missing from --traces-dir may fall back to the excerpt.
        "trace_files": {
            t.name: {"path": str(t.path), "lengths": str(t.options.lengths or "")} for t in traces
        },
        "duration_s": args.duration,
        "rate_factor": args.rate_factor,
        "slo_queue_wait_s": args.slo_queue_wait,
        "slo_target": args.slo_target,
        "seeds": list(config.seeds),
        "runs": len(variants) * len(traces) * len(config.seeds),
        "wall_seconds": round(wall, 1),
    }
    written = write_outputs(result, roles, config, args.out, meta)
    print(markdown_table(result, roles, config))
    for file in written:
        print(f"wrote {file}")
    return 0
