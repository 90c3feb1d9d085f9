"""Ours' decisions in a closed-loop run: the rows kept, ``decisions.csv`` and the changes
``results.md`` lists."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from autoscaler.policy.loader import load_policy_file
from autoscaler.snapshot import LwsKey
from simulations.baselines.hpa_driven import Ours
from simulations.bench_runs import fleet_factory
from simulations.closedloop import LoopConfig, run
from simulations.decision_log import DecisionRow, change_lines, changes, write_csv
from simulations.profile import load_profile
from simulations.traces import read_azure, rescale

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "policies" / "llama-70b.yaml"
CONV = REPO / "simulations" / "data" / "azure_conv_excerpt.csv"


def _row(at: float, recommendation: int | None, spec: int = 3) -> DecisionRow:
    return DecisionRow(
        at, spec, spec, spec, recommendation, "queueDepth", ("Signal",), 2.5, (("queueDepth", 2.5),)
    )


@pytest.mark.parametrize(
    ("spec", "recommendations", "changed_at"),
    [
        (3, [3, 3, 3], []),
        (3, [4, 4, 3], [0, 2]),  # the first decision differs from the size the LWS had
        # No recommendation (the HPA keeps its size) is a value of its own.
        (3, [3, None, 3, 5], [1, 2, 3]),
        (3, [None, None, 2, 2], [0, 2]),
        (2, [], []),
    ],
)
def test_changes_are_the_decisions_that_move_the_recommendation(
    spec: int, recommendations: list[int | None], changed_at: list[int]
) -> None:
    rows = [_row(15.0 * i, r, spec) for i, r in enumerate(recommendations)]
    assert changes(rows) == [rows[i] for i in changed_at]


def test_ours_keeps_each_decision_with_the_lws_it_saw_and_the_signal_behind_it(
    tmp_path: Path,
) -> None:
    """A rising load from one group: the engine orders groups, the rows say which signal
    did and what was starting, and both outputs show it."""
    policy = load_policy_file(POLICY)[0].policy
    key = LwsKey(policy.spec.target.namespace, policy.spec.target.name)
    trace = rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=4.0)
    profile = load_profile("llama-70b-h100").with_cold_start(120.0)
    ours = Ours(policy)
    result = run(trace, profile, ours, fleet_factory, 1, config=LoopConfig(key=key))
    rows = ours.decisions
    # One row per 15 s cycle of the run.
    assert len(rows) == pytest.approx(result.end / 15.0, abs=1.0)
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    signals = {name for name, _ in rows[0].needed}
    assert {"queueDepth", "queueWait"} <= signals
    ups = [r for r in changes(rows) if r.recommendation is not None and r.recommendation > r.spec]
    assert ups, "the rising load orders groups"
    first = ups[0]
    assert first.driver in signals
    assert "Signal" in first.reasons
    # While the groups it ordered start, the rows show them created but not ready.
    assert any(r.created > r.ready for r in rows if r.at > first.at)

    path = write_csv(rows, tmp_path / "decisions.csv")
    with path.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows)
    assert {f"{name}_needed" for name in signals} <= set(table[0])
    cells = next(t for t in table if float(t["elapsed_s"]) == first.at)
    assert int(cells["recommendation"]) == first.recommendation
    assert cells["driver"] == first.driver
    assert cells["reasons"].split() == list(first.reasons)
    assert all(int(t["starting"]) == int(t["created"]) - int(t["ready"]) for t in table)

    lines = change_lines(rows)
    assert f"| {first.spec} -> {first.recommendation} | {first.driver} |" in "\n".join(lines)
    assert len(lines) == 4 + len(changes(rows))


def test_a_signal_without_data_is_an_empty_cell(tmp_path: Path) -> None:
    rows = [
        DecisionRow(0.0, 1, 1, 1, 1, "queueDepth", ("Signal",), 0.5, (("queueDepth", 0.5),)),
        DecisionRow(15.0, 1, 1, 0, None, None, ("HoldLastRecommendation",), None, ()),
    ]
    with write_csv(rows, tmp_path / "d.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    head = table[0]
    assert head[-1] == "queueDepth_needed"
    assert table[1][head.index("queueDepth_needed")] == "0.5"
    assert table[2][head.index("queueDepth_needed")] == ""
    assert table[2][head.index("recommendation")] == ""
    assert table[2][head.index("starting")] == "1"
    assert change_lines([rows[0]]) == [
        "Ours' recommendation never changed from the warm start's size."
    ]
    # The engine stopping recommending is a change the table shows.
    assert "| 1 -> none | - | HoldLastRecommendation | - |" in "\n".join(change_lines(rows))


def test_decision_times_keep_every_digit(tmp_path: Path) -> None:
    """``--engine-lag 2.5`` decides at 1012.5 s, 27.5 s after 985 s; a day-long trace
    reaches 86,400 s."""
    times = [1012.5, 1027.5, 86_387.5]
    rows = [DecisionRow(t, 1, 1, 1, 1, None, (), None, ()) for t in times]
    with write_csv(rows, tmp_path / "d.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert [t["elapsed_s"] for t in table] == ["1012.5", "1027.5", "86387.5"]


def test_a_change_row_reads_minute_sizes_and_demand() -> None:
    """At 930 s (minute 15.50) the recommendation goes from the warm start's 2 groups
    (the first row's ``spec``, not the 3 of the next) to 4, for a demand of 3.14159
    groups shown with 4 significant digits."""
    rows = [
        DecisionRow(915.0, 2, 2, 2, 2, "queueDepth", ("Signal",), 2.0, ()),
        DecisionRow(930.0, 3, 3, 2, 4, "queueDepth", ("Signal",), 3.14159, ()),
    ]
    assert change_lines(rows)[-1] == "| 15.50 | 2 of 3 | 2 -> 4 | queueDepth | Signal | 3.142 |"
