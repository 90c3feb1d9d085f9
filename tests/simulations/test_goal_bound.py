"""The one-event bound: the best switch times, the schedules played through the real
closed loop, and the reachability verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autoscaler.snapshot import LwsKey
from simulations.baselines.provisioned import Oracle
from simulations.bench_runs import fleet_factory
from simulations.closedloop import LoopConfig, RunResult, run
from simulations.goal_bound import (
    BoundSetup,
    Schedule,
    best_switch,
    goal_bounds,
    one_event_bound,
)
from simulations.profile import load_profile
from simulations.traces import read_azure, rescale
from simulations.workers import run_pool

REPO = Path(__file__).resolve().parents[2]
CONV = REPO / "simulations" / "data" / "azure_conv_excerpt.csv"
PROFILE = load_profile("llama-70b-h100").with_cold_start(60.0)


@pytest.mark.parametrize(
    ("start", "after", "budget", "horizon", "expected"),
    [
        # The module docstring's numbers: 25.8 GPU-hours / 8 GPUs = 11,610 group-seconds.
        # (11,610 - 3 * 3,502) / 2 = 552 s, down to the 15 s grid: 540 s.
        (5, 3, 11_610.0, 3_502.0, 540.0),
        # Even switching at 0, 4 groups for the whole horizon exceed the budget.
        (5, 4, 11_610.0, 3_502.0, None),
        # Generous budget: the switch can wait until the end.
        (5, 3, 10 * 3_600.0, 3_600.0, 3_600.0),
        # Scaling up: 2 -> 3 over 1,000 s within 2,500 group-seconds needs the switch at
        # (3 * 1,000 - 2,500) / 1 = 500 s at the earliest (on the grid: 510 s).
        (2, 3, 2_500.0, 1_000.0, 510.0),
        (2, 3, 1_000.0, 1_000.0, None),
        # Two groups more: (4 x 1,000 - 3,000) / 2 = 500 s, 510 s on the grid.
        (2, 4, 3_000.0, 1_000.0, 510.0),
        # The budget covers 3 groups throughout: from the start (not before it).
        (2, 3, 5_000.0, 1_000.0, 0.0),
        # 995 s at the earliest is 1,005 s on the grid, after the last arrival: none.
        (2, 3, 2_005.0, 1_000.0, None),
        # Scaling down: 3 groups throughout cost exactly the 3,000 budget: a switch at 0.
        (5, 3, 3_000.0, 1_000.0, 0.0),
    ],
)
def test_best_switch(
    start: int, after: int, budget: float, horizon: float, expected: float | None
) -> None:
    assert best_switch(start, after, budget, horizon) == expected


def test_a_schedule_makes_one_event_and_costs_what_the_formula_says() -> None:
    trace = rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=2.0).window(0, 600)
    loop = LoopConfig(key=LwsKey("inference", "llm"))
    result = run(trace, PROFILE, Schedule(4, 2, 300.0), fleet_factory, 4, 0, loop)
    horizon = float(trace.arrival[-1])
    assert result.scale_events == 1
    # 4 groups for 300 s, then 2 groups until the last arrival (removal is immediate).
    expected_hours = (4 * 300.0 + 2 * (horizon - 300.0)) / 3600.0
    assert result.replica_hours == pytest.approx(expected_hours, abs=0.5 * 4 / 3600.0)


def test_a_schedule_is_played_as_the_oracle_is() -> None:
    """Both plan from the future: groups start in exactly the median cold start, and a
    released group drains what it holds (300 s at most) rather than failing it."""
    assert Schedule.knows_cold_starts is Oracle.knows_cold_starts is True
    assert Schedule.termination_grace_seconds == Oracle.termination_grace_seconds == 300.0


def _fake_play(attainment_of: dict[int, float], drain_seconds: float = 0.0) -> Any:
    """A stand-in closed loop for the verdict logic: attainment by final size; each
    released group holds its GPUs ``drain_seconds`` past the switch."""
    played: list[Schedule] = []

    def play(schedule: Schedule) -> RunResult:
        played.append(schedule)
        return schedule  # type: ignore[return-value]

    def summary(result: Any) -> dict[str, Any]:
        schedule: Schedule = result
        hours = schedule.before * schedule.switch_at + schedule.after * (1000 - schedule.switch_at)
        hours += max(0, schedule.before - schedule.after) * drain_seconds
        return {
            "slo_attainment": attainment_of[schedule.after],
            "gpu_hours": 8 * hours / 3600.0,
            "scale_events": int(schedule.before != schedule.after),
        }

    return play, summary, played


def test_the_bound_says_reachable_only_when_a_schedule_meets_both() -> None:
    best = {"gpu_hours": 8 * 3.0 * 1000 / 3600.0, "scale_events": 2}  # 3 groups, 1,000 s
    budget = 0.8 * best["gpu_hours"]
    play, summary, played = _fake_play({1: 0.5, 2: 0.995, 3: 0.999, 4: 1.0, 5: 1.0})
    bound = one_event_bound(best, budget, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    assert bound["computed"]
    assert bound["events_allowed"] == 1
    assert bound["goal_reachable"] is True  # 4 -> 2 early enough meets 99.5% in budget
    assert {(s.before, s.after) for s in played} == {(4, 1), (4, 2)}  # the rest cost more
    play, summary, _ = _fake_play({1: 0.5, 2: 0.98, 3: 0.999, 4: 1.0, 5: 1.0})
    assert (
        one_event_bound(best, budget, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))[
            "goal_reachable"
        ]
        is False
    )


def test_a_schedule_exactly_at_the_target_and_the_budget_meets_both() -> None:
    """20% below 8.75 GPU-hours is 7.0, 3,150 group-seconds over 1,000 s: 4 -> 3 fits
    from 150 s on, 7.0 GPU-hours exactly, and serves exactly the 99% target."""
    best = {"gpu_hours": 8.75, "scale_events": 2}
    play, summary, _ = _fake_play({1: 0.5, 2: 0.5, 3: 0.99, 5: 1.0})
    bound = one_event_bound(best, 7.0, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    to_three = next(s for s in bound["schedules"] if s["to"] == 3)
    assert (to_three["switch_at_s"], to_three["gpu_hours"]) == (150.0, 7.0)
    assert bound["goal_reachable"] is True
    # Every size from 1 to the maximum, then staying.
    assert [s["to"] for s in bound["schedules"]] == [1, 2, 3, 5, 4]


def test_a_gpu_hour_budget_is_group_seconds_at_8_gpus_and_3600_s_an_hour() -> None:
    """A budget of 2,389.98 group-seconds: 4 -> 2 over 1,000 s may switch by
    (2,389.98 - 2,000) / 2 = 194.99 s, 180 s on the grid (an hour of 3,601 s would have
    planned 195 s, over the budget once played, and retreated)."""
    best = {"gpu_hours": 10.0, "scale_events": 2}
    play, summary, played = _fake_play({1: 0.5, 2: 0.5, 3: 0.5, 5: 0.5})
    budget = 2389.98 * 8 / 3600.0
    bound = one_event_bound(best, budget, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    assert next(s["switch_at_s"] for s in bound["schedules"] if s["to"] == 2) == 180.0
    assert [s.switch_at for s in played if s.after == 2] == [180.0]  # planned so, once


def test_one_event_of_the_best_recipe_leaves_only_staying() -> None:
    best = {"gpu_hours": 10.0, "scale_events": 1}
    play, summary, played = _fake_play({4: 1.0})
    bound = one_event_bound(best, 8.0, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    assert (bound["events_allowed"], bound["computed"]) == (0, True)
    # 4 groups for 1,000 s cost 8.89 GPU-hours, over the 8.0 budget: not even played.
    assert bound["schedules"] == [{"from": 4, "to": 4, "switch_at_s": None}]
    assert not played
    assert bound["goal_reachable"] is False


@pytest.mark.parametrize(
    ("best", "reason"),
    [
        (None, "no tuned recipe"),
        ({"gpu_hours": 10.0, "scale_events": 3}, "made 3 events"),
        ({"gpu_hours": 10.0, "scale_events": 0}, "none can be fewer"),
    ],
)
def test_the_bound_explains_when_it_does_not_enumerate(
    best: dict[str, Any] | None, reason: str
) -> None:
    play, summary, played = _fake_play({})
    bound = one_event_bound(best, 10.0, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    assert reason in bound["reason"]
    # With no event to be fewer than, the bound is computed: nothing can meet it.
    assert bound["computed"] is (reason == "none can be fewer")
    assert not played
    assert not bound.get("goal_reachable", False)


def test_goal_bounds_play_each_budget() -> None:
    """Seed-tuned-like recipe at 3 groups for 1,000 s (6.67 GPU-hours, 2 events) and an
    oracle at 5.0 GPU-hours: the 20% budget is 5.33, the 1.15x budget 5.75. From 4
    groups, 2 groups meet the target: in both budgets a switch to 2 fits, and the
    larger budget allows it later (more capacity), 3 groups fit neither."""
    best = {"gpu_hours": 8 * 3.0 * 1000 / 3600.0, "scale_events": 2}
    play, summary, played = _fake_play({1: 0.5, 2: 0.995, 3: 0.999, 4: 1.0, 5: 1.0})
    bounds = goal_bounds(best, 5.0, BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary))
    assert set(bounds) == {
        "fewer_events_and_20pct_bound",
        "fewer_events_within_1_15x_oracle_bound",
    }
    saving, oracle = (bounds[k] for k in sorted(bounds))
    assert saving["gpu_hour_budget"] == 5.333  # at the 3 decimals GPU-hours are given in
    assert oracle["gpu_hour_budget"] == pytest.approx(5.75)

    def switch_to(bound: dict[str, Any], after: int) -> float | None:
        switch: float | None = next(
            r["switch_at_s"] for r in bound["schedules"] if r["to"] == after
        )
        return switch

    # 4 * T + 2 * (1000 - T) <= budget * 3600 / 8: T <= 200 s (20%), T <= 293 s (1.15x).
    assert switch_to(saving, 2) == 195.0
    assert switch_to(oracle, 2) == 285.0
    assert switch_to(saving, 3) is None
    assert switch_to(oracle, 3) is None
    assert saving["goal_reachable"]
    assert oracle["goal_reachable"]
    assert len(played) == 4  # 4 -> 1 and 4 -> 2 in each budget


def test_a_schedule_over_budget_by_its_drain_is_played_again_earlier() -> None:
    # 4 -> 2 within 2,400 group-seconds over 1,000 s: the formula's latest switch is
    # (2,400 - 2 x 1,000) / 2 = 200 s, 195 s on the 15 s grid. The released groups
    # drain 10 s each, so that schedule costs 780 + 1,610 + 20 = 2,410; one step
    # earlier, 180 s, costs 2,380 and fits. Without the retreat: "unreachable".
    best = {"gpu_hours": 8 * 3000 / 3600.0, "scale_events": 2}
    budget = 8 * 2400 / 3600.0
    play, summary, played = _fake_play({1: 0.5, 2: 0.995, 3: 0.999}, drain_seconds=10.0)
    bound = one_event_bound(best, budget, BoundSetup(4, 3, 8, 1000.0, 0.99, play, summary))
    to_two = next(s for s in bound["schedules"] if s["to"] == 2)
    assert to_two["switch_at_s"] == 180.0
    assert to_two["gpu_hours"] <= bound["gpu_hour_budget"]
    assert [s.switch_at for s in played if s.after == 2] == [195.0, 180.0]
    assert bound["goal_reachable"] is True


def test_a_schedule_over_budget_is_played_again_at_most_twenty_times() -> None:
    """Released groups that drain forever: no switch fits. 4 -> 1 within 2,400
    group-seconds starts at (2,400 - 1,000) / 3 = 466 s, 465 s on the grid, and retreats
    15 s at a time 20 times, to 165 s, and stops there: a row over its budget, which
    the verdict does not count."""
    best = {"gpu_hours": 8 * 3000 / 3600.0, "scale_events": 2}
    budget = 8 * 2400 / 3600.0
    play, summary, played = _fake_play({1: 0.995, 2: 0.995, 3: 0.999}, drain_seconds=1e6)
    bound = one_event_bound(best, budget, BoundSetup(4, 3, 8, 1000.0, 0.99, play, summary))
    assert [s.switch_at for s in played if s.after == 1] == [465.0 - 15 * i for i in range(21)]
    # 4 -> 2 starts at 195 s and stops retreating at 0 (13 retreats, then no earlier).
    assert [s.switch_at for s in played if s.after == 2] == [195.0 - 15 * i for i in range(14)]
    to_one = next(s for s in bound["schedules"] if s["to"] == 1)
    assert to_one["switch_at_s"] == 165.0
    assert to_one["gpu_hours"] > bound["gpu_hour_budget"]
    assert bound["goal_reachable"] is False


def _play_on_a_worker(schedule: Schedule) -> Any:
    """A module-level stand-in closed loop: picklable, for a real process pool."""
    return schedule


def _summary_on_a_worker(result: Any) -> dict[str, Any]:
    schedule: Schedule = result
    hours = schedule.before * schedule.switch_at + schedule.after * (1000 - schedule.switch_at)
    return {
        "slo_attainment": {1: 0.5, 2: 0.995}.get(schedule.after, 1.0),
        "gpu_hours": 8 * hours / 3600.0,
        "scale_events": int(schedule.before != schedule.after),
    }


def test_both_bounds_play_their_schedules_in_one_run_all_and_keep_each_row() -> None:
    """The benchmark hands ``run_all`` to its worker pool: every schedule of both
    bounds goes in one call, and each played figure lands in its own row, whatever
    order the tasks ran in (here backwards)."""
    best = {"gpu_hours": 8 * 3.0 * 1000 / 3600.0, "scale_events": 2}
    play, summary, _ = _fake_play({1: 0.5, 2: 0.995, 3: 0.999, 4: 1.0, 5: 1.0})
    calls: list[int] = []

    def backwards(tasks: Sequence[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
        calls.append(len(tasks))
        return [task() for task in reversed(tasks)][::-1]

    setup = BoundSetup(4, 5, 8, 1000.0, 0.99, play, summary)
    in_order = goal_bounds(best, 5.0, setup)
    assert goal_bounds(best, 5.0, replace(setup, run_all=backwards)) == in_order
    assert calls == [4]  # 4 -> 1 and 4 -> 2, in each of the two budgets
    rows = in_order["fewer_events_and_20pct_bound"]["schedules"]
    assert [r["to"] for r in rows if "slo_attainment" in r] == [1, 2]
    assert [r["slo_attainment"] for r in rows if "slo_attainment" in r] == [0.5, 0.995]


def test_a_bound_played_on_worker_processes_is_the_bound_played_in_order() -> None:
    """The tasks go to other processes, so they must pickle (partials of module-level
    functions, not closures), and come back to the same rows."""
    best = {"gpu_hours": 8 * 3.0 * 1000 / 3600.0, "scale_events": 2}
    setup = BoundSetup(4, 5, 8, 1000.0, 0.99, _play_on_a_worker, _summary_on_a_worker)
    with run_pool(2) as pool:
        pooled = goal_bounds(best, 5.0, replace(setup, run_all=pool.run_all))
    assert pooled == goal_bounds(best, 5.0, setup)
    assert pooled["fewer_events_within_1_15x_oracle_bound"]["goal_reachable"]
