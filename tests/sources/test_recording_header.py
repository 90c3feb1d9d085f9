"""The recording header's checks at their edges: how a JSON value is named in messages,
and the grid's step count and date bounds, written out as numbers rather than read from
the module (5,000,000 steps; the years 1 to 9999)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from autoscaler.errors import RecordingError
from autoscaler.sources.recording_header import check_grid, json_kind

PATH = Path("rec.json")


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "the number 3"),
        (1.5, "the number 1.5"),
        ("x", "the string 'x'"),
        ([1], "a list"),
        ({"a": 1}, "an object"),
        ({}, "an object"),
        # The quoted string is cut at 40 characters, its quotes counted.
        ("a" * 38, "the string '" + "a" * 38 + "'"),
        ("a" * 39, "the string '" + "a" * 36 + "..."),
    ],
)
def test_a_json_value_is_named_in_jsons_words(value: Any, named: str) -> None:
    assert json_kind(value) == named


@pytest.mark.parametrize("step", [1.0, 15.0])
def test_a_grid_of_five_million_steps_is_laid_out_and_one_more_is_refused(step: float) -> None:
    start = 1_000_000.0
    check_grid(start, start + 4_999_999 * step, step, PATH)  # 5,000,000 steps, ends included
    span = re.escape(f"{5_000_000 * step:g}")
    with pytest.raises(RecordingError, match=rf"rec.json: {span} s at a {step:g} s step is over"):
        check_grid(start, start + 5_000_000 * step, step, PATH)


@pytest.mark.parametrize(
    ("start", "end", "fits"),
    [
        (-62_135_596_800.0, -62_135_596_800.0, True),  # 0001-01-01T00:00:00Z
        (-62_135_596_801.0, -62_135_596_801.0, False),
        (253_402_300_799.0, 253_402_300_799.0, True),  # 9999-12-31T23:59:59Z
        (253_402_300_800.0, 253_402_300_800.0, False),
    ],
)
def test_the_grid_lies_within_the_years_1_to_9999(start: float, end: float, fits: bool) -> None:
    if fits:
        check_grid(start, end, 15.0, PATH)
    else:
        with pytest.raises(RecordingError, match="must be times from 0001-01-01 to 9999-12-31"):
            check_grid(start, end, 15.0, PATH)
