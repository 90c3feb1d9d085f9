"""``lws-autoscaler hpa-conformance`` as a user runs it: output format and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli.main import main

CASES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "hpa-cases.json"


def test_the_shared_cases_pass(capsys: pytest.CaptureFixture[str]) -> None:
    if not CASES.exists():
        pytest.skip(f"{CASES} is not available")
    count = len(json.loads(CASES.read_text()))
    assert main(["hpa-conformance", str(CASES)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"{count} passed, 0 failed"


def test_failures_are_listed_and_exit_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        {
            "name": "legacy cap",
            "inputs": {
                "function": "convertDesiredReplicasWithRules",
                "currentReplicas": 3,
                "desiredReplicas": 1000,
                "minReplicas": 1,
                "maxReplicas": 2000,
            },
            "expected": {"replicas": 6, "condition": "ScaleUpLimit"},
        },
        {
            "name": "deliberately wrong",
            "inputs": {
                "function": "convertDesiredReplicasWithRules",
                "currentReplicas": 3,
                "desiredReplicas": 1000,
                "minReplicas": 1,
                "maxReplicas": 2000,
            },
            "expected": {"replicas": 7, "condition": "ScaleUpLimit"},
        },
        {"name": "no such function", "inputs": {"function": "nope"}, "expected": {"x": 1}},
    ]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    assert main(["hpa-conformance", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "FAIL deliberately wrong"
    assert out[1].strip() == 'expected: {"condition": "ScaleUpLimit", "replicas": 7}'
    assert out[2].strip() == 'actual:   {"condition": "ScaleUpLimit", "replicas": 6}'
    assert out[3].startswith("ERROR no such function: unsupported function")
    assert out[-1] == "1 passed, 2 failed"


def test_an_unreadable_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hpa-conformance", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_full_disk_under_unbuffered_output_is_one_line() -> None:
    # With PYTHONUNBUFFERED=1 (set in the image and the chart) print() fails at once,
    # inside the command, where it used to escape as a traceback.
    if not CASES.exists():
        pytest.skip(f"{CASES} is not available")
    script = Path(sys.executable).with_name("lws-autoscaler")
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = subprocess.run(
            [str(script), "hpa-conformance", str(CASES)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert result.returncode == 2
    assert result.stderr == "lws-autoscaler hpa-conformance: No space left on device\n"


def test_a_file_with_no_cases_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cases.json"
    path.write_text("[]")
    assert main(["hpa-conformance", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no "0 passed, 0 failed" for a CI job to read as success
    assert (
        captured.err
        == f"lws-autoscaler hpa-conformance: {path} holds no cases (an empty list checks nothing)\n"
    )


def _rules_case(name: str, **inputs: object) -> dict[str, object]:
    fields = {"currentReplicas": 3, "desiredReplicas": 4, "minReplicas": 1, "maxReplicas": 10}
    return {
        "name": name,
        "inputs": {"function": "convertDesiredReplicasWithRules", **fields, **inputs},
        "expected": {"replicas": 4},
    }


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ({"currentReplicas": -5}, "inputs.currentReplicas must be at least 0, got -5"),
        (
            {"minReplicas": 10, "maxReplicas": 2},
            "inputs.minReplicas (10) is above inputs.maxReplicas (2)",
        ),
        ({"minReplicas": 0, "maxReplicas": 0}, "inputs.maxReplicas must be at least 1, got 0"),
        ({"desiredReplicas": -1}, "inputs.desiredReplicas must be at least 0, got -1"),
    ],
    ids=["negative-current", "min-above-max", "max-zero", "negative-desired"],
)
def test_a_case_the_hpa_api_would_refuse_is_an_error_of_that_case(
    tmp_path: Path, inputs: dict[str, object], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([_rules_case("bad", **inputs), _rules_case("good")]))
    assert main(["hpa-conformance", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"ERROR bad: invalid case: {error}",
        "1 passed, 1 failed",
    ]


def test_the_review_case_is_an_error_not_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cases.json"
    case = _rules_case("review", currentReplicas=-5, minReplicas=10, maxReplicas=2)
    path.write_text(json.dumps([case]))
    assert main(["hpa-conformance", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ERROR review: invalid case: ")
    assert out[-1] == "0 passed, 1 failed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scaleDownStabilizationWindowSeconds", 3601),
        ("scaleUpStabilizationWindowSeconds", -1),
        ("tolerance", -0.1),
    ],
)
def test_windows_and_tolerances_are_checked_as_the_api_does(field: str, value: float) -> None:
    from simulations.hpa.conformance import invalid_inputs

    message = invalid_inputs({field: value})
    assert message is not None
    assert message.startswith(f"inputs.{field} must be ")
    assert invalid_inputs({field: 0}) is None
