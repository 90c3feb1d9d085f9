"""``lws-autoscaler benchmark`` end to end through the real CLI on the shipped excerpt."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli import benchmark
from autoscaler.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[2]
EXCERPT = REPO / "simulations" / "data" / "azure_conv_excerpt.csv"
POLICIES = (
    "ours",
    "seed",
    "seed-tuned",
    "keda",
    "keda-tuned",
    "knative",
    "knative-tuned",
    "static",
    "oracle",
)
FIELDS = (
    "slo_attainment",
    "gpu_hours",
    "replica_hours",
    "scale_events",
    "failed_requests",
    "ttft_p50",
    "ttft_p99",
    "queue_wait_p99",
)


def test_benchmark_writes_results_for_every_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "benchmark",
            "--trace",
            str(EXCERPT),
            "--duration",
            "240",
            "--rate-scale",
            "2",
            "--cold-start",
            "60",
            "--out",
            str(out),
            "--seed",
            "3",
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for name in POLICIES:
        assert set(FIELDS) <= set(results[name]), name
        assert 0.0 <= results[name]["slo_attainment"] <= 1.0
        assert results[name]["gpu_hours"] > 0
    assert results["oracle"]["gpu_hours"] <= results["static"]["gpu_hours"] + 1e-9
    assert {"setting", "reached_target", "sweep"} <= set(results["keda-tuned"])
    assert set(results) == set(POLICIES)  # policy name -> figures, and nothing else
    meta = json.loads((out / "meta.json").read_text())
    assert meta["cold_start_median_s"] == 60.0
    # Whether any schedule could meet the goal's events and GPU-hour parts is answered.
    goal = meta["goal"]
    table = (out / "results.md").read_text()
    assert table.count("| ours |") == 1
    for key, title in (
        ("fewer_events_and_20pct_bound", "Fewer events *and* 20% fewer GPU-hours"),
        ("fewer_events_within_1_15x_oracle_bound", "Fewer events *and* within 1.15x of the"),
    ):
        bound = goal[key]
        assert isinstance(bound["computed"], bool)
        if bound["computed"]:
            # The table of schedules is written, with the verdict the JSON gives.
            assert f"{title}" in table
            assert f"(reachable: {bound['goal_reachable']}):" in table
            assert len(bound["schedules"]) >= 1
        else:
            assert f"{title}, any schedule: not computed" in table
    assert (out / "timeline.png").stat().st_size > 0
    assert (out / "tradeoff.png").stat().st_size > 0
    # Ours' decisions: every cycle in decisions.csv, its changes in results.md.
    decisions = (out / "decisions.csv").read_text().splitlines()
    assert decisions[0].startswith("elapsed_s,spec,created,ready,starting,recommendation")
    assert len(decisions) > 240 / 15
    assert "Ours' changes of recommendation" in table or "never changed" in table
    captured = capsys.readouterr()
    assert "| knative-tuned |" in captured.out
    assert "%" in captured.err  # the progress bar


def test_benchmark_same_seed_same_results_in_order_or_across_processes(tmp_path: Path) -> None:
    args = [
        "benchmark",
        "--trace",
        str(EXCERPT),
        "--duration",
        "120",
        "--cold-start",
        "60",
        "--quiet",
        "--seed",
        "5",
    ]
    assert main([*args, "--jobs", "1", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--jobs", "2", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    meta = [json.loads((tmp_path / d / "meta.json").read_text()) for d in "ab"]
    assert [m["jobs"] for m in meta] == [1, 2]
    assert a == b
    # The static run and the goal bounds' schedules go to the worker processes too.
    assert meta[0]["goal"] == meta[1]["goal"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--jobs", "0", "must be at least 1"),
        ("--cold-start", "nan", "must be a number above 0"),
        ("--cold-start", "-1", "must be a number above 0"),
        # Accepted, where profiles and `tune` refuse a median of 0.
        ("--cold-start", "0", "must be a number above 0"),
        ("--duration", "0", "must be a number above 0"),
        ("--slo-queue-wait", "nan", "must be a number above 0"),
        ("--rate-scale", "inf", "must be a number above 0"),
        ("--servegen-clients", "-3", "must be at least 0"),
    ],
)
def test_benchmark_rejects_bad_numbers_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    """A usage error (exit 2) naming the flag, not a worker's traceback minutes later."""
    with pytest.raises(SystemExit) as exited:
        main(["benchmark", flag, value, "--out", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "results.json").exists()


def test_an_unusable_out_fails_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out naming a file used to surface as a FileExistsError traceback after the run."""
    taken = tmp_path / "taken"
    taken.write_text("")
    for command in (["benchmark"], ["tune", "--gate", "azure-conv", "--score", "none"]):
        assert main([*command, "--out", str(taken)]) == 2
        err = capsys.readouterr().err
        assert f"--out {taken}: is a file, not a folder" in err
        assert "%" not in err  # nothing ran: no progress was drawn
        # A file on the way is the OS's error as before.
        assert main([*command, "--out", str(taken / "sub")]) == 2
        assert f"--out {taken / 'sub'}: cannot create the folder" in capsys.readouterr().err


def test_a_folder_no_file_can_be_written_in_fails_before_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The check was os.access, which root passes for /proc or a read-only mount: the
    run then failed with "Permission denied" after all its work. A file is now written.
    /proc/self is such a folder for every user (Linux, as the CI machine)."""
    assert main(["benchmark", "--quiet", "--out", "/proc/self"]) == 2
    err = capsys.readouterr().err
    assert "--out /proc/self: the folder is not writable" in err
    assert "%" not in err


def test_benchmark_reports_a_missing_trace_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["benchmark", "--trace", str(tmp_path / "none.csv"), "--out", str(tmp_path)])
    assert code == 2
    assert "no such trace file" in capsys.readouterr().err


def test_benchmark_over_seeds_repeats_the_single_seed_runs_and_summarises_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["benchmark", "--trace", str(EXCERPT), "--duration", "120", "--cold-start", "60"]
    args += ["--quiet", "--jobs", "1"]
    assert main([*args, "--seeds", "1-2", "--out", str(tmp_path / "many")]) == 0
    assert "- ours reaches the target: " in capsys.readouterr().out
    summary = json.loads((tmp_path / "many" / "seeds.json").read_text())
    assert [row["seed"] for row in summary["seeds"]] == [1, 2]
    assert summary["verdict"]["seeds"] == 2
    assert (tmp_path / "many" / "seeds.md").read_text().count("\n| ") == 3  # rule + 2 rows
    for row in summary["seeds"]:
        seed = row["seed"]
        # Each seed's folder holds what a plain --seed run writes, figure for figure.
        assert main([*args, "--seed", str(seed), "--out", str(tmp_path / f"one-{seed}")]) == 0
        one = json.loads((tmp_path / f"one-{seed}" / "results.json").read_text())
        many = json.loads((tmp_path / "many" / f"seed-{seed}" / "results.json").read_text())
        metas = [
            tmp_path / f"one-{seed}" / "meta.json",
            tmp_path / "many" / f"seed-{seed}" / "meta.json",
        ]
        assert [json.loads(m.read_text())["seed"] for m in metas] == [seed, seed]
        assert many == one
        assert row["ours"]["slo_attainment"] == one["ours"]["slo_attainment"]
        assert row["oracle"]["gpu_hours"] == one["oracle"]["gpu_hours"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "1", "--seeds", "0-2"], "give --seed or --seeds, not both"),
        (["--seeds", "3-1"], "--seeds: seed range '3-1' runs backwards"),
        (["--seeds", "zero"], "--seeds: 'zero' is not a seed"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_benchmark_rejects_bad_seeds(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["benchmark", *extra, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"lws-autoscaler benchmark: {message}")
    assert error.count("\n") == 1


def test_benchmark_reports_every_bad_option_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--slo-target", "1.5", "--engine-lag", "7.3", "--seeds", "3-1"]
    assert main(["benchmark", *args, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "lws-autoscaler benchmark: --slo-target must be in (0, 1]; "
        "--engine-lag must be a multiple of 0.5 s below the 15 s HPA sync; "
        "--seeds: seed range '3-1' runs backwards\n"
    )


def _fake_one(*_: Any) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    return {"goal": {}}, {}, []


def test_a_full_disk_leaves_no_cut_seeds_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """seeds.json used to be left cut at the point the disk filled, with a traceback."""
    monkeypatch.setattr(benchmark, "_one", _fake_one)
    monkeypatch.setattr(benchmark, "seed_row", lambda seed, *_: {"seed": seed, "x": "y" * 9000})
    monkeypatch.setattr(benchmark, "seeds_markdown", lambda *_: "table\n")
    monkeypatch.setattr(benchmark, "verdict", lambda rows: {"seeds": len(rows)})
    real = Path.write_text

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        real(self, data[:8192], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", write_text)
    assert main(["benchmark", "--seeds", "0-1", "--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"lws-autoscaler benchmark: cannot write {tmp_path / 'seeds.json'}: " + (
        "No space left on device\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_run_first_clears_the_previous_runs_outputs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cut short used to leave the previous run's files beside its own."""
    stale = ["results.json", "meta.json", "results.md", "timeline.png", "tradeoff.png"]
    stale += ["decisions.csv"]
    stale += ["seeds.json", "seeds.md", "seed-4/results.json", "seed-4/tradeoff.png"]
    (tmp_path / "seed-4").mkdir()
    for name in [*stale, "notes.md", "seed-4/mine.csv"]:
        (tmp_path / name).write_text("old")

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "_one", interrupted)
    assert main(["benchmark", "--quiet", "--out", str(tmp_path)]) == 130
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == ["notes.md", "seed-4", "seed-4/mine.csv"]


@pytest.mark.parametrize("seeds", [[], ["--seeds", "0-1"]], ids=["one-seed", "seeds"])
@pytest.mark.parametrize(
    "rows", ["", "2023-11-16 18:15:46.6805900,374,44\nnot a time,1,1\n"], ids=["empty", "bad-row"]
)
def test_a_trace_that_cannot_be_read_leaves_the_previous_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seeds: list[str], rows: str
) -> None:
    """The trace was read after the previous run's files were deleted: a typo in a
    trace name or a broken file cost the last results."""
    out = tmp_path / "out"
    (out / "seed-0").mkdir(parents=True)
    kept = ["results.json", "meta.json", "seeds.json", "seed-0/results.json"]
    for name in kept:
        (out / name).write_text("the last run's")
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
    args = ["benchmark", "--quiet", "--trace", str(trace), *seeds, "--out", str(out)]
    assert main(args) == 2
    assert "trace.csv" in capsys.readouterr().err
    assert all((out / name).read_text() == "the last run's" for name in kept)


@pytest.mark.parametrize("command", [["benchmark", "--trace"], ["tune", "--gate"]])
@pytest.mark.parametrize(
    "rows",
    [
        "2023-11-16 18:15:46.680590,374,44\n",
        "2023-11-16 18:15:46.680590,374,44\n2023-11-16 18:15:46.980590,10,10\n",
    ],
    ids=["one-request", "within-a-second"],
)
def test_too_little_to_replay_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], rows: str
) -> None:
    # One request made every GPU-hour figure 0.0, and the goal check divided by it
    # (ZeroDivisionError); tune printed a meaningless "100.00% / 0.0 / 0 chosen".
    trace = tmp_path / "tiny.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows)
    extra = ["--score", "none"] if command[0] == "tune" else []
    args = [*command, str(trace), *extra, "--quiet", "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "a replay needs at least 2 requests over 1 s" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["benchmark", "--trace"], ["tune", "--gate"]])
def test_more_jobs_than_four_per_core_is_a_usage_error(
    command: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """--jobs had no upper bound: 100 forked 100 processes for a 40-run benchmark."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    missing = str(tmp_path / "none.csv")  # without the bound: exit 2 after parsing
    with pytest.raises(SystemExit) as exited:
        main([*command, missing, "--jobs", "9", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "argument --jobs: must be at most 8 (4 x the 2 cores), got '9'" in (
        capsys.readouterr().err
    )


def test_no_more_processes_than_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool of --jobs processes was started whatever the number of runs."""
    from simulations import bench_runs

    sizes: list[int] = []

    class StopError(Exception):
        pass

    def pool(workers: int) -> Any:
        sizes.append(workers)
        raise StopError

    monkeypatch.setattr(bench_runs, "run_pool", pool)
    jobs = [bench_runs.Job("a", "seed", 1.0), bench_runs.Job("b", "seed", 2.0)]
    with pytest.raises(StopError):
        bench_runs.play_all(jobs, Any, workers=100)  # type: ignore[arg-type]
    assert sizes == [2]


def test_meta_json_holds_the_trace_options_as_given(tmp_path: Path) -> None:
    """--start, --duration, --format, --servegen-* and --lengths were missing."""
    args = ["benchmark", "--trace", str(EXCERPT), "--start", "30", "--duration", "60"]
    args += ["--format", "azure", "--quiet", "--jobs", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["policy_changes"] == []
    assert meta["engine_lag_s"] == 0.0
    assert meta["trace"] == str(EXCERPT)  # the trace given, not the default one
    assert meta["policy"].endswith(".yaml")  # the profile's policy when none is given
    for seconds in ("duration_s", "wall_seconds"):
        assert meta[seconds] == round(meta[seconds], 1)  # to a tenth of a second
    given = {k: meta[k] for k in list(meta)[-8:-2]}
    assert given == {
        "start": 30.0,
        "duration": 60.0,
        "format": "azure",
        "servegen_category": "reason/deepseek-r1",
        "servegen_clients": None,
        "lengths": None,
    }
    assert list(meta)[:14] == [
        "trace", "requests", "duration_s", "rate_scale", "time_compression", "profile",
        "policy", "cold_start_median_s", "slo_queue_wait_s", "slo_target", "seed", "jobs",
        "wall_seconds", "goal",
    ]  # fmt: skip


def test_set_changes_ours_policy_for_the_run(tmp_path: Path) -> None:
    """``--set replicas.min=3``: ours keeps 3 groups over the 60 s (0.05 group-hours)
    where the shipped policy's 1 would do; the change is recorded in meta.json."""
    args = ["benchmark", "--trace", str(EXCERPT), "--duration", "60", "--quiet", "--jobs", "1"]
    assert main([*args, "--set", "replicas.min=3", "--out", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["policy_changes"] == ["replicas.min=3"]
    ours = json.loads((tmp_path / "results.json").read_text())["ours"]
    assert ours["replica_hours"] == pytest.approx(3 * meta["duration_s"] / 3600, abs=0.002)
    assert json.loads((tmp_path / "results.json").read_text())["static"]["replica_hours"] < 0.04


def test_a_bad_set_names_its_argument_and_field_and_keeps_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results.json").write_text("the last run's")
    args = ["benchmark", "--trace", str(EXCERPT), "--quiet", "--out", str(tmp_path)]
    bad = ["--set", "replicas.min=many", "--set", "scaleDown.drain.timeout: 2m"]
    assert main([*args, *bad]) == 2
    err = capsys.readouterr().err
    assert "--set 'scaleDown.drain.timeout: 2m': expected PATH=VALUE" in err
    assert main([*args, "--set", "replicas.min=many"]) == 2
    assert "spec.replicas.min" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_text() == "the last run's"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--lengths", str(EXCERPT)], "--lengths apply"),
        (["--servegen-category", "language/m-large"], "--servegen-category apply"),
        (["--servegen-clients", "3", "--lengths", str(EXCERPT)], "--lengths, --servegen-clients"),
    ],
)
def test_servegen_options_on_another_trace_are_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    # They were ignored without a word: a run that looked like one over other lengths.
    args = ["benchmark", "--quiet", "--trace", str(EXCERPT), *flags, "--out", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "apply to ServeGen traces only, and this trace is in the azure format" in err


def test_a_bad_lengths_file_is_named_by_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servegen = REPO / "simulations" / "data" / "servegen"
    lengths = tmp_path / "lengths.jsonl"
    lengths.write_text('{"timestamp": 0, "input_length": 1, "output_length": 1}\n')
    args = ["benchmark", "--quiet", "--trace", str(servegen), "--format", "servegen"]
    assert main([*args, "--lengths", str(lengths), "--out", str(tmp_path / "out")]) == 2
    assert "--lengths (the ServeGen requests' token lengths): " in capsys.readouterr().err


def test_the_benchmark_defaults_are_the_issues_and_the_slo_target_may_be_1(
    tmp_path: Path,
) -> None:
    """A 4x request rate, a 1 s queue-wait SLO at 99%, no time compression; a target of
    1 (every request) is a target, one above it is not."""
    args = build_parser().parse_args(["benchmark", "--trace", str(tmp_path / "t.csv")])
    defaults = (args.rate_scale, args.slo_queue_wait, args.slo_target, args.time_compression)
    assert defaults == (4.0, 1.0, 0.99, 1.0)
    assert args.jobs == min(4, os.cpu_count() or 1)  # up to 4 worker processes
    assert benchmark._check(args) is None
    for target, accepted in (("1", True), ("1.0001", False), ("0.0001", True)):
        flags = ["benchmark", "--trace", "t.csv", "--slo-target", target]
        if accepted:
            assert benchmark._check(build_parser().parse_args(flags)) is None
        else:
            with pytest.raises(
                benchmark.BenchmarkOptionsError, match=r"--slo-target must be in \(0, 1\]"
            ):
                benchmark._check(build_parser().parse_args(flags))
