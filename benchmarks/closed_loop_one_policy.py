"""Benchmark: one policy (ours) through the closed loop over the default trace (the
Azure conversation trace, one hour at 4x rate, 77,464 requests). Goal: under 5 s of CPU
on one core.

    .venv/bin/python benchmarks/closed_loop_one_policy.py [--policy PATH] [--repeat 3]

Prints the CPU seconds spent loading the trace (not part of the goal: the benchmark
loads it once for all of its runs) and, for each repeat, the CPU seconds of the run itself
(serving model, metrics path, engine, HPA emulation, LWS model), with its figures so a
fast run cannot hide a broken one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from simulations.baselines.hpa_driven import Ours
from simulations.bench import BenchConfig, load_ours_policy, run_setup
from simulations.bench_runs import run_controller, summarise
from simulations.profile import load_profile
from simulations.workload import WorkloadOptions, default_trace, load_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", type=Path, default=None, help="default: the profile's")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    profile = load_profile("llama-70b-h100")
    policy = load_ours_policy(profile, args.policy)
    started = time.process_time()
    trace = load_workload(default_trace(), WorkloadOptions(rate_scale=4.0, seed=0))
    print(
        f"trace: {len(trace.arrival):,} requests, loaded in "
        f"{time.process_time() - started:.2f} s CPU"
    )
    setup = run_setup(trace, profile, policy, BenchConfig())
    cpu: list[float] = []
    for i in range(args.repeat):
        started = time.process_time()
        result = run_controller(Ours(policy), setup)
        cpu.append(time.process_time() - started)
        figures = summarise(result, 1.0)
        print(
            f"run {i + 1}: {cpu[-1]:.2f} s CPU; SLO attainment "
            f"{figures['slo_attainment']:.2%}, {figures['gpu_hours']:.1f} GPU-hours, "
            f"{figures['scale_events']} scale events"
        )
    print(f"one policy over the hour: median {float(np.median(cpu)):.2f} s CPU (goal < 5 s)")


if __name__ == "__main__":
    main()
