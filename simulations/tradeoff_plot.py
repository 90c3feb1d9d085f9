"""The benchmark's ``tradeoff.png``: SLO attainment against GPU-hours, one mark per run.

The issue's fair comparison is GPU-hours at equal SLO attainment, which a table of nine
rows shows only to a careful reader. This figure shows it at a glance:

- each swept policy (the three recipes tuned with hindsight, and the oracle) is a line
  through every setting of its sweep in setting order, the setting the benchmark kept
  ringed and labelled;
- the published recipes are hollow diamonds in their sweep's colour, static a square,
  ours a star;
- the SLO target is a horizontal line, and the goal's region is shaded: at or above the
  target, within 1.15x of the oracle's GPU-hours and at least 20% under the best tuned
  recipe's (:func:`goal_region`).

Attainment is on a logit axis, so 60%, 99% and 99.9% all stay readable; a run that missed
no request (100%, off any logit axis) is drawn at :data:`ATTAINMENT_CEILING`. Everything
comes from the figures alone (``results.json``'s mapping), and the geometry
(:func:`sweep_points`, :func:`goal_region`) is plain Python, tested without drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulations.bench import POLICY_ORDER, TUNED_RECIPES, best_tuned_name
from simulations.figures import save_png
from simulations.goal_bound import ORACLE_FACTOR, SAVING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ATTAINMENT_CEILING = 0.9999
"""Where 100% is drawn: the logit of 1 is infinite."""
ATTAINMENT_FLOOR = 0.01
"""Where 0% is drawn, likewise."""
SWEPT = (*TUNED_RECIPES, "oracle")
_PUBLISHED = {"seed-tuned": "seed", "keda-tuned": "keda", "knative-tuned": "knative"}


@dataclass(frozen=True)
class SweepPoint:
    setting: float
    gpu_hours: float
    slo_attainment: float
    kept: bool
    """The setting the benchmark reports for this policy."""


def drawn(attainment: float) -> float:
    """``attainment`` clipped into the logit axis: 1.0 -> 0.9999, 0.0 -> 0.01."""
    return min(ATTAINMENT_CEILING, max(ATTAINMENT_FLOOR, attainment))


def sweep_points(figures: dict[str, Any]) -> list[SweepPoint]:
    """One swept policy's settings as :class:`SweepPoint`, in setting order; an entry
    without a sweep gives no point."""
    kept = figures.get("setting")
    points = [
        SweepPoint(
            float(point["setting"]),
            float(point["gpu_hours"]),
            float(point["slo_attainment"]),
            point["setting"] == kept,
        )
        for point in figures.get("sweep", ())
    ]
    return sorted(points, key=lambda p: p.setting)


def goal_region(figures: dict[str, dict[str, Any]]) -> float | None:
    """The most GPU-hours a run may use and still meet the goal's two GPU-hour parts:
    ``min(1.15 x oracle, 0.8 x best tuned recipe)``; only the first without a tuned
    recipe reaching the target; None without an oracle figure.

    Default benchmark, seed 0: oracle 24.6, seed-tuned 32.2 -> min(28.29, 25.76) = 25.76.
    """
    oracle = figures.get("oracle")
    if oracle is None:
        return None
    limit = ORACLE_FACTOR * float(oracle["gpu_hours"])
    best = best_tuned_name(figures) if all(name in figures for name in TUNED_RECIPES) else None
    if best is not None:
        limit = min(limit, (1 - SAVING) * float(figures[best]["gpu_hours"]))
    return limit


def write_png(
    figures: dict[str, dict[str, Any]], target: float, path: Path, title: str = ""
) -> Path:
    """Draw the figure into ``path`` (:func:`~simulations.figures.save_png`)."""
    return save_png(lambda: build_figure(figures, target, title), path)


def build_figure(figures: dict[str, dict[str, Any]], target: float, title: str = "") -> Figure:
    """The trade-off figure (the caller saves and closes it)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    ax.set_yscale("logit")
    # The timeline's colours (tab10 in the table's order), so a policy reads alike in both.
    colours = {name: plt.get_cmap("tab10")(POLICY_ORDER.index(name) % 10) for name in SWEPT}
    for name in SWEPT:
        _draw_sweep(ax, name, figures, colours[name])
    singles = (("static", "s", 8, "grey"), ("ours", "*", 18, "black"))
    for name, marker, size, colour in singles:
        if name in figures:
            x, y = figures[name]["gpu_hours"], drawn(figures[name]["slo_attainment"])
            ax.plot([x], [y], marker, ms=size, color=colour, zorder=5, label=name)
    ax.axhline(target, color="black", ls="--", lw=1)
    ax.text(
        1.0,
        target,
        f"target {100 * target:g}% ",
        transform=ax.get_yaxis_transform(),
        va="bottom",
        ha="right",
        fontsize="small",
    )
    _shade_goal(ax, figures, target)
    percent_ticks(ax)
    ax.set_xlabel("GPU-hours")
    ax.set_ylabel("SLO attainment (logit scale; 100% drawn at 99.99%)")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _draw_sweep(ax: Any, name: str, figures: dict[str, dict[str, Any]], colour: Any) -> None:
    """A sweep's settings joined in setting order (a threshold traces a curve), the kept
    one ringed and labelled, and the recipe as published as a hollow diamond."""
    points = sweep_points(figures.get(name, {}))
    if points:
        xs = [p.gpu_hours for p in points]
        ys = [drawn(p.slo_attainment) for p in points]
        ax.plot(xs, ys, "o-", ms=4, lw=0.7, alpha=0.7, color=colour, label=f"{name} (sweep)")
        for p in points:
            if p.kept:
                at = (p.gpu_hours, drawn(p.slo_attainment))
                ax.plot(*at, "o", ms=12, mfc="none", mew=1.5, color=colour)
                ax.annotate(
                    f"{name} {p.setting:g}",
                    at,
                    textcoords="offset points",
                    xytext=(8, -10),
                    fontsize="small",
                    color=colour,
                )
    published = _PUBLISHED.get(name)
    if published in figures:
        x, y = figures[published]["gpu_hours"], drawn(figures[published]["slo_attainment"])
        ax.plot([x], [y], "D", ms=8, mfc="none", mew=1.5, color=colour, label=published)


def _shade_goal(ax: Any, figures: dict[str, dict[str, Any]], target: float) -> None:
    """The goal's region in data coordinates: from the target to the top of the axis as
    the marks left it, left of :func:`goal_region`'s limit."""
    limit = goal_region(figures)
    if limit is None:
        return
    bottom, top = ax.get_ylim()
    left = min(ax.get_xlim()[0], 0.9 * limit)
    ax.fill_between(
        [left, limit],
        target,
        top,
        color="tab:green",
        alpha=0.15,
        lw=0,
        label=f"goal: target on <= {limit:.1f} GPU-h",
    )
    ax.set_ylim(bottom, top)
    ax.set_xlim(left=left)


PERCENT_TICKS = (
    0.1,
    0.3,
    0.5,
    0.7,
    0.8,
    0.9,
    0.95,
    0.98,
    0.99,
    0.995,
    0.998,
    0.999,
    0.9995,
    0.9999,
)


def percent_ticks(ax: Any) -> None:
    """Ticks as percentages (logit's own read ``1 - 10^-2``), those within the axis."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    bottom, top = ax.get_ylim()
    ax.yaxis.set_major_locator(FixedLocator([t for t in PERCENT_TICKS if bottom <= t <= top]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:g}%"))
