"""``lws-autoscaler tune`` end to end through the real CLI, on short replays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.cli.main import main


def test_tune_writes_the_table_and_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "tune",
            "--gate", "azure-conv",
            "--score", "none",
            "--duration", "600",
            "--set", "max2:replicas.max=2",
            "--set", "max2:replicas.min=1",
            "--set", "dw10:scaleDown.stabilizationWindow=10m",
            "--also-slo", "5",
            "--jobs", "1",
            "--quiet",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["variants"]) == ["shipped", "max2", "dw10"]
    assert results["variants"]["max2"]["changes"] == {"replicas.max": 2, "replicas.min": 1}
    runs = {n: v["traces"]["azure-conv"] for n, v in results["variants"].items()}
    assert set(runs["shipped"]["slo_attainment_at"]) == {"5"}
    # Two groups cannot carry a load the policy sizes at 3-5: it misses the gate.
    assert results["variants"]["max2"]["failed_gates"] == ["azure-conv"]
    passing = [n for n in runs if runs[n]["slo_attainment"] >= 0.99]
    assert results["chosen"] == min(passing, key=lambda n: runs[n]["gpu_hours"])
    table = capsys.readouterr().out
    assert (out / "results.md").read_text().strip() in table
    assert "| max2 | `replicas.max: 2`, `replicas.min: 1` |" in table
    assert "misses azure-conv" in table
    assert "**chosen**" in table


@pytest.mark.parametrize(
    ("arguments", "messages"),
    [
        (
            ["--set", "bad", "--set", "neg:tolerance=-1"],
            ["'bad': expected NAME:PATH=VALUE", "variant 'neg': spec.tolerance:"],
        ),
        (
            ["--gate", "azure", "--score", "servegen-day99"],
            ["unknown trace 'azure'", "days must be"],
        ),
        (["--slo-target", "1.5", "--jobs", "0"], ["--slo-target", "--jobs"]),
    ],
)
def test_tune_reports_every_bad_argument(
    arguments: list[str], messages: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tune", "--quiet", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lws-autoscaler tune: ")
    for message in messages:
        assert message in err
