"""``lws-autoscaler tune`` end to end through the real CLI, on short replays."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from autoscaler.cli.main import build_parser, main
from simulations.bench import REPO
from simulations.profile import load_profile
from simulations.tune.traces import resolve
from simulations.tune.variants import build_variants, load_base


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
            "--set", "max1:replicas.max=1",
            "--set", "max1:replicas.min=1",
            "--set", "dw10:scaleDown.stabilizationWindow=10m",
            "--also-slo", "5",
            "--jobs", "1",
            "--quiet",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["variants"]) == ["shipped", "max1", "dw10"]
    assert results["variants"]["max1"]["changes"] == {"replicas.max": 1, "replicas.min": 1}
    runs = {n: v["traces"]["azure-conv"] for n, v in results["variants"].items()}
    assert set(runs["shipped"]["slo_attainment_at"]) == {"5"}
    # One group cannot carry a load the policy sizes at 2-5: it misses the gate.
    assert results["variants"]["max1"]["failed_gates"] == ["azure-conv"]
    passing = [n for n in runs if runs[n]["slo_attainment"] >= 0.99]
    assert results["chosen"] == min(passing, key=lambda n: runs[n]["gpu_hours"])
    table = capsys.readouterr().out
    assert (out / "results.md").read_text().strip() in table
    assert "| max1 | `replicas.max: 1`, `replicas.min: 1` |" in table
    assert "misses azure-conv" in table
    assert "**chosen**" in table
    assert (out / "tuning.png").stat().st_size > 0


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
        (["--slo-target", "1.5", "--cold-start", "0"], ["--slo-target", "--cold-start"]),
        # Every stage's problems in one run: options, variants, traces.
        (
            ["--slo-target", "1.5", "--set", "bad", "--gate", "nosuch"],
            ["--slo-target", "'bad': expected NAME:PATH=VALUE", "unknown trace 'nosuch'"],
        ),
        (["--score", ""], ["unknown trace ''"]),
        (["--seed", "1", "--seeds", "0-2"], ["give --seed or --seeds, not both"]),
        (["--seeds", "2-0"], ["--seeds: seed range '2-0' runs backwards"]),
        (["--seed", "-3"], ["--seed must be >= 0"]),
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


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--jobs", "0"), ("--rate-factor", "inf"), ("--also-slo", "nan"), ("--cold-start", "nan")],
)
def test_tune_rejects_bad_numbers_as_usage_errors(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tune", "--quiet", flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err


def _documented_tune_commands() -> list[list[str]]:
    """The ``lws-autoscaler tune`` commands docs/engine.md gives for its tables."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text()
    commands = []
    for block in re.findall(r"```\n(lws-autoscaler tune .*?)```", text, flags=re.S):
        if "[--" in block:
            continue  # the synopsis, not a command
        commands.append(shlex.split(block.replace("\\\n", " "))[1:])
    return commands


def test_the_documented_tune_commands_still_parse_and_validate() -> None:
    """A schema change that breaks a documented table's command fails here."""
    commands = _documented_tune_commands()
    assert len(commands) >= 3
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        profile = load_profile(args.profile)
        variants = build_variants(load_base(REPO / profile.policy), args.sets, args.grid)
        assert len(variants) > 1
        for name in args.show:
            resolve(name, args.traces_dir)


def _quick_tune(out: Path, duration: str, *extra: str) -> int:
    """``tune`` on the first ``duration`` seconds of the default trace, gate only."""
    return main(
        [
            "tune",
            "--gate", "azure-conv",
            "--score", "none",
            "--duration", duration,
            "--jobs", "1",
            "--quiet",
            "--out", str(out),
            *extra,
        ]
    )  # fmt: skip


def test_a_variant_that_changes_nothing_is_called_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _quick_tune(tmp_path, "120", "--grid", "scaleDown.minGroupAge=[2m, 3m]") == 0
    rows = {line.split(" | ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["| minGroupAge=2m"].endswith("| the shipped policy itself |")
    assert not rows["| minGroupAge=3m"].endswith("| the shipped policy itself |")


def test_tune_over_seeds_says_so_in_the_table_and_keeps_each_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _quick_tune(tmp_path, "300", "--seeds", "0-1") == 0
    assert "Cells: over seeds 0, 1: worst attainment / mean GPU-hours" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["seeds"] == [0, 1]
    assert results["meta"]["runs"] == 2
    assert set(results["variants"]["shipped"]["traces"]["azure-conv"]["by_seed"]) == {"0", "1"}


def test_the_rate_factor_reaches_the_runs(tmp_path: Path) -> None:
    full, half = tmp_path / "full", tmp_path / "half"
    assert _quick_tune(full, "300") == 0
    assert _quick_tune(half, "300", "--rate-factor", "0.5") == 0
    runs = {}
    for out in (full, half):
        results = json.loads((out / "results.json").read_text())
        runs[out.name] = results["variants"]["shipped"]["traces"]["azure-conv"]
    assert results["meta"]["rate_factor"] == 0.5
    # Half the rate replays about half the requests of the same 300 s.
    ratio = runs["half"]["requests"] / runs["full"]["requests"]
    assert 0.4 < ratio < 0.6


def test_a_run_first_clears_the_previous_runs_outputs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cut short used to leave the previous run's tuning.png beside its own."""
    from autoscaler.cli import tune

    for name in ["results.json", "results.md", "tuning.png", "notes.md"]:
        (tmp_path / name).write_text("old")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "run_tuning", interrupted)
    args = ["tune", "--gate", "azure-conv", "--score", "none", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 130
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def test_a_trace_that_cannot_be_read_leaves_the_previous_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The traces were read by the runs, after the previous outputs were deleted."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ["results.json", "results.md", "tuning.png"]:
        (out / name).write_text("the last run's")
    empty = tmp_path / "empty.csv"
    empty.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    args = ["tune", "--gate", str(empty), "--score", "none", "--quiet", "--out", str(out)]
    assert main(args) == 2
    assert "empty.csv" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["results.json", "results.md", "tuning.png"]
    assert all(p.read_text() == "the last run's" for p in out.iterdir())


def test_a_usage_error_creates_no_out_folder(tmp_path: Path) -> None:
    out = tmp_path / "new"
    assert main(["tune", "--quiet", "--set", "bad", "--out", str(out)]) == 2
    assert not out.exists()


def test_an_slo_given_twice_is_one_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _quick_tune(tmp_path, "120", "--also-slo", "5", "--also-slo", "5.0") == 0
    out = capsys.readouterr().out
    assert "Cells: attainment / at 5 s / GPU-hours / scale events." in out
    results = json.loads((tmp_path / "results.json").read_text())
    cell = results["variants"]["shipped"]["traces"]["azure-conv"]
    assert list(cell["slo_attainment_at"]) == ["5"]
    assert results["meta"]["trace_files"]["azure-conv"]["path"].endswith(".csv")


def test_a_trace_one_later_seed_cannot_read_leaves_the_previous_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the first seed's arrivals were read before the previous outputs went: at
    this rate seed 0 samples enough requests and seed 1 or 2 does not."""
    for name in ["results.json", "results.md", "tuning.png"]:
        (tmp_path / name).write_text("the last run's")
    args = ["tune", "--gate", "servegen-day2", "--score", "none", "--rate-factor", "0.02"]
    args += ["--duration", "10", "--seeds", "0-2", "--jobs", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "a replay needs at least 2 requests" in capsys.readouterr().err
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["results.json", "results.md", "tuning.png"]
