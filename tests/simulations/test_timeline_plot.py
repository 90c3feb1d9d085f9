"""The benchmark's timeline figure: its per-minute statistics against numpy's own, and
the figure drawn from two runs built by hand (a strip per policy, its figures beside
it, ours drawn thick)."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.bench import Benchmark
from simulations.closedloop import RunResult, Timeline
from simulations.ledger import RequestLog
from simulations.timeline_plot import (
    build_figure,
    per_minute_quantile,
    per_minute_sum,
    strip_label,
)

matplotlib.use("Agg")


def test_quantile_per_minute_interpolates_as_numpy_and_leaves_empty_minutes_nan() -> None:
    minutes = np.concatenate((np.full(100, 0.5), np.full(3, 2.2), [7.0, -1.0]))
    values = np.concatenate((np.arange(1.0, 101.0), [3.0, 1.0, 2.0], [5.0, 5.0]))
    got = per_minute_quantile(minutes, values, bins=3, q=0.99)
    # Minute 0: 1..100 -> 99.01; minute 1 has nothing; minute 2: [1, 2, 3] -> 2.98.
    # 7.0 is past the last bin and -1.0 before the first: both left out.
    assert got[0] == pytest.approx(99.01)
    assert np.isnan(got[1])
    assert got[2] == pytest.approx(2.98)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 4.999, allow_nan=False), st.floats(0, 1e3, allow_nan=False)),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([0.5, 0.9, 0.99, 1.0]),
)
def test_quantile_per_minute_equals_a_percentile_per_minute(
    pairs: list[tuple[float, float]], q: float
) -> None:
    minutes = np.array([m for m, _ in pairs])
    values = np.array([v for _, v in pairs])
    got = per_minute_quantile(minutes, values, bins=5, q=q)
    for minute in range(5):
        inside = values[np.floor(minutes) == minute]
        if len(inside):
            assert got[minute] == pytest.approx(np.percentile(inside, 100 * q))
        else:
            assert np.isnan(got[minute])


def test_sum_per_minute() -> None:
    minutes = np.array([0.1, 0.9, 1.5, 3.0, 9.0])
    got = per_minute_sum(minutes, np.array([1.0, 2.0, 4.0, 8.0, 16.0]), bins=4)
    assert got.tolist() == [3.0, 4.0, 0.0, 8.0]


@pytest.mark.parametrize(
    ("figures", "label"),
    [
        (
            {"slo_attainment": 0.99006, "gpu_hours": 27.948, "scale_events": 6},
            "99.01% SLO · 27.9 GPU-h · 6 events",
        ),
        (
            {"slo_attainment": 0.997, "gpu_hours": 31.1, "scale_events": 1, "setting": 4.0},
            "99.70% SLO · 31.1 GPU-h · 1 event · setting 4",
        ),
    ],
)
def test_strip_label(figures: dict[str, Any], label: str) -> None:
    assert strip_label(figures) == label


def _run(name: str, ttft: float, created: list[int], ready: list[int]) -> RunResult:
    # 120 requests over two minutes, every one served ``ttft`` seconds after arriving,
    # except minute 1's last, which was never served (it is no TTFT).
    arrival = np.linspace(0.0, 119.0, 120)
    n = len(arrival)
    first = arrival + ttft
    first[-1] = np.nan
    log = RequestLog(
        arrival,
        np.full(n, 1000),
        np.full(n, 200),
        arrival.copy(),
        arrival.copy(),
        first,
        first + 5.0,
        np.zeros(n, dtype=np.int8),
    )
    times = [0.0, 60.0, 90.0]
    timeline = Timeline(times, created, ready, created, [0, 0, 0])
    return RunResult(name, log, timeline, 1.0, 0.125, 2, 0, 0, 120.0)


def test_the_figure_has_a_strip_per_policy_with_its_figures_and_ours_on_top() -> None:
    runs = {
        "ours": _run("ours", 0.5, [2, 3, 3], [2, 2, 3]),
        "static": _run("static", 0.25, [4, 4, 4], [4, 4, 4]),
    }
    figures = {
        "ours": {"slo_attainment": 0.995, "gpu_hours": 1.0, "scale_events": 1},
        "static": {"slo_attainment": 0.999, "gpu_hours": 2.0, "scale_events": 0, "setting": 4},
    }
    fig = build_figure(Benchmark(figures, runs))
    labels = {ax.get_ylabel(): ax for ax in fig.axes}
    assert {"ours", "static"} <= set(labels)
    for name in runs:
        strip = labels[name]
        assert [t.get_text() for t in strip.texts] == [strip_label(figures[name])]
        # One scale for every strip: the largest fleet drawn, plus one.
        assert strip.get_ylim() == (0.0, 5.0)
    # The ready line of ours steps 2 -> 2 -> 3 at the timeline's minutes (0, 1, 1.5).
    (ready,) = labels["ours"].get_lines()
    assert np.asarray(ready.get_xdata()).tolist() == [0.0, 1.0, 1.5]
    assert np.asarray(ready.get_ydata()).tolist() == [2, 2, 3]
    ttft_ax = next(ax for ax in fig.axes if ax.get_yscale() == "log")
    lines = {line.get_label(): line for line in ttft_ax.get_lines()}
    assert lines["ours"].get_linewidth() > lines["static"].get_linewidth()
    assert lines["ours"].get_zorder() > lines["static"].get_zorder()
    # TTFT p99 per minute of the served requests: 0.5 s for ours in both minutes.
    assert np.asarray(lines["ours"].get_ydata()) == pytest.approx([0.5, 0.5])
    assert np.asarray(lines["static"].get_ydata()) == pytest.approx([0.25, 0.25])
    import matplotlib.pyplot as plt

    plt.close(fig)
