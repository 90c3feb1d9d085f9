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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from autoscaler.policy.loader import load_policy_file
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsKey
from simulations.baselines.provisioned import needed_groups
from simulations.bench_runs import (
    KEDA_SWEEP,
    KNATIVE_SWEEP,
    ORACLE_SWEEP,
    OURS,
    PUBLISHED,
    SEED_SWEEP,
    Job,
    RunSetup,
    play,
    play_all,
    run_controller,
    summarise,
)
from simulations.closedloop import LoopConfig, RunResult
from simulations.goal_bound import ORACLE_FACTOR, SAVING, BoundSetup, goal_bounds
from simulations.profile import ServingProfile
from simulations.traces import Trace
from simulations.tune.variants import changed_policy, load_base
from simulations.workers import run_pool

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

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class BenchConfig:
    slo_queue_wait: float = 1.0
    slo_target: float = 0.99
    seed: int = 0
    loop: LoopConfig = field(default_factory=LoopConfig)


def load_ours_policy(
    profile: ServingProfile, override: Path | None = None, changes: Sequence[str] = ()
) -> ScalingPolicy:
    """Ours' policy: ``override`` or the profile's example, with ``changes``
    (``PATH=VALUE`` below ``spec``, as ``tune --set`` takes them) applied."""
    path = override or (REPO / profile.policy)
    if changes:
        return changed_policy(load_base(path), changes)
    return load_policy_file(path)[0].policy


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
    return replace(config.loop, key=key)


def run_setup(
    trace: Trace, profile: ServingProfile, policy: ScalingPolicy, config: BenchConfig
) -> RunSetup:
    """What every run on ``trace`` shares: the warm start, the loop timing, the SLO."""
    return RunSetup(
        trace,
        profile,
        policy,
        initial_groups(trace, profile, policy.spec.replicas.min),
        config.seed,
        loop_config(policy, config),
        config.slo_queue_wait,
    )


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
    workers: int = 1,
) -> Benchmark:
    """Every policy and sweep point on ``trace``; ``workers`` processes play the runs
    (the figures do not depend on it)."""
    cfg = config
    setup = run_setup(trace, profile, policy, cfg)
    sweeps = {
        "seed-tuned": ("seed", SEED_SWEEP),
        "keda-tuned": ("keda", KEDA_SWEEP),
        "knative-tuned": ("knative", KNATIVE_SWEEP),
        "oracle": ("oracle", ORACLE_SWEEP),
    }
    published = [OURS, *(Job(kind, kind, setting) for kind, setting in PUBLISHED.items())]
    swept = {
        name: [(v, Job(f"{name} {v:g}", kind, v)) for v in values]
        for name, (kind, values) in sweeps.items()
    }
    jobs = published + [job for points in swept.values() for _, job in points]
    runs_played = len({job.plays for job in jobs})
    total = runs_played + 1  # + static and the goal bounds

    def report(label: str, fraction: float) -> None:
        if progress is not None:
            progress(label, fraction * runs_played / total)

    played = dict(zip(jobs, play_all(jobs, setup, workers, report), strict=True))
    runs = {job.kind: played[job][0] for job in published}
    figures = {job.kind: played[job][1] for job in published}
    for name, points in swept.items():
        tried = [(setting, *played[job]) for setting, job in points]
        setting, result, summary = _cheapest_meeting(tried, cfg.slo_target)
        figures[name] = {
            **summary,
            "setting": setting,
            "reached_target": summary["slo_attainment"] >= cfg.slo_target,
            "sweep": [
                {"setting": s, "slo_attainment": f["slo_attainment"], "gpu_hours": f["gpu_hours"]}
                for s, _, f in tried
            ],
        }
        runs[name] = result
    peak = needed_groups(trace, profile, _setting_of(figures["oracle"])).max()
    peak = int(min(policy.spec.replicas.max, peak))
    if progress is not None:
        progress("static and goal bounds", runs_played / total)
    # Static starts from the same warm start as every policy and resizes at once (one
    # scale event): the oracle, the lower bound, starts there too. Its run and the goal
    # bounds' schedules need the sweeps' results, and go to the worker processes too:
    # played in this one, they held the other core idle for 16 s of a 190 s benchmark.
    static = Job("static", "static", peak)
    bound_setup = BoundSetup(
        setup.start,
        policy.spec.replicas.max,
        profile.gpus_per_group,
        float(trace.arrival[-1]) if len(trace) else 0.0,
        cfg.slo_target,
        partial(run_controller, setup=setup),  # partials, not lambdas: they are pickled
        partial(summarise, slo_queue_wait=cfg.slo_queue_wait),
    )
    best = best_tuned_recipe(figures)
    oracle_hours = float(figures["oracle"]["gpu_hours"])
    if workers <= 1:
        runs["static"], figures["static"] = play(static, setup)
        bounds = goal_bounds(best, oracle_hours, bound_setup)
    else:
        with run_pool(workers) as pool:
            static_played = pool.submit(play, static, setup)
            bounds = goal_bounds(best, oracle_hours, replace(bound_setup, run_all=pool.run_all))
            runs["static"], figures["static"] = static_played.result()
    figures["static"]["setting"] = peak
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


TUNED_RECIPES = ("seed-tuned", "keda-tuned", "knative-tuned")


def best_tuned_name(figures: dict[str, dict[str, Any]]) -> str | None:
    """The name of the cheapest hindsight-tuned recipe that reached the target, if any."""
    reaching = [name for name in TUNED_RECIPES if figures[name]["reached_target"]]
    return min(reaching, key=lambda name: figures[name]["gpu_hours"]) if reaching else None


def best_tuned_recipe(figures: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The figures of :func:`best_tuned_name`'s recipe, if any."""
    name = best_tuned_name(figures)
    return None if name is None else figures[name]


def goal_check(
    figures: dict[str, dict[str, Any]],
    target: float,
    bounds: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The issue's goal, measured: ours reaches the target, within 1.15x of the oracle's
    GPU-hours, >= 20% fewer GPU-hours than the best tuned recipe, fewer scale events;
    plus ``bounds`` (whether any schedule could meet fewer events together with either
    GPU-hour part, :func:`simulations.goal_bound.goal_bounds`).

    ``saving_budget_below_oracle`` says when the 20% part asks for fewer GPU-hours than
    the oracle needs: the oracle is the GPU-hour lower bound, so no policy that cannot
    see the future is expected to meet that part. Worked numbers, default trace:
    keda-tuned 29.7 GPU-hours -> budget 0.8 x 29.7 = 23.8, under the oracle's 24.6."""
    ours, oracle = figures["ours"], figures["oracle"]
    best_name = best_tuned_name(figures)
    best = None if best_name is None else figures[best_name]
    vs_oracle = ours["gpu_hours"] / oracle["gpu_hours"] if oracle["gpu_hours"] else math.inf
    saving = 1 - ours["gpu_hours"] / best["gpu_hours"] if best and best["gpu_hours"] else None
    budget = (1 - SAVING) * best["gpu_hours"] if best else None
    return {
        "ours_reaches_target": ours["slo_attainment"] >= target,
        "best_tuned_recipe": best_name,
        "ours_vs_oracle_gpu_hours": round(vs_oracle, 3),
        "within_1_15x_oracle": vs_oracle <= ORACLE_FACTOR,
        "saving_vs_best_tuned_recipe": None if saving is None else round(saving, 3),
        "at_least_20pct_fewer_than_best_tuned": saving is not None and saving >= SAVING,
        "saving_budget_gpu_hours": None if budget is None else round(budget, 3),
        "saving_budget_below_oracle": budget is not None and budget < oracle["gpu_hours"],
        "fewer_scale_events_than_best_tuned": best is not None
        and ours["scale_events"] < best["scale_events"],
        **(bounds or {}),
    }
