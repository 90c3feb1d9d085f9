"""Values, keys and bytes YAML cannot read as a policy: each a problem at its own line and
field, reported with the document's other problems rather than instead of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.policy import load_policy_file
from autoscaler.policy.loader import collect_policies
from tests.policy.test_loader import BODY, HEAD, assert_reported

# Line 15 of every case: a second problem that must still be reported.
ALSO = "  tolerence: 0.1\n"
ALSO_ISSUE = (15, "spec.tolerence", "unknown field")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD.replace("  name: test", "  name: test\n  annotations: {a: !custom x}")
            + BODY
            + ALSO,
            [(5, "metadata.annotations.a", "unknown YAML tag '!custom'"), (16, *ALSO_ISSUE[1:])],
        ),
        (
            HEAD.replace("spec:", "spec: !custom") + BODY + ALSO,
            [(5, "spec", "unknown YAML tag '!custom'")],
        ),
        (
            HEAD + BODY.replace("max: 4", "max: " + "9" * 5000) + ALSO,
            [(11, "spec.replicas.max", "(4300 digits)"), ALSO_ISSUE],
        ),
        (
            HEAD + BODY.replace("max: 4", "max: !!seq {a: 1}") + ALSO,
            [(11, "spec.replicas.max", "expected a sequence node"), ALSO_ISSUE],
        ),
        (
            HEAD.replace("  name: test", "  name: test\n  annotations: {a: <<}") + BODY + ALSO,
            [(5, "metadata.annotations.a", "'<<' is a merge key"), (16, *ALSO_ISSUE[1:])],
        ),
        (
            HEAD + BODY + "  1: a\n  ~: b\n  true: c\n  [x]: d\n  !custom k: e\n" + ALSO,
            [
                (15, "spec.<key 1>", "a key must be a string, not an integer"),
                (16, "spec.<key ~>", "a key must be a string, not null"),
                (17, "spec.<key true>", "a key must be a string, not a boolean"),
                (18, "spec.<key [...]>", "a key must be a string, not a list"),
                (19, "spec.<key k>", "unknown YAML tag '!custom'"),
                (20, *ALSO_ISSUE[1:]),
            ],
        ),
        (
            HEAD.replace("  name: test", "  name: test\n  labels: {1: a, true: b, '1': c}") + BODY,
            [
                (5, "metadata.labels.<key 1>", "not an integer"),
                (5, "metadata.labels.<key true>", "not a boolean"),
            ],
        ),
        (
            HEAD + BODY.replace("max: 4", "<<: 5\n    max: 4") + ALSO,
            [
                (
                    11,
                    "spec.replicas",
                    "while constructing a mapping: expected a mapping or list of mappings for "
                    "merging, but found scalar",
                ),
                (16, *ALSO_ISSUE[1:]),
            ],
        ),
        (
            # Through an alias the scalar is the anchor's (line 5): the problem stays in
            # the mapping that merges it, at its first line.
            HEAD.replace("  name: test", "  name: test\n  annotations: {x: &five '5'}")
            + BODY.replace("max: 4", "<<: *five\n    max: 4")
            + ALSO,
            [
                (11, "spec.replicas", "expected a mapping or list of mappings for merging"),
                (17, *ALSO_ISSUE[1:]),
            ],
        ),
    ],
    ids=[
        "unknown-tag",
        "unknown-tag-on-a-section",
        "5000-digit-integer",
        "wrong-explicit-tag",
        "merge-key-as-value",
        "keys-that-are-not-strings",
        "keys-never-merge",
        "merge-of-a-scalar-says-what-it-was-constructing",
        "merge-of-an-aliased-scalar-stays-in-the-mapping",
    ],
)
def test_an_unreadable_value_or_key_is_located_and_hides_nothing(
    tmp_path: Path, text: str, expected: list[tuple[int, str, str]]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    assert_reported(path, expected)


@pytest.mark.parametrize(
    ("written", "shown"), [("x" * 40, "x" * 40), ("x" * 41, "x" * 37 + "...")], ids=["40", "41"]
)
def test_an_unreadable_value_is_quoted_up_to_40_characters(
    tmp_path: Path, written: str, shown: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(HEAD + BODY.replace("max: 4", f"max: !!int {written}"), encoding="utf-8")
    (issue,) = collect_policies([path])[1]
    assert (issue.line, issue.field, issue.message) == (
        11,
        "spec.replicas.max",
        f"cannot read '{shown}': not an integer (YAML 1.2: digits, 0o octal or 0x hex)",
    )


@pytest.mark.parametrize("value", ["2024-06-01", "2026-02-30", "2024-06-01T10:00:00Z", "="])
def test_dates_and_equals_signs_are_strings_as_in_yaml_1_2(tmp_path: Path, value: str) -> None:
    path = tmp_path / "policy.yaml"
    text = HEAD.replace("  name: test", f"  name: test\n  annotations: {{release: {value}}}")
    path.write_text(text + BODY, encoding="utf-8")
    (loaded,) = load_policy_file(path)
    assert loaded.policy.metadata.annotations == {"release": value}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            HEAD.replace("name: test", 'name: "test') + BODY,
            4,
            "invalid YAML: while scanning a quoted scalar: found unexpected end of stream "
            "(line 15)",
        ),
        (
            HEAD + "  replicas: {min: 1\n" + BODY,
            9,
            "invalid YAML: while parsing a flow mapping: expected ',' or '}', but got ':' "
            "(line 10)",
        ),
    ],
    ids=["unclosed-quote", "unclosed-flow-mapping"],
)
def test_a_syntax_error_is_reported_where_its_context_starts(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    _, issues = collect_policies([path])
    assert [(i.line, i.field, i.message) for i in issues] == [(line, "", message)]


@pytest.mark.parametrize(
    ("data", "line", "byte"),
    [
        ((HEAD + BODY).replace("name: test", "name: t\xe9st").encode("latin-1"), 4, "0xe9"),
        ((HEAD + BODY).replace("\n", "\r\n").replace("8", "\xff").encode("latin-1"), 14, "0xff"),
        ((HEAD + BODY).encode("utf-16"), 1, "0xff"),
    ],
    ids=["latin-1", "crlf", "utf-16"],
)
def test_a_file_not_in_utf8_is_reported_at_the_line_of_the_bad_byte(
    tmp_path: Path, data: bytes, line: int, byte: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(data)
    _, issues = collect_policies([path])
    assert [(i.line, i.message) for i in issues] == [
        (line, f"file is not UTF-8: byte {byte} cannot be decoded (save it as UTF-8)")
    ]


def test_a_huge_document_without_aliases_is_refused_while_composing(tmp_path: Path) -> None:
    many = "".join(f"    k{i}: v\n" for i in range(100_001))
    path = tmp_path / "policy.yaml"
    text = HEAD.replace("  name: test", "  name: test\n  annotations:\n" + many) + BODY
    path.write_text(text, encoding="utf-8")
    _, issues = collect_policies([path])
    # At the document, worded for a file with no alias at all.
    assert [(i.line, i.field, i.message) for i in issues] == [
        (
            1,
            "",
            "invalid YAML: the document has more than 100,000 values (counting aliases "
            "expanded); a whole policy has a few hundred",
        )
    ]
