"""Reading ServeGen client files (``simulations.servegen``): which clients and windows
are read, and where a thinned window's arrivals fall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.servegen import _window_positions, read_servegen
from simulations.traces import Trace, TraceError

LENGTHS = Trace("lengths", np.zeros(1), np.ones(1, dtype=np.int64), np.ones(1, dtype=np.int64))


def _folder(tmp_path: Path, rows: dict[int, str]) -> Path:
    """One client file per id, each holding the CSV rows given."""
    folder = tmp_path / "servegen"
    category = folder / "data" / "reason" / "deepseek-r1"
    category.mkdir(parents=True)
    for client, text in rows.items():
        (category / f"chunk-{client}-trace.csv").write_text(text)
    return folder


def _count(folder: Path, clients: int | None = None) -> int:
    return len(read_servegen(folder, LENGTHS, np.random.default_rng(0), clients=clients))


@pytest.mark.parametrize(("clients", "rate"), [(1, 1.0), (2, 3.0), (None, 3.0)])
def test_the_first_clients_by_id_are_read_or_all(
    tmp_path: Path, clients: int | None, rate: float
) -> None:
    """Client 1 sends 1 request/s over a 600 s window, client 7 sends 2."""
    folder = _folder(tmp_path, {7: "0,2,1,Gamma,1,1\n", 1: "0,1,1,Gamma,1,1\n"})
    assert _count(folder, clients) == pytest.approx(600 * rate, rel=0.1)


def test_a_window_of_rate_0_is_skipped_whatever_its_fit(tmp_path: Path) -> None:
    """An idle window carries no fit worth checking (its distribution is left empty or
    is anything): skipped, where a busy one with that fit is an error."""
    folder = _folder(tmp_path, {1: "0,1,1,Gamma,1,1\n600,0,0,Unknown,0,0\n"})
    trace = read_servegen(folder, LENGTHS, np.random.default_rng(0))
    assert len(trace) == pytest.approx(600, rel=0.1)
    # Spread over the window's 600 s, not squeezed into its start.
    assert trace.arrival.max() - trace.arrival.min() > 500
    assert trace.arrival.max() < 600


def test_only_idle_windows_are_no_requests(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {1: "0,0,0,,0,0\n600,0,0,,0,0\n"})
    with pytest.raises(TraceError, match="no requests in"):
        _count(folder)


@pytest.mark.parametrize(("start", "end", "requests"), [(600.0, 1800.0, 1200), (0.0, 600.0, 600)])
def test_a_window_is_read_when_it_overlaps_the_span(
    tmp_path: Path, start: float, end: float, requests: int
) -> None:
    """Windows [0, 600) at 1 request/s and [600, 1200) at 2: from 600 s only the second
    is read, up to 600 s only the first (a window touching the span's edge is out)."""
    folder = _folder(tmp_path, {1: "0,1,1,Gamma,1,1\n600,2,1,Gamma,1,1\n"})
    trace = read_servegen(folder, LENGTHS, np.random.default_rng(0), start=start, end=end)
    assert len(trace) == pytest.approx(requests, rel=0.1)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_thinned_windows_arrivals_lie_in_it_in_order(fraction: float) -> None:
    """The kept share of 2,000 bursty requests: positions within the window [0, 1),
    ascending, spread over most of it."""
    rng = np.random.default_rng(4)
    for _ in range(20):
        positions = _window_positions("Gamma", 0.5, 2.0, 2000, fraction, rng)
        assert len(positions) > 0
        assert positions.min() >= 0.0
        assert positions.max() < 1.0
        assert np.all(np.diff(positions) >= 0)
        assert positions.max() - positions.min() > 0.5


def test_a_thinned_window_that_keeps_none_has_no_arrivals() -> None:
    positions = _window_positions("Gamma", 0.5, 2.0, 5, 1e-12, np.random.default_rng(0))
    assert len(positions) == 0
