"""Benchmark: seven days of recorded metrics at 15 s steps (40,320 steps), one policy,
through the engine, the HPA emulation and the LWS model. Goal: under 2 s on one core.

    .venv/bin/python benchmarks/simulate_week.py [--policy policies/llama-70b.yaml]
        [--days 7] [--source recording|synthetic] [--profile]

``--source recording`` (default) writes a week-long recording in the real file format (4
leaders, raw vLLM series, not timed) and reads it back through ``RecordingSource`` as
``simulate`` does (file parse + derived arrays, reduced with numpy);
``synthetic`` builds the snapshots in memory, to time the simulator alone. Prints the
seconds spent reading the recording, in the simulation loop (engine + HPA + LWS) and in
the summary, and the engine's share of the loop (``--profile``: the top functions).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from autoscaler.policy.loader import load_policies
from autoscaler.snapshot import LwsKey
from autoscaler.sources.base import Target
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording import RecordingSource
from autoscaler.sources.recording_format import RecordedTarget, Recording, Series, save_recording
from simulations.dryrun import DryRunConfig, collect, demand_groups, simulate, summarize
from simulations.dryrun.fast_load import collect_recording
from simulations.dryrun.synthetic import daily_curve, history_from_curve
from simulations.hpa import HpaConfig
from simulations.hpa.chart import chart_hpa_spec
from simulations.lws_model import ColdStartModel

STEP = 15.0
START = 1_767_225_600.0
ROOT = Path(__file__).resolve().parents[1]


def write_week(path: Path, key: LwsKey, steps: int, curve: np.ndarray) -> Path:
    labels = LabelNames()
    times = (START + np.arange(steps) * STEP).tolist()
    series = []
    for i in range(4):
        pod = {labels.namespace: key.namespace, labels.lws: key.name, labels.pod: f"{key.name}-{i}"}
        waiting = curve * 8 / 4
        generated = np.cumsum(curve * 5000 / 4 * STEP)
        for name, values in (
            ("vllm:num_requests_waiting", waiting),
            ("vllm:num_requests_running", 2 * waiting),
            ("vllm:kv_cache_usage_perc", np.clip(curve * 0.6 / 4, 0, 1)),
            ("vllm:generation_tokens_total", generated),
            ("vllm:prompt_tokens_total", 0.3 * generated),
        ):
            points = list(zip(times, values.tolist(), strict=True))
            series.append(Series({"__name__": name, **pod}, points))
    for name in ("lws:spec_replicas", "lws:status_replicas", "lws:ready_replicas"):
        owner = {"__name__": name, labels.namespace: key.namespace, labels.lws: key.name}
        series.append(Series(owner, [(t, 4.0) for t in times]))
    recording = Recording(START, times[-1], STEP, labels, (RecordedTarget(key),), series)
    return save_recording(recording, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default=str(ROOT / "policies" / "llama-70b.yaml"))
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--source", choices=("recording", "synthetic"), default="recording")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    policy = load_policies([args.policy])[0].policy
    key = LwsKey(policy.spec.target.namespace, policy.spec.target.name)
    steps = math.floor(args.days * 86_400 / STEP)
    curve = daily_curve(steps, STEP, 1.0, 9.0)

    began = time.perf_counter()
    if args.source == "recording":
        with tempfile.TemporaryDirectory() as tmp:
            path = write_week(Path(tmp) / "week.json", key, steps, curve)
            began = time.perf_counter()
            source = RecordingSource(path)
            load = collect_recording(source, Target(policy))  # as `simulate` reads it
    else:
        load = collect(
            key, history_from_curve(key, START, STEP, curve * 8, curve * 0.6, curve * 5000)
        )
    read = time.perf_counter() - began

    config = DryRunConfig(HpaConfig.from_spec(chart_hpa_spec(policy)), ColdStartModel(300, 0.2))
    profiler = cProfile.Profile() if args.profile else None
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    timeline = simulate(policy, load, config)
    if profiler:
        profiler.disable()
    loop = time.perf_counter() - began
    began = time.perf_counter()
    summary = summarize(timeline, demand_groups(load, policy))
    figures = time.perf_counter() - began

    print(f"steps: {load.steps} ({args.days:g} days at {STEP:g} s), policy {policy.name}")
    print(f"read recording ({args.source}): {read:.2f} s")
    print(f"simulate (engine + HPA + LWS): {loop:.2f} s ({1e6 * loop / load.steps:.1f} us/step)")
    print(f"summary: {figures:.3f} s")
    print(f"total, reading included: {read + loop + figures:.2f} s (goal < 2 s)")
    print(
        f"scale-ups {summary.scale_ups}, scale-downs {summary.scale_downs}, "
        f"replica-hours {summary.replica_hours:.1f}"
    )
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        engine = sum(
            row[3]
            for func, row in stats.stats.items()  # type: ignore[attr-defined]
            if func[2] == "decide" and func[0].endswith("engine/decide.py")
        )
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        print(
            f"profile: decide() {engine:.2f} s of {total:.2f} s in the loop "
            f"({100 * engine / total:.0f}%)"
        )
        stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
