"""The closed-loop benchmark: every policy on the same arrivals, side by side.

``run_benchmark`` plays one trace through :func:`simulations.closedloop.run` once per
policy: ours (the example policy of the profile, never tuned on the trace measured), the
published recipes (seed HPA, KEDA, Knative KPA), each recipe again *tuned with
hindsight* (its main threshold swept on this very trace, keeping the cheapest setting
that reaches the SLO target), static provisioning at the peak and the oracle (also swept:
its cheapest SLO-meeting utilisation is the GPU-hour lower bound).

Figures per policy (:func:`summarise`): ``slo_attainment`` is the fraction of *all*
requests served after a queue wait (arrival at the gateway to prefill start) of at most
the SLO; failed and rejected requests are misses. TTFT is arrival to first token of
served requests; ``queue_wait_p99`` is over served requests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoscaler.policy.loader import load_policy_file
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsKey
from simulations.baselines.hpa_driven import Ours, keda_recipe, seed_recipe
from simulations.baselines.kpa import KnativeKpa
from simulations.baselines.provisioned import Oracle, Static, needed_groups
from simulations.closedloop import Controller, Fleet, LoopConfig, RunResult, run
from simulations.goal_bound import ORACLE_FACTOR, SAVING, BoundSetup, goal_bounds
from simulations.lws_model import ColdStartModel, LwsModel
from simulations.profile import ServingProfile
from simulations.serving import Outcome
from simulations.traces import Trace

REPO = Path(__file__).resolve().parents[1]
POLICY_ORDER = (
    "ours",
    "seed",
    "seed-tuned",
    "keda",
    "keda-tuned",
    "knative",
    "knative-tuned",
    "static",
    "oracle",
)
SEED_SWEEP = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0)
KEDA_SWEEP = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0)
KNATIVE_SWEEP = (10.0, 20.0, 30.0, 40.0, 60.0, 80.0, 100.0, 150.0)
ORACLE_SWEEP = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6)

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class BenchConfig:
    slo_queue_wait: float = 1.0
    slo_target: float = 0.99
    seed: int = 0
    loop: LoopConfig = field(default_factory=LoopConfig)


def load_ours_policy(profile: ServingProfile, override: Path | None = None) -> ScalingPolicy:
    path = override or (REPO / profile.policy)
    return load_policy_file(path)[0].policy


def fleet_factory(initial: int, profile: ServingProfile, rng: np.random.Generator) -> Fleet:
    cold = profile.cold_start
    return LwsModel(ColdStartModel(cold.median_seconds, cold.spread), rng, initial)


WARM_START_UTILIZATION = 0.6


def initial_groups(trace: Trace, profile: ServingProfile, min_replicas: int) -> int:
    """The warm start every policy gets: sized for the first cold start of the trace.

    No policy can add capacity before its first group is ready, so a cold beginning
    would only measure the start. The size is the oracle's need at utilisation 0.6
    (groups per minute) over the first median cold start plus a minute.
    """
    need = needed_groups(trace, profile, WARM_START_UTILIZATION)
    first = math.ceil((profile.cold_start.median_seconds + 60.0) / 60.0)
    return max(min_replicas, int(need[:first].max()))


def loop_config(policy: ScalingPolicy, config: BenchConfig) -> LoopConfig:
    """The benchmark's loop timing, for the LWS ``policy`` targets (leader pod names)."""
    key = LwsKey(policy.spec.target.namespace, policy.spec.target.name)
    return dataclasses.replace(config.loop, key=key)


def summarise(result: RunResult, slo_queue_wait: float) -> dict[str, Any]:
    """The figures of one run (see the module docstring)."""
    log = result.log
    served = log.outcome == Outcome.SERVED
    wait = log.queue_wait()
    within = served & (wait <= slo_queue_wait + 1e-9)
    ttft = (log.first_token - log.arrival)[served]
    waits = wait[served]

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 4) if len(values) else None

    return {
        "slo_attainment": round(float(np.count_nonzero(within)) / len(log.arrival), 5),
        "gpu_hours": round(result.gpu_hours, 3),
        "replica_hours": round(result.replica_hours, 3),
        "scale_events": result.scale_events,
        "failed_requests": int(np.count_nonzero(log.outcome == Outcome.FAILED)),
        "rejected_requests": result.rejected,
        "gateway_held_requests": result.held_requests,
        "ttft_p50": pct(ttft, 50),
        "ttft_p99": pct(ttft, 99),
        "queue_wait_p99": pct(waits, 99),
        "requests": len(log.arrival),
    }


@dataclass
class Benchmark:
    """Results keyed by policy name, plus the runs behind them (for the plot)."""

    figures: dict[str, dict[str, Any]]
    runs: dict[str, RunResult]
    goal_bounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Whether the goal is reachable at all on this trace (:mod:`simulations.goal_bound`)."""


def run_benchmark(
    trace: Trace,
    profile: ServingProfile,
    policy: ScalingPolicy,
    config: BenchConfig,
    progress: Progress | None = None,
) -> Benchmark:
    cfg = config
    loop = loop_config(policy, cfg)
    max_replicas, min_replicas = policy.spec.replicas.max, policy.spec.replicas.min
    oracle_needs = {u: needed_groups(trace, profile, u) for u in ORACLE_SWEEP}
    start = initial_groups(trace, profile, min_replicas)
    plan: list[tuple[str, Callable[[], Controller]]] = [
        ("ours", lambda: Ours(policy)),
        ("seed", lambda: seed_recipe(max_replicas)),
        ("keda", lambda: keda_recipe(max_replicas)),
        ("knative", lambda: KnativeKpa(max_replicas, min_replicas)),
    ]
    sweeps: dict[str, list[tuple[float, Callable[[], Controller]]]] = {
        "seed-tuned": [(v, _bind(seed_recipe, max_replicas, v)) for v in SEED_SWEEP],
        "keda-tuned": [(v, _bind(keda_recipe, max_replicas, v)) for v in KEDA_SWEEP],
        "knative-tuned": [(v, _bind_kpa(max_replicas, min_replicas, v)) for v in KNATIVE_SWEEP],
        "oracle": [(u, _bind_oracle(trace, profile, max_replicas, u)) for u in ORACLE_SWEEP],
    }
    total = len(plan) + sum(len(s) for s in sweeps.values()) + 2  # + static, goal bounds
    done = 0
    figures: dict[str, dict[str, Any]] = {}
    runs: dict[str, RunResult] = {}

    def play(label: str, make: Callable[[], Controller]) -> tuple[RunResult, dict[str, Any]]:
        nonlocal done
        controller = make()

        def tick(fraction: float) -> None:
            if progress is not None:
                progress(label, (done + fraction) / total)

        result = run(trace, profile, controller, fleet_factory, start, cfg.seed, loop, tick)
        done += 1
        return result, summarise(result, cfg.slo_queue_wait)

    for name, make in plan:
        runs[name], figures[name] = play(name, make)
    for name, options in sweeps.items():
        tried = [(setting, *play(f"{name} {setting:g}", make)) for setting, make in options]
        best = _cheapest_meeting(tried, cfg.slo_target)
        setting, result, summary = best
        summary = {
            **summary,
            "setting": setting,
            "reached_target": summary["slo_attainment"] >= cfg.slo_target,
            "sweep": [
                {"setting": s, "slo_attainment": f["slo_attainment"], "gpu_hours": f["gpu_hours"]}
                for s, _, f in tried
            ],
        }
        runs[name], figures[name] = result, summary
    peak = int(min(max_replicas, oracle_needs[_setting_of(figures["oracle"])].max()))
    runs["static"], figures["static"] = play("static", lambda: Static(peak))
    figures["static"]["setting"] = peak
    if progress is not None:
        progress("goal bounds", done / total)
    setup = BoundSetup(
        start,
        max_replicas,
        profile.gpus_per_group,
        float(trace.arrival[-1]) if len(trace) else 0.0,
        cfg.slo_target,
        lambda schedule: run(trace, profile, schedule, fleet_factory, start, cfg.seed, loop),
        lambda result: summarise(result, cfg.slo_queue_wait),
    )
    bounds = goal_bounds(best_tuned_recipe(figures), float(figures["oracle"]["gpu_hours"]), setup)
    if progress is not None:
        progress("done", 1.0)
    ordered = {name: figures[name] for name in POLICY_ORDER}
    return Benchmark(ordered, runs, bounds)


def _setting_of(summary: dict[str, Any]) -> float:
    return float(summary["setting"])


def _cheapest_meeting(
    tried: Sequence[tuple[float, RunResult, dict[str, Any]]], target: float
) -> tuple[float, RunResult, dict[str, Any]]:
    """The cheapest run reaching ``target``; with none, the one closest to it."""
    meeting = [t for t in tried if t[2]["slo_attainment"] >= target]
    if meeting:
        return min(meeting, key=lambda t: (t[2]["gpu_hours"], -t[2]["slo_attainment"]))
    return max(tried, key=lambda t: (t[2]["slo_attainment"], -t[2]["gpu_hours"]))


def _bind(
    factory: Callable[[int, float], Controller], max_replicas: int, value: float
) -> Callable[[], Controller]:
    return lambda: factory(max_replicas, value)


def _bind_kpa(max_replicas: int, min_replicas: int, target: float) -> Callable[[], Controller]:
    return lambda: KnativeKpa(max_replicas, min_replicas, target=target)


def _bind_oracle(
    trace: Trace, profile: ServingProfile, max_replicas: int, utilization: float
) -> Callable[[], Controller]:
    return lambda: Oracle(trace, profile, max_replicas, utilization)


def best_tuned_recipe(figures: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The cheapest hindsight-tuned recipe that reached the target, if any."""
    tuned = [figures[n] for n in ("seed-tuned", "keda-tuned", "knative-tuned")]
    reaching = [f for f in tuned if f["reached_target"]]
    return min(reaching, key=lambda f: f["gpu_hours"]) if reaching else None


def goal_check(
    figures: dict[str, dict[str, Any]],
    target: float,
    bounds: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The issue's goal, measured: ours reaches the target, within 1.15x of the oracle's
    GPU-hours, >= 20% fewer GPU-hours than the best tuned recipe, fewer scale events;
    plus ``bounds`` (whether any schedule could meet fewer events together with either
    GPU-hour part, :func:`simulations.goal_bound.goal_bounds`)."""
    ours, oracle = figures["ours"], figures["oracle"]
    best = best_tuned_recipe(figures)
    vs_oracle = ours["gpu_hours"] / oracle["gpu_hours"] if oracle["gpu_hours"] else math.inf
    saving = 1 - ours["gpu_hours"] / best["gpu_hours"] if best else None
    return {
        "ours_reaches_target": ours["slo_attainment"] >= target,
        "ours_vs_oracle_gpu_hours": round(vs_oracle, 3),
        "within_1_15x_oracle": vs_oracle <= ORACLE_FACTOR,
        "saving_vs_best_tuned_recipe": None if saving is None else round(saving, 3),
        "at_least_20pct_fewer_than_best_tuned": saving is not None and saving >= SAVING,
        "fewer_scale_events_than_best_tuned": best is not None
        and ours["scale_events"] < best["scale_events"],
        **(bounds or {}),
    }
