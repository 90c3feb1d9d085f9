"""Dry-run outputs: the timeline CSV, the summary JSON and the text table for the terminal.

The CSV has one row per recorded step and these columns:

- ``time`` (Unix seconds), ``elapsed_s``, both to full precision;
- ``<signal>_total`` the recorded load over all groups, ``<signal>_per_group`` what each
  simulated ready leader reported (empty = no data), for each leader signal;
- ``ttft_seconds``, ``queue_wait_seconds``, ``activation`` (as recorded);
- ``demand_groups`` the load in groups (yardstick policy), ``engine_demand``;
- ``recommendation``, ``driver``, ``reasons`` (the engine's reason codes);
- ``hpa_desired`` (``spec.replicas`` after the HPA), ``created``, ``ready``, ``starting``;
- ``recorded_spec``, ``recorded_ready`` (what really ran).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoscaler.output_files import replacing, write_text
from autoscaler.sources.families import LEADER_SIGNALS
from simulations.dryrun.load import AGGREGATE_SIGNALS, RecordedLoad
from simulations.dryrun.loop import Timeline
from simulations.dryrun.summary import Summary

SUMMARY_FORMAT = "lws-autoscaler-dryrun-summary"


def _cell(value: float, exact: bool = False) -> str:
    """A number for the CSV: empty for NaN, whole numbers without ``.0``, others to 6
    significant digits unless ``exact`` (times: 1767225600.5 would read 1.76723e+09)."""
    if math.isnan(value):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value)) if exact else f"{value:.6g}"


def timeline_columns() -> list[str]:
    cols = ["time", "elapsed_s"]
    for signal in LEADER_SIGNALS:
        cols += [f"{signal.value}_total", f"{signal.value}_per_group"]
    cols += ["ttft_seconds", "queue_wait_seconds", "activation", "demand_groups", "engine_demand"]
    cols += ["recommendation", "driver", "reasons", "hpa_desired", "created", "ready"]
    cols += ["starting", "recorded_spec", "recorded_ready"]
    return cols


def write_timeline(path: Path, timeline: Timeline, load: RecordedLoad, demand: np.ndarray) -> Path:
    n = len(timeline.times)
    elapsed = timeline.times - (timeline.times[0] if n else 0.0)
    numeric = [timeline.times, elapsed]
    for s in range(len(LEADER_SIGNALS)):
        numeric += [load.load[:, s], timeline.per_group[:, s]]
    numeric += [load.aggregate[:, a] for a in range(len(AGGREGATE_SIGNALS))]
    numeric += [demand, timeline.engine_demand, timeline.recommendation]
    counts = [
        timeline.hpa_replicas,
        timeline.created,
        timeline.ready,
        timeline.created - timeline.ready,
        load.spec,
        load.ready,
    ]
    head = np.column_stack(numeric).tolist() if n else []
    tail = np.column_stack(counts).astype(float).tolist() if n else []
    # Whole or not at all: the rows go to a temporary file renamed over ``path``.
    with replacing(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(timeline_columns())
        for i in range(n):
            row = head[i]
            writer.writerow(
                [_cell(row[0], exact=True), _cell(row[1], exact=True)]
                + [_cell(v) for v in row[2:]]
                + [timeline.driver[i], timeline.reasons[i]]
                + [_cell(v) for v in tail[i]]
            )
    return path


def summary_document(
    summaries: Sequence[Summary], yardsticks: Mapping[str, str], assumptions: Mapping[str, Any]
) -> dict[str, Any]:
    """``yardsticks``: per LWS (``namespace/name``), the policy whose targets measured
    its demand (each LWS's primary policy)."""
    return {
        "format": SUMMARY_FORMAT,
        "version": 1,
        "yardstick": dict(yardsticks),
        "assumptions": dict(assumptions),
        "policies": {s.policy: s.to_dict() for s in summaries},
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def write_summary(path: Path, document: Mapping[str, Any]) -> Path:
    return write_text(path, json.dumps(_finite(dict(document)), indent=2) + "\n")


def read_summary(path: Path | str) -> dict[str, Any]:
    """A summary JSON written by :func:`write_summary` (ValueError when it is not one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON: {exc.msg}") from None
    if not isinstance(data, dict) or data.get("format") != SUMMARY_FORMAT:
        raise ValueError(f"{path}: not a dry-run summary (no 'format': '{SUMMARY_FORMAT}')")
    if not isinstance(data.get("policies"), dict) or not data["policies"]:
        raise ValueError(f"{path}: the summary holds no policies")
    return data


ROWS: tuple[tuple[str, str], ...] = (
    ("target", "target"),
    ("replica_hours", "replica-hours"),
    ("gpu_hours", "GPU-hours"),
    ("underprovisioned_seconds", "under-provisioned"),
    ("underprovisioned_fraction", "under-provisioned share"),
    ("scale_ups", "scale-ups"),
    ("scale_downs", "scale-downs"),
    ("longest_wrong_size_seconds", "longest at a wrong size"),
    ("wrong_size_seconds", "time at a wrong size"),
    ("zero_seconds", "time at zero"),
    ("times_to_zero", "scaled to zero (times)"),
    ("no_recommendation_seconds", "no recommendation"),
    ("mean_ready", "mean ready groups"),
    ("max_created", "max groups"),
)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_seconds"):
        seconds = float(value)
        return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
    if key.endswith("fraction"):
        return f"{100 * float(value):.2f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table_rows(summaries: Sequence[Summary]) -> list[list[str]]:
    """Header row, then one row per figure with one column per policy."""
    rows = [["", *(s.policy for s in summaries)]]
    for key, label in ROWS:
        rows.append([label, *(_fmt(key, getattr(s, key)) for s in summaries)])
    return rows


def format_table(summaries: Sequence[Summary]) -> str:
    rows = table_rows(summaries)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in rows
    )
