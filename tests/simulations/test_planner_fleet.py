"""A planner that knows the future knows its cold starts: the oracle's (and the goal's
one-event schedules') groups are ready exactly one median cold start after creation,
where every other controller's are drawn from the profile's spread."""

from __future__ import annotations

import numpy as np

from simulations.baselines.provisioned import Oracle
from simulations.bench import BenchConfig, load_ours_policy, run_setup
from simulations.bench_runs import RunSetup, run_controller
from simulations.closedloop import LoopView
from simulations.goal_bound import Schedule
from simulations.profile import load_profile
from simulations.traces import Trace

PROFILE = load_profile("llama-70b-h100")  # median 300 s, spread 0.2


class _Grower:
    """Goes from the warm start to 5 groups at once; notes how long each took to start."""

    name = "grower"
    period = 15.0

    def __init__(self, knows: bool) -> None:
        self.knows_cold_starts = knows
        self.starts: dict[int, float] = {}

    def decide(self, view: LoopView) -> int | None:
        for group in view.state.groups:
            if group.ready_at is not None:
                self.starts[group.index] = group.ready_at - group.created_at
        return 5


def _setup() -> RunSetup:
    arrival = np.linspace(0.0, 900.0, 50)
    trace = Trace("flat", arrival, np.full(50, 100), np.full(50, 10))
    return run_setup(trace, PROFILE, load_ours_policy(PROFILE), BenchConfig(seed=3))


def test_a_planner_gets_exact_starts_and_everyone_else_the_spread() -> None:
    setup = _setup()
    planner, reactive = _Grower(knows=True), _Grower(knows=False)
    run_controller(planner, setup)
    run_controller(reactive, setup)
    new = [i for i in planner.starts if planner.starts[i] > 0]
    assert new
    assert all(planner.starts[i] == 300.0 for i in new)
    drawn = [reactive.starts[i] for i in reactive.starts if reactive.starts[i] > 0]
    assert len(drawn) == len(new)
    assert len(set(drawn)) == len(drawn)


def test_the_oracle_and_the_goal_schedules_are_planners() -> None:
    assert Oracle.knows_cold_starts
    assert Schedule.knows_cold_starts
