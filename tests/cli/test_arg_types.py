"""The command line's value types at their edges: each bound accepted at the bound and
refused just past it, with argparse's one-line error (the commands' own tests show
that error reaching the user as exit 2)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from autoscaler.cli.arg_types import (
    job_count,
    non_negative_float,
    non_negative_int,
    period_seconds,
    positive_float,
    positive_int,
    spread,
    writable_folder,
)
from simulations.profile import MAX_COLD_START_SPREAD

EDGES: list[tuple[Callable[[str], object], str, object]] = [
    (non_negative_int, "0", 0),
    (non_negative_int, "-1", "must be at least 0"),
    (non_negative_int, "1.5", "must be a whole number"),
    (positive_int, "1", 1),
    (positive_int, "0", "must be at least 1"),
    (non_negative_float, "0", 0.0),
    (non_negative_float, "-0.001", "must be a number of at least 0"),
    (non_negative_float, "inf", "must be a finite number"),
    (positive_float, "1e-9", 1e-9),
    (positive_float, "0", "must be a number above 0"),
    (positive_float, "nan", "must be a number above 0"),
    (period_seconds, "1", 1.0),
    (period_seconds, "0.999", "must be at least 1 second"),
    (spread, "0", 0.0),
    (spread, f"{MAX_COLD_START_SPREAD}", MAX_COLD_START_SPREAD),
    (spread, f"{MAX_COLD_START_SPREAD + 0.001}", f"must be at most {MAX_COLD_START_SPREAD:g}"),
]


@pytest.mark.parametrize(
    ("parse", "text", "expected"), EDGES, ids=[f"{p.__name__}({t})" for p, t, _ in EDGES]
)
def test_each_bound_is_inclusive(
    parse: Callable[[str], object], text: str, expected: object
) -> None:
    if isinstance(expected, str):
        with pytest.raises(argparse.ArgumentTypeError, match=expected):
            parse(text)
    else:
        assert parse(text) == expected


@pytest.mark.parametrize(
    ("cores", "most"),
    [
        (2, 8),  # 4 processes a core
        (16, 64),
        (None, 4),  # os.cpu_count() may not know: one core assumed
    ],
)
def test_at_most_four_processes_a_core(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, most: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert job_count(str(most)) == most
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        job_count(str(most + 1))
    assert str(refused.value).startswith(f"must be at most {most} (4 x the {cores or 1} cores)")


def test_an_output_folder_is_made_with_its_parents(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c"
    writable_folder(out)
    assert out.is_dir()
    assert list(out.iterdir()) == []  # the write check leaves nothing behind
