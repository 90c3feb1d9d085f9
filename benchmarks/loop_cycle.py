"""CPU time of one control-loop cycle for 1, 100 and 1,000 LWS targets.

    .venv/bin/python benchmarks/loop_cycle.py [--targets 1 100 1000] [--cycles 20]

Each target gets its own policy file (three signals, forecast on) and an in-memory
source answers instantly with four ready groups, so the figure is the loop's own cost:
the policy-file change check, ``decide`` for every target, publishing the store (series
rendering included) and the metrics. Goal: under 1 s of CPU for 1,000 targets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from autoscaler.server.loop import ControlLoop
from autoscaler.server.policy_watch import PolicyWatcher
from autoscaler.server.store import DecisionStore
from autoscaler.server.telemetry import Telemetry
from autoscaler.signals import Signal
from autoscaler.snapshot import GroupStatus, LwsSnapshot, Sample
from autoscaler.sources.base import SourceResult, Target

START = 1_767_225_600.0
CYCLE = 15.0


class _Clock:
    def __init__(self) -> None:
        self.t = START

    def now(self) -> float:
        return self.t

    def wall_seconds(self, clock_seconds: float) -> float:
        return clock_seconds


class InMemorySource:
    """Four ready groups per LWS; the load moves with time so decisions change."""

    name = "in-memory"

    def fetch(self, targets: Sequence[Target], now: float) -> SourceResult:
        snapshots = {}
        for i, target in enumerate(targets):
            waiting = 10.0 + (i % 7) * 5 + ((now - START) / CYCLE) % 11
            leaders = {
                str(g): {
                    Signal.QUEUE_DEPTH: Sample(waiting / 4, now - 2),
                    Signal.RUNNING: Sample(8.0, now - 2),
                    Signal.KV_CACHE: Sample(0.6, now - 2),
                    Signal.PROMPT_TOKENS: Sample(900.0, now - 2),
                    Signal.GENERATION_TOKENS: Sample(700.0, now - 2),
                }
                for g in range(4)
            }
            snapshots[target.key] = LwsSnapshot(
                key=target.key,
                observed_at=now,
                spec_replicas=4,
                status_replicas=4,
                ready_replicas=4,
                groups=tuple(GroupStatus(g, START - 7200, START - 7000) for g in range(4)),
                leaders=leaders,
            )
        return SourceResult(snapshots)

    def history(
        self, targets: Sequence[Target], start: float, end: float, step: float
    ) -> Iterator[tuple[float, SourceResult]]:
        t = start
        while t <= end:
            yield t, self.fetch(targets, t)
            t += step

    def close(self) -> None:
        return None


def _policy(i: int) -> dict[str, object]:
    return {
        "apiVersion": "lws-autoscaler.io/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": f"model-{i}"},
        "spec": {
            "target": {"namespace": f"team-{i % 20}", "name": f"model-{i}"},
            "replicas": {"min": 1, "max": 16},
            "signals": [
                {"type": "queueDepth", "targetPerGroup": 8},
                {"type": "kvCacheUtilization", "target": 0.8},
                {"type": "tokenThroughput", "tokens": "total", "capacityPerGroup": 5000},
            ],
        },
    }


def measure(targets: int, cycles: int) -> tuple[float, float, float, int]:
    """(median CPU s per cycle, max CPU s per cycle, CPU s of the restart replay, the
    instants it replayed: the policies' horizon, 12 min here, at 15 s)."""
    with tempfile.TemporaryDirectory() as folder:
        for i in range(targets):
            Path(folder, f"model-{i}.yaml").write_text(yaml.safe_dump(_policy(i)))
        telemetry = Telemetry()
        watcher = PolicyWatcher([Path(folder)], telemetry)
        watcher.load_initial()
        clock = _Clock()
        loop = ControlLoop(InMemorySource(), watcher, DecisionStore(45.0), telemetry, clock, CYCLE)
        started = time.process_time()
        instants = loop.restore(clock.now())
        replay = time.process_time() - started
        samples = []
        for _ in range(cycles):
            started = time.process_time()
            loop.run_cycle(clock.now())
            samples.append(time.process_time() - started)
            clock.t += CYCLE
        return statistics.median(samples), max(samples), replay, instants


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args(argv)
    print(
        f"{'targets':>8} {'cpu/cycle (median)':>19} {'cpu/cycle (max)':>16} {'restart replay':>15}"
        "  (instants replayed)"
    )
    worst = 0.0
    for n in args.targets:
        median, peak, replay, instants = measure(n, args.cycles)
        worst = max(worst, median) if n >= 1000 else worst
        print(
            f"{n:>8} {median * 1000:>16.1f} ms {peak * 1000:>13.1f} ms {replay:>13.2f} s"
            f"  ({instants})"
        )
    if 1000 in args.targets:
        verdict = "meets" if worst < 1.0 else "MISSES"
        print(f"goal: < 1 s CPU per cycle for 1,000 targets: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
