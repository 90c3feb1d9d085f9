"""``lws-autoscaler simulate``: what a policy would have done on recorded metrics.

Replays a recording through the engine (the server's code, on a manual clock), the HPA
emulation and the LWS model; prints a summary table per policy; writes
``timeline-<policy>.csv``, ``summary.json`` and ``<namespace>_<lws>.png`` into ``--out``.
With ``--check BASELINE.json`` it exits 1 when the policy is worse than the saved summary
by more than the margins. Without arguments it runs on the built-in recording and the
example policies. See ``docs/simulation.md``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoscaler.cli.arg_types import (
    non_negative_float,
    non_negative_int,
    period_seconds,
    positive_float,
    spread,
    writable_folder,
)
from autoscaler.errors import AutoscalerError
from autoscaler.policy.loader import load_policies
from autoscaler.policy.model import ScalingPolicy

if TYPE_CHECKING:
    from simulations.dryrun import Margins
    from simulations.dryrun.runner import RunOptions

EXIT_WORSE = 1


def _examples() -> Path:
    """The example policies shipped in the package (copies of the repository's
    ``policies/``), falling back to the repository folder in a source checkout."""
    packaged = Path(str(files("autoscaler") / "data" / "policies"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "policies"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="dry-run policies on recorded metrics (engine + HPA + LWS)",
        description="Replay a recording through the engine, a faithful HPA emulation and "
        "a model of the LeaderWorkerSet; summarise, write a timeline CSV, a summary JSON "
        "and a PNG. Exit 1 when --check finds the policy worse than the baseline.",
    )
    p.add_argument("--recording", metavar="FILE", help="recording (default: built-in demo)")
    p.add_argument(
        "--policies", metavar="PATH", help="policy file or folder (default: example policies)"
    )
    p.add_argument("--compare", metavar="PATH", help="second policy set, drawn on the same axes")
    p.add_argument(
        "--out",
        metavar="DIR",
        default="simulation",
        help="output folder (default simulation); a run first removes the previous run's "
        "summary.json, timeline-*.csv and the PNGs of its policies' LWSs, nothing else",
    )
    p.add_argument("--check", metavar="BASELINE.json", help="fail if worse than this summary")
    g = p.add_argument_group("--check margins")
    g.add_argument(
        "--max-replica-hours-increase", type=non_negative_float, default=10.0, metavar="PCT"
    )
    g.add_argument(
        "--max-underprovisioned-increase", type=non_negative_float, default=300.0, metavar="S"
    )
    g.add_argument("--max-wrong-size-increase", type=non_negative_float, default=600.0, metavar="S")
    g.add_argument(
        "--max-scale-events-increase", type=non_negative_float, default=50.0, metavar="PCT"
    )
    h = p.add_argument_group("HPA and cluster")
    h.add_argument("--hpa", metavar="FILE", help="HPA manifest or spec (default: the chart's)")
    h.add_argument(
        "--hpa-tolerance-gate",
        choices=("on", "off"),
        default="on",
        help="HPAConfigurableTolerance: honour the per-HPA tolerance (default on, as from "
        "Kubernetes 1.35; off before, unless the alpha gate is enabled)",
    )
    h.add_argument(
        "--cluster-tolerance", type=non_negative_float, default=0.1, help="controller flag"
    )
    h.add_argument(
        "--hpa-sync-period",
        type=period_seconds,
        default=15.0,
        metavar="S",
        help="seconds, at least 1 (default 15)",
    )
    m = p.add_argument_group("LWS model")
    m.add_argument(
        "--cold-start", type=positive_float, metavar="S", help="median (default: policy)"
    )
    m.add_argument(
        "--cold-start-spread",
        type=spread,
        default=0.2,
        metavar="SIGMA",
        help="sigma of the log, 0 to 2 as in serving profiles (default 0.2)",
    )
    m.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def margins_of(args: argparse.Namespace) -> Margins:
    """The ``--check`` margins the flags give."""
    from simulations.dryrun import Margins

    return Margins(
        args.max_replica_hours_increase,
        args.max_underprovisioned_increase,
        args.max_wrong_size_increase,
        args.max_scale_events_increase,
    )


def _load(path: str, what: str) -> list[ScalingPolicy]:
    policies = [loaded.policy for loaded in load_policies([path])]
    if not policies:
        raise AutoscalerError(f"{what} {path}: no policies found")
    return policies


def _target(policy: ScalingPolicy) -> str:
    """``namespace/name``, as summaries name the LWS."""
    return f"{policy.spec.target.namespace}/{policy.spec.target.name}"


def run_options(args: argparse.Namespace) -> RunOptions:
    """The dry run's options from the flags (``before_writing`` is set by :func:`run`)."""
    from simulations.dryrun.runner import RunOptions

    return RunOptions(
        out=Path(args.out),
        hpa_file=Path(args.hpa) if args.hpa else None,
        tolerance_gate=args.hpa_tolerance_gate == "on",
        cluster_tolerance=args.cluster_tolerance,
        sync_period=args.hpa_sync_period,
        cold_start=args.cold_start,
        cold_start_spread=args.cold_start_spread,
        seed=args.seed,
        progress=None if args.quiet else sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    from autoscaler.sources.recording import RecordingSource, default_recording_path
    from simulations.dryrun.runner import output_patterns, run_simulation
    from simulations.previous_outputs import remove_previous

    recording = Path(args.recording) if args.recording else default_recording_path()
    policies_path = args.policies or str(_examples())
    if args.policies is None and not _examples().is_dir():
        raise AutoscalerError("no example policies installed here: pass --policies PATH")
    options = run_options(args)
    primary = _load(policies_path, "--policies")
    compare = _load(args.compare, "--compare") if args.compare else []
    baseline = None
    if args.check:
        from simulations.dryrun.checks import load_baseline

        # Read now, and kept: an unusable baseline fails before the run, and a baseline
        # inside --out (which the run replaces) is still the one compared with.
        baseline = load_baseline(args.check)
    writable_folder(options.out)
    # The previous outputs go only once the recording, the HPA spec and the policies'
    # loads are read: a bad input leaves the last run's files where they are.
    patterns = output_patterns([*primary, *compare])
    options = replace(options, before_writing=lambda: remove_previous(options.out, patterns))
    source = RecordingSource(recording)
    try:
        if baseline is not None:
            from simulations.dryrun.checks import require_entries

            # Before the previous outputs go: the policies that will run (those whose LWS
            # is recorded) must each have an entry to be judged against.
            keys = {str(k) for k in source.keys}
            runs = [(p.name, t) for p in primary if (t := _target(p)) in keys]
            require_entries(args.check, baseline, runs)
        result = run_simulation(source, primary, compare, options)
    except OSError as exc:  # a write into --out failed half-way (disk full, permissions)
        raise AutoscalerError(f"--out {options.out}: {exc}") from None
    finally:
        source.close()
    print(result.table)
    for path in result.files:
        print(f"wrote {path}")
    if args.check:
        from simulations.dryrun.checks import check_against

        problems = check_against(args.check, result.primary, margins_of(args), baseline)
        for line in problems:
            print(f"check: {line}", file=sys.stderr)
        if problems:
            return EXIT_WORSE
        print(f"check: no regression against {args.check}")
    return 0
