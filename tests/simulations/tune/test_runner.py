"""The tuning rule (table-driven) and tuning runs through the real closed loop."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.bench import BenchConfig, load_ours_policy, run_benchmark
from simulations.profile import DEFAULT_PROFILE, load_profile
from simulations.tune.runner import Roles, TuningConfig, choose, combine, run_one, run_tuning
from simulations.tune.traces import resolve
from simulations.tune.variants import build_variants, load_base
from simulations.workload import SHARED_TRACES, load_workload
from tests.simulations.tune.test_variants import EXAMPLE


def _runs(**cells: tuple[float, float]) -> dict[str, dict[str, Any]]:
    return {t: {"slo_attainment": a, "gpu_hours": g} for t, (a, g) in cells.items()}


ROLES = Roles(gates=("g1", "g2"), score="s")


@pytest.mark.parametrize(
    ("figures", "chosen", "failed"),
    [
        # The best score among those passing every gate wins, even at a higher cost.
        (
            {
                "a": _runs(g1=(0.995, 10), g2=(0.99, 10), s=(0.80, 50)),
                "b": _runs(g1=(0.999, 12), g2=(0.999, 12), s=(0.85, 60)),
            },
            "b",
            {"a": [], "b": []},
        ),
        # A better score does not help a variant that misses a gate.
        (
            {
                "a": _runs(g1=(0.995, 10), g2=(0.99, 10), s=(0.80, 50)),
                "b": _runs(g1=(0.999, 12), g2=(0.989, 12), s=(0.95, 60)),
            },
            "a",
            {"a": [], "b": ["g2"]},
        ),
        # Scores within 0.01% tie; the fewest GPU-hours over gates and score win.
        (
            {
                "a": _runs(g1=(0.995, 10), g2=(0.99, 10), s=(0.85004, 50)),
                "b": _runs(g1=(0.999, 9), g2=(0.999, 9), s=(0.85, 50)),
            },
            "b",
            {"a": [], "b": []},
        ),
        # Nobody passes: no winner.
        (
            {
                "a": _runs(g1=(0.98, 10), g2=(0.99, 10), s=(0.85, 50)),
                "b": _runs(g1=(0.99, 9), g2=(0.97, 9), s=(0.85, 50)),
            },
            None,
            {"a": ["g1"], "b": ["g2"]},
        ),
    ],
)
def test_choose_applies_the_rule(
    figures: dict[str, dict[str, dict[str, Any]]], chosen: str | None, failed: dict[str, list[str]]
) -> None:
    assert choose(figures, ROLES, 0.99) == (chosen, failed)


def test_choose_without_a_score_trace_takes_the_cheapest_passing() -> None:
    figures = {
        "a": _runs(g1=(0.995, 10), g2=(0.99, 10)),
        "b": _runs(g1=(0.999, 12), g2=(0.999, 12)),
        "c": _runs(g1=(0.98, 5), g2=(0.999, 5)),
    }
    assert choose(figures, Roles(("g1", "g2"), None), 0.99)[0] == "a"


def test_roles_list_each_trace_once_in_rule_order() -> None:
    assert Roles(("g1", "g2"), "s", ("g1", "x")).all == ("g1", "g2", "s", "x")


def test_the_baseline_on_a_trace_is_the_benchmarks_ours() -> None:
    """The same warm start, loop and figures as ``lws-autoscaler benchmark``'s ``ours``."""
    trace = resolve("azure-conv", SHARED_TRACES, seconds=300)
    profile = load_profile(DEFAULT_PROFILE)
    shipped = build_variants(load_base(EXAMPLE), [])[0]
    tuned = run_one(shipped, trace, TuningConfig(DEFAULT_PROFILE))
    bench = run_benchmark(
        load_workload(trace.path, trace.options),
        profile,
        load_ours_policy(profile),
        BenchConfig(),
    )
    ours = bench.figures["ours"]
    tuned.pop("slo_attainment_at")
    assert tuned == ours


def test_variants_change_the_runs_and_processes_agree_with_one() -> None:
    variants = build_variants(
        load_base(EXAMPLE),
        ["one:replicas.max=1", "one:replicas.min=1", "slow:scaleDown.stabilizationWindow=10m"],
    )
    traces = [resolve("azure-conv", SHARED_TRACES, seconds=900)]
    roles = Roles(("azure-conv",), None)
    config = TuningConfig(DEFAULT_PROFILE, also_slo=(5.0,))
    serial = run_tuning(variants, traces, roles, config)
    parallel = run_tuning(
        variants, traces, roles, TuningConfig(DEFAULT_PROFILE, also_slo=(5.0,), jobs=2)
    )
    assert serial.figures == parallel.figures
    runs = {name: figures["azure-conv"] for name, figures in serial.figures.items()}
    # One group for the whole run costs less than the policy's fleet and serves worse;
    # a 10-minute down window keeps the warm start's groups longer.
    assert runs["one"]["gpu_hours"] < runs["shipped"]["gpu_hours"] < runs["slow"]["gpu_hours"]
    assert runs["one"]["slo_attainment"] < runs["shipped"]["slo_attainment"]
    for figures in runs.values():
        assert figures["slo_attainment_at"]["5"] >= figures["slo_attainment"]
    assert serial.failed_gates["one"] == ["azure-conv"]
    assert serial.chosen in ("shipped", "slow")


def test_a_shorter_cold_start_is_played_out() -> None:
    """With 60 s instead of 300 s the same policy plays out differently. (Not
    necessarily better: a policy that learns its cold start also scales down sooner.)"""
    trace = resolve("azure-conv", SHARED_TRACES, seconds=1800)
    shipped = build_variants(load_base(EXAMPLE), [])[0]
    slow = run_one(shipped, trace, TuningConfig(DEFAULT_PROFILE))
    fast = run_one(shipped, trace, TuningConfig(DEFAULT_PROFILE, cold_start=60.0))
    assert fast != slow


def _seed_run(attainment: float, gpu_hours: float, events: int) -> dict[str, Any]:
    return {
        "slo_attainment": attainment,
        "gpu_hours": gpu_hours,
        "scale_events": events,
        "slo_attainment_at": {"5": min(1.0, attainment + 0.01)},
    }


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        # One seed: the run as it is (no mean, no by_seed).
        ({0: _seed_run(0.995, 30.0, 7)}, _seed_run(0.995, 30.0, 7)),
        # Three: the worst attainment, the mean of the rest, each run kept.
        (
            {
                0: _seed_run(0.9961, 30.0, 6),
                1: _seed_run(0.9973, 33.0, 8),
                2: _seed_run(0.9959, 36.0, 7),
            },
            {
                "slo_attainment": 0.9959,
                "slo_attainment_mean": pytest.approx(0.9964333),
                # sd 0.000757 over 3 seeds: standard error 0.000437.
                "slo_attainment_sem": pytest.approx(0.000437, abs=1e-6),
                "slo_attainment_at": {"5": pytest.approx(1.0)},
                "gpu_hours": pytest.approx(33.0),
                "scale_events": pytest.approx(7.0),
                "by_seed": {
                    "0": _seed_run(0.9961, 30.0, 6),
                    "1": _seed_run(0.9973, 33.0, 8),
                    "2": _seed_run(0.9959, 36.0, 7),
                },
            },
        ),
    ],
)
def test_combine_folds_the_seeds_into_one_cell(
    runs: dict[int, dict[str, Any]], expected: dict[str, Any]
) -> None:
    assert combine(runs) == expected


def test_over_seeds_a_gate_must_hold_on_every_seed_and_the_score_is_the_mean() -> None:
    steady = {0: _seed_run(0.995, 30, 6), 1: _seed_run(0.993, 31, 6)}
    lucky = {0: _seed_run(0.999, 25, 6), 1: _seed_run(0.97, 26, 9)}  # seed 1 misses
    score_a = {0: _seed_run(0.90, 80, 17), 1: _seed_run(0.80, 80, 17)}  # mean 0.85
    score_b = {0: _seed_run(0.86, 70, 17), 1: _seed_run(0.86, 70, 17)}  # worst 0.86 too
    figures = {
        "steady": {"g1": combine(steady), "g2": combine(steady), "s": combine(score_a)},
        "lucky": {"g1": combine(lucky), "g2": combine(steady), "s": combine(score_b)},
        "cheap": {"g1": combine(steady), "g2": combine(steady), "s": combine(score_b)},
    }
    chosen, failed = choose(figures, ROLES, 0.99)
    assert failed == {"steady": [], "lucky": ["g1"], "cheap": []}
    # The mean score decides (0.86 > 0.85), not the best seed (0.90).
    assert chosen == "cheap"


def test_every_seed_draws_its_own_run_and_one_seed_is_a_plain_run() -> None:
    variants = build_variants(load_base(EXAMPLE), [])
    traces = [resolve("azure-conv", SHARED_TRACES, seconds=600)]
    roles = Roles(("azure-conv",), None)
    both = run_tuning(variants, traces, roles, TuningConfig(DEFAULT_PROFILE, seeds=(0, 1)))
    cell = both.figures["shipped"]["azure-conv"]
    for seed in (0, 1):
        alone = run_tuning(variants, traces, roles, TuningConfig(DEFAULT_PROFILE, seeds=(seed,)))
        assert cell["by_seed"][str(seed)] == alone.figures["shipped"]["azure-conv"]
    assert cell["by_seed"]["0"] != cell["by_seed"]["1"]
    assert cell["slo_attainment"] == min(r["slo_attainment"] for r in cell["by_seed"].values())


def test_a_lead_within_the_seed_noise_is_a_tie_and_the_cheaper_variant_wins() -> None:
    """The corrected loop's first re-tune of the queue target: 2 leads 8 on the code trace
    by 0.14 points (88.29% against 88.15% over seeds 0-2) while one variant's seeds differ
    by up to 0.8; compared at 0.01% the rule took 2, at 10-16 more GPU-hours a ServeGen
    day. Within the standard error of the difference it is a tie, and 8 is cheaper. A
    lead beyond it still wins."""
    gates = {0: _seed_run(0.998, 30, 3), 1: _seed_run(0.997, 30, 3), 2: _seed_run(0.998, 30, 3)}
    dear = {0: _seed_run(0.998, 45, 14), 1: _seed_run(0.997, 45, 14), 2: _seed_run(0.998, 45, 14)}

    def code(*attainments: float) -> dict[str, Any]:
        return combine({i: _seed_run(a, 81, 16) for i, a in enumerate(attainments)})

    def figures(two: dict[str, Any], eight: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            "2": {"g1": combine(dear), "g2": combine(dear), "s": two},
            "8": {"g1": combine(gates), "g2": combine(gates), "s": eight},
        }

    noisy = figures(code(0.8860, 0.8782, 0.8845), code(0.8787, 0.8851, 0.8807))
    assert choose(noisy, ROLES, 0.99)[0] == "8"
    clear = figures(code(0.9060, 0.9050, 0.9055), code(0.8787, 0.8851, 0.8807))
    assert choose(clear, ROLES, 0.99)[0] == "2"


def test_a_score_trace_that_is_also_a_gate_counts_once_in_the_cost() -> None:
    """a: 10 + 50 = 60 GPU-hours, b: 25 + 40 = 65; counting the score twice made b the
    cheaper (110 against 105)."""
    figures = {
        "a": _runs(g1=(0.995, 10), s=(0.995, 50)),
        "b": _runs(g1=(0.995, 25), s=(0.995, 40)),
    }
    roles = Roles(("g1", "s"), "s")
    assert roles.ranked == ("g1", "s")
    assert choose(figures, roles, 0.99)[0] == "a"
