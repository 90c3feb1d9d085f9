"""``lws-autoscaler simulate`` on the built-in recording (three LWS): how policies are
paired with ``--compare`` partners and ``--check`` baseline entries, and what each run
reads and writes under which name."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
L70, L405, DEV = (POLICIES / f"{n}.yaml" for n in ("llama-70b", "llama-405b", "dev-8b"))
TTFT_GUARD = "    - type: ttft\n      quantile: 0.9\n      targetSeconds: 3\n"


def _uncommented(path: Path) -> str:
    return "\n".join(line.split(" #")[0].rstrip() for line in path.read_text().splitlines())


def _simulate(out: Path, *args: str) -> int:
    return main(["simulate", "-q", "--out", str(out), *args])


def _summary(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return document


def test_check_against_the_summary_in_out_compares_with_the_previous_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline was read again after the run had replaced it: the run was compared
    with itself, and replica-hours far above the baseline passed."""
    out = tmp_path / "out"
    assert _simulate(out, "--policies", str(L70)) == 0
    costly = tmp_path / "costly.yaml"
    costly.write_text(L70.read_text().replace("    min: 1\n", "    min: 8\n"))
    assert _simulate(out, "--policies", str(costly), "--check", str(out / "summary.json")) == 1
    assert "llama-70b: replica-hours" in capsys.readouterr().err


def test_a_compared_policy_reads_its_own_latency_signals(tmp_path: Path) -> None:
    """Same metrics section, but only the compared policy has a TTFT guard: it was
    replayed on the primary's load, which has no TTFT series."""
    text = _uncommented(L405)
    assert TTFT_GUARD in text
    (tmp_path / "p.yaml").write_text(text.replace(TTFT_GUARD, ""))
    (tmp_path / "c.yaml").write_text(text.replace("targetSeconds: 3", "targetSeconds: 1"))
    out = tmp_path / "out"
    args = ["--policies", str(tmp_path / "p.yaml"), "--compare", str(tmp_path / "c.yaml")]
    assert _simulate(out, *args) == 0
    with (out / "timeline-llama-405b.compare.csv").open() as f:
        assert any(row["ttft_seconds"] for row in csv.DictReader(f))
    with (out / "timeline-llama-405b.csv").open() as f:
        assert not any(row["ttft_seconds"] for row in csv.DictReader(f))


def test_a_compared_policy_named_like_another_primary_keeps_both(tmp_path: Path) -> None:
    """A compare policy for llama-70b named llama-405b overwrote llama-405b's figures
    and timeline."""
    renamed = tmp_path / "c.yaml"
    renamed.write_text(L70.read_text().replace("\n  name: llama-70b\n", "\n  name: llama-405b\n"))
    out = tmp_path / "out"
    assert _simulate(out, "--compare", str(renamed)) == 0
    document = _summary(out)
    assert document["policies"]["llama-405b"]["target"] == "inference/llama-405b"
    assert document["policies"]["llama-405b.compare"]["target"] == "inference/llama-70b"
    assert document["compare"] == ["llama-405b.compare"]
    assert (out / "timeline-llama-405b.compare.csv").exists()


def _elsewhere(tmp_path: Path) -> Path:
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text(L70.read_text().replace("namespace: inference", "namespace: nowhere"))
    return moved


@pytest.mark.parametrize(
    ("compare", "note"),
    [
        (lambda _: DEV, "skipping --compare dev-8b: dev/llama-8b-dev has no --policies policy"),
        (_elsewhere, "skipping --compare llama-70b: nowhere/llama-70b is not in the recording"),
    ],
    ids=["no-primary", "not-recorded"],
)
def test_a_compared_policy_left_out_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compare: Any, note: str
) -> None:
    """It was dropped without a word."""
    argv = ["simulate", "--policies", str(L70), "--compare", str(compare(tmp_path))]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    assert note in capsys.readouterr().err


def test_the_only_baseline_entry_judges_its_own_lws_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A baseline of llama-70b alone judged every policy of a run against llama-70b's
    figures (llama-405b "regressed"). Now the others are an error before the run, and a
    renamed policy of the same LWS still matches it."""
    base = tmp_path / "base"
    assert _simulate(base, "--policies", str(L70)) == 0
    baseline = str(base / "summary.json")
    out = tmp_path / "out"
    assert _simulate(out, "--check", baseline) == 2
    assert "no entry for policy dev-8b (has llama-70b)" in capsys.readouterr().err
    assert not list(out.glob("*"))  # refused before the run
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(L70.read_text().replace("name: llama-70b\n", "name: llama-70b-v2\n", 1))
    both = tmp_path / "both"
    both.mkdir()
    for policy in (renamed, L405):
        (both / policy.name).write_text(policy.read_text())
    assert _simulate(out, "--policies", str(both), "--check", baseline) == 2
    assert "no entry for policy llama-405b" in capsys.readouterr().err
    assert _simulate(out, "--policies", str(renamed), "--check", baseline) == 0


def test_each_lws_names_its_own_yardstick(tmp_path: Path) -> None:
    """ "yardstick" named the first policy, though each LWS is measured with its own."""
    out = tmp_path / "out"
    assert _simulate(out, "--compare", str(L70)) == 0
    assert _summary(out)["yardstick"] == {
        "dev/llama-8b-dev": "dev-8b",
        "inference/llama-405b": "llama-405b",
        "inference/llama-70b": "llama-70b",
    }
    assert _summary(out)["compare"] == ["llama-70b.compare"]
