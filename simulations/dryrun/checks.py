"""The ``--check`` gate: is a policy worse than a saved summary beyond given margins?

A GitOps repository keeps ``summary.json`` from the last accepted run; CI re-runs the
simulation for the changed policy and fails the pull request on a regression. A policy
is matched to the baseline entry of the same name; failing that, to the baseline's only
entry when the run has a single policy or that entry measured the same LWS (a renamed
policy), never to another LWS's figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autoscaler.errors import AutoscalerError, one_line
from simulations.dryrun.report import read_summary
from simulations.dryrun.summary import (
    CHECKED_FIGURES,
    Margins,
    Summary,
    figure_problem,
    regressions,
)


class BaselineError(AutoscalerError):
    """The baseline summary cannot be used (unreadable, or no matching policy)."""


SUMMARY_VERSIONS = (1,)
"""The summary versions a baseline may have (``summary_document`` writes version 1)."""


def load_baseline(baseline: Path | str) -> dict[str, Any]:
    """The baseline summary, or :class:`BaselineError` naming the file and the problem.

    Its shape is checked here, before a run: a known ``version``, and every policy entry
    an object holding each figure :func:`regressions` compares as a finite number (a
    string entry used to fail only after the whole run, and a NaN figure passed any run
    as no regression).
    """
    try:
        document = read_summary(baseline)
    except ValueError as exc:
        raise BaselineError(str(exc)) from None
    except RecursionError:  # json.loads of '[' * 200000
        raise BaselineError(f"{baseline}: not JSON: nested too deeply") from None
    version = document.get("version")
    if isinstance(version, bool) or version not in SUMMARY_VERSIONS:
        known = ", ".join(str(v) for v in SUMMARY_VERSIONS)
        raise BaselineError(
            f"{baseline}: version: {one_line(json.dumps(version), 40)} is not a summary "
            f"version this build reads ({known}); re-run simulate to write a new baseline"
        )
    for name, entry in document["policies"].items():
        if not isinstance(entry, dict):
            raise BaselineError(
                f"{baseline}: policies.{name}: must be an object of figures, got "
                f"{one_line(json.dumps(entry), 60)}"
            )
        for key in CHECKED_FIGURES:
            problem = "missing" if key not in entry else figure_problem(entry[key])
            if problem is not None:
                raise BaselineError(f"{baseline}: policies.{name}.{key}: {problem}")
    return document


def baseline_entry(
    entries: Mapping[str, Any], policy: str, target: str, alone: bool
) -> dict[str, Any] | None:
    """The baseline figures ``policy`` (on LWS ``target``) is judged against, or None.

    ``alone``: the run checks this one policy only. The only entry of a baseline used to
    judge every policy of a run: each LWS failed or passed against one other LWS's
    figures.
    """
    entry = entries.get(policy)
    if entry is None and len(entries) == 1:
        only = next(iter(entries.values()))
        if alone or only.get("target") == target:
            entry = only
    return entry


def require_entries(
    baseline: Path | str, document: Mapping[str, Any], runs: Sequence[tuple[str, str]]
) -> None:
    """:class:`BaselineError` unless each (policy, target) run has a baseline entry: the
    CLI asks before the run, so a baseline without one loses no previous outputs."""
    entries = document["policies"]
    for policy, target in runs:
        if baseline_entry(entries, policy, target, len(runs) == 1) is None:
            held = ", ".join(sorted(entries))
            raise BaselineError(f"{baseline}: no entry for policy {policy} (has {held})")


DEFAULT_MARGINS = Margins()
"""The margins of ``simulate --check`` without its margin flags."""


def check_against(
    baseline: Path | str,
    summaries: Sequence[Summary],
    margins: Margins = DEFAULT_MARGINS,
    document: Mapping[str, Any] | None = None,
) -> list[str]:
    """One line per regression, prefixed with the policy name; empty when none.

    ``document``: the baseline as :func:`load_baseline` read it before the run (it is read
    again from ``baseline`` otherwise). A baseline inside ``--out`` is replaced by the run,
    so reading it afterwards compared the run with itself: it always passed.
    """
    entries = (load_baseline(baseline) if document is None else document)["policies"]
    problems = []
    runs = [(s.policy, s.target) for s in summaries]
    require_entries(baseline, {"policies": entries}, runs)
    for summary in summaries:
        base = baseline_entry(entries, summary.policy, summary.target, len(summaries) == 1)
        assert base is not None  # require_entries
        try:
            found = regressions(summary.to_dict(), base, margins)
        except ValueError as exc:
            raise BaselineError(f"{baseline}: policy {summary.policy}: {exc}") from None
        problems += [f"{summary.policy}: {line}" for line in found]
    return problems
