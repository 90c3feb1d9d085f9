"""Ours' decisions in a closed-loop run: why the engine sized the LWS as it did.

The benchmark writes them as ``decisions.csv`` (one row per decision of the server's
cycle) and lists each change of recommendation in ``results.md``, so a reader can see
which signal ordered a group and which rule held one back, as ``lws-autoscaler explain``
shows it in a cluster. Columns, as in the dry-run's timeline CSV where they overlap:

- ``elapsed_s``: seconds since the trace began;
- ``spec``, ``created``, ``ready``, ``starting``: the LWS the engine saw (``spec.replicas``,
  groups created, of them ready, and still starting);
- ``recommendation`` (empty: none), ``driver`` (the signal or rule that set it),
  ``reasons`` (the reason codes, space-separated);
- ``engine_demand``: the demand in groups the proposals came to;
- ``<signal>_needed``: each signal's need in groups (empty: no usable data).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from autoscaler.engine.decision import Decision
from autoscaler.output_files import replacing


class DecisionRow(NamedTuple):
    """One decision as the outputs show it (plain values: it crosses process pools)."""

    at: float
    spec: int
    created: int
    ready: int
    recommendation: int | None
    driver: str | None
    reasons: tuple[str, ...]
    demand: float | None
    needed: tuple[tuple[str, float | None], ...]


def decision_row(decision: Decision, spec: int, created: int, ready: int) -> DecisionRow:
    """``decision``, taken on an LWS with ``spec.replicas`` ``spec``, ``created`` groups
    and ``ready`` of them."""
    return DecisionRow(
        decision.at,
        spec,
        created,
        ready,
        decision.replicas,
        decision.driver,
        tuple(str(reason.code) for reason in decision.reasons),
        decision.demand,
        tuple((p.name, p.needed) for p in decision.proposals),
    )


def _number(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.{digits}g}"


def signal_names(rows: Sequence[DecisionRow]) -> list[str]:
    """Every signal the rows name, in the order first seen (the policy's order)."""
    names: dict[str, None] = {}
    for row in rows:
        for name, _ in row.needed:
            names.setdefault(name, None)
    return list(names)


def write_csv(rows: Sequence[DecisionRow], path: Path) -> Path:
    """``rows`` as ``decisions.csv`` (columns in the module docstring), whole or not at all."""
    signals = signal_names(rows)
    head = ["elapsed_s", "spec", "created", "ready", "starting", "recommendation", "driver"]
    head += ["reasons", "engine_demand", *(f"{name}_needed" for name in signals)]
    with replacing(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(head)
        for row in rows:
            needed = dict(row.needed)
            writer.writerow(
                [
                    # Every digit: a lag of 2.5 s decides at 1012.5 s, and a day has
                    # 86,400 of them.
                    _number(row.at, 15),
                    row.spec,
                    row.created,
                    row.ready,
                    row.created - row.ready,
                    "" if row.recommendation is None else row.recommendation,
                    row.driver or "",
                    " ".join(row.reasons),
                    _number(row.demand),
                    *(_number(needed.get(name)) for name in signals),
                ]
            )
    return path


def changes(rows: Sequence[DecisionRow]) -> list[DecisionRow]:
    """The rows whose recommendation differs from the decision's before, "none" (no
    recommendation: the HPA keeps its size) being one value of it; the first row counts
    when it differs from the size the LWS had. 3, none, none, 3 from 3: the second and
    the fourth."""
    out: list[DecisionRow] = []
    previous: int | None = rows[0].spec if rows else None
    for row in rows:
        if row.recommendation != previous:
            out.append(row)
        previous = row.recommendation
    return out


def _size(recommendation: int | None) -> str:
    return "none" if recommendation is None else str(recommendation)


def change_lines(rows: Sequence[DecisionRow]) -> list[str]:
    """Markdown for ``results.md``: each change of recommendation, when and why."""
    found = changes(rows)
    if not found:
        return ["Ours' recommendation never changed from the warm start's size."]
    lines = [
        "Ours' changes of recommendation (every decision: decisions.csv):",
        "",
        "| minute | groups (ready of created) | recommendation | driver | reasons | demand |",
        "|---:|---|---:|---|---|---:|",
    ]
    previous: int | None = rows[0].spec
    for row in found:
        lines.append(
            f"| {row.at / 60:.2f} | {row.ready} of {row.created} | {_size(previous)} -> "
            f"{_size(row.recommendation)} | {row.driver or '-'} | "
            f"{' '.join(row.reasons) or '-'} | {_number(row.demand) or '-'} |"
        )
        previous = row.recommendation
    return lines
