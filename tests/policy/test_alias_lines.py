"""A problem whose field path passes through a YAML alias (``- *sig``, ``scaleDown:
*rules``, ``<<: *step``) is reported at the alias's line, the line that places the value
at that path, with a note naming the anchor the value comes from: PyYAML shares the
anchor's node, whose own lines are where the value was first written.

A problem in the anchor itself, or on a path without aliases, is reported as before: at
its own line, with no note.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.cli.main import main
from autoscaler.errors import PolicyError
from autoscaler.policy.loader import collect_policies, load_policy_file
from tests.policy.test_loader import HEAD

# HEAD is lines 1-8; every case starts with these replicas on lines 9-11.
REPLICAS = "  replicas:\n    min: 1\n    max: 4\n"
SIGNAL = "  signals:\n    - type: queueDepth\n      targetPerGroup: 8\n"  # lines 12-14

# Lines 12-21: a step limit anchored under scaleUp and merged into scaleDown's.
MERGED_STEP = (
    *SIGNAL.rstrip("\n").split("\n"),  # 12-14
    "  scaleUp:",  # 15
    "    maxStep: &step",  # 16
    "      groups: 2",  # 17
    "      period: soon",  # 18
    "  scaleDown:",  # 19
    "    maxStep:",  # 20
    "      <<: *step",  # 21
)

DURATION = "'soon' is not a duration"
NEGATIVE = "greater than or equal to 0.000001"


def _lines(*lines: str) -> str:
    return HEAD + REPLICAS + "".join(f"{line}\n" for line in lines)


def _from(anchor: str, line: int, written: int | None = None) -> str:
    note = f" (the value comes from the anchor &{anchor} at line {line}"
    return note + (f"; written at line {written})" if written else ")")


CASES = [
    pytest.param(
        _lines(
            "  signals:",  # 12
            "    - &sig",  # 13
            "      type: queueDepth",  # 14
            "      targetPerGroup: -1",  # 15
            "    - type: kvCacheUtilization",  # 16
            "      target: 0.75",  # 17
            "    - *sig",  # 18
        ),
        [
            # The anchor itself: its own line, no note.
            (15, "spec.signals[0].targetPerGroup", NEGATIVE, ""),
            # A rule of the whole list, at the item: the anchor's line is the item's own.
            (18, "spec.signals[2]", "listed twice", _from("sig", 13)),
            (18, "spec.signals[2].targetPerGroup", NEGATIVE, _from("sig", 13, 15)),
        ],
        id="list-item",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp: &rules",  # 15
            "    stabilizationWindow: soon",  # 16
            "  scaleDown: *rules",  # 17
        ),
        [
            (16, "spec.scaleUp.stabilizationWindow", DURATION, ""),
            (17, "spec.scaleDown.stabilizationWindow", DURATION, _from("rules", 15, 16)),
        ],
        id="mapping-value",
    ),
    pytest.param(
        _lines(
            *MERGED_STEP,  # 12-21
            "      period: later",  # 22
        ),
        # The mapping's own entry overrides the merged one: its own line, no note.
        [
            (18, "spec.scaleUp.maxStep.period", DURATION, ""),
            (22, "spec.scaleDown.maxStep.period", "'later' is not a duration", ""),
        ],
        id="merge-key-overridden",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp:",  # 15
            "    stabilizationWindow: &when soon",  # 16
            "    maxStep: &step",  # 17
            "      groups: 2",  # 18
            "      period: *when",  # 19
            "  scaleDown:",  # 20
            "    maxStep:",  # 21
            "      <<: *step",  # 22
            "      groups: 1",  # 23
        ),
        # A merged mapping whose value is itself an alias: both anchors are named.
        [
            (16, "spec.scaleUp.stabilizationWindow", DURATION, ""),
            (19, "spec.scaleUp.maxStep.period", DURATION, _from("when", 16)),
            (
                22,
                "spec.scaleDown.maxStep.period",
                DURATION,
                " (the value comes from the anchor &step at line 17 and, inside it, from the "
                "anchor &when at line 16)",
            ),
        ],
        id="merge-of-a-mapping-with-an-alias-inside",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp:",  # 15
            "    maxStep: &a",  # 16
            "      period: soon",  # 17
            "    stabilizationWindow: &b {groups: 1}",  # 18
            "  scaleDown:",  # 19
            "    maxStep:",  # 20
            "      <<: *a",  # 21
            "      <<: *b",  # 22
        ),
        # Two merge keys: a duplicate, reported; each merge still places its own fields.
        [
            (16, "spec.scaleUp.maxStep", "set groups, percent, or both", ""),
            (17, "spec.scaleUp.maxStep.period", DURATION, ""),
            (18, "spec.scaleUp.stabilizationWindow", "got dict", ""),
            (21, "spec.scaleDown.maxStep.period", DURATION, _from("a", 16, 17)),
            (22, "spec.scaleDown.maxStep.<<", "duplicate key", ""),
        ],
        id="two-merge-keys",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp:",  # 15
            "    maxStep: &step {groups: 2, period: soon}",  # 16
            "  scaleDown:",  # 17
            "    maxStep:",  # 18
            "      *step",  # 19
        ),
        # The alias on a line of its own: deeper fields are at the alias, not the key.
        [
            (16, "spec.scaleUp.maxStep.period", DURATION, ""),
            (19, "spec.scaleDown.maxStep.period", DURATION, _from("step", 16)),
        ],
        id="flow-mapping-value-on-its-own-line",
    ),
    pytest.param(
        _lines(
            "  signals:",  # 12
            "    - type: queueDepth",  # 13
            "      targetPerGroup: &n -2",  # 14
            "    - type: tokenThroughput",  # 15
            "      capacityPerGroup: *n",  # 16
        ),
        # A scalar: the key's line, as before, now with the note.
        [
            (14, "spec.signals[0].targetPerGroup", NEGATIVE, ""),
            (16, "spec.signals[1].capacityPerGroup", NEGATIVE, _from("n", 14)),
        ],
        id="scalar-value",
    ),
    pytest.param(
        _lines(
            "  signals:",  # 12
            "    - type: queueDepth",  # 13
            "      targetPerGroup: 8",  # 14
            "      isolatedBurst: &burst",  # 15
            "        calmFor: soon",  # 16
            "        maxGroups: 1",  # 17
            "    - &sig",  # 18
            "      type: queueDepth",  # 19
            "      targetPerGroup: 9",  # 20
            "      isolatedBurst: *burst",  # 21
            "    - *sig",  # 22
        ),
        [
            (16, "spec.signals[0].isolatedBurst.calmFor", DURATION, ""),
            (18, "spec.signals[1]", "listed twice", ""),
            (21, "spec.signals[1].isolatedBurst.calmFor", DURATION, _from("burst", 15, 16)),
            (
                22,
                "spec.signals[2].isolatedBurst.calmFor",
                DURATION,
                " (the value comes from the anchor &sig at line 18 and, inside it, from the"
                " anchor &burst at line 15; written at line 16)",
            ),
            (22, "spec.signals[2]", "listed twice", _from("sig", 18)),
        ],
        id="nested-aliases",
    ),
    pytest.param(
        _lines(
            *MERGED_STEP,  # 12-21
            "      groups: 1",  # 22
        ),
        # A merged field is at the merge's alias; a field of the mapping's own, as before.
        [
            (18, "spec.scaleUp.maxStep.period", DURATION, ""),
            (21, "spec.scaleDown.maxStep.period", DURATION, _from("step", 16, 18)),
        ],
        id="merge-key",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp:",  # 15
            "    maxStep: &step {groups: 2, period: soon}",  # 16
            "  scaleDown:",  # 17
            "    maxStep:",  # 18
            "      <<: [{groups: 1}, *step]",  # 19
            "      percent: 50",  # 20
        ),
        [
            (16, "spec.scaleUp.maxStep.period", DURATION, ""),
            (19, "spec.scaleDown.maxStep.period", DURATION, _from("step", 16)),
        ],
        id="merge-key-list",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp: &rules",  # 15
            "    stabilizationWindow: 0s",  # 16
            "  scaleDown:",  # 17
            "    stabilizationWindow: soon",  # 18
            "    minGroupAge: *rules",  # 19
        ),
        # Shared without a problem inside: a problem at the alias's own key is as before.
        [
            (18, "spec.scaleDown.stabilizationWindow", DURATION, ""),
            (19, "spec.scaleDown.minGroupAge", "", _from("rules", 15)),
        ],
        id="alias-where-a-scalar-belongs",
    ),
    pytest.param(
        HEAD
        + REPLICAS.replace("  replicas:", "  &k replicas:")  # 9-11
        + SIGNAL  # 12-14
        + "  *k : 3\n",  # 15
        # A key written as an alias: at the alias (the value is written there, no note).
        [
            (15, "spec.replicas", "duplicate key", ""),
            (15, "spec.replicas", "valid dictionary", ""),
        ],
        id="aliased-key",
    ),
    pytest.param(
        _lines(
            *SIGNAL.rstrip("\n").split("\n"),  # 12-14
            "  scaleUp:",  # 15
            "    stabilizationWindow: soon",  # 16
            "  scaleDown:",  # 17
            "    stabilizationWindow: soon",  # 18
        ),
        # No alias: unchanged.
        [
            (16, "spec.scaleUp.stabilizationWindow", DURATION, ""),
            (18, "spec.scaleDown.stabilizationWindow", DURATION, ""),
        ],
        id="no-alias",
    ),
]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_a_field_reached_through_an_alias_is_reported_at_the_alias(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str, str]]
) -> None:
    path = _write(tmp_path, text)
    _, issues = collect_policies([path])
    expected = sorted(expected)  # problems come by line, then field
    assert [(i.line, i.field) for i in issues] == [(line, f) for line, f, _, _ in expected]
    for issue, (_, _, message, note) in zip(issues, expected, strict=True):
        assert message in issue.message
        # The note ends the message, and only a path through an alias has one.
        assert issue.message.endswith(note) if note else "comes from" not in issue.message
        line = str(issue)
        assert "\n" not in line
        assert line.startswith(f"{path}:{issue.line}: {issue.field}: ")
    # The server's watcher reads the same file to the same problems.
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert [str(i) for i in caught.value.issues] == [str(i) for i in issues]


def test_validate_prints_the_alias_line_and_the_anchor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = CASES[0].values
    assert isinstance(text, str)
    assert isinstance(expected, list)
    path = _write(tmp_path, text)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:18: spec.signals[2].targetPerGroup: " in err
    assert err.count(_from("sig", 13, 15)) == 1
    assert len(expected) == len(err.strip().splitlines()) - 1  # and the count line
    assert f"{path}:15: spec.signals[0].targetPerGroup: " in err


def test_lines_through_aliases_stay_fast_when_an_anchor_is_shared_many_times(
    tmp_path: Path,
) -> None:
    """Thousands of aliases of one anchor, each with a problem: one step per part of a
    path, not a walk of the shared value per reference."""
    items = ["  signals:", "    - &sig {type: queueDepth, targetPerGroup: -1}"]
    items += ["    - *sig"] * 3000
    path = _write(tmp_path, _lines(*items))
    _, issues = collect_policies([path])
    # Each alias's item: its bad target, and its type listed twice.
    assert len(issues) == 1 + 2 * 3000
    last = issues[-1]
    assert (last.line, last.field) == (13 + 3000, "spec.signals[3000].targetPerGroup")
    assert last.message.endswith(_from("sig", 13))
