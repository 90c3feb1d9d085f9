"""The benchmark's trade-off figure (SLO attainment against GPU-hours): its geometry
(where 100% is drawn, the sweep's order, the goal's GPU-hour limit) with worked numbers,
and the figure drawn from figures built by hand, shaped as ``results.json`` holds them."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from simulations.tradeoff_plot import (
    ATTAINMENT_CEILING,
    SweepPoint,
    build_figure,
    drawn,
    goal_region,
    sweep_points,
)

matplotlib.use("Agg")


@pytest.mark.parametrize(
    ("attainment", "expected"),
    [(1.0, ATTAINMENT_CEILING), (0.0, 0.01), (0.995, 0.995), (0.6014, 0.6014)],
)
def test_attainments_off_the_logit_axis_are_drawn_at_its_ends(
    attainment: float, expected: float
) -> None:
    assert drawn(attainment) == expected


def _tuned(
    setting: float, reached: bool, gpu_hours: float, sweep: list[tuple[float, float, float]]
) -> dict[str, Any]:
    return {
        "slo_attainment": 0.995 if reached else 0.98,
        "gpu_hours": gpu_hours,
        "scale_events": 2,
        "setting": setting,
        "reached_target": reached,
        "sweep": [{"setting": s, "slo_attainment": a, "gpu_hours": g} for s, a, g in sweep],
    }


def _figures(seed_reached: bool = True) -> dict[str, dict[str, Any]]:
    """The default benchmark's shape, seed 0's figures rounded."""
    return {
        "ours": {"slo_attainment": 0.9901, "gpu_hours": 27.9, "scale_events": 6},
        "seed": {"slo_attainment": 0.6836, "gpu_hours": 53.0, "scale_events": 9},
        "seed-tuned": _tuned(
            1.0, seed_reached, 32.2, [(10.0, 0.6836, 53.0), (0.5, 0.999, 38.9), (1.0, 0.9971, 32.2)]
        ),
        "keda": {"slo_attainment": 0.6014, "gpu_hours": 82.3, "scale_events": 27},
        "keda-tuned": _tuned(0.2, False, 78.3, [(5.0, 0.6014, 82.3), (0.2, 0.9837, 78.3)]),
        "knative": {"slo_attainment": 0.7086, "gpu_hours": 49.5, "scale_events": 84},
        "knative-tuned": _tuned(40.0, True, 49.8, [(100.0, 0.7086, 49.5), (40.0, 0.9926, 49.8)]),
        "static": {"slo_attainment": 0.997, "gpu_hours": 31.1, "scale_events": 1, "setting": 4},
        "oracle": _tuned(0.95, True, 24.6, [(0.95, 0.994, 24.6), (1.2, 0.97, 20.0)]),
    }


def test_a_sweep_is_in_setting_order_with_the_kept_setting_marked() -> None:
    points = sweep_points(_figures()["seed-tuned"])
    assert points == [
        SweepPoint(0.5, 38.9, 0.999, kept=False),
        SweepPoint(1.0, 32.2, 0.9971, kept=True),
        SweepPoint(10.0, 53.0, 0.6836, kept=False),
    ]
    assert sweep_points(_figures()["ours"]) == []


def test_the_goal_limit_is_the_tighter_of_its_two_gpu_hour_parts() -> None:
    # Seed-tuned (32.2) is the cheapest recipe reaching the target: 0.8 x 32.2 = 25.76
    # is under 1.15 x 24.6 = 28.29, so the saving part binds.
    assert goal_region(_figures()) == pytest.approx(25.76)
    # Without it the cheapest reaching is knative-tuned: 0.8 x 49.8 = 39.84, so the
    # oracle part (28.29) binds.
    assert goal_region(_figures(seed_reached=False)) == pytest.approx(28.29)
    no_oracle = _figures()
    del no_oracle["oracle"]
    assert goal_region(no_oracle) is None


def test_the_figure_draws_every_run_the_target_and_the_goal_region() -> None:
    figures = _figures()
    fig = build_figure(figures, 0.99, "conv, seed 0")
    (ax,) = fig.axes
    assert ax.get_yscale() == "logit"
    assert ax.get_title() == "conv, seed 0"
    lines = {line.get_label(): line for line in ax.get_lines()}
    # Ours as a star at its figures; each sweep as a line in setting order.
    assert lines["ours"].get_marker() == "*"
    assert np.asarray(lines["ours"].get_xydata()).tolist() == [[27.9, 0.9901]]
    sweep = np.asarray(lines["seed-tuned (sweep)"].get_xydata())
    assert sweep.tolist() == [[38.9, 0.999], [32.2, 0.9971], [53.0, 0.6836]]
    assert np.asarray(lines["keda"].get_xydata()).tolist() == [[82.3, 0.6014]]
    # The kept setting is labelled beside its ring.
    labels = {text.get_text() for text in ax.texts}
    assert {"seed-tuned 1", "keda-tuned 0.2", "knative-tuned 40", "oracle 0.95"} <= labels
    # The target line, and the goal region from the target up, left of 25.76 GPU-hours.
    target_lines = [
        line for line in ax.get_lines() if np.asarray(line.get_ydata()).tolist() == [0.99, 0.99]
    ]
    assert len(target_lines) == 1
    (region,) = ax.collections
    assert "25.8 GPU-h" in str(region.get_label())
    corners = np.asarray(region.get_paths()[0].vertices)
    assert corners[:, 0].max() == pytest.approx(25.76)
    assert corners[:, 1].min() == pytest.approx(0.99)
    # Percent ticks, not logit's "1 - 10^-2".
    tick_labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "99%" in tick_labels
    assert "99.9%" in tick_labels
    import matplotlib.pyplot as plt

    plt.close(fig)
