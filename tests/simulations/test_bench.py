"""The benchmark's sweeps and goal check (``simulations.bench``), without running a loop."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from simulations import bench_runs
from simulations.bench import best_tuned_recipe, goal_check
from simulations.bench_runs import (
    KEDA_SWEEP,
    KNATIVE_SWEEP,
    ORACLE_SWEEP,
    PUBLISHED,
    SEED_SWEEP,
    Job,
)


def test_sweeps_are_geometric_grids_with_the_published_values() -> None:
    """A recipe's fleet is about load / threshold, so each step of its grid moves the
    fleet by the same share: 15% for the queue thresholds, 10% for the KPA target. The
    even grids they replaced missed KEDA at 0.25 and the KPA at 46 on the default trace;
    the geometric ones hold a point within 7.5% (5%) of any setting in range."""
    for sweep, ratio in ((SEED_SWEEP, 1.15), (KEDA_SWEEP, 1.15), (KNATIVE_SWEEP, 1.1)):
        steps = [b / a for a, b in itertools.pairwise(sweep)]
        assert max(steps) <= ratio * 1.02, sweep
        assert sweep == tuple(sorted(set(sweep)))
    for missed in (0.25, 9.0):
        assert min(abs(p / missed - 1) for p in KEDA_SWEEP) <= 0.075
    assert min(abs(p / 46.0 - 1) for p in KNATIVE_SWEEP) <= 0.05
    # The published settings are always in: seed 10, KEDA 5, the KPA 100.
    assert {5.0, 10.0} <= set(SEED_SWEEP) & set(KEDA_SWEEP)
    assert 100.0 in KNATIVE_SWEEP
    assert (SEED_SWEEP[0], KNATIVE_SWEEP[0]) == (0.1, 10.0)
    assert SEED_SWEEP[-1] >= 15.0
    assert KNATIVE_SWEEP[-1] >= 150.0
    # The oracle keeps its even grid from 0.2: on a trace no setting serves, the oracle
    # must still be the dearest.
    assert {round(b - a, 6) for a, b in itertools.pairwise(ORACLE_SWEEP)} == {0.05}
    assert (ORACLE_SWEEP[0], ORACLE_SWEEP[-1]) == (0.2, 1.6)


def _figures(**gpu_hours_events: tuple[float, int, bool]) -> dict[str, dict[str, Any]]:
    figures = {}
    for name, (gpu_hours, events, reached) in gpu_hours_events.items():
        figures[name.replace("_", "-")] = {
            "gpu_hours": gpu_hours,
            "scale_events": events,
            "reached_target": reached,
            "slo_attainment": 0.995 if reached else 0.9,
        }
    return figures


BASE = {
    "ours": (28.4, 6, True),
    "seed_tuned": (32.3, 2, True),
    "keda_tuned": (29.7, 9, True),
    "knative_tuned": (49.3, 78, True),
    "oracle": (24.6, 5, True),
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Default trace: the best tuned recipe is keda-tuned (29.7), not seed-tuned.
        (
            {},
            {
                "ours_vs_oracle_gpu_hours": 1.154,
                "within_1_15x_oracle": False,
                "saving_vs_best_tuned_recipe": 0.044,
                "at_least_20pct_fewer_than_best_tuned": False,
                "saving_budget_gpu_hours": 23.76,
                "saving_budget_below_oracle": True,
                "fewer_scale_events_than_best_tuned": True,
            },
        ),
        # A keda-tuned that missed the target is not the best: seed-tuned is.
        (
            {"keda_tuned": (29.7, 9, False)},
            {
                "saving_vs_best_tuned_recipe": 0.121,
                "saving_budget_gpu_hours": 25.84,
                "saving_budget_below_oracle": False,
                "fewer_scale_events_than_best_tuned": False,
            },
        ),
        # Cheaper ours: within 1.15x, and 20% under a 36 GPU-hour recipe.
        (
            {"ours": (27.0, 3, True), "keda_tuned": (36.0, 9, True), "seed_tuned": (40.0, 2, True)},
            {
                "within_1_15x_oracle": True,
                "at_least_20pct_fewer_than_best_tuned": True,
                "saving_budget_gpu_hours": 28.8,
                "saving_budget_below_oracle": False,
            },
        ),
        # A best tuned recipe of 0.0 GPU-hours (a replay of seconds, rounded): no saving
        # to speak of, rather than a division by zero.
        (
            {"ours": (0.0, 1, True), "keda_tuned": (0.0, 1, True)},
            {"saving_vs_best_tuned_recipe": None, "at_least_20pct_fewer_than_best_tuned": False},
        ),
        # No tuned recipe reached the target: no saving, no budget, no events part.
        (
            {
                "seed_tuned": (32.3, 2, False),
                "keda_tuned": (29.7, 9, False),
                "knative_tuned": (49.3, 78, False),
            },
            {
                "saving_vs_best_tuned_recipe": None,
                "at_least_20pct_fewer_than_best_tuned": False,
                "saving_budget_gpu_hours": None,
                "saving_budget_below_oracle": False,
                "fewer_scale_events_than_best_tuned": False,
            },
        ),
    ],
)
def test_goal_check(change: dict[str, tuple[float, int, bool]], expected: dict[str, Any]) -> None:
    figures = _figures(**{**BASE, **change})
    goal = goal_check(figures, 0.99)
    assert {k: goal[k] for k in expected} == expected


def test_best_tuned_recipe_is_the_cheapest_that_reached_the_target() -> None:
    figures = _figures(**BASE)
    assert best_tuned_recipe(figures) is figures["keda-tuned"]
    assert goal_check(figures, 0.99)["best_tuned_recipe"] == "keda-tuned"


def test_a_run_two_jobs_play_is_played_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each published recipe is also its sweep's point at the published setting: 3 of
    the 138 runs on the default trace repeated another."""
    played: list[Job] = []

    def fake_play(job: Job, setup: Any, tick: Any = None) -> Any:
        played.append(job)
        tick(1.0)
        return f"run of {job.plays}", {"gpu_hours": job.setting}

    monkeypatch.setattr(bench_runs, "play", fake_play)
    jobs = [
        Job("seed", "seed", PUBLISHED["seed"]),
        Job("keda", "keda", PUBLISHED["keda"]),
        Job("seed-tuned 10", "seed", 10.0),
        Job("seed-tuned 11.6", "seed", 11.6),
    ]
    fractions: list[float] = []
    setup: Any = None  # the fake play does not read it
    results: list[Any] = bench_runs.play_all(jobs, setup, progress=lambda _, f: fractions.append(f))
    assert [job.label for job in played] == ["seed", "keda", "seed-tuned 11.6"]
    assert [run for run, _ in results] == [
        "run of ('seed', 10.0)",
        "run of ('keda', 5.0)",
        "run of ('seed', 10.0)",
        "run of ('seed', 11.6)",
    ]
    # Each job gets its own figures: the benchmark adds a tuned recipe's setting to them.
    assert results[0][1] == results[2][1] == {"gpu_hours": 10.0}
    assert results[0][1] is not results[2][1]
    assert fractions == [1 / 3, 2 / 3, 1.0]  # the runs played, not the jobs


def test_the_published_settings_are_the_recipes_defaults_and_in_their_sweeps() -> None:
    import inspect

    from simulations.baselines.hpa_driven import keda_recipe, seed_recipe
    from simulations.baselines.kpa import KnativeKpa

    def default(function: Any, name: str) -> Any:
        return inspect.signature(function).parameters[name].default

    assert PUBLISHED == {"seed": 10.0, "keda": 5.0, "knative": 100.0}
    assert default(seed_recipe, "average_waiting") == PUBLISHED["seed"]
    assert default(keda_recipe, "threshold") == PUBLISHED["keda"]
    assert default(KnativeKpa, "target") == PUBLISHED["knative"]
    for sweep, kind in ((SEED_SWEEP, "seed"), (KEDA_SWEEP, "keda"), (KNATIVE_SWEEP, "knative")):
        assert PUBLISHED[kind] in sweep
