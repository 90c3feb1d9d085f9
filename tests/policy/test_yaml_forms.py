"""What a policy file may say, beyond field types: YAML 1.2 numbers, camelCase names only,
finite and bounded numbers, aliases within reason, and every document of a multi-document
file reported even when a later one is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from autoscaler.errors import PolicyError
from autoscaler.policy import load_policy_file, yaml_nodes
from autoscaler.policy.loader import collect_policies
from autoscaler.policy.model import ScaleDown, StepLimit
from autoscaler.policy.yaml_nodes import check_expansion
from tests.policy.test_loader import BODY, HEAD, assert_reported

# HEAD + BODY are lines 1-14 (replicas.min on 10, replicas.max on 11, targetPerGroup on
# 14); a case appends its own lines from 15 on.
FINITE = "Input should be a finite number"
UNKNOWN = "unknown field"


def _laughs(levels: int, first_line: int = 16) -> tuple[str, int]:
    """``extra:`` with ``levels`` anchors, each a list of ten aliases of the one before:
    10**levels values for a few hundred bytes. Returns the text and the line of the
    first anchor that alone expands to more than 100,000 values (10 * 11,111 + 1)."""
    lines = ["  extra:", "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n", first_line + 4


LAUGHS, LAUGHS_LINE = _laughs(6)
LAUGHS_20, _ = _laughs(20)
SHARED_STEP = "  scaleUp:\n    maxStep: &step {groups: 2, period: 1m}\n"

CASES = [
    # YAML 1.2 numbers: 010 is ten (not octal eight), 1:30 is text (not 90), 1_000 text.
    pytest.param(
        BODY.replace("    min: 1", "    min: 010").replace("max: 4", "max: 9"),
        [(11, "spec.replicas.max", "max (9) must be >= min (10)")],
        id="leading-zero-is-decimal",
    ),
    pytest.param(
        BODY + "  missingMetrics: {holdFor: 1:30}\n",
        [(15, "spec.missingMetrics.holdFor", "'1:30' is not a duration")],
        id="sexagesimal-is-text",
    ),
    pytest.param(
        BODY.replace("max: 4", "max: 1_000"),
        [(11, "spec.replicas.max", "Input should be a valid integer")],
        id="underscores-are-text",
    ),
    # YAML names only: the schema's additionalProperties: false rejects the Python names.
    pytest.param(
        BODY + "  scale_down: {stabilization_window: 0}\n",
        [(15, "spec.scale_down", UNKNOWN)],
        id="snake-case-section",
    ),
    pytest.param(
        BODY + "      target_per_group: 50\n",
        [(15, "spec.signals[0].target_per_group", UNKNOWN)],
        id="snake-case-next-to-its-camel-case",
    ),
    pytest.param(
        BODY + "  coldStart: {min_observations: 30}\n",
        [(15, "spec.coldStart.min_observations", UNKNOWN)],
        id="snake-case-is-no-input-of-a-cross-field-rule",
    ),
    # Non-finite numbers: .inf as a target switches the signal off, as a step crashes.
    pytest.param(
        BODY.replace("targetPerGroup: 8", "targetPerGroup: .inf") + "  tolerance: .nan\n",
        [(14, "spec.signals[0].targetPerGroup", FINITE), (15, "spec.tolerance", FINITE)],
        id="infinite-target-and-nan-tolerance",
    ),
    pytest.param(
        BODY + "  scaleUp:\n    maxStep: {percent: .inf}\n    forecast: {maxGrowth: .inf}\n",
        [
            (16, "spec.scaleUp.maxStep.percent", FINITE),
            (17, "spec.scaleUp.forecast.maxGrowth", FINITE),
        ],
        id="infinite-step-and-growth",
    ),
    pytest.param(
        BODY + "  scaleToZero:\n    enabled: true\n    activation: {query: up, threshold: .inf}\n",
        [(17, "spec.scaleToZero.activation.threshold", FINITE)],
        id="infinite-activation-threshold",
    ),
    pytest.param(
        BODY + "    - type: tokenThroughput\n      capacityPerGroup: 1.0e-320\n"
        "      targetUtilization: -.inf\n",
        [
            (16, "spec.signals[1].capacityPerGroup", "greater than or equal to 0.000001"),
            (17, "spec.signals[1].targetUtilization", FINITE),
        ],
        id="vanishing-capacity-and-negative-infinity",
    ),
    # Bounds that keep the engine's arithmetic finite and a size within int32.
    pytest.param(
        BODY + "  scaleDown:\n    maxStep: {percent: 20000}\n"
        "  scaleUp:\n    forecast: {maxGrowth: 1000}\n",
        [
            (16, "spec.scaleDown.maxStep.percent", "less than or equal to 10000"),
            (18, "spec.scaleUp.forecast.maxGrowth", "less than or equal to 100"),
        ],
        id="step-percent-and-growth-bounds",
    ),
    pytest.param(
        BODY.replace("max: 4", "max: 4294967296"),
        [(11, "spec.replicas.max", "less than or equal to 2147483647")],
        id="replicas-beyond-int32",
    ),
    # Aliases: bounded expansion, located where it happens, shared mappings checked once.
    pytest.param(
        BODY + LAUGHS,
        [(LAUGHS_LINE, "", "more than 100,000 values (counting aliases expanded)")],
        id="billion-laughs",
    ),
    pytest.param(
        BODY + LAUGHS_20,
        [(LAUGHS_LINE, "", "more than 100,000 values (counting aliases expanded)")],
        id="billion-laughs-10-to-the-20",
    ),
    pytest.param(
        BODY + "  extra: &x [1, *x]\n",
        [(15, "", "an alias contains itself")],
        id="alias-contains-itself",
    ),
    pytest.param(
        BODY + "  scaleUp:\n    maxStep: &step {groups: 2, groups: 3, period: 1m}\n"
        "  scaleDown:\n    maxStep: *step\n",
        [(16, "spec.scaleUp.maxStep.groups", "duplicate key")],
        id="duplicate-in-a-shared-mapping-reported-once",
    ),
    # An error inside a shared mapping is reported for each use: at its line in the
    # anchor, and at the alias's line, naming the anchor (see test_alias_lines.py).
    pytest.param(
        BODY + SHARED_STEP.replace("groups: 2", "groups: 0") + "  scaleDown:\n    maxStep: *step\n",
        [
            (16, "spec.scaleUp.maxStep.groups", "greater than or equal to 1"),
            (
                18,
                "spec.scaleDown.maxStep.groups",
                "(the value comes from the anchor &step at line 16)",
            ),
        ],
        id="error-in-a-shared-mapping",
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
def test_each_error_names_file_line_and_field(
    tmp_path: Path, body: str, expected: list[tuple[int, str, str]]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    assert_reported(path, expected)


def _spec(tmp_path: Path, body: str) -> Any:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    (loaded,) = load_policy_file(path)
    return loaded.policy.spec


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        (BODY.replace("max: 4", "max: 010"), "replicas.max", 10),
        (BODY.replace("max: 4", "max: 0o10"), "replicas.max", 8),
        (BODY.replace("targetPerGroup: 8", "targetPerGroup: 1e1"), "targetPerGroup", 10.0),
        (BODY + "  missingMetrics: {holdFor: 2e2}\n", "holdFor", 200.0),
        # Not defects: forms YAML 1.1 and 1.2 read alike keep working.
        (BODY.replace("max: 4", "max: 0x10"), "replicas.max", 16),
        (BODY + "  missingMetrics: {holdFor: 90}\n", "holdFor", 90.0),
        (BODY + "  missingMetrics: {holdFor: 1m30s}\n", "holdFor", 90.0),
        (BODY + "  missingMetrics: {holdFor: 1.5}\n", "holdFor", 1.5),
    ],
    ids=[
        "octal-looking",
        "0o-octal",
        "exponent",
        "exponent-duration",
        "0x-hex",
        "90",
        "1m30s",
        "1.5",
    ],
)
def test_numbers_read_as_yaml_1_2(tmp_path: Path, body: str, field: str, value: object) -> None:
    spec = _spec(tmp_path, body)
    read = {
        "replicas.max": spec.replicas.max,
        "targetPerGroup": spec.signals[0].target_per_group,
        "holdFor": spec.missing_metrics.hold_for,
    }[field]
    assert read == value
    assert type(read) is type(value)


def test_shared_and_merged_mappings_load(tmp_path: Path) -> None:
    """Not a defect: small anchors and aliases keep working."""
    spec = _spec(
        tmp_path,
        BODY
        + SHARED_STEP
        + "  scaleDown:\n    maxStep:\n      <<: *step\n      groups: 1\n"
        + "  coldStart: &cold {expected: 10m}\n  metrics:\n    rateWindow: 2m\n",
    )
    assert spec.scale_up.max_step == StepLimit(groups=2, period=60.0)
    assert spec.scale_down.max_step == StepLimit(groups=1, period=60.0)
    assert spec.cold_start.expected == 600.0


def test_documents_are_validated_by_yaml_names_only() -> None:
    from autoscaler.policy.loader import policy_from_document

    document: dict[str, Any] = {
        "apiVersion": "lws-autoscaler.io/v1alpha1",
        "kind": "ScalingPolicy",
        "metadata": {"name": "test"},
        "spec": {
            "target": {"namespace": "inference", "name": "model"},
            "replicas": {"max": 4},
            "signals": [{"type": "queueDepth", "targetPerGroup": 8}],
        },
    }
    assert policy_from_document(document).spec.replicas.max == 4
    document["spec"]["scale_down"] = {"stabilization_window": 0}
    with pytest.raises(ValidationError) as caught:
        policy_from_document(document)
    assert [e["loc"] for e in caught.value.errors()] == [("spec", "scale_down")]
    # Code still builds models by Python name.
    assert ScaleDown(stabilization_window=0.0).stabilization_window == 0.0


SECOND = HEAD.replace("name: test", "name: second").replace("name: model", "name: other")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD + BODY.replace("max: 4", "max: 0") + "---\nkind: [unclosed\n",
            # At the line of the unclosed "[", not at the end of the file where YAML sees it.
            [(11, "spec.replicas.max", "greater than or equal to 1"), (16, "", "invalid YAML")],
        ),
        (
            HEAD + BODY + "---\n" + SECOND + BODY.replace("max: 4", "max: 0") + "---\n\tx: 1\n",
            [(26, "spec.replicas.max", "greater than or equal to 1"), (31, "", "invalid YAML")],
        ),
    ],
    ids=["error-before-a-broken-document", "error-in-the-second-of-three"],
)
def test_a_broken_document_does_not_hide_the_earlier_ones(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str]]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(path, expected)


def test_valid_documents_before_a_broken_one_still_load_for_collect(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + BODY + "---\n" + SECOND + "  replicas: [1,\n", encoding="utf-8")
    policies, issues = collect_policies([path])
    assert [p.policy.name for p in policies] == ["test"]
    assert [(i.line, i.message.split(":")[0]) for i in issues] == [(25, "invalid YAML")]
    with pytest.raises(PolicyError):
        load_policy_file(path)


def test_the_expansion_limit_counts_every_value_aliases_expanded_and_is_inclusive() -> None:
    """``a: &x [1, 2]`` and ``b: [*x, *x]``: the mapping (1), key ``a`` (1), the list x
    (1 + 2 = 3), key ``b`` (1) and its list (1 + 3 + 3 = 7) are 13 values: a limit of
    13 holds them, 12 does not, and the error points at the innermost value too large
    alone (the root here, line 1: no single value holds 13)."""
    root = yaml.compose("a: &x [1, 2]\nb: [*x, *x]\n", Loader=yaml.SafeLoader)
    assert root is not None
    check_expansion(root, limit=13)
    with pytest.raises(yaml.MarkedYAMLError, match="more than 12 values") as caught:
        check_expansion(root, limit=12)
    assert caught.value.problem_mark is not None
    assert caught.value.problem_mark.line == 0
    # At 6 the list b (7 values) is the innermost too large: line 2.
    with pytest.raises(yaml.MarkedYAMLError) as inner:
        check_expansion(root, limit=6)
    assert inner.value.problem_mark is not None
    assert inner.value.problem_mark.line == 1


@pytest.mark.parametrize(("items", "refused"), [(47, False), (48, True)], ids=["at", "over"])
def test_composing_stops_past_the_limit_counting_each_document_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, items: int, refused: bool
) -> None:
    """Composing counts values as it goes (a document of 400,000 plain values would take
    seconds to compose before ``check_expansion`` refused it). With the limit at 50
    (patched here; ``check_expansion`` keeps its own 100,000): ``x: [1, ...]`` is the
    mapping, the key and the list (3) and its items, so 47 items are 50 values, 48 are
    51. The second document starts from zero again."""
    monkeypatch.setattr(yaml_nodes, "MAX_VALUES", 50)
    document = "x: [" + ", ".join(["1"] * items) + "]\n"
    path = tmp_path / "many.yaml"
    path.write_text(document + "---\n" + document, encoding="utf-8")
    messages = [i.message for i in collect_policies([path])[1]]
    too_many = "invalid YAML: the document has more than 50 values (counting aliases expanded)"
    if refused:
        # The first document's refusal ends the stream, as any YAML error does.
        assert [m.startswith(too_many) for m in messages] == [True]
    else:
        assert not any("more than" in m for m in messages)
        assert len(messages) > 2  # both documents read: each is no policy (unknown field x)


@pytest.mark.parametrize(("lists", "stops"), [(199, False), (200, True)], ids=["200", "201"])
def test_nesting_up_to_200_levels_is_skipped_and_past_it_reading_stops(
    tmp_path: Path, lists: int, stops: bool
) -> None:
    """The mapping and 199 lists are 200 levels (``STOP_DEPTH``, 4 x 50): the value past
    level 50 is skipped to its end, reported at its field, and the file read on (``b``
    on line 2 is reported too). One list more and reading stops at the file's first
    line, as after a syntax error: the parser slows down faster than the depth grows."""
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * lists + "]" * lists + "\nb: 1\n", encoding="utf-8")
    issues = collect_policies([path])[1]
    if stops:
        assert [(i.line, i.field) for i in issues] == [(1, "")]
        assert issues[0].message.endswith("(a whole policy has five); reading stops here")
    else:
        deep = [i for i in issues if i.message.startswith("nested too deeply")]
        assert [(i.line, i.field) for i in deep] == [(1, "a" + "[0]" * 49)]
        assert (2, "b") in [(i.line, i.field) for i in issues]
