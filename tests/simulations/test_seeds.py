"""Reading ``--seeds`` and summarising the benchmark over seeds (``simulations.seeds``)."""

from __future__ import annotations

from typing import Any

import pytest

from simulations.bench import goal_check
from simulations.seeds import MAX_SEEDS, SeedsError, parse_seeds, seed_row, seeds_markdown, verdict


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-4", (0, 1, 2, 3, 4)),
        ("7", (7,)),
        ("1,3,7", (1, 3, 7)),
        ("0-2, 9", (0, 1, 2, 9)),
        ("3,1,3,2-3", (3, 1, 2)),  # order kept, repeats dropped
        ("5-5", (5,)),
        ("0-2,  12345678901234567890123", (0, 1, 2, 12345678901234567890123)),
        # Exactly MAX_SEEDS (100), by one range, two, or a range and single seeds.
        (f"0-{MAX_SEEDS - 1}", tuple(range(MAX_SEEDS))),
        ("0-49,100-149", (*range(50), *range(100, 150))),
        ("0-98,200", (*range(99), 200)),
    ],
)
def test_parse_seeds(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a seed"),
        ("4-1", "'4-1' runs backwards"),
        ("-1", "'-1' is not a seed"),
        ("0,,2", "'' is not a seed"),
        ("x", "'x' is not a seed"),
        (f"0-{MAX_SEEDS}", f"at most {MAX_SEEDS} seeds"),
        ("0-49,100-150", "at most 100 seeds ('100-150' alone is 51)"),
        ("0-98,200,201", "at most 100 seeds"),
        ("x" * 40, "'" + "x" * 40 + "' is not a seed"),  # 40 characters are quoted whole
        ("x" * 41, "'" + "x" * 37 + "...' is not a seed"),
        # str.isdigit() took these, and int() then raised ValueError ('²') or read 3.
        ("\u00b2", "'\u00b2' is not a seed"),
        ("1,\u00b3", "'\u00b3' is not a seed"),
        ("\u0663", "'\u0663' is not a seed"),
        ("\u0660-\u0664", "'\u0660-\u0664' is not a seed"),
        ("0-\u0664", "'0-\u0664' is not a seed"),
        ("\uff11", "'\uff11' is not a seed"),
        # More digits than int() reads: a ValueError.
        ("9" * 5000, "'" + "9" * 37 + "...' is not a seed (too many digits"),
        ("0-" + "9" * 5000, "'0-" + "9" * 35 + "...' is not a seed (too many digits"),
        ("x" * 5000 + ",1", "'" + "x" * 37 + "...' is not a seed (use e.g."),
    ],
)
def test_parse_seeds_rejects(text: str, message: str) -> None:
    with pytest.raises(SeedsError) as error:
        parse_seeds(text)
    assert message in str(error.value)
    assert len(str(error.value)) < 120


def _run(ours: tuple[float, float, int], keda: tuple[float, float, int]) -> dict[str, Any]:
    """Figures of one seed: (attainment, GPU-hours, events) for ours and keda-tuned."""

    def fig(attainment: float, gpu: float, events: int, **extra: Any) -> dict[str, Any]:
        return {
            "slo_attainment": attainment,
            "gpu_hours": gpu,
            "scale_events": events,
            "failed_requests": 0,
            **extra,
        }

    return {
        "ours": fig(*ours),
        "seed-tuned": fig(0.995, 33.0, 2, setting=7.0, reached_target=True),
        "keda-tuned": fig(*keda, setting=9.0, reached_target=True),
        "knative-tuned": fig(0.5, 20.0, 80, setting=150.0, reached_target=False),
        "static": fig(0.998, 31.1, 1, setting=4),
        "oracle": fig(0.994, 24.6, 5, setting=0.95),
    }


def test_rows_name_the_cheapest_tuned_recipe_that_reached_the_target_and_count_the_seeds() -> None:
    runs = {
        0: _run((0.9911, 28.4, 6), (0.9938, 29.7, 9)),
        3: _run((0.9773, 30.7, 9), (0.9935, 31.0, 11)),
    }
    rows = [seed_row(s, f, goal_check(f, 0.99)) for s, f in runs.items()]
    # knative-tuned is cheaper (20.0) but never reached the target: keda-tuned is best.
    assert [r["best_tuned"]["name"] for r in rows] == ["keda-tuned", "keda-tuned"]
    assert rows[0]["best_tuned"]["setting"] == 9.0
    assert rows[1]["ours"]["slo_attainment"] == 0.9773
    summary = verdict(rows)
    assert summary["met"] == {
        "ours_reaches_target": 1,
        "within_1_15x_oracle": 0,
        "at_least_20pct_fewer_than_best_tuned": 0,
        "fewer_scale_events_than_best_tuned": 2,
    }
    assert summary["ours_slo_attainment_range"] == [0.9773, 0.9911]
    assert summary["ours_vs_oracle_range"] == [1.154, 1.248]
    table = seeds_markdown(rows, 0.99)
    assert "| 3 | 97.73% (miss) / 30.7 / 9 | 1.248 | keda-tuned 9: 99.35% / 31.0 / 11 |" in table
    assert "| 0 | 99.11% / 28.4 / 6 | 1.154 |" in table
    # 28.4 GPU-hours against keda-tuned's 29.7: 1 - 28.4 / 29.7 = 4.4% cheaper.
    assert "| keda-tuned 9: 99.38% / 29.7 / 9 | -4.4% |" in table
    assert "- ours reaches the target: 1 of 2" in table


def test_a_seed_where_no_tuned_recipe_reached_the_target() -> None:
    figures = _run((0.995, 28.0, 6), (0.95, 25.0, 9))
    figures["seed-tuned"]["reached_target"] = False
    figures["keda-tuned"]["reached_target"] = False
    row = seed_row(1, figures, goal_check(figures, 0.99))
    assert row["best_tuned"] is None
    table = seeds_markdown([row], 0.99)
    assert "none reached the target | - |" in table


def test_a_run_without_a_setting_is_shown_without_one() -> None:
    figures = _run((0.995, 28.0, 6), (0.995, 29.0, 9))
    figures["oracle"]["setting"] = None
    table = seeds_markdown([seed_row(0, figures, goal_check(figures, 0.99))], 0.99)
    assert "| 4: 99.80% / 31.1 / 1 | 99.40% / 24.6 / 5 |" in table
