"""The ``--check`` gate: is a policy worse than a saved summary beyond given margins?

A GitOps repository keeps ``summary.json`` from the last accepted run; CI re-runs the
simulation for the changed policy and fails the pull request on a regression. A policy
is matched to the baseline entry of the same name, or to the only entry if there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoscaler.errors import AutoscalerError
from simulations.dryrun.report import read_summary
from simulations.dryrun.summary import Margins, Summary, regressions


class BaselineError(AutoscalerError):
    """The baseline summary cannot be used (unreadable, or no matching policy)."""


def load_baseline(baseline: Path | str) -> dict[str, Any]:
    """The baseline summary, or :class:`BaselineError` naming the file and the problem."""
    try:
        return read_summary(baseline)
    except ValueError as exc:
        raise BaselineError(str(exc)) from None


def check_against(
    baseline: Path | str,
    summaries: Sequence[Summary],
    replica_hours_percent: float = 10.0,
    underprovisioned_seconds: float = 300.0,
    longest_wrong_size_seconds: float = 600.0,
    scale_events_percent: float = 50.0,
) -> list[str]:
    """One line per regression, prefixed with the policy name; empty when none."""
    entries = load_baseline(baseline)["policies"]
    margins = Margins(
        replica_hours_percent,
        underprovisioned_seconds,
        longest_wrong_size_seconds,
        scale_events_percent,
    )
    problems = []
    for summary in summaries:
        base = entries.get(summary.policy)
        if base is None and len(entries) == 1:
            base = next(iter(entries.values()))
        if base is None:
            held = ", ".join(sorted(entries))
            raise BaselineError(f"{baseline}: no entry for policy {summary.policy} (has {held})")
        try:
            found = regressions(summary.to_dict(), base, margins)
        except ValueError as exc:
            raise BaselineError(f"{baseline}: {exc}") from None
        problems += [f"{summary.policy}: {line}" for line in found]
    return problems
