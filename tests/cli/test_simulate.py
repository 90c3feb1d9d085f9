"""``lws-autoscaler simulate`` end to end on a recording file written in the real recording
format (raw vLLM series per leader pod, as ``lws-autoscaler record`` saves them): outputs,
a valid PNG, ``--compare``, and the exit codes of ``--check``."""

from __future__ import annotations

import csv
import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from autoscaler.cli.main import main
from autoscaler.durations import parse_duration
from autoscaler.snapshot import LwsKey
from autoscaler.sources.promql import LabelNames
from autoscaler.sources.recording_format import RecordedTarget, Recording, Series, save_recording

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "llama-70b.yaml"
START, STEP = 1_767_225_600.0, 15.0
# The recording expresses its load in the shipped policy's own queue target, so "5.5
# groups' worth" stays 5.5 groups when the policy is re-tuned.
QUEUE_TARGET = next(
    s["targetPerGroup"]
    for s in yaml.safe_load(POLICY.read_text())["spec"]["signals"]
    if s["type"] == "queueDepth"
)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hour, 4 leaders; the load rises from 1.5 to 5.5 groups' worth and back."""
    n = 241
    times = (START + np.arange(n) * STEP).tolist()
    labels = LabelNames()
    key = LwsKey("inference", "llama-70b")
    phase = np.arange(n) / (n - 1)
    groups = 1.5 + 4.0 * 0.5 * (1 - np.cos(2 * math.pi * phase))
    series = []
    for i in range(4):
        pod = {labels.namespace: key.namespace, labels.lws: key.name, labels.pod: f"llama-70b-{i}"}
        waiting = groups * QUEUE_TARGET / 4  # each leader's share of the groups' worth
        generated = np.cumsum(groups * 5000 / 4 * STEP)
        for name, values in (
            ("vllm:num_requests_waiting", waiting),
            ("vllm:num_requests_running", 2 * waiting),
            ("vllm:kv_cache_usage_perc", np.clip(groups * 0.6 / 4, 0, 1)),
            ("vllm:generation_tokens_total", generated),
            ("vllm:prompt_tokens_total", 0.3 * generated),
        ):
            series.append(
                Series({"__name__": name, **pod}, list(zip(times, values.tolist(), strict=True)))
            )
    for name in ("lws:spec_replicas", "lws:status_replicas", "lws:ready_replicas"):
        owner = {"__name__": name, labels.namespace: key.namespace, labels.lws: key.name}
        series.append(Series(owner, [(t, 4.0) for t in times]))
    recording = Recording(START, times[-1], STEP, labels, (RecordedTarget(key),), series)
    return save_recording(recording, tmp_path_factory.mktemp("rec") / "week.json.gz")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_simulate_writes_timeline_summary_and_png(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "simulate",
            "--recording",
            str(recording),
            "--policies",
            str(POLICY),
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "replica-hours" in printed
    assert "llama-70b" in printed
    summary = json.loads((out / "summary.json").read_text())
    figures = summary["policies"]["llama-70b"]
    assert figures["steps"] == 241
    assert figures["step_seconds"] == STEP
    assert figures["gpu_hours"] == pytest.approx(figures["replica_hours"] * 8, abs=1e-3)
    assert figures["scale_ups"] >= 1  # 1.5 -> 5.5 groups cannot stay at the recorded 4
    with (out / "timeline-llama-70b.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 241
    assert max(int(r["hpa_desired"]) for r in rows) >= 5
    width, height = png_size(out / "inference_llama-70b.png")
    assert width > 600
    assert height > 400


def test_compare_and_check_exit_codes(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped policy with a 1-minute down window and minimum group age. (Edited as
    # text, the replacements of "stabilizationWindow: 10m" and "minGroupAge: 10m" matched
    # nothing in the policy: the "eager" copy was the shipped policy under another name.)
    document = yaml.safe_load(POLICY.read_text())
    document["metadata"]["name"] = "llama-70b-eager"
    scale_down = document["spec"]["scaleDown"]
    assert parse_duration(scale_down["stabilizationWindow"]) > 60
    scale_down.update(stabilizationWindow="1m", minGroupAge="1m")
    eager = tmp_path / "eager.yaml"
    eager.write_text(yaml.safe_dump(document))
    base_out = tmp_path / "base"
    args = ["simulate", "--recording", str(recording), "-q"]
    assert (
        main([*args, "--policies", str(POLICY), "--compare", str(eager), "--out", str(base_out)])
        == 0
    )
    summary = json.loads((base_out / "summary.json").read_text())
    assert set(summary["policies"]) == {"llama-70b", "llama-70b-eager"}
    assert summary["compare"] == ["llama-70b-eager"]
    # Each policy ran as written: the shorter down window gives the falling load's
    # groups back sooner.
    primary, compared = summary["policies"]["llama-70b"], summary["policies"]["llama-70b-eager"]
    assert compared["replica_hours"] < primary["replica_hours"]
    assert (base_out / "timeline-llama-70b-eager.csv").exists()
    png_size(base_out / "inference_llama-70b.png")
    capsys.readouterr()

    baseline = base_out / "summary.json"
    same = [
        *args,
        "--policies",
        str(POLICY),
        "--out",
        str(tmp_path / "same"),
        "--check",
        str(baseline),
    ]
    assert main(same) == 0
    assert "no regression" in capsys.readouterr().out

    # Hand-edit the baseline to be far better than anything: the gate must trip.
    better = json.loads(baseline.read_text())
    better["policies"]["llama-70b"].update(replica_hours=1.0, underprovisioned_seconds=0.0)
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(better))
    worse = [*args, "--policies", str(POLICY), "--out", str(tmp_path / "w"), "--check", str(strict)]
    assert main(worse) == 1
    assert "replica-hours" in capsys.readouterr().err


def test_errors_exit_2_with_a_message(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = ROOT / "policies" / "dev-8b.yaml"
    assert (
        main(
            [
                "simulate",
                "--recording",
                str(recording),
                "--policies",
                str(other),
                "-q",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no policy targets an LWS of the recording" in capsys.readouterr().err
    not_summary = tmp_path / "x.json"
    not_summary.write_text("{}")
    code = main(
        [
            "simulate",
            "--recording",
            str(recording),
            "--policies",
            str(POLICY),
            "-q",
            "--out",
            str(tmp_path),
            "--check",
            str(not_summary),
        ]
    )
    assert code == 2
    assert "not a dry-run summary" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--cold-start", "-5", "must be a number above 0"),
        ("--cold-start", "nan", "must be a number above 0"),
        ("--cluster-tolerance", "inf", "must be a finite number"),
        ("--cold-start-spread", "-1", "must be a number of at least 0"),
        ("--hpa-sync-period", "0", "must be a number above 0"),
        ("--cluster-tolerance", "-1", "must be a number of at least 0"),
        ("--seed", "-1", "must be at least 0"),
        ("--seed", "1.5", "must be a whole number"),
    ],
)
def test_bad_numbers_are_usage_errors(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each used to reach numpy or pydantic and end in a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err


def test_an_unusable_baseline_or_out_folder_fails_before_the_run(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["simulate", "--recording", str(recording), "--policies", str(POLICY), "-q"]
    out = tmp_path / "out"
    assert main([*run, "--out", str(out), "--check", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not out.exists()  # nothing simulated, nothing written

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main([*run, "--out", str(blocker / "sub")]) == 2
    assert f"--out {blocker / 'sub'}: cannot create the folder" in capsys.readouterr().err


def test_compare_with_an_edited_copy_under_the_same_name_keeps_both(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The usual --compare: the same policy, one value edited, same name. Its timeline
    and figures are labelled ``<name>.compare``; they used to overwrite the primary's,
    and summary.json held the compared policy's figures under the primary's name."""
    edited = tmp_path / "edited.yaml"
    edited.write_text(re.sub(r"targetPerGroup: \d+", "targetPerGroup: 2", POLICY.read_text()))
    assert edited.read_text() != POLICY.read_text()
    out = tmp_path / "out"
    args = ["simulate", "--recording", str(recording), "-q", "--out", str(out)]
    assert main([*args, "--policies", str(POLICY), "--compare", str(edited)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["compare"] == ["llama-70b.compare"]
    primary, compared = summary["policies"]["llama-70b"], summary["policies"]["llama-70b.compare"]
    # A quarter of the queue target orders more groups: the two runs differ.
    assert compared["replica_hours"] > primary["replica_hours"]
    alone = tmp_path / "alone"
    assert (
        main(
            [
                "simulate",
                "--recording",
                str(recording),
                "-q",
                "--out",
                str(alone),
                "--policies",
                str(POLICY),
            ]
        )
        == 0
    )
    assert json.loads((alone / "summary.json").read_text())["policies"]["llama-70b"] == primary
    assert (out / "timeline-llama-70b.compare.csv").exists()
    assert (out / "timeline-llama-70b.csv").read_text() == (
        alone / "timeline-llama-70b.csv"
    ).read_text()
    capsys.readouterr()


@pytest.mark.parametrize("value", ["nan", "-5"])
def test_a_check_margin_must_be_a_number_of_at_least_0(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NaN margin made every comparison false: the gate passed any regression."""
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--max-replica-hours-increase", value])
    assert exited.value.code == 2
    assert "argument --max-replica-hours-increase: must be" in capsys.readouterr().err


def test_a_bad_hpa_file_is_reported_with_its_lines_before_the_run(
    recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hpa = tmp_path / "hpa.yaml"
    hpa.write_text(
        "maxReplicas: '8'\n"
        "metrics:\n"
        "  - type: External\n"
        "    external:\n"
        "      metric: {name: lws_recommended_replicas}\n"
        "      target: {type: AverageValue, averageValue: 1, averageUtilization: 50}\n"
    )
    out = tmp_path / "out"
    run = ["simulate", "--recording", str(recording), "--policies", str(POLICY), "-q"]
    assert main([*run, "--hpa", str(hpa), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{hpa}:1: maxReplicas: Input should be a valid integer" in err
    assert f"{hpa}:6: metrics[0].external.target.averageUtilization: unknown field" in err
    assert not (out / "summary.json").exists()

    hpa.write_text(hpa.read_text().replace("'8'", "8").replace(", averageUtilization: 50", ""))
    assert main([*run, "--hpa", str(hpa), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assumptions"]["hpa"] == str(hpa)


def test_a_run_first_clears_the_previous_runs_outputs_only(
    recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cut short used to leave the previous run's timelines and PNG beside its own."""
    from simulations.dryrun import runner

    stale = ["summary.json", "timeline-old.csv", "timeline-llama-70b.csv"]
    stale += ["inference_llama-70b.png"]
    for name in [*stale, "notes.md", "other_lws.png"]:
        (tmp_path / name).write_text("old")

    def interrupted(*args: object) -> None:
        options = args[3]
        assert isinstance(options, runner.RunOptions)
        assert options.before_writing is not None
        options.before_writing()  # everything read: the first write would come next
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_simulation", interrupted)
    run = ["simulate", "--recording", str(recording), "--policies", str(POLICY), "-q"]
    assert main([*run, "--out", str(tmp_path)]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md", "other_lws.png"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--recording", "{tmp}/none.json"], "none.json"),
        (["--hpa", "{tmp}/hpa.yaml"], "maxReplicas"),
        (["--policies", str(ROOT / "policies" / "dev-8b.yaml")], "no policy targets an LWS"),
    ],
    ids=["missing-recording", "bad-hpa-file", "no-policy-for-the-recording"],
)
def test_bad_input_leaves_the_previous_outputs(
    recording: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad: list[str],
    message: str,
) -> None:
    """These inputs are read after --out was writable: they used to be read after the
    previous run's files were deleted, so a typo cost the last results."""
    out = tmp_path / "out"
    run = ["simulate", "--recording", str(recording), "--policies", str(POLICY), "-q"]
    assert main([*run, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "hpa.yaml").write_text("maxReplicas: '8'\n")
    capsys.readouterr()
    args = [*run, *(a.format(tmp=tmp_path) for a in bad), "--out", str(out)]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        # 1e-9 s: a replay of an hour took 3.6e12 HPA syncs, i.e. forever.
        ("--hpa-sync-period", "1e-9", "must be at least 1 second"),
        # Profiles cap the spread at 2; 1e308 was accepted.
        ("--cold-start-spread", "1e308", "must be at most 2"),
    ],
)
def test_out_of_reason_numbers_are_usage_errors(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = ["simulate", "--recording", str(tmp_path / "none.json"), "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*run, flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}: {message}, got '{value}'" in capsys.readouterr().err


def test_a_schedule_floors_the_dry_run_in_its_window(recording: Path, tmp_path: Path) -> None:
    """The shipped policy with a schedule of 8 groups from 00:20 to 00:40 UTC (the
    recording is 00:00-01:00 on 1 January 2026): the engine recommends at least 8 in
    that window, for the reason Scheduled, and the HPA follows; outside it the load's
    1.5-5.5 groups never ask for 8."""
    document = yaml.safe_load(POLICY.read_text())
    window = {"name": "launch", "start": "00:20", "end": "00:40", "minReplicas": 8}
    document["spec"]["schedules"] = [{**window, "prewarm": False}]
    policy = tmp_path / "llama-70b.yaml"
    policy.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / "out"
    args = ["simulate", "--recording", str(recording), "--policies", str(policy)]
    assert main([*args, "--out", str(out), "-q"]) == 0
    with (out / "timeline-llama-70b.csv").open() as f:
        rows = list(csv.DictReader(f))
    inside = [r for r in rows if START + 1200 <= float(r["time"]) < START + 2400]
    before = [r for r in rows if float(r["time"]) < START + 1200]
    after = [int(r["recommendation"]) for r in rows if float(r["time"]) >= START + 2400]
    assert len(inside) == 80
    assert all(int(r["recommendation"]) >= 8 for r in inside)
    assert (inside[0]["driver"], inside[0]["recommendation"]) == ("schedule", "8")
    assert "Scheduled" in inside[0]["reasons"]
    assert max(int(r["hpa_desired"]) for r in inside) >= 8
    assert all(int(r["recommendation"]) < 8 for r in before)
    # After the window the rules take the LWS down at their own pace (step limit, drain).
    assert after == sorted(after, reverse=True)
    assert after[-1] < 8


def test_the_example_policies_come_from_the_package_or_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Installed, the examples are the package's copies; in a checkout without them, the
    repository's ``policies/``; with neither, a run without ``--policies`` says so."""
    from autoscaler.cli import simulate

    packaged = simulate._examples()
    assert packaged.parent.name == "data"
    assert sorted(p.name for p in packaged.glob("*.yaml")) == sorted(
        p.name for p in (ROOT / "policies").glob("*.yaml")
    )
    monkeypatch.setattr(simulate, "files", lambda _: tmp_path)  # a package without them
    assert simulate._examples() == ROOT / "policies"
    monkeypatch.setattr(simulate, "_examples", lambda: tmp_path / "none")
    assert main(["simulate", "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (
        err == "lws-autoscaler simulate: no example policies installed here: pass --policies PATH\n"
    )
    policies = ["--policies", str(ROOT / "policies")]
    assert main(["simulate", "-q", *policies, "--out", str(tmp_path / "out")]) == 0
