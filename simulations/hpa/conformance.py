"""Run upstream HPA controller test cases (the ``hpa-cases.json`` format) through the emulator.

A case file is a JSON list of ``{"name", "inputs": {"function", ...}, "expected": {...}}``.
Each case is dispatched on ``inputs.function`` (see :mod:`simulations.hpa.case_handlers`);
only the keys present in ``expected`` are compared. A case that cannot be run (unknown
function, unknown field, malformed value) is reported as an error with the reason; it
counts as failed and never stops the other cases. So is a case whose inputs the HPA API
would refuse (negative replicas, ``minReplicas`` above ``maxReplicas``, a stabilization
window over an hour, a negative tolerance): its outcome would be a verdict on nonsense.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscaler.errors import AutoscalerError
from simulations.hpa.case_handlers import CaseError, handler_for


class CaseFileError(AutoscalerError):
    """The case file itself cannot be read (missing, not JSON, not a list of cases)."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    expected: dict[str, Any]
    actual: dict[str, Any] | None = None
    error: str | None = None


def load_cases(path: Path | str) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CaseFileError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise CaseFileError(f"{path}: expected a JSON list of cases, got {type(data).__name__}")
    return data


REPLICA_FIELDS = (
    "currentReplicas",
    "desiredReplicas",
    "prenormalizedDesiredReplicas",
    "specReplicas",
    "statusReplicas",
    "minReplicas",
)
"""Replica counts of a case's inputs, at least 0 (``minReplicas`` 0 is scale-to-zero)."""
WINDOW_FIELDS = (
    "scaleUpStabilizationWindowSeconds",
    "scaleDownStabilizationWindowSeconds",
    "downscaleStabilisationWindowSeconds",
)
MAX_WINDOW_SECONDS = 3600
"""The HPA API's bound on ``stabilizationWindowSeconds`` (one hour)."""


def _number(value: object) -> float | None:
    """``value`` as a number, or None where it is not one (the handler then says so)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def invalid_inputs(inputs: Mapping[str, object]) -> str | None:
    """Why the HPA API would refuse ``inputs`` (a case's fields), or None.

    Only values that are numbers are checked here; a missing field or a value of the
    wrong type is left to the case's handler, which names it.
    """
    numbers = {key: _number(value) for key, value in inputs.items()}
    for key in REPLICA_FIELDS:
        value = numbers.get(key)
        if value is not None and not value >= 0:
            return f"inputs.{key} must be at least 0, got {inputs[key]!r}"
    low, high = numbers.get("minReplicas"), numbers.get("maxReplicas")
    if high is not None and not high >= 1:
        return f"inputs.maxReplicas must be at least 1, got {inputs['maxReplicas']!r}"
    if low is not None and high is not None and low > high:
        return (
            f"inputs.minReplicas ({inputs['minReplicas']!r}) is above inputs.maxReplicas "
            f"({inputs['maxReplicas']!r})"
        )
    for key in WINDOW_FIELDS:
        value = numbers.get(key)
        if value is not None and not 0 <= value <= MAX_WINDOW_SECONDS:
            return f"inputs.{key} must be 0 to {MAX_WINDOW_SECONDS}, got {inputs[key]!r}"
    tolerance = inputs.get("tolerance")
    parts = tolerance.values() if isinstance(tolerance, dict) else [tolerance]
    for part in parts:
        value = _number(part)
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"inputs.tolerance must be a finite number of at least 0, got {tolerance!r}"
    return None


def run_case(case: object, index: int = 0) -> CaseResult:
    if not isinstance(case, dict):
        return CaseResult(f"#{index}", False, {}, error="a case must be a JSON object")
    name = str(case.get("name", f"#{index}"))
    expected = case.get("expected")
    inputs = case.get("inputs")
    if not isinstance(expected, dict) or not isinstance(inputs, dict):
        return CaseResult(name, False, {}, error="a case needs 'inputs' and 'expected' objects")
    unknown = sorted(set(case) - {"name", "source_file", "inputs", "expected", "note"})
    if unknown:
        return CaseResult(
            name, False, expected, error=f"unsupported case field(s): {', '.join(unknown)}"
        )
    invalid = invalid_inputs(inputs)
    if invalid is not None:
        return CaseResult(name, False, expected, error=f"invalid case: {invalid}")
    try:
        actual = handler_for(str(inputs.get("function", "")))(inputs)
        failed_to_compute = actual.get("error") is True
        missing = [k for k in expected if k not in actual]
        if missing and not failed_to_compute:
            raise CaseError(f"unsupported expected field(s): {', '.join(missing)}")
    except CaseError as exc:
        return CaseResult(name, False, expected, error=str(exc))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return CaseResult(name, False, expected, error=f"malformed case: {detail}")
    shown = {k: actual.get(k) for k in expected}
    if failed_to_compute:
        shown["error"] = actual.get("message", True)
    passed = all(k in actual and actual[k] == v for k, v in expected.items())
    return CaseResult(name, passed, expected, shown)


def run_cases(cases: Sequence[object]) -> list[CaseResult]:
    return [run_case(case, i) for i, case in enumerate(cases)]


def format_report(results: Sequence[CaseResult]) -> str:
    """Each failing case with expected and actual, then exactly ``N passed, M failed``."""
    lines = []
    for r in results:
        if r.passed:
            continue
        if r.error is not None:
            lines.append(f"ERROR {r.name}: {r.error}")
        else:
            lines.append(f"FAIL {r.name}")
            lines.append(f"  expected: {json.dumps(r.expected, sort_keys=True)}")
            lines.append(f"  actual:   {json.dumps(r.actual, sort_keys=True)}")
    passed = sum(1 for r in results if r.passed)
    lines.append(f"{passed} passed, {len(results) - passed} failed")
    return "\n".join(lines)
