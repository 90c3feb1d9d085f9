"""The cross-field rules, checked again on the raw data of a policy that failed validation.

pydantic runs a model validator only when every field of its model is valid, so a
policy with ``coldStart: {minObservations: 10, maxObservations: 2, expected: -5}`` would
report the bad ``expected`` and hide the window. This second pass applies each rule of
``rules`` to the raw YAML data whenever the rule's own inputs are valid (each input is
validated alone, with its field's type and constraints), so one run reports every
problem. The loader drops what pydantic already reported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from autoscaler.policy import rules
from autoscaler.policy.model import (
    ColdStart,
    MissingMetrics,
    PolicySpec,
    ReplicaBounds,
    ScaleDown,
    ScaleUp,
    ScalingPolicy,
    Schedule,
    StepLimit,
)
from autoscaler.policy.paths import SIGNAL_MODELS
from autoscaler.policy.signal_specs import LATENCY_SIGNAL_OF
from autoscaler.policy.yaml_nodes import FieldPath

_INVALID = object()
"""An input that fails its own field's validation: rules that need it are skipped."""
_ABSENT = object()


@cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    annotation = model.model_fields[name].rebuild_annotation()
    return TypeAdapter(annotation, config=ConfigDict(strict=True, allow_inf_nan=False))


def _entry(raw: Mapping[str, Any], model: type[BaseModel], name: str) -> tuple[str, Any]:
    """The YAML name of ``name`` and its raw value. A document validates by YAML names
    only, so a Python name written in YAML is an unknown key, not this field."""
    info = model.model_fields[name]
    alias = info.alias or name
    return alias, raw.get(alias, _ABSENT)


def _section(
    raw: Mapping[str, Any], model: type[BaseModel], name: str
) -> tuple[str, Mapping[str, Any] | None]:
    """A nested object as written; None where it is absent (defaults are valid) or no map."""
    key, value = _entry(raw, model, name)
    return key, value if isinstance(value, Mapping) else None


def _value(raw: Mapping[str, Any], model: type[BaseModel], name: str) -> Any:
    """One field, validated alone; its default when absent; ``_INVALID`` when wrong."""
    _, value = _entry(raw, model, name)
    if value is _ABSENT:
        return model.model_fields[name].get_default(call_default_factory=True)
    try:
        return _adapter(model, name).validate_python(value)
    except ValidationError:
        return _INVALID


def _cold_start(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    key, raw = _section(spec, PolicySpec, "cold_start")
    if raw is not None:
        low = _value(raw, ColdStart, "min_observations")
        high = _value(raw, ColdStart, "max_observations")
        if _INVALID not in (low, high):
            yield (key,), rules.observation_window(low, high)


def _step_limits(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    for name, model in (("scale_up", ScaleUp), ("scale_down", ScaleDown)):
        key, raw = _section(spec, PolicySpec, name)
        if raw is None:
            continue
        step_key, step = _section(raw, model, "max_step")
        if step is not None:
            groups = _value(step, StepLimit, "groups")
            percent = _value(step, StepLimit, "percent")
            if _INVALID not in (groups, percent):
                yield (key, step_key), rules.step_has_limit(groups, percent)


def _fallback(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    _, replicas = _entry(spec, PolicySpec, "replicas")
    _, raw = _section(spec, PolicySpec, "missing_metrics")
    if raw is None:
        return
    fallback = _value(raw, MissingMetrics, "fallback_replicas")
    try:
        # Both bounds, and max >= min.
        bounds = ReplicaBounds.model_validate(replicas, by_alias=True, by_name=False)
    except ValidationError:
        return
    if fallback is not _INVALID:
        yield (), rules.fallback_within_bounds(fallback, bounds.min, bounds.max)


def _signals(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    key, items = _entry(spec, PolicySpec, "signals")
    if not isinstance(items, list):
        return
    identities: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        tag = item.get("type") if isinstance(item, Mapping) else None
        if not isinstance(tag, str) or tag not in SIGNAL_MODELS:
            continue  # no valid type: the signal has no identity
        model = SIGNAL_MODELS[tag]
        tokens = _value(item, model, "tokens") if "tokens" in model.model_fields else None
        if tokens is not _INVALID:
            identities.append((index, rules.signal_identity(tag, tokens)))
    for violation in rules.listed_twice(identities, "signal"):
        yield (key,), violation


def _overrides(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    _, metrics = _section(spec, PolicySpec, "metrics")
    overrides = metrics.get("overrides") if metrics is not None else None
    if not isinstance(overrides, Mapping):
        return
    _, items = _entry(spec, PolicySpec, "signals")
    latency: list[str] = []
    for item in items if isinstance(items, list) else ():
        tag = item.get("type") if isinstance(item, Mapping) else None
        if isinstance(tag, str) and tag in LATENCY_SIGNAL_OF:
            latency.append(str(LATENCY_SIGNAL_OF[tag]))
    keys = [key for key in overrides if isinstance(key, str)]
    for violation in rules.overrides_run(keys, latency):
        yield (), violation


def _schedules(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, rules.Violation | None]]:
    key, items = _entry(spec, PolicySpec, "schedules")
    if not isinstance(items, list):
        return
    _, replicas = _entry(spec, PolicySpec, "replicas")
    floors: list[tuple[int, int]] = []
    names: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        floor = _value(item, Schedule, "min_replicas")
        if isinstance(floor, int):  # not when invalid, nor absent (it has no default)
            floors.append((index, floor))
        name = _value(item, Schedule, "name")
        if isinstance(name, str):
            names.append((index, name))
    for violation in rules.listed_twice(names, "schedule", ("name",)):
        yield (key,), violation
    try:
        bounds = ReplicaBounds.model_validate(replicas, by_alias=True, by_name=False)
    except ValidationError:
        return
    for violation in rules.schedules_within_bounds(floors, bounds.max):
        yield (key,), violation


_RULES = (_cold_start, _step_limits, _fallback, _signals, _overrides, _schedules)


def cross_field_issues(data: Mapping[str, Any]) -> list[tuple[FieldPath, str]]:
    """(path in YAML names, message) of every cross-field rule the raw policy breaks."""
    spec_key, spec = _section(data, ScalingPolicy, "spec")
    if spec is None:
        return []
    return [
        ((spec_key, *where, *violation.path), violation.message)
        for rule in _RULES
        for where, violation in rule(spec)
        if violation is not None
    ]
