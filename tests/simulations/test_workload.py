"""``load_workload``: the window the options ask for, and a replay long enough to compare
policies (an Azure-format file written by each test)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulations.traces import TraceError
from simulations.workload import WorkloadOptions, load_workload

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def _azure(tmp_path: Path, seconds: list[float]) -> Path:
    """A trace with one request at each of ``seconds`` after 18:17:00; request i has
    i + 1 prompt tokens, so the tests can tell which ones were kept."""
    rows = "".join(f"2023-11-16 18:17:{s:010.7f},{i + 1},2\n" for i, s in enumerate(seconds))
    path = tmp_path / "trace.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("seconds", "fits"),
    [([0.0, 1.0], True), ([0.0, 0.5], False), ([3.0], False)],
    ids=["two-over-1s", "two-within-a-second", "one"],
)
def test_a_replay_needs_two_requests_over_a_second(
    tmp_path: Path, seconds: list[float], fits: bool
) -> None:
    """One request, or a burst within a second, rounds every GPU-hour figure to 0.0."""
    path = _azure(tmp_path, seconds)
    if fits:
        assert load_workload(path, WorkloadOptions(format="azure")).arrival.tolist() == [0, 1]
    else:
        with pytest.raises(TraceError, match="a replay needs at least 2 requests over 1 s"):
            load_workload(path, WorkloadOptions(format="azure"))


def test_start_and_duration_cut_the_window_and_start_it_at_0(tmp_path: Path) -> None:
    """Requests at 0, 1, ..., 9 s; ``start`` 2 and ``duration`` 3 keep those at 2, 3 and
    4 s (the window is [2, 5)), replayed from 0 with their own token counts."""
    path = _azure(tmp_path, [float(s) for s in range(10)])
    trace = load_workload(path, WorkloadOptions(format="azure", start=2.0, duration=3.0))
    assert trace.arrival.tolist() == pytest.approx([0.0, 1.0, 2.0])
    assert trace.prompt_tokens.tolist() == [3, 4, 5]
    # A duration alone starts at 0; a start alone runs to the end.
    alone = load_workload(path, WorkloadOptions(format="azure", duration=4.0))
    assert alone.prompt_tokens.tolist() == [1, 2, 3, 4]
    tail = load_workload(path, WorkloadOptions(format="azure", start=7.0))
    assert tail.prompt_tokens.tolist() == [8, 9, 10]


def test_a_window_without_requests_says_so(tmp_path: Path) -> None:
    path = _azure(tmp_path, [float(s) for s in range(10)])
    with pytest.raises(TraceError, match=re.escape(f"{path}: no requests in [20, 23) s")):
        load_workload(path, WorkloadOptions(format="azure", start=20.0, duration=3.0))
