"""Benchmark outputs: ``results.json`` (policy name -> figures, nothing else),
``meta.json`` (the run's inputs, wall time and goal check), ``results.md`` (a markdown table,
the goal check, and ours' changes of recommendation), ``timeline.png`` (load, each
policy's groups and TTFT over time: :mod:`simulations.timeline_plot`), ``tradeoff.png``
(SLO attainment against GPU-hours for every run, sweeps included:
:mod:`simulations.tradeoff_plot`) and ``decisions.csv`` (ours' every decision, with its
driver and reasons: :mod:`simulations.decision_log`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autoscaler.output_files import write_text
from simulations import decision_log, tradeoff_plot
from simulations.bench import POLICY_ORDER, Benchmark
from simulations.goal_bound import ORACLE_BOUND, SAVING_BOUND
from simulations.timeline_plot import write_png

# The files write_outputs writes, in that order: what a new run clears first
# (simulations.previous_outputs).
OUTPUT_FILES = (
    "results.json",
    "meta.json",
    "results.md",
    "timeline.png",
    "tradeoff.png",
    "decisions.csv",
)

COLUMNS = (
    ("slo_attainment", "SLO attainment"),
    ("gpu_hours", "GPU-hours"),
    ("replica_hours", "group-hours"),
    ("scale_events", "scale events"),
    ("failed_requests", "failed"),
    ("ttft_p50", "TTFT p50 (s)"),
    ("ttft_p99", "TTFT p99 (s)"),
    ("queue_wait_p99", "queue wait p99 (s)"),
)


def attainment_cell(attainment: float, target: float) -> str:
    """``99.11%``, or ``98.93% (miss)`` below the target."""
    return f"{100 * attainment:.2f}%{'' if attainment >= target else ' (miss)'}"


def markdown_table(figures: dict[str, dict[str, Any]], target: float) -> str:
    head = "| policy | " + " | ".join(title for _, title in COLUMNS) + " | setting |"
    rule = "|---|" + "---:|" * len(COLUMNS) + "---|"
    rows = [head, rule]
    for name in POLICY_ORDER:
        f = figures[name]
        cells = []
        for key, _ in COLUMNS:
            value = f.get(key)
            if value is None:
                cells.append("-")
            elif key == "slo_attainment":
                cells.append(attainment_cell(value, target))
            elif isinstance(value, float):
                cells.append(
                    f"{value:.3g}" if key.startswith(("ttft", "queue")) else f"{value:.1f}"
                )
            else:
                cells.append(str(value))
        setting = f.get("setting")
        note = "" if setting is None else f"{setting:g}"
        if f.get("reached_target") is False:
            note += " (no setting of the sweep reached the target)"
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(rows) + "\n"


def write_outputs(bench: Benchmark, out: Path, meta: dict[str, Any], target: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    # results.json is the mapping the issue asks for, policy name -> figures, so a reader
    # can iterate its keys as policies; the run's metadata goes beside it.
    results = out / "results.json"
    write_text(results, json.dumps(bench.figures, indent=2) + "\n")
    meta_file = out / "meta.json"
    write_text(meta_file, json.dumps(meta, indent=2) + "\n")
    table = out / "results.md"
    lines = [f"# Closed-loop benchmark: {meta.get('trace', '')}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "goal"]
    lines += ["", markdown_table(bench.figures, target)]
    if "goal" in meta:
        goal = dict(meta["goal"])
        bounds = {name: goal.pop(name) for name in BOUND_TITLES if name in goal}
        lines += ["Goal check:", ""] + [f"- {k}: {v}" for k, v in goal.items()]
        for name, bound in bounds.items():
            lines += ["", *bound_lines(BOUND_TITLES[name], bound)]
    ours = bench.runs["ours"].decisions
    lines += ["", *decision_log.change_lines(ours)]
    write_text(table, "\n".join(lines) + "\n")
    written = [results, meta_file, table]
    written.append(write_png(bench, out / "timeline.png"))
    title = f"{Path(str(meta.get('trace', ''))).name}, seed {meta.get('seed', '-')}"
    written.append(tradeoff_plot.write_png(bench.figures, target, out / "tradeoff.png", title))
    written.append(decision_log.write_csv(ours, out / "decisions.csv"))
    return written


BOUND_TITLES = {
    SAVING_BOUND: "Fewer events *and* 20% fewer GPU-hours",
    ORACLE_BOUND: "Fewer events *and* within 1.15x of the oracle",
}


def bound_lines(title: str, bound: dict[str, Any]) -> list[str]:
    """Markdown for one of :func:`simulations.goal_bound.goal_bounds`' answers."""
    if not bound.get("computed") or "schedules" not in bound:
        reason = bound.get("reason", "")
        return [f"{title}, any schedule: not computed ({reason})"]
    lines = [
        f"{title}: every schedule with at most "
        f"{bound['events_allowed']} event(s), at its best switch within "
        f"{bound['gpu_hour_budget']} GPU-hours (reachable: {bound['goal_reachable']}):",
        "",
        "| groups | switch at (s) | SLO attainment | GPU-hours |",
        "|---|---:|---:|---:|",
    ]
    for row in bound["schedules"]:
        change = f"{row['from']} -> {row['to']}" if row["to"] != row["from"] else str(row["from"])
        if "slo_attainment" not in row:
            lines.append(f"| {change} | - | over budget | - |")
            continue
        at = "-" if row["switch_at_s"] is None else f"{row['switch_at_s']:g}"
        lines.append(
            f"| {change} | {at} | {100 * row['slo_attainment']:.2f}% | {row['gpu_hours']} |"
        )
    return lines
