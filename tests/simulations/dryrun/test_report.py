"""The dry run's written outputs: the timeline CSV's number cells, the summary JSON (no
Infinity or NaN, which JSON does not have), a summary read back, and the table printed
for people."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from simulations.dryrun.report import _cell, _fmt, format_table, read_summary, write_summary
from tests.simulations.dryrun.summaries import summary


@pytest.mark.parametrize(
    ("value", "exact", "cell"),
    [
        (math.nan, False, ""),
        (3.0, False, "3"),
        (-0.0, False, "0"),
        (0.1234567, False, "0.123457"),
        (1_767_225_600.5, False, "1.76723e+09"),
        (1_767_225_600.5, True, "1767225600.5"),
    ],
)
def test_a_csv_cell_is_short_unless_it_must_be_exact(value: float, exact: bool, cell: str) -> None:
    assert _cell(value, exact) == cell
    if not exact:
        assert _cell(value) == cell  # six significant digits unless asked


def test_a_written_summary_has_null_for_figures_json_cannot_hold(tmp_path: Path) -> None:
    document = {"format": "x", "policies": {"p": {"gpu_hours": math.inf, "mean_ready": 1.5}}}
    path = write_summary(tmp_path / "summary.json", {**document, "top": -math.inf})
    text = path.read_text()
    assert "Infinity" not in text
    assert text.startswith('{\n  "format": "x",\n  "policies": {\n    "p": {\n')  # for diffs
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "format": "x",
        "policies": {"p": {"gpu_hours": None, "mean_ready": 1.5}},
        "top": None,
    }


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        ({}, "the summary holds no policies"),
        ([], "the summary holds no policies"),
        (None, "the summary holds no policies"),
    ],
)
def test_a_summary_without_policies_is_refused(tmp_path: Path, policies: Any, message: str) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"format": "lws-autoscaler-dryrun-summary", "policies": policies}))
    with pytest.raises(ValueError, match=message):
        read_summary(path)


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("gpu_hours", None, "-"),
        ("zero_seconds", 3599.0, "60.0 min"),
        ("zero_seconds", 3600.0, "1.00 h"),
        ("underprovisioned_fraction", 0.01234, "1.23%"),
        ("mean_ready", 2.0, "2.00"),
        ("scale_ups", 3, "3"),
    ],
)
def test_a_figure_is_shown_in_its_unit(key: str, value: Any, shown: str) -> None:
    assert _fmt(key, value) == shown


def test_the_table_aligns_labels_left_and_figures_right() -> None:
    table = format_table([summary("a-long-policy-name"), summary("b", scale_ups=12)]).splitlines()
    # Columns as wide as their widest cell: the label "under-provisioned share" (23), the
    # targets "inference/a-long-policy-name" (28) and "inference/b" (11); two spaces apart.
    assert table[0] == " " * 23 + "  " + "a-long-policy-name".rjust(28) + "  " + "b".rjust(11)
    scale_ups = next(line for line in table if line.startswith("scale-ups"))
    assert scale_ups == "scale-ups".ljust(23) + "  " + "3".rjust(28) + "  " + "12".rjust(11)
    assert {len(line) for line in table} == {23 + 2 + 28 + 2 + 11}


def test_a_summary_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read .*none.json: No such file or directory$"):
        read_summary(tmp_path / "none.json")
