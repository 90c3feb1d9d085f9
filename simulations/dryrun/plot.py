"""The dry-run picture a reviewer looks at in a pull request (matplotlib, Agg backend).

Three panels sharing the time axis (hours since the start of the recording):

1. the load in groups' worth per signal of the yardstick policy, and their maximum (the
   demand), with the recorded TTFT on a second axis when the recording has it;
2. per policy: the engine's recommendation, the HPA's replicas and the ready groups (the
   second policy dashed, in other colours), with the recorded ``spec.replicas`` in grey;
3. the summary table, side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autoscaler.signals import Signal
from simulations.dryrun.load import AGGREGATE_SIGNALS, RecordedLoad
from simulations.dryrun.loop import Timeline
from simulations.dryrun.report import table_rows
from simulations.dryrun.summary import Summary, signal_demands
from simulations.figures import save_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = (("tab:blue", "tab:orange", "tab:green"), ("tab:purple", "tab:red", "tab:olive"))


def draw(
    path: Path,
    load: RecordedLoad,
    timelines: Sequence[Timeline],
    summaries: Sequence[Summary],
    demand: np.ndarray,
) -> Path:
    """Draw the picture into ``path`` (PNG)."""
    return save_png(lambda: _build(load, timelines, summaries, demand), path)


def _build(
    load: RecordedLoad,
    timelines: Sequence[Timeline],
    summaries: Sequence[Summary],
    demand: np.ndarray,
) -> Figure:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    hours = (load.times - load.times[0]) / 3600 if load.steps else load.times
    fig = plt.figure(figsize=(13, 9.5), constrained_layout=True)
    grid = fig.add_gridspec(3, 1, height_ratios=(2.2, 3, 1.8))
    ax_load = fig.add_subplot(grid[0])
    ax_rep = fig.add_subplot(grid[1], sharex=ax_load)
    ax_tab = fig.add_subplot(grid[2])

    yardstick = timelines[0].policy
    for label, curve in signal_demands(load, yardstick):
        if np.all(np.isnan(curve)):
            continue
        ax_load.plot(hours, curve, linewidth=0.8, label=label)
    ax_load.plot(hours, demand, color="black", linewidth=1.0, label="demand (max)")
    ax_load.set_ylabel(f"load (groups, {yardstick.name} targets)")
    ttft = load.aggregate[:, AGGREGATE_SIGNALS.index(Signal.TTFT)]
    if not np.all(np.isnan(ttft)):
        ax_ttft = ax_load.twinx()
        ax_ttft.plot(hours, ttft, color="grey", linewidth=0.6, alpha=0.6, label="TTFT (s)")
        ax_ttft.set_ylabel("recorded TTFT (s)")
    ax_load.legend(loc="upper left", fontsize=8, ncol=4)
    ax_load.grid(alpha=0.3)

    if not np.all(np.isnan(load.spec)):
        ax_rep.plot(
            hours,
            load.spec,
            color="lightgrey",
            linewidth=2.5,
            drawstyle="steps-post",
            label="recorded spec.replicas",
        )
    for n, timeline in enumerate(timelines):
        rec_c, hpa_c, ready_c = _COLOURS[n % 2]
        style = "-" if n == 0 else "--"
        name = summaries[n].policy
        ax_rep.plot(
            hours,
            timeline.ready,
            color=ready_c,
            linewidth=2.0,
            label=f"{name}: ready groups",
            drawstyle="steps-post",
            linestyle=style,
        )
        ax_rep.plot(
            hours,
            timeline.hpa_replicas,
            color=hpa_c,
            linewidth=1.3,
            label=f"{name}: HPA replicas",
            drawstyle="steps-post",
            linestyle=style,
        )
        ax_rep.plot(
            hours,
            timeline.recommendation,
            color=rec_c,
            linewidth=0.8,
            alpha=0.9,
            drawstyle="steps-post",
            linestyle=":" if n == 0 else "-.",
            label=f"{name}: recommendation",
        )
    ax_rep.set_ylabel("groups")
    ax_rep.yaxis.set_major_locator(MaxNLocator(integer=True))  # no half groups
    # From zero, so a step from 3 to 4 groups looks like the third more it is; room on
    # top for the legend.
    ax_rep.set_ylim(0, ax_rep.get_ylim()[1] + 1.5)
    ax_rep.set_xlabel("hours since start")
    ax_rep.legend(loc="upper left", fontsize=8, ncol=3)
    ax_rep.grid(alpha=0.3)

    rows = table_rows(summaries)
    ax_tab.axis("off")
    table = ax_tab.table(cellText=rows[1:], colLabels=rows[0], loc="center", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.1)

    start = (
        datetime.fromtimestamp(float(load.times[0]), UTC).strftime("%Y-%m-%d %H:%M UTC")
        if load.steps
        else "-"
    )
    names = " vs ".join(s.policy for s in summaries)
    fig.suptitle(f"Dry-run of {names} on {load.key} from {start}")
    return fig
