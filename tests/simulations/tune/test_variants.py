"""``--set`` parsing, overrides on the policy document, and all-at-once validation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.errors import PolicyError
from simulations.tune.variants import (
    BASELINE,
    Override,
    TuningError,
    apply_override,
    build_variants,
    load_base,
    parse_set,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "policies" / "llama-70b.yaml"


@pytest.mark.parametrize(
    ("argument", "name", "path", "value"),
    [
        ("dw2:scaleDown.stabilizationWindow=2m", "dw2", ("scaleDown", "stabilizationWindow"), "2m"),
        (
            "c:spec.signals.2.capacityPerGroup=12000",
            "c",
            ("signals", "2", "capacityPerGroup"),
            12000,
        ),
        (
            "s:scaleUp.maxStep={groups: 1, period: 1m}",
            "s",
            ("scaleUp", "maxStep"),
            {"groups": 1, "period": "1m"},
        ),
        (" t :tolerance=0.05", "t", ("tolerance",), 0.05),
        ("n:scaleUp.forecast=null", "n", ("scaleUp", "forecast"), None),
        ("e:scaleUp.forecast=", "e", ("scaleUp", "forecast"), None),
        # Values read as policy files read them (YAML 1.2), not as YAML 1.1 would.
        ("r:replicas.max=010", "r", ("replicas", "max"), 10),
        ("h:missingMetrics.holdFor=1:30", "h", ("missingMetrics", "holdFor"), "1:30"),
    ],
)
def test_parse_set_reads_name_path_and_yaml_value(
    argument: str, name: str, path: tuple[str, ...], value: Any
) -> None:
    got_name, override = parse_set(argument)
    assert (got_name, override.path, override.value) == (name, path, value)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("tolerance=0.05", "expected NAME:PATH=VALUE"),
        ("t:tolerance", "expected NAME:PATH=VALUE"),
        (":tolerance=1", "expected NAME:PATH=VALUE"),
        ("t:scaleDown..maxStep=1", "empty key"),
        ("t:spec=1", "empty key"),
        ("t:tolerance={a: [", "not valid YAML"),
    ],
)
def test_parse_set_rejects_malformed_arguments(argument: str, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        parse_set(argument)


def _spec() -> dict[str, Any]:
    return {
        "tolerance": 0.1,
        "signals": [
            {"type": "queueDepth", "targetPerGroup": 12},
            {"type": "tokenThroughput", "capacityPerGroup": 11000},
        ],
    }


@pytest.mark.parametrize(
    ("path", "value", "check"),
    [
        (("signals", "1", "capacityPerGroup"), 12000, ("signals", 1, "capacityPerGroup")),
        (
            ("signals", "tokenThroughput", "capacityPerGroup"),
            9000,
            ("signals", 1, "capacityPerGroup"),
        ),
        (("signals", "queueDepth", "sustainedFor"), "15s", ("signals", 0, "sustainedFor")),
        (("scaleDown", "stabilizationWindow"), "2m", ("scaleDown", "stabilizationWindow")),
    ],
)
def test_apply_override_sets_by_key_index_and_signal_type(
    path: tuple[str, ...], value: Any, check: tuple[str | int, ...]
) -> None:
    spec = _spec()
    apply_override(spec, Override("arg", path, value))
    node: Any = spec
    for key in check:
        node = node[key]
    assert node == value


def test_apply_override_with_null_removes_the_field() -> None:
    spec = _spec()
    apply_override(spec, Override("arg", ("tolerance",), None))
    assert "tolerance" not in spec


def test_apply_override_just_past_the_end_of_a_list_appends() -> None:
    spec = _spec()
    guard = {"type": "ttft", "targetSeconds": 1}
    apply_override(spec, Override("arg", ("signals", "2"), guard))
    assert spec["signals"][2] == guard
    with pytest.raises(TuningError, match="index 4 is out of range"):
        apply_override(spec, Override("arg", ("signals", "4"), guard))


@pytest.mark.parametrize("key", ["queueDepth", "0"])
def test_apply_override_with_null_on_a_list_item_removes_the_item(key: str) -> None:
    spec = _spec()
    apply_override(spec, Override("arg", ("signals", key), None))
    assert spec["signals"] == [{"type": "tokenThroughput", "capacityPerGroup": 11000}]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("signals", "5", "capacityPerGroup"), "index 5 is out of range"),
        (("signals", "ttft", "targetSeconds"), "no entry of type 'ttft'"),
        (("tolerance", "x"), "spec.tolerance is a value"),
    ],
)
def test_apply_override_names_the_bad_path(path: tuple[str, ...], message: str) -> None:
    with pytest.raises(TuningError, match=message):
        apply_override(_spec(), Override("arg", path, 1))


def test_build_variants_keeps_the_baseline_first_and_groups_changes_by_name() -> None:
    base = load_base(EXAMPLE)
    variants = build_variants(
        base,
        [
            "pair:tolerance=0.05",
            "dw2:scaleDown.stabilizationWindow=2m",
            "pair:scaleDown.stabilizationWindow=5m",
        ],
    )
    assert [v.name for v in variants] == [BASELINE, "pair", "dw2"]
    assert variants[0].document is base
    assert variants[0].changes == {}
    pair = variants[1].document["spec"]
    assert pair["tolerance"] == 0.05
    assert pair["scaleDown"]["stabilizationWindow"] == "5m"
    # The base document is copied, never changed.
    assert base["spec"]["tolerance"] == 0.1
    assert base["spec"]["scaleDown"]["stabilizationWindow"] == "3m"


def test_build_variants_reports_every_problem_at_once() -> None:
    with pytest.raises(TuningError) as caught:
        build_variants(
            load_base(EXAMPLE),
            [
                "nocolon",
                "neg:tolerance=-1",
                "typo:scaleDown.stabilisationWindow=2m",
                "snake:scaleDown.stabilization_window=2m",
                "far:signals.9.target=1",
                f"{BASELINE}:tolerance=0.2",
            ],
        )
    lines = str(caught.value).splitlines()
    assert len(lines) == 6
    text = "\n".join(lines)
    assert "'nocolon': expected NAME:PATH=VALUE" in text
    assert "variant 'neg': spec.tolerance:" in text
    assert "variant 'typo': spec.scaleDown.stabilisationWindow: unknown field" in text
    # A file would reject the Python name, so a variant does too.
    assert "variant 'snake': spec.scaleDown.stabilization_window: unknown field" in text
    assert "index 9 is out of range" in text
    assert "names the unchanged policy" in text


def test_load_base_gives_the_file_document() -> None:
    assert load_base(EXAMPLE) == yaml.safe_load(EXAMPLE.read_text())


def test_load_base_rejects_invalid_and_multi_policy_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("tolerance: 0.1", "tolerance: -1"))
    with pytest.raises(PolicyError, match=r"bad\.yaml:\d+: spec\.tolerance"):
        load_base(bad)
    text = EXAMPLE.read_text()
    two = tmp_path / "two.yaml"
    two.write_text(text + "\n---\n" + text.replace("name: llama-70b", "name: other-70b"))
    with pytest.raises(TuningError, match="holds 2 policies"):
        load_base(two)


def test_grid_axes_multiply_into_named_variants() -> None:
    variants = build_variants(
        load_base(EXAMPLE),
        ["c12:signals.tokenThroughput.capacityPerGroup=12000"],
        ["signals.queueDepth.targetPerGroup=[10, 14]", "scaleDown.minGroupAge=[0s, 1m, 3m]"],
    )
    names = [v.name for v in variants]
    assert names[:2] == [BASELINE, "c12"]
    assert names[2:] == [
        f"targetPerGroup={q}, minGroupAge={a}" for q in (10, 14) for a in ("0s", "1m", "3m")
    ]
    last = variants[-1].document["spec"]
    assert last["signals"][0]["targetPerGroup"] == 14
    assert last["scaleDown"]["minGroupAge"] == "3m"
    assert variants[-1].changes == {
        "signals.queueDepth.targetPerGroup": 14,
        "scaleDown.minGroupAge": "3m",
    }


def test_grid_names_mapping_values_readably() -> None:
    variants = build_variants(load_base(EXAMPLE), [], ["scaleUp.maxStep=[{groups: 1, period: 1m}]"])
    assert variants[1].name == 'maxStep={"groups": 1, "period": "1m"}'


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("tolerance=0.05", re.escape("expected PATH=[V1, V2, ...], a non-empty YAML list")),
        ("tolerance=[]", "a non-empty YAML list"),
        ("tolerance", re.escape("--grid 'tolerance': expected PATH=[V1, V2, ...]")),
        ("signals.9.target=[1, 2]", r"--grid 'signals.9.target=\[1, 2\]': spec.signals: index 9"),
        ("tolerance=[0.05, -1]", "variant 'tolerance=-1': spec.tolerance:"),
    ],
)
def test_bad_grids_are_reported(grid: str, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        build_variants(load_base(EXAMPLE), [], [grid])


@pytest.mark.parametrize(
    ("sets", "grids", "message"),
    [
        # The second axis overrode the first in every variant, named by both: 4 rows,
        # 2 distinct runs.
        (
            [],
            ["scaleDown.minGroupAge=[0s, 1m]", "scaleDown.minGroupAge=[2m, 3m]"],
            "--grid 'scaleDown.minGroupAge=[2m, 3m]': scaleDown.minGroupAge is already an "
            "axis (--grid 'scaleDown.minGroupAge=[0s, 1m]')",
        ),
        # The --set variant merged into the grid's combination of the same name (5m lost).
        (
            ["minGroupAge=1m:scaleDown.minGroupAge=5m"],
            ["scaleDown.minGroupAge=[1m, 2m]"],
            "--set 'minGroupAge=1m': also the name of a --grid combination",
        ),
        # The second value silently replaced the first.
        (
            ["a:scaleDown.minGroupAge=1m", "a:scaleDown.minGroupAge=2m"],
            [],
            "variant 'a' sets scaleDown.minGroupAge twice",
        ),
        (
            [],
            ["scaleDown.minGroupAge=[1m, '1m']"],
            "--grid: two combinations are both named 'minGroupAge=1m'",
        ),
    ],
    ids=["axis-twice", "set-named-like-a-combination", "one-path-twice", "one-label-twice"],
)
def test_variants_that_would_merge_or_override_silently_are_refused(
    sets: list[str], grids: list[str], message: str
) -> None:
    with pytest.raises(TuningError) as caught:
        build_variants(load_base(EXAMPLE), sets, grids)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("sets", "grids", "message"),
    [
        (
            ["x:scaleDown.stabilizationWindow=[1"],
            [],
            "--set 'x:scaleDown.stabilizationWindow=[1': the value '[1' is not valid YAML: "
            "expected ',' or ']', but got '<stream end>' (column 3)",
        ),
        (
            [],
            ["replicas.max=[1, 2"],
            "--grid 'replicas.max=[1, 2': the value '[1, 2' is not valid YAML: "
            "expected ',' or ']', but got '<stream end>' (column 6)",
        ),
    ],
)
def test_a_value_that_is_not_yaml_is_one_line(
    sets: list[str], grids: list[str], message: str
) -> None:
    """PyYAML's own message is 7 lines (context, the text, a caret under it)."""
    with pytest.raises(TuningError) as error:
        build_variants(load_base(EXAMPLE), sets, grids)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "argument", ["x:signals.\u00b2.capacityPerGroup=1", "x:signals.\u00b2=null"]
)
def test_an_index_of_non_ascii_digits_is_a_clear_error(argument: str) -> None:
    """``str.isdigit`` takes "²", which ``int`` refuses: a ValueError traceback."""
    with pytest.raises(TuningError, match="of type '\u00b2'"):
        build_variants(load_base(EXAMPLE), [argument])


def test_a_grid_value_json_cannot_hold_is_named_and_refused_by_the_schema() -> None:
    with pytest.raises(TuningError, match=r"hello.*: spec\.tolerance: Input should be a valid"):
        build_variants(load_base(EXAMPLE), [], ["tolerance=[!!binary aGVsbG8=]"])


def test_removing_below_a_field_that_is_not_written_changes_nothing() -> None:
    """``null`` removes a field so its default applies; below a parent the policy does
    not write there is nothing to remove (it created the parent, which then failed)."""
    base = load_base(EXAMPLE)
    del base["spec"]["scaleDown"]["maxStep"]
    shipped, removed = build_variants(base, ["x:scaleDown.maxStep.percent=null"])
    assert removed.policy == shipped.policy
