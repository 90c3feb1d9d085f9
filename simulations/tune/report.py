"""The tuning table (markdown), ``results.json`` and ``tuning.png``
(:mod:`simulations.tune.plot`) of ``lws-autoscaler tune``.

One row per variant, one column per trace: ``attainment / GPU-hours / scale events``,
with the attainments at each ``--also-slo`` after the first (``87.0% / 98.0% / 82.5 /
17`` is 87.0% at the SLO and 98.0% at 5 s). A gate the variant misses is in bold; the
last column gives the verdict of the rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autoscaler.output_files import write_text
from simulations.tune import plot
from simulations.tune.runner import Roles, TuningConfig, TuningResult
from simulations.tune.variants import Variant

# The files write_outputs writes: what a new run clears first (previous_outputs).
OUTPUT_FILES = ("results.json", "results.md", "tuning.png")


def _cell(figures: dict[str, Any], missed: bool, score: bool = False) -> str:
    parts = [f"{100 * figures['slo_attainment']:.2f}%"]
    if score and "slo_attainment_mean" in figures:
        # What the rule ranks by, beside the worst seed: 85.13 ± 1.03% (worst 83.20%).
        mean, error = figures["slo_attainment_mean"], figures["slo_attainment_sem"]
        parts = [f"{100 * mean:.2f} ± {100 * error:.2f}% (worst {parts[0]})"]
    parts += [f"{100 * v:.2f}%" for v in figures["slo_attainment_at"].values()]
    parts[0] = f"**{parts[0]}**" if missed else parts[0]
    events = figures["scale_events"]
    # Over several seeds events are a mean: 7.333 reads as 7.3, a single run's 7 as 7.
    shown = str(events) if isinstance(events, int) else f"{events:.1f}"
    return " / ".join([*parts, f"{figures['gpu_hours']:.1f}", shown])


def _verdict(result: TuningResult, variant: Variant) -> str:
    if variant.name == result.chosen:
        return "**chosen**"
    if variant.overrides and variant.policy == result.variants[0].policy:
        return "the shipped policy itself"
    missed = result.failed_gates[variant.name]
    return f"misses {', '.join(missed)}" if missed else "passes the gates, ranked lower"


def _changes(changes: dict[str, Any]) -> str:
    if not changes:
        return "(none)"
    return ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in changes.items())


def markdown_table(result: TuningResult, roles: Roles, config: TuningConfig) -> str:
    also = "".join(f" / at {s:g} s" for s in config.also_slo)
    names = roles.all
    role = {n: "gate" for n in roles.gates}
    if roles.score is not None:
        role[roles.score] = "score"
    heads = [f"{n} ({role.get(n, 'shown')})" for n in names]
    legend = f"attainment{also} / GPU-hours / scale events"
    if len(config.seeds) > 1:
        seeds = ", ".join(map(str, config.seeds))
        legend = (
            f"over seeds {seeds}: worst attainment{also} / mean GPU-hours / mean scale "
            "events; on the score trace the mean attainment ± its standard error, which the "
            "rule ranks by, and the worst"
        )
    lines = [
        f"SLO: queue wait <= {config.slo_queue_wait:g} s for {100 * config.slo_target:g}% of "
        f"requests. Cells: {legend}.",
        "",
        "| variant | changes | " + " | ".join(heads) + " | verdict |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for variant in result.variants:
        runs = result.figures[variant.name]
        missed = set(result.failed_gates[variant.name])
        cells = [_cell(runs[n], n in missed, role.get(n) == "score") for n in names]
        lines.append(
            f"| {variant.name} | {_changes(variant.changes)} | "
            + " | ".join(cells)
            + f" | {_verdict(result, variant)} |"
        )
    if result.chosen is None:
        lines += ["", "No variant reaches the target on every gate trace."]
    return "\n".join(lines)


def write_outputs(
    result: TuningResult, roles: Roles, config: TuningConfig, out: Path, meta: dict[str, Any]
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "meta": meta,
        "roles": {"gates": list(roles.gates), "score": roles.score, "shown": list(roles.shown)},
        "chosen": result.chosen,
        "variants": {
            v.name: {
                "changes": v.changes,
                "failed_gates": result.failed_gates[v.name],
                "traces": result.figures[v.name],
            }
            for v in result.variants
        },
    }
    json_path, md_path = out / "results.json", out / "results.md"
    write_text(json_path, json.dumps(document, indent=2) + "\n")
    write_text(md_path, markdown_table(result, roles, config) + "\n")
    png_path = plot.write_png(document, config.slo_target, out / "tuning.png")
    return [json_path, md_path, png_path]
