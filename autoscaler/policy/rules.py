"""The cross-field rules of a policy, as plain functions of the values they compare.

Each rule is written once and used twice: by the model validators (so a ScalingPolicy
built in code is checked), and by ``cross_checks`` on the raw YAML data, so that a rule
whose own inputs are valid is still reported when another field of the same object is
wrong (pydantic skips a model validator as soon as any field of the model fails).

A rule returns the violations it finds; ``path`` is relative to the object that holds
the rule's inputs, in YAML names, so the loader can point at the offending line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from autoscaler.policy.fields import cross_field_error


class Violation(NamedTuple):
    """One broken rule: the message and the field (below the checked object) it is about."""

    message: str
    path: tuple[str | int, ...] = ()


def raise_violation(violation: Violation | None) -> None:
    """For a model validator: raise ``violation`` as an error at its field, if any."""
    if violation is not None:
        raise cross_field_error(violation.message, *violation.path)


def raise_first(violations: Iterable[Violation]) -> None:
    """For a model validator: raise the first of ``violations``, if any. A validator
    raises one error; a loaded file has every violation reported by ``cross_checks``."""
    raise_violation(next(iter(violations), None))


def observation_window(min_observations: int, max_observations: int) -> Violation | None:
    """coldStart: the window of observations must hold the minimum needed to learn."""
    if max_observations < min_observations:
        return Violation(
            f"maxObservations ({max_observations}) must be >= minObservations ({min_observations})",
            ("maxObservations",),
        )
    return None


def step_has_limit(groups: int | None, percent: float | None) -> Violation | None:
    """maxStep: a step limit must limit something."""
    if groups is None and percent is None:
        return Violation("set groups, percent, or both")
    return None


def fallback_within_bounds(fallback: int | None, low: int, high: int) -> Violation | None:
    """spec: a fallback is the size to run blind; below min (or zero) it would read "no
    data" as "no load", which this project never does."""
    if fallback is not None and not low <= fallback <= high:
        return Violation(
            f"fallbackReplicas ({fallback}) must be within replicas.min ({low}) "
            f"and replicas.max ({high})",
            ("missingMetrics", "fallbackReplicas"),
        )
    return None


def overrides_run(keys: Iterable[str], latency_signals: Iterable[str]) -> list[Violation]:
    """metrics.overrides: every override must be a query the source runs. The activation
    query is ``scaleToZero.activation.query``; a latency quantile is queried only for a
    latency signal the policy scales on."""
    used = {str(signal) for signal in latency_signals}
    violations: list[Violation] = []
    for key in map(str, keys):  # a Signal from the model, a str from the raw YAML
        if key == "activation":
            violations.append(
                Violation(
                    "the activation query is scaleToZero.activation.query; an override "
                    "for it would never run",
                    ("metrics", "overrides", key),
                )
            )
        elif key in ("ttftSeconds", "queueWaitSeconds") and key not in used:
            signal = "ttft" if key == "ttftSeconds" else "queueWait"
            violations.append(
                Violation(
                    f"an override for {key!r} runs only with a {signal!r} signal, which "
                    "this policy does not have",
                    ("metrics", "overrides", key),
                )
            )
    return violations


def signal_identity(signal_type: str, tokens: str | None) -> str:
    """What may appear once in ``signals``: the type, and for token throughput the tokens."""
    return signal_type if tokens is None else f"{signal_type}/{tokens}"


def listed_twice(
    entries: Iterable[tuple[int, str]], what: str, field: tuple[str, ...] = ()
) -> list[Violation]:
    """Each (index, key) of a list after the first entry of its key: ``what`` is listed
    twice, at ``(index, *field)``. Signals by identity, schedules by name."""
    seen: set[str] = set()
    violations: list[Violation] = []
    for index, key in entries:
        if key in seen:
            violations.append(Violation(f"{what} {key!r} is listed twice", (index, *field)))
        seen.add(key)
    return violations


def schedules_within_bounds(floors: Iterable[tuple[int, int]], high: int) -> list[Violation]:
    """schedules: each (index, minReplicas) must be a size the policy may run: above
    replicas.max the HPA would clamp it. (Below replicas.min it still keeps a
    scale-to-zero LWS from zero.)"""
    return [
        Violation(
            f"minReplicas ({floor}) must be at most replicas.max ({high})",
            (index, "minReplicas"),
        )
        for index, floor in floors
        if floor > high
    ]
