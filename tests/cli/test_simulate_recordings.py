"""``lws-autoscaler simulate`` on odd recordings: a policy that reads nothing, counts that
are no counts, steps without data, timestamps that are not whole seconds, one step."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from autoscaler.cli.main import main
from tests.simulations.dryrun.recordings import (
    DEV_8B,
    LLAMA_70B,
    POLICIES,
    START,
    STEP,
    waiting_pods,
    write_recording,
)

L70 = POLICIES / "llama-70b.yaml"
ENGINE = "    engine: vllm "


def _simulate(out: Path, *args: str) -> int:
    return main(["simulate", "-q", "--out", str(out), *args])


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _steady(path: Path, steps: int = 40, start: float = START, step: float = STEP) -> Path:
    """3 leaders, 10 waiting requests each, and replica counts of 3."""
    counts = np.full(steps, 3.0)
    pods = waiting_pods(3, np.full(steps, 10.0))
    replicas = (counts, counts, counts)
    return write_recording(path, LLAMA_70B, steps, pods, replicas, start=start, step=step)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            (ENGINE, "    engine: sglang "),
            "llama-70b: nothing to replay: no sglang series of inference/llama-70b in the "
            "recording (recorded for vllm)",
        ),
        (
            (ENGINE, "    overrides: {queueDepth: 'sum(foo)'}\n" + ENGINE),
            "llama-70b: nothing to replay: a recording holds raw series only: overrides cannot "
            "replay",
        ),
    ],
    ids=["engine", "overrides"],
)
def test_a_policy_that_reads_nothing_is_an_error_that_keeps_the_last_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str], message: str
) -> None:
    """It ran as a clean, idle run and exited 0, replacing the previous outputs."""
    recording = str(_steady(tmp_path / "r.json"))
    out = tmp_path / "out"
    assert _simulate(out, "--recording", recording, "--policies", str(L70)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    policy = tmp_path / "p.yaml"
    policy.write_text(L70.read_text().replace(*edit))
    assert policy.read_text() != L70.read_text()
    capsys.readouterr()
    assert _simulate(out, "--recording", recording, "--policies", str(policy)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lws-autoscaler simulate: {message}")
    assert err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_recording_without_targets_names_no_engine_it_was_recorded_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved query_range answer lists no targets: the error says what is missing and
    claims no engine the recording was made for."""
    recording = json.loads(_steady(tmp_path / "r.json").read_text())
    recording["targets"] = []
    path = tmp_path / "untargeted.json"
    path.write_text(json.dumps(recording))
    policy = tmp_path / "p.yaml"
    policy.write_text(L70.read_text().replace(ENGINE, "    engine: sglang "))
    assert _simulate(tmp_path / "out", "--recording", str(path), "--policies", str(policy)) == 2
    err = capsys.readouterr().err
    assert err == (
        "lws-autoscaler simulate: llama-70b: nothing to replay: no sglang series of "
        "inference/llama-70b in the recording\n"
    )


@pytest.mark.parametrize("count", [math.inf, -1.0])
def test_a_replica_count_that_is_no_count_falls_back_to_the_leaders(
    tmp_path: Path, count: float
) -> None:
    """+Inf at the first step ended in an OverflowError traceback, after the previous
    outputs were removed."""
    counts = np.full(40, 3.0)
    spec = counts.copy()
    spec[0] = count
    pods = waiting_pods(3, np.full(40, 10.0))
    recording = write_recording(tmp_path / "r.json", LLAMA_70B, 40, pods, (spec, counts, counts))
    out = tmp_path / "out"
    assert _simulate(out, "--recording", str(recording), "--policies", str(L70)) == 0
    first = _rows(out / "timeline-llama-70b.csv")[0]
    assert (first["recorded_spec"], first["hpa_desired"]) == ("3", "3")


def test_a_recording_that_starts_without_data_starts_at_the_first_recorded_size(
    tmp_path: Path,
) -> None:
    """No count and no leader for the first 10 minutes read as "recorded 0 replicas", and
    the simulation started at replicas.min (1) instead of the recorded 3."""
    late = np.arange(240) >= 40
    counts = np.where(late, 3.0, np.nan)
    pods = waiting_pods(3, np.where(late, 10.0, np.nan))
    recording = write_recording(tmp_path / "r.json", LLAMA_70B, 240, pods, (counts,) * 3)
    out = tmp_path / "out"
    assert _simulate(out, "--recording", str(recording), "--policies", str(L70)) == 0
    rows = _rows(out / "timeline-llama-70b.csv")
    assert {(r["recorded_spec"], r["recorded_ready"]) for r in rows[:40]} == {("", "")}
    assert rows[40]["recorded_spec"] == "3"
    assert rows[0]["hpa_desired"] == "3"


def test_timeline_times_keep_every_digit(tmp_path: Path) -> None:
    """6 significant digits made 1767225600.5 read 1.76723e+09."""
    recording = _steady(tmp_path / "r.json", 20, start=1_767_225_600.5, step=7.5)
    out = tmp_path / "out"
    assert _simulate(out, "--recording", str(recording), "--policies", str(L70)) == 0
    rows = _rows(out / "timeline-llama-70b.csv")
    assert [(r["time"], r["elapsed_s"]) for r in rows[:2]] == [
        ("1767225600.5", "0"),
        ("1767225608", "7.5"),
    ]
    assert float(rows[-1]["time"]) == 1_767_225_600.5 + 19 * 7.5


def test_a_one_step_recording_reports_its_own_step(tmp_path: Path) -> None:
    """Every one-step recording reported step_seconds 15, and its replica-hours with it."""
    recording = _steady(tmp_path / "r.json", 1, step=60.0)
    out = tmp_path / "out"
    assert _simulate(out, "--recording", str(recording), "--policies", str(L70)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policies"]["llama-70b"]["step_seconds"] == 60.0
    assert summary["assumptions"]["stepSeconds"] == 60.0
    assert summary["policies"]["llama-70b"]["replica_hours"] == pytest.approx(3 * 60 / 3600)


def test_an_lws_recorded_only_through_its_activation_wakes(tmp_path: Path) -> None:
    """A parked LWS (no leader, no replica series) with traffic waiting from step 40: it
    was "not in the recording", and the run had nothing to simulate."""
    activation = np.where(np.arange(120) >= 40, 2.0, 0.0)
    recording = write_recording(tmp_path / "r.json", DEV_8B, 120, {}, activation=activation)
    out = tmp_path / "out"
    policy = str(POLICIES / "dev-8b.yaml")
    assert _simulate(out, "--recording", str(recording), "--policies", policy) == 0
    rows = _rows(out / "timeline-dev-8b.csv")
    assert max(int(r["hpa_desired"]) for r in rows[40:]) >= 1
