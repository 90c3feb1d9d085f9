"""``tuning.png`` of ``lws-autoscaler tune``: each variant's attainment against its
GPU-hours, one panel per trace.

The rule reads a table across (gates, then the score, then GPU-hours); the figure shows
the same trade at a glance. Panels follow the roles' order (gates, score, shown), each
titled with its role. In each:

- every variant is a point at its GPU-hours (the mean over seeds) and the attainment the
  rule reads there: the worst seed on a gate or shown trace (a gate must hold on every
  seed), the mean on the score trace with a bar of one standard error either side (the
  rule calls two scores a tie, and takes the cheaper, when they differ by less than
  hypot(error1, error2): bars that miss each other never tie, overlapping ones mostly do);
- the unchanged policy is a star, the chosen variant is ringed, a variant that misses
  any gate is drawn hollow everywhere, so its score does not count;
- the SLO target is a dashed line; points carry the variant's number, listed under the
  panels (:func:`variant_key`).

Attainment is on a logit axis, as in the benchmark's ``tradeoff.png``. Everything comes
from ``results.json``'s document, so a figure can be drawn again from a saved run;
:func:`panel_points` and :func:`point_labels` are the geometry, tested without
drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulations.figures import save_png
from simulations.tradeoff_plot import drawn, percent_ticks
from simulations.tune.variants import BASELINE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = (
    "star: the unchanged policy · ringed: the rule's choice · hollow: misses a gate · "
    "dashed: the SLO target · numbers: the variants below (0=2: the same figures)"
)


@dataclass(frozen=True)
class PanelPoint:
    variant: str
    gpu_hours: float
    attainment: float
    """The worst seed's on a gate or shown trace, the mean on the score trace."""
    error: float
    """One standard error of the mean attainment on the score trace; else 0."""
    passes_gates: bool
    chosen: bool


def role_of(document: dict[str, Any], trace: str) -> str:
    roles = document["roles"]
    # The score first: a score trace that is also a gate is drawn as the rule ranks it,
    # at its mean.
    if trace == roles["score"]:
        return "score"
    return "gate" if trace in roles["gates"] else "shown"


def traces_of(document: dict[str, Any]) -> list[str]:
    """The traces in the roles' order: gates, score, shown (each once)."""
    roles = document["roles"]
    names = [*roles["gates"], *([roles["score"]] if roles["score"] else []), *roles["shown"]]
    return list(dict.fromkeys(names))


def panel_points(document: dict[str, Any], trace: str) -> list[PanelPoint]:
    """One point per variant on ``trace``, in the variants' order.

    Over seeds 0-2 a score trace at 89.66%, 89.17%, 87.27% is drawn at the mean, 88.70%,
    with the error the run reported (sd 1.26 / sqrt 3 = 0.73 points); a gate at its
    worst, 87.27%.
    """
    score = role_of(document, trace) == "score"
    points = []
    for name, variant in document["variants"].items():
        cell = variant["traces"][trace]
        attainment = float(cell["slo_attainment"])
        error = 0.0
        if score:
            attainment = float(cell.get("slo_attainment_mean", attainment))
            error = float(cell.get("slo_attainment_sem", 0.0))
        points.append(
            PanelPoint(
                name,
                float(cell["gpu_hours"]),
                attainment,
                error,
                not variant["failed_gates"],
                name == document["chosen"],
            )
        )
    return points


def write_png(document: dict[str, Any], target: float, path: Path) -> Path:
    """Draw the figure into ``path`` (:func:`~simulations.figures.save_png`)."""
    return save_png(lambda: build_figure(document, target), path)


def build_figure(document: dict[str, Any], target: float) -> Figure:
    """The tuning figure (the caller saves and closes it)."""
    import matplotlib.pyplot as plt

    traces = traces_of(document)
    columns = min(3, len(traces))
    rows = -(-len(traces) // columns)
    numbers = {name: i for i, name in enumerate(document["variants"])}
    key = variant_key(document)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5.2 * columns, 4.2 * rows + 0.25 * len(key)), squeeze=False
    )
    for ax, trace in zip(axes.flat, traces, strict=False):
        _draw_panel(ax, document, trace, target, numbers)
    for ax in list(axes.flat)[len(traces) :]:
        ax.axis("off")
    bottom = (0.5 + 0.25 * len(key)) / fig.get_figheight()
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    fig.text(0.01, 0.005, "\n".join([MARKERS, *key]), ha="left", va="bottom", fontsize="small")
    return fig


def variant_key(document: dict[str, Any], per_line: int = 3) -> list[str]:
    """Lines of ``number: name``, ``per_line`` variants to a line: points are labelled
    with the number, as a grid's names (``quantile=0.99, spareGroups=1, ...``) would
    cover the panel."""
    entries = [f"{i}: {name}" for i, name in enumerate(document["variants"])]
    return ["    ".join(entries[i : i + per_line]) for i in range(0, len(entries), per_line)]


def point_labels(points: list[PanelPoint], numbers: dict[str, int]) -> dict[int, str]:
    """The label of each point (by position in ``points``): its variant's number, the
    numbers of every variant at the very same figures joined (``0=2``) on the first of
    them, and nothing on the others, so identical runs do not print over each other."""
    first: dict[tuple[float, float], int] = {}
    labels: dict[int, str] = {}
    for position, point in enumerate(points):
        at = (point.gpu_hours, point.attainment)
        number = str(numbers[point.variant])
        if at in first:
            labels[first[at]] += f"={number}"
        else:
            first[at] = position
            labels[position] = number
    return labels


def _draw_panel(
    ax: Any, document: dict[str, Any], trace: str, target: float, numbers: dict[str, int]
) -> None:
    ax.set_yscale("logit")
    points = panel_points(document, trace)
    labels = point_labels(points, numbers)
    for position, p in enumerate(points):
        y = drawn(p.attainment)
        colour = "black" if p.variant == BASELINE else "tab:blue"
        marker, size = ("*", 14) if p.variant == BASELINE else ("o", 6)
        face = colour if p.passes_gates else "none"
        if p.error:
            ax.errorbar(
                [p.gpu_hours],
                [y],
                yerr=[[y - drawn(p.attainment - p.error)], [drawn(p.attainment + p.error) - y]],
                fmt="none",
                ecolor=colour,
                elinewidth=0.8,
                alpha=0.6,
            )
        ax.plot([p.gpu_hours], [y], marker, ms=size, color=colour, mfc=face, label=p.variant)
        if p.chosen:
            ax.plot([p.gpu_hours], [y], "o", ms=16, mfc="none", mew=1.5, color="tab:green")
        if position in labels:
            ax.annotate(
                labels[position],
                (p.gpu_hours, y),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize="small",
            )
    # Clamped as the points are: a target of 100% lies at infinity on the logit axis.
    ax.axhline(drawn(target), color="black", ls="--", lw=0.8)
    percent_ticks(ax)
    ax.set_title(f"{trace} ({role_of(document, trace)})", fontsize="medium")
    ax.set_xlabel("GPU-hours")
    mean = role_of(document, trace) == "score"
    ax.set_ylabel("SLO attainment, " + ("mean ± s.e." if mean else "worst seed"))
    ax.grid(True, alpha=0.3)
