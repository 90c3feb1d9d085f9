"""A dry-run :class:`~simulations.dryrun.Summary` with plain figures, for the tests of
the ``--check`` baseline and the report."""

from __future__ import annotations

from typing import Any

from simulations.dryrun import Summary

FIGURES: dict[str, Any] = {
    "replica_hours": 10.0,
    "underprovisioned_seconds": 60.0,
    "longest_wrong_size_seconds": 120.0,
    "scale_ups": 3,
    "scale_downs": 2,
}


def summary(policy: str = "dev-8b", **figures: Any) -> Summary:
    return Summary(
        policy=policy,
        target=f"inference/{policy}",
        start=0.0,
        end=3600.0,
        steps=241,
        step_seconds=15.0,
        gpu_hours=None,
        underprovisioned_fraction=0.0,
        wrong_size_seconds=0.0,
        zero_seconds=0.0,
        times_to_zero=0,
        no_recommendation_seconds=0.0,
        mean_ready=1.0,
        max_created=2,
        **{**FIGURES, **figures},
    )
