"""The tuning figure: what each panel plots for each variant (the worst seed on a gate,
the mean and its error on the score, as the rule reads them), how points are labelled,
and the figure drawn from a document shaped as ``tune``'s ``results.json``."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from simulations.tune.plot import (
    PanelPoint,
    build_figure,
    panel_points,
    point_labels,
    role_of,
    traces_of,
    variant_key,
)

matplotlib.use("Agg")


def _cell(
    worst: float, gpu_hours: float, mean: float | None = None, sem: float = 0.0
) -> dict[str, Any]:
    cell: dict[str, Any] = {"slo_attainment": worst, "gpu_hours": gpu_hours, "scale_events": 4.0}
    if mean is not None:
        cell |= {"slo_attainment_mean": mean, "slo_attainment_sem": sem}
    return cell


def _document() -> dict[str, Any]:
    """Three variants over seeds 0-2: the shipped policy, one that misses the gate, and
    the chosen one (the same figures as the shipped policy on the gate)."""
    return {
        "roles": {"gates": ["servegen-day2"], "score": "azure-code", "shown": ["azure-conv"]},
        "chosen": "hold",
        "variants": {
            "shipped": {
                "changes": {},
                "failed_gates": [],
                "traces": {
                    "servegen-day2": _cell(0.9970, 29.3),
                    "azure-code": _cell(0.8727, 80.0, 0.8870, 0.0073),
                    "azure-conv": _cell(0.9901, 27.9),
                },
            },
            "tight": {
                "changes": {"tolerance": 0.3},
                "failed_gates": ["servegen-day2"],
                "traces": {
                    "servegen-day2": _cell(0.9810, 25.0),
                    "azure-code": _cell(0.8000, 70.0, 0.8100, 0.01),
                    "azure-conv": _cell(0.9700, 24.0),
                },
            },
            "hold": {
                "changes": {"holdWhileStarting": True},
                "failed_gates": [],
                "traces": {
                    "servegen-day2": _cell(0.9970, 29.3),
                    "azure-code": _cell(0.8881, 78.6, 0.8922, 0.0028),
                    "azure-conv": _cell(0.9901, 27.9),
                },
            },
        },
    }


def test_traces_come_in_the_roles_order_with_their_role() -> None:
    document = _document()
    assert traces_of(document) == ["servegen-day2", "azure-code", "azure-conv"]
    assert [role_of(document, t) for t in traces_of(document)] == ["gate", "score", "shown"]


def test_a_gate_panel_plots_the_worst_seed_and_the_score_panel_the_mean_with_its_error() -> None:
    document = _document()
    gate = panel_points(document, "servegen-day2")
    assert gate[1] == PanelPoint("tight", 25.0, 0.9810, 0.0, passes_gates=False, chosen=False)
    score = panel_points(document, "azure-code")
    assert score == [
        PanelPoint("shipped", 80.0, 0.8870, 0.0073, passes_gates=True, chosen=False),
        PanelPoint("tight", 70.0, 0.8100, 0.01, passes_gates=False, chosen=False),
        PanelPoint("hold", 78.6, 0.8922, 0.0028, passes_gates=True, chosen=True),
    ]


def test_variants_at_the_very_same_figures_share_one_label() -> None:
    document = _document()
    numbers = {name: i for i, name in enumerate(document["variants"])}
    # On the gate, shipped (0) and hold (2) ran to the same figures: "0=2" once.
    assert point_labels(panel_points(document, "servegen-day2"), numbers) == {0: "0=2", 1: "1"}
    assert point_labels(panel_points(document, "azure-code"), numbers) == {0: "0", 1: "1", 2: "2"}


def test_the_key_lists_the_variants_by_number() -> None:
    assert variant_key(_document(), per_line=2) == ["0: shipped    1: tight", "2: hold"]


def test_the_figure_has_a_panel_per_trace_with_the_rule_s_marks() -> None:
    fig = build_figure(_document(), 0.99)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in panels] == [
        "servegen-day2 (gate)",
        "azure-code (score)",
        "azure-conv (shown)",
    ]
    gate, score, _ = panels
    assert gate.get_yscale() == "logit"
    lines = {line.get_label(): line for line in gate.get_lines()}
    assert lines["shipped"].get_marker() == "*"
    assert lines["tight"].get_markerfacecolor() == "none"  # misses a gate: hollow
    assert lines["hold"].get_markerfacecolor() != "none"
    # The score panel carries one error bar per variant, the standard error either side.
    from matplotlib.collections import LineCollection

    bars = [c for c in score.collections if isinstance(c, LineCollection)]
    assert len(bars) == 3
    ends = np.asarray(bars[0].get_segments()[0])
    assert ends[:, 1] == pytest.approx([0.8870 - 0.0073, 0.8870 + 0.0073])
    assert "0: shipped" in fig.texts[0].get_text()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_target_of_100_percent_is_drawn_at_the_top() -> None:
    """``axhline(1.0)`` lies at infinity on the logit axis: no SLO line at all."""
    fig = build_figure(_document(), 1.0)
    fig.canvas.draw()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(panels) == 3
    for ax in panels:
        (line,) = [drawn for drawn in ax.get_lines() if drawn.get_linestyle() == "--"]
        at = float(np.asarray(line.get_ydata(), dtype=float)[0])
        # Where the line lands on the canvas: 1.0 is +inf on the logit scale.
        assert np.isfinite(ax.transData.transform((0.0, at))[1])
        # At the top: above every variant's point, inside the axis.
        others = [other for other in ax.get_lines() if other is not line]
        highest = max(float(np.asarray(other.get_ydata(), dtype=float).max()) for other in others)
        assert highest < at <= ax.get_ylim()[1]
    import matplotlib.pyplot as plt

    plt.close(fig)
