"""The benchmark's ``timeline.png``: load, each policy's groups, and TTFT over time.

One figure, time on a shared axis in minutes:

- **load**: arrivals (requests/s) and tokens (prompt + output, thousands/s) per minute;
- **one strip per policy**, in the table's order: groups created (shaded) and ready (line),
  so a cold start shows as the gap between the two, with the policy's SLO attainment,
  GPU-hours and scale events beside it. Nine policies on one axis are a tangle; strips on
  one scale compare at a glance;
- **TTFT p99 per minute** for every policy, ours drawn thick and on top.

The per-minute statistics are plain numpy (:func:`per_minute_quantile`), so they are
tested without drawing; :func:`build_figure` returns the figure for tests to inspect,
:func:`write_png` saves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from simulations.bench import POLICY_ORDER, Benchmark
from simulations.figures import save_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FloatArray = NDArray[np.float64]
OURS = "ours"


def per_minute_quantile(minutes: FloatArray, values: FloatArray, bins: int, q: float) -> FloatArray:
    """The ``q`` quantile of ``values`` in each whole minute ``0..bins-1`` of
    ``minutes`` (NaN for a minute with none), interpolated as ``np.percentile`` does.

    One sort for all minutes rather than a percentile per minute: values 1..100 in
    minute 0 give 99.01 at q=0.99 (position 0.99 x 99 = 98.01 between 99 and 100).
    """
    minute = np.floor(minutes).astype(np.int64)
    keep = (minute >= 0) & (minute < bins) & np.isfinite(values)
    minute, values = minute[keep], values[keep]
    order = np.lexsort((values, minute))
    ordered = values[order]
    counts = np.bincount(minute, minlength=bins)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full(bins, np.nan)
    has = counts > 0
    position = q * (counts[has] - 1)
    low = np.floor(position).astype(np.int64)
    high = np.ceil(position).astype(np.int64)
    base = starts[has]
    lo_value, hi_value = ordered[base + low], ordered[base + high]
    out[has] = lo_value + (hi_value - lo_value) * (position - low)
    return out


def per_minute_sum(minutes: FloatArray, weights: FloatArray, bins: int) -> FloatArray:
    """Sum of ``weights`` in each whole minute ``0..bins-1``."""
    minute = np.floor(minutes).astype(np.int64)
    keep = (minute >= 0) & (minute < bins)
    return np.bincount(minute[keep], weights=weights[keep], minlength=bins).astype(float)


def strip_label(figures: dict[str, Any]) -> str:
    """``99.01% SLO · 27.9 GPU-h · 6 events``, plus the sweep's setting for a tuned
    recipe (``· setting 1``)."""
    label = (
        f"{100 * figures['slo_attainment']:.2f}% SLO · {figures['gpu_hours']:.1f} GPU-h · "
        f"{figures['scale_events']} event{'' if figures['scale_events'] == 1 else 's'}"
    )
    setting = figures.get("setting")
    return label if setting is None else f"{label} · setting {setting:g}"


def write_png(bench: Benchmark, path: Path) -> Path:
    """Draw the figure into ``path`` (:func:`~simulations.figures.save_png`)."""
    return save_png(lambda: build_figure(bench), path)


def build_figure(bench: Benchmark) -> Figure:
    """The timeline figure (the caller saves and closes it)."""
    import matplotlib.pyplot as plt

    names = [n for n in POLICY_ORDER if n in bench.runs]
    colours = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(names)}
    # Load, a spacer carrying the strips' caption, one strip per policy, a spacer, TTFT.
    heights = [2.0, 0.3, *([0.55] * len(names)), 0.25, 2.2]
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(12, 3.6 + 0.55 * len(names) + 2.2),
        sharex=True,
        gridspec_kw={"height_ratios": heights, "hspace": 0.12},
    )
    load_ax, caption, *strips, gap, ttft_ax = axes
    for spacer in (caption, gap):
        spacer.axis("off")
    caption.text(
        0.0,
        0.0,
        "groups per policy: created (shaded) and ready (line); the gap is the cold start",
        transform=caption.transAxes,
        fontsize="small",
    )
    log = bench.runs[names[0]].log  # the same arrivals in every run
    arrival_min = log.arrival / 60.0
    bins = int(np.floor(arrival_min.max())) + 1 if len(arrival_min) else 1
    minutes = np.arange(bins, dtype=float)
    requests = per_minute_sum(arrival_min, np.ones_like(arrival_min), bins) / 60.0
    tokens = per_minute_sum(arrival_min, (log.prompt + log.output).astype(float), bins) / 60.0
    load_ax.step(minutes, requests, where="post", color="black", label="requests/s")
    load_ax.set_ylabel("arrivals\n(requests/s)")
    token_ax = load_ax.twinx()
    token_ax.step(minutes, tokens / 1000.0, where="post", color="grey", ls="--", lw=1)
    token_ax.set_ylabel("tokens/s (k),\ndashed", color="grey")

    top = max(max(bench.runs[n].timeline.created, default=0) for n in names) + 1
    for ax, name in zip(strips, names, strict=True):
        timeline = bench.runs[name].timeline
        t = np.asarray(timeline.time) / 60.0
        ax.fill_between(t, timeline.created, step="post", color=colours[name], alpha=0.25)
        ax.step(t, timeline.ready, where="post", color=colours[name], lw=1.4)
        ax.set_ylim(0, top)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize="small")
        ax.tick_params(axis="y", labelsize="x-small")
        ax.text(
            1.01,
            0.5,
            strip_label(bench.figures[name]),
            transform=ax.transAxes,
            ha="left",
            va="center",
            fontsize="x-small",
        )

    for name in names:
        run_log = bench.runs[name].log
        served = ~np.isnan(run_log.first_token)
        p99 = per_minute_quantile(
            run_log.arrival[served] / 60.0,
            (run_log.first_token - run_log.arrival)[served],
            bins,
            0.99,
        )
        ours = name == OURS
        ttft_ax.plot(
            minutes + 0.5,
            p99,
            color=colours[name],
            lw=2.4 if ours else 1.0,
            alpha=1.0 if ours else 0.75,
            zorder=3 if ours else 2,
            label=name,
        )
    ttft_ax.set_yscale("log")
    ttft_ax.set_ylabel("TTFT p99\nper minute (s)")
    ttft_ax.set_xlabel("minutes")
    ttft_ax.legend(
        ncol=len(names),
        fontsize="x-small",
        loc="upper center",
        bbox_to_anchor=(0.5, -0.28),
        frameon=False,
    )
    fig.align_ylabels([load_ax, *strips, ttft_ax])
    return fig
