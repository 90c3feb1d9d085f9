"""Whether the issue's goal can be met at all on a trace: the one-event bounds.

The goal asks ours for *fewer* scale events than the best hindsight-tuned recipe, at
the SLO target, together with a GPU-hour budget: at least 20% fewer GPU-hours than that
recipe (``fewer_events_and_20pct_bound``), and within 1.15x of the oracle's
(``fewer_events_within_1_15x_oracle_bound``). When that recipe needs only one or two
events, "fewer" leaves very few schedules, and every one of them can be played:

- 0 events allowed (the recipe made 1): the fleet keeps its warm start ``S`` throughout.
- 1 event allowed (the recipe made 2): ``S`` groups until a switch time ``T``, then
  ``k`` groups, for every ``k`` from 1 to the policy's maximum.

For a given ``k < S`` the GPU-hours fall as the switch comes earlier, while capacity
grows as it comes later (more groups for longer never queue more; only the in-flight
requests of the removed groups differ). So the *latest* switch that stays within the
budget is the best one-event schedule for that ``k``; for ``k > S`` it is the
*earliest*. Worked numbers, the default trace as measured with the former coarse
sweeps (seed-tuned, 2 events, was then the best tuned recipe): 8 GPUs per group, a
3,502 s horizon, ``S = 5``, seed-tuned at 32.3 GPU-hours, so the 20% budget is 25.8;
for ``k = 3`` the switch must come by ``(25.8 / 8 * 3600 - 3 * 3502) / (5 - 3) = 552 s``.
The oracle at 25.1 gives a 1.15x budget of 28.9, and a switch to 3 by
``(28.9 / 8 * 3600 - 3 * 3502) / 2 = 1,249 s``; 4 groups for the whole hour cost 31.1
and fit neither. Each best schedule is played through the same closed loop as the
policies, and the goal is *reachable* only if one of them meets the SLO target within
the budget. When the recipe made more than two events the schedules are too many to
enumerate, and the bound is not computed.

The formula prices an instant cut; a played schedule drains the groups it releases
(up to the 300 s grace), so it can cost a few hundredths of a GPU-hour more. A played
schedule over the budget is played again one decision step cheaper (earlier going
down, later going up) until it fits, at most ``_MAX_RETREATS`` times.

A schedule's plays depend on each other only through those retreats, so the schedules
of both bounds are independent tasks: ``BoundSetup.run_all`` plays them, in order by
default, or on the benchmark's worker processes (with picklable ``play`` and
``summarise``), so the bounds do not hold the second core idle after the sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from simulations.closedloop import LoopView, RunResult

STEP = 15.0
# A released group drains for at most the 300 s grace: 20 steps back always cover it.
_MAX_RETREATS = 20
# The goal's two GPU-hour parts (``simulations.bench.goal_check`` checks ours against
# the same numbers), and the names ``results.json`` gives their bounds.
SAVING = 0.2
ORACLE_FACTOR = 1.15
SAVING_BOUND = "fewer_events_and_20pct_bound"
ORACLE_BOUND = "fewer_events_within_1_15x_oracle_bound"

PlaySchedule = Callable[["Schedule"], RunResult]
Summarise = Callable[[RunResult], dict[str, Any]]
Task = Callable[[], dict[str, Any]]
RunAll = Callable[[Sequence[Task]], list[dict[str, Any]]]


def run_in_order(tasks: Sequence[Task]) -> list[dict[str, Any]]:
    return [task() for task in tasks]


class Schedule:
    """``before`` groups until ``switch_at`` seconds, then ``after``: one scale event."""

    name = "schedule"
    period = STEP
    knows_cold_starts = True  # planned from the future, like the oracle
    termination_grace_seconds = 300.0  # and, like it, drains what it releases

    def __init__(self, before: int, after: int, switch_at: float) -> None:
        self.before, self.after, self.switch_at = before, after, switch_at

    def decide(self, view: LoopView) -> int | None:
        return self.before if view.now < self.switch_at else self.after


def best_switch(
    start: int, after: int, budget_group_seconds: float, horizon: float
) -> float | None:
    """The switch time (on the decision grid) that gives the most capacity within the
    budget, or None when even the cheapest switch exceeds it."""
    if after < start:
        # start * T + after * (horizon - T) <= budget  ->  T <= (budget - after*h)/(start-after)
        latest = (budget_group_seconds - after * horizon) / (start - after)
        if latest < 0:
            return None
        return min(horizon, STEP * math.floor(latest / STEP))
    # after > start: T >= (after*h - budget)/(after - start); earlier is more capacity.
    # On the grid that can pass the horizon (995 s of 1,000 becomes 1,005): a switch
    # after the last arrival is no event at all, the schedule that stays.
    earliest = (after * horizon - budget_group_seconds) / (after - start)
    switch = max(0.0, STEP * math.ceil(earliest / STEP))
    return None if switch > horizon else switch


@dataclass(frozen=True)
class BoundSetup:
    """What every schedule of a bound shares: the warm start ``start``, the policy's
    ``max_replicas``, GPUs per group, the trace's ``horizon`` in seconds, the SLO
    ``target``, and how to play a schedule and sum a run up."""

    start: int
    max_replicas: int
    gpus_per_group: int
    horizon: float
    target: float
    play: PlaySchedule
    summarise: Summarise
    run_all: RunAll = field(default=run_in_order)


def goal_bounds(
    best_tuned: dict[str, Any] | None, oracle_gpu_hours: float, setup: BoundSetup
) -> dict[str, dict[str, Any]]:
    """Both bounds of the module docstring, keyed as ``results.json`` names them; the
    schedules of both are played in one ``setup.run_all``."""
    budgets = {
        SAVING_BOUND: (1.0 - SAVING) * float(best_tuned["gpu_hours"]) if best_tuned else 0.0,
        ORACLE_BOUND: ORACLE_FACTOR * oracle_gpu_hours,
    }
    plans = {name: _plan(best_tuned, budget, setup) for name, budget in budgets.items()}
    played = iter(setup.run_all([task for plan in plans.values() for task in plan.tasks]))
    return {
        name: _verdict(plan, [next(played) for _ in plan.tasks], setup.target)
        for name, plan in plans.items()
    }


def one_event_bound(
    best_tuned: dict[str, Any] | None, budget: float, setup: BoundSetup
) -> dict[str, Any]:
    """Play every best schedule with fewer events than ``best_tuned`` (see the module
    docstring) and say whether any meets the target within ``budget`` GPU-hours."""
    plan = _plan(best_tuned, budget, setup)
    return _verdict(plan, setup.run_all(plan.tasks), setup.target)


@dataclass(frozen=True)
class _Plan:
    """A bound's answer before its schedules are played: ``tasks[i]`` plays the row
    ``schedules[rows[i]]`` of ``bound`` (a schedule that fits the budget)."""

    bound: dict[str, Any]
    tasks: list[Task] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


def _plan(best_tuned: dict[str, Any] | None, budget: float, setup: BoundSetup) -> _Plan:
    start = setup.start
    if best_tuned is None:
        return _Plan({"computed": False, "reason": "no tuned recipe reached the target"})
    events = int(best_tuned["scale_events"])
    if events == 0:
        return _Plan(
            {
                "computed": True,
                "events_allowed": None,
                "goal_reachable": False,
                "reason": "the best tuned recipe made no scale event: none can be fewer",
            }
        )
    if events > 2:
        return _Plan({"computed": False, "reason": f"the best tuned recipe made {events} events"})
    horizon = setup.horizon
    # GPU-hours are summed up to 3 decimals: the budget is compared at the same precision.
    limit = round(budget, 3)
    budget_group_seconds = budget / setup.gpus_per_group * 3600.0
    plan = _Plan(
        {
            "computed": True,
            "events_allowed": max(0, events - 1),
            "gpu_hour_budget": limit,
            "schedules": [],
        }
    )

    def add(after: int, switch: float | None, playable: bool) -> None:
        if playable:
            plan.rows.append(len(plan.bound["schedules"]))
            plan.tasks.append(
                partial(
                    _play_within, setup.play, setup.summarise, start, horizon, after, switch, limit
                )
            )
        plan.bound["schedules"].append({"from": start, "to": after, "switch_at_s": switch})

    if events == 2:
        for after in range(1, setup.max_replicas + 1):
            if after != start:
                switch = best_switch(start, after, budget_group_seconds, horizon)
                add(after, switch, switch is not None)
    add(start, None, start * horizon <= budget_group_seconds)  # no event: stay
    return plan


def _verdict(plan: _Plan, played: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """The plan's bound with each played schedule's figures in its row, and whether any
    schedule meets ``target`` within the budget."""
    bound = plan.bound
    if "schedules" not in bound:
        return bound
    schedules = [dict(s) for s in bound["schedules"]]
    for row, figures in zip(plan.rows, played, strict=True):
        schedules[row].update(figures)
    limit = bound["gpu_hour_budget"]
    reachable = [
        s
        for s in schedules
        if "slo_attainment" in s and s["slo_attainment"] >= target and s["gpu_hours"] <= limit
    ]
    return {**bound, "schedules": schedules, "goal_reachable": bool(reachable)}


def _play_within(
    play: PlaySchedule,
    summarise: Summarise,
    start: int,
    horizon: float,
    after: int,
    switch: float | None,
    budget: float,
) -> dict[str, Any]:
    """Play ``start -> after`` at ``switch``; while over ``budget`` GPU-hours (the drain
    of released groups), again one step cheaper. The row's switch is the one played.
    ``switch`` None: stay at ``start`` (no event), played once."""
    if switch is None:
        return _figures(summarise(play(Schedule(start, start, 0.0))))
    cheaper = -STEP if after < start else STEP
    figures = _figures(summarise(play(Schedule(start, after, switch))))
    for _ in range(_MAX_RETREATS):
        moved = min(horizon, max(0.0, switch + cheaper))
        if figures["gpu_hours"] <= budget or moved == switch:
            break
        switch = moved
        figures = _figures(summarise(play(Schedule(start, after, switch))))
    return {"switch_at_s": switch, **figures}


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "slo_attainment": summary["slo_attainment"],
        "gpu_hours": summary["gpu_hours"],
        "scale_events": summary["scale_events"],
    }
