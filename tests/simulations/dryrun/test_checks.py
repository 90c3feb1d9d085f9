"""The ``--check`` baseline: its shape is checked when it is loaded (before a run), and
every figure compared must be a finite number, not true/false, not NaN (a NaN baseline
passed any run as "no regression": every comparison with NaN is False)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autoscaler.cli.main import main
from simulations.dryrun import Margins, regressions
from simulations.dryrun.checks import BaselineError, baseline_entry, check_against, load_baseline
from simulations.dryrun.report import summary_document, write_summary
from tests.simulations.dryrun.summaries import FIGURES, summary

ROOT = Path(__file__).resolve().parents[3]


def _document() -> dict[str, Any]:
    return summary_document([summary()], {"inference/dev-8b": "dev-8b"}, {})


def _baseline(tmp_path: Path, document: dict[str, Any] | str) -> Path:
    path = tmp_path / "summary.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_a_written_summary_is_a_baseline(tmp_path: Path) -> None:
    path = write_summary(tmp_path / "summary.json", _document())
    assert load_baseline(path)["policies"]["dev-8b"]["replica_hours"] == 10.0
    assert check_against(path, [summary()]) == []
    assert check_against(path, [summary(replica_hours=20.0)]) == [
        "dev-8b: replica-hours 20.00 > baseline 10.00 +10%"
    ]


def _edit(**changes: Any) -> dict[str, Any]:
    document = _document()
    for where, value in changes.items():
        if where == "version":
            document["version"] = value
        elif where == "entry":
            document["policies"]["dev-8b"] = value
        elif value is _DROP:
            del document["policies"]["dev-8b"][where]
        else:
            document["policies"]["dev-8b"][where] = value
    return document


_DROP = object()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_edit(entry="x"), 'policies.dev-8b: must be an object of figures, got "x"'),
        (_edit(entry=[1, 2]), "policies.dev-8b: must be an object of figures, got [1, 2]"),
        (_edit(replica_hours=float("nan")), "policies.dev-8b.replica_hours: must be a finite "),
        (_edit(underprovisioned_seconds=float("inf")), "underprovisioned_seconds: must be a fin"),
        (_edit(scale_ups=True), "policies.dev-8b.scale_ups: must be a number, got true"),
        (_edit(scale_downs="2"), 'policies.dev-8b.scale_downs: must be a number, got "2"'),
        (_edit(longest_wrong_size_seconds=None), "longest_wrong_size_seconds: must be a number"),
        (_edit(replica_hours=10**400), "policies.dev-8b.replica_hours: must be a finite number"),
        (_edit(scale_ups=_DROP), "policies.dev-8b.scale_ups: missing"),
        (_edit(version=7), "version: 7 is not a summary version this build reads (1)"),
        (_edit(version=True), "version: true is not a summary version"),
        (_edit(version=None), "version: null is not a summary version"),
        (_edit(version="1"), 'version: "1" is not a summary version'),
        ("[" * 200_000, "not JSON: nested too deeply"),
    ],
    ids=[
        "entry-string",
        "entry-list",
        "nan",
        "infinity",
        "bool",
        "string-figure",
        "null-figure",
        "huge-int",
        "missing-figure",
        "version-7",
        "version-true",
        "version-missing",
        "version-string",
        "deep",
    ],
)
def test_a_baseline_of_the_wrong_shape_is_refused_when_loaded(
    tmp_path: Path, document: dict[str, Any] | str, message: str
) -> None:
    path = _baseline(tmp_path, document)
    with pytest.raises(BaselineError) as raised:
        load_baseline(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)
    with pytest.raises(BaselineError):  # the check loads it the same way
        check_against(path, [summary(replica_hours=1e6)])


def test_a_nan_figure_is_no_longer_a_pass(tmp_path: Path) -> None:
    """A run 100,000x the baseline's replica-hours used to read as no regression."""
    path = _baseline(tmp_path, _edit(replica_hours=float("nan")))
    with pytest.raises(BaselineError, match="replica_hours: must be a finite number, got nan"):
        check_against(path, [summary(replica_hours=1e6)])


@pytest.mark.parametrize(
    ("figure", "value", "message"),
    [
        ("replica_hours", float("nan"), "baseline summary: replica_hours: must be a finite"),
        ("scale_ups", True, "baseline summary: scale_ups: must be a number, got true"),
        ("scale_downs", float("-inf"), "baseline summary: scale_downs: must be a finite"),
    ],
)
def test_regressions_refuse_figures_that_are_not_finite_numbers(
    figure: str, value: object, message: str
) -> None:
    base: dict[str, object] = dict(FIGURES)
    with pytest.raises(ValueError, match=message):
        regressions(dict(FIGURES), {**base, figure: value}, Margins())
    with pytest.raises(ValueError, match=f"new summary: {figure}"):
        regressions({**base, figure: value}, base, Margins())


def test_simulate_refuses_a_bad_baseline_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``"policies": {"dev-8b": "x"}`` used to end in an AttributeError after the run."""
    path = _baseline(tmp_path, {**_document(), "policies": {"dev-8b": "x"}})
    out = tmp_path / "out"
    policy = ROOT / "policies" / "dev-8b.yaml"
    argv = ["simulate", "--policies", str(policy), "-q", "--out", str(out), "--check", str(path)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f'lws-autoscaler simulate: {path}: policies.dev-8b: must be an object of figures, got "x"\n'
    )
    assert not out.exists()  # nothing simulated, nothing written


@pytest.mark.parametrize(
    ("policy", "target", "alone", "matched"),
    [
        ("dev-8b", "dev/llama-8b-dev", False, True),  # by name, whatever else runs
        ("dev-8b-v2", "inference/dev-8b", False, True),  # renamed, same LWS
        ("dev-8b-v2", "inference/other", True, True),  # the run's only policy
        # Another LWS in a run of several: judged against dev-8b's figures, it used to
        # fail (or pass) on numbers that were never its own.
        ("llama-405b", "inference/llama-405b", False, False),
    ],
)
def test_the_only_baseline_entry_is_used_for_its_own_lws_or_a_single_policy(
    policy: str, target: str, alone: bool, matched: bool
) -> None:
    entries = _document()["policies"]
    assert (baseline_entry(entries, policy, target, alone) is not None) == matched


def test_check_against_uses_the_baseline_read_before_the_run(tmp_path: Path) -> None:
    """A baseline in --out is replaced by the run: reading it again after the run
    compared the run with itself."""
    path = write_summary(tmp_path / "summary.json", _document())
    kept = load_baseline(path)
    write_summary(path, summary_document([summary(replica_hours=20.0)], {}, {}))
    found = check_against(path, [summary(replica_hours=20.0)], document=kept)
    assert found == ["dev-8b: replica-hours 20.00 > baseline 10.00 +10%"]
    with pytest.raises(BaselineError, match="no entry for policy llama-405b"):
        check_against(path, [summary(), summary("llama-405b")], document=kept)


def test_the_check_flags_default_to_the_margins_defaults() -> None:
    from autoscaler.cli.main import build_parser
    from autoscaler.cli.simulate import margins_of
    from simulations.dryrun.checks import DEFAULT_MARGINS

    args = build_parser().parse_args(["simulate"])
    assert margins_of(args) == DEFAULT_MARGINS == Margins()
    args = build_parser().parse_args(["simulate", "--max-wrong-size-increase", "5"])
    assert margins_of(args) == Margins(longest_wrong_size_seconds=5.0)


def test_of_two_baseline_entries_neither_stands_in_for_a_third_policy(tmp_path: Path) -> None:
    document = summary_document(
        [summary(), summary("llama-405b")],
        {"inference/dev-8b": "dev-8b", "inference/llama-405b": "llama-405b"},
        {},
    )
    assert baseline_entry(document["policies"], "mixtral", "inference/mixtral", True) is None
    path = write_summary(tmp_path / "summary.json", document)
    with pytest.raises(BaselineError, match="no entry for policy mixtral"):
        check_against(path, [summary("mixtral")])


def test_a_policy_checked_alone_is_judged_against_the_only_entry_even_renamed(
    tmp_path: Path,
) -> None:
    path = write_summary(tmp_path / "summary.json", _document())
    assert check_against(path, [summary("renamed", replica_hours=20.0)]) == [
        "renamed: replica-hours 20.00 > baseline 10.00 +10%"
    ]


@pytest.mark.parametrize(
    ("base", "new", "worse"),
    [
        # 4 events allow max(4 x 1.5, 4 + 2) = 6.
        ((2, 2), (3, 3), False),
        ((2, 2), (4, 3), True),
        # 2 events allow max(3, 4) = 4: a few events more are never a regression.
        ((1, 1), (2, 2), False),
        ((1, 1), (3, 2), True),
        # 10 events allow max(15, 12) = 15: by half.
        ((5, 5), (8, 7), False),
        ((5, 5), (8, 8), True),
    ],
)
def test_scale_events_may_grow_by_half_or_by_two(
    base: tuple[int, int], new: tuple[int, int], worse: bool
) -> None:
    baseline = {**FIGURES, "scale_ups": base[0], "scale_downs": base[1]}
    run = {**FIGURES, "scale_ups": new[0], "scale_downs": new[1]}
    assert bool(regressions(run, baseline, Margins())) is worse


@pytest.mark.parametrize(("hours", "worse"), [(11.0, False), (11.01, True)])
def test_replica_hours_may_grow_by_ten_percent(hours: float, worse: bool) -> None:
    run = {**FIGURES, "replica_hours": hours}
    assert bool(regressions(run, FIGURES, Margins())) is worse
