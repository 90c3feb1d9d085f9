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
