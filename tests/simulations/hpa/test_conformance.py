"""The HPA emulation against the upstream controller test cases (shared/reference), and
the conformance runner's handling of failing, unknown and malformed cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from simulations.hpa.conformance import (
    CaseFileError,
    format_report,
    load_cases,
    run_case,
    run_cases,
)

CASES = Path(__file__).resolve().parents[4] / "shared" / "reference" / "hpa-cases.json"


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    if not CASES.exists():
        pytest.skip(f"{CASES} is not available")
    return load_cases(CASES)


def test_every_upstream_case_passes(cases: list[dict[str, Any]]) -> None:
    results = run_cases(cases)
    failures = [r for r in results if not r.passed]
    assert not failures, format_report(failures)
    assert format_report(results).splitlines()[-1] == f"{len(cases)} passed, 0 failed"


def test_each_kind_of_case_is_exercised(cases: list[dict[str, Any]]) -> None:
    kinds = {c["inputs"]["function"].split()[0].split("(")[0] for c in cases}
    assert {
        "convertDesiredReplicasWithBehaviorRate",
        "stabilizeRecommendationWithBehaviors",
        "reconcileAutoscaler",
        "externalPerPodMetric",
    } <= kinds


def test_a_wrong_expectation_is_reported_with_expected_and_actual(
    cases: list[dict[str, Any]],
) -> None:
    case = copy.deepcopy(next(c for c in cases if "replicas" in c["expected"]))
    right = case["expected"]["replicas"]
    case["expected"]["replicas"] = right + 100
    result = run_case(case)
    assert not result.passed
    assert result.actual == {**case["expected"], "replicas": right}
    report = format_report([result])
    assert f'"replicas": {right + 100}' in report
    assert f'"replicas": {right}' in report
    assert report.splitlines()[-1] == "0 passed, 1 failed"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["inputs"].__setitem__("surprise", 1), "unsupported inputs field(s): surprise"),
        (lambda c: c["inputs"].__setitem__("function", "frobnicate"), "unsupported function"),
        (lambda c: c["expected"].__setitem__("mystery", 3), "unsupported expected field(s)"),
        (lambda c: c.__setitem__("extra", True), "unsupported case field(s): extra"),
        (lambda c: c.pop("inputs"), "needs 'inputs' and 'expected'"),
        (lambda c: c["inputs"].__setitem__("currentReplicas", "five"), "must be an integer"),
    ],
)
def test_unsupported_or_malformed_cases_are_errors_not_crashes(
    cases: list[dict[str, Any]], mutate: Any, message: str
) -> None:
    case = copy.deepcopy(cases[0])
    mutate(case)
    result = run_case(case)
    assert not result.passed
    assert result.error is not None
    assert message in result.error


def test_an_unknown_metric_type_is_the_controllers_error_not_the_runners() -> None:
    case = {
        "name": "unknown type beside a valid metric",
        "inputs": {
            "function": "reconcileAutoscaler (full controller, behavior=nil)",
            "minReplicas": 1,
            "maxReplicas": 10,
            "specReplicas": 4,
            "statusReplicas": 4,
            "metrics": [
                {"type": "Gouda"},
                {
                    "type": "External",
                    "metric": "q",
                    "target": {"type": "Value", "valueMilli": 1000},
                },
            ],
            "observed": {"externalValuesMilli": [8000]},
            "initialRecommendations": "[]",
        },
        # 8 / 1 * 4 ready pods = 32, capped at 2 * 4 = 8; partly invalid but above spec
        "expected": {"desiredReplicas": 8, "reconcileErrorReturned": True},
    }
    assert run_case(case).passed


def test_a_file_that_is_not_a_case_list_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "cases.json"
    bad.write_text(json.dumps({"name": "not a list"}))
    with pytest.raises(CaseFileError, match="expected a JSON list"):
        load_cases(bad)
    bad.write_text("[{")
    with pytest.raises(CaseFileError, match="not valid JSON"):
        load_cases(bad)
