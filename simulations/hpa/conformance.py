"""Run upstream HPA controller test cases (the ``hpa-cases.json`` format) through the emulator.

A case file is a JSON list of ``{"name", "inputs": {"function", ...}, "expected": {...}}``.
Each case is dispatched on ``inputs.function`` (see :mod:`simulations.hpa.case_handlers`);
only the keys present in ``expected`` are compared. A case that cannot be run (unknown
function, unknown field, malformed value) is reported as an error with the reason; it
counts as failed and never stops the other cases.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
