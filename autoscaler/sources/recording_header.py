"""The header of a recording file, checked field by field: each field of the wrong JSON
type is a ``RecordingError`` naming it (``labels.pod: must be a string, got the number
3``), where a blanket ``except`` used to report Python's own text, and ``"labels": "x"``
escaped it as an ``AttributeError`` traceback. Also the grid the header describes
(:func:`check_grid`), and its limits, which ``record`` checks before recording."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

from autoscaler.errors import RecordingError, one_line
from autoscaler.signals import ServingEngine
from autoscaler.snapshot import LwsKey
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording_points import PointArrays

Json = dict[str, Any]
Target = tuple[LwsKey, ServingEngine, str | None]


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words, for messages: ``the string 'x'``,
    ``an object``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {one_line(repr(value), 40)}"
    if isinstance(value, list | PointArrays):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def malformed(path: Path, field: str, problem: str) -> RecordingError:
    return RecordingError(f"{path}: malformed recording header: {field}: {problem}")


def header_number(body: Json, key: str, path: Path) -> float:
    """A JSON number (not a string of one, not true/false); its finiteness is checked by
    :func:`~autoscaler.sources.recording_format.load_recording` with the grid."""
    if key not in body:
        raise malformed(path, key, "missing")
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed(path, key, f"must be a number of seconds, got {json_kind(value)}")
    try:
        return float(value)
    except OverflowError:  # an integer of 400 digits
        raise malformed(path, key, "must be a finite number") from None


def header_labels(names: Any, path: Path) -> LabelNames:
    if names is None:
        return LabelNames()
    names_known = [f.name for f in fields(LabelNames)]
    known = ", ".join(names_known)
    if not isinstance(names, dict):
        raise malformed(
            path, "labels", f"must be an object naming the labels {known}, got {json_kind(names)}"
        )
    for key, value in names.items():
        if key not in names_known:
            raise malformed(path, f"labels.{key}", f"unknown (known: {known})")
        if not isinstance(value, str):
            raise malformed(path, f"labels.{key}", f"must be a string, got {json_kind(value)}")
    try:
        return LabelNames(**names)
    except ValueError as exc:
        raise malformed(path, "labels", str(exc)) from None


def header_targets(items: Any, path: Path) -> tuple[Target, ...]:
    """``targets``: (LWS, engine, model name) per recorded target."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise malformed(path, "targets", f"must be a list of objects, got {json_kind(items)}")
    engines = ", ".join(e.value for e in ServingEngine)
    targets = []
    for n, item in enumerate(items):
        where = f"targets[{n}]"
        if not isinstance(item, dict):
            raise malformed(path, where, f"must be an object, got {json_kind(item)}")
        for key in ("namespace", "name"):
            if not isinstance(item.get(key), str):
                raise malformed(
                    path, f"{where}.{key}", f"must be a string, got {json_kind(item.get(key))}"
                )
        engine, model = item.get("engine", "vllm"), item.get("modelName")
        if not (isinstance(engine, str) and engine in {e.value for e in ServingEngine}):
            raise malformed(
                path, f"{where}.engine", f"must be one of {engines}, got {json_kind(engine)}"
            )
        if model is not None and not isinstance(model, str):
            raise malformed(
                path, f"{where}.modelName", f"must be a string or null, got {json_kind(model)}"
            )
        targets.append((LwsKey(item["namespace"], item["name"]), ServingEngine(engine), model))
    return tuple(targets)


def header_source(source: Any, path: Path) -> Json:
    if source is None:
        return {}
    if not isinstance(source, dict):
        raise malformed(path, "source", f"must be an object, got {json_kind(source)}")
    return dict(source)


MAX_GRID_STEPS = 5_000_000
"""Steps a recording's grid may have (58 days at 1 s, 2.4 years at 15 s): every series is
laid out on it, and a header with end 1e13 would otherwise ask for terabytes."""
# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the times messages can show as dates.
FIRST_SECOND, LAST_SECOND = -62_135_596_800, 253_402_300_799


def check_grid(start: float, end: float, step: float, path: Path) -> None:
    """The header's grid is one that can be laid out and replayed, or a RecordingError
    says why.

    Written so that NaN fails every check (``not step > 0``), where ``step <= 0`` and
    ``end < start`` are both False for NaN and let it through. Times outside the years 1
    to 9999 are refused as ``record`` refuses them: ``simulate`` failed on them with a
    ValueError traceback from the dates it writes (start 1e12), or hung (start 1e18,
    where floats are 128 s apart and a 15 s step does not move the clock).
    """
    if not (math.isfinite(start) and math.isfinite(end) and math.isfinite(step)):
        raise RecordingError(f"{path}: start, end and step must be finite numbers")
    if not (step > 0 and end >= start):
        raise RecordingError(f"{path}: needs step > 0 and end >= start")
    if (end - start) / step + 1 > MAX_GRID_STEPS:
        raise RecordingError(
            f"{path}: {end - start:g} s at a {step:g} s step is over {MAX_GRID_STEPS:,} "
            "steps; record a shorter span or a longer step"
        )
    if not (start >= FIRST_SECOND and end <= LAST_SECOND):
        raise RecordingError(
            f"{path}: start {start:g} and end {end:g} must be times from 0001-01-01 to "
            f"9999-12-31 ({FIRST_SECOND} to {LAST_SECOND} in Unix seconds)"
        )
