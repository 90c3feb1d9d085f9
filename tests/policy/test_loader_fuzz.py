"""A hypothesis fuzzer of policy loading through the entry points that read files from
disk: ``collect_policies`` (``lws-autoscaler validate``) and ``load_policy_file`` (the
server's policy watcher).

Each example starts from a shipped policy (``policies/*.yaml``) and mutates its text: a
scalar replaced by a value of another type (strings, negatives, ``10**30``, ``.nan``,
booleans, null, lists, mappings, bad durations, explicit and unknown tags), a key deleted,
an unknown key added (some with line breaks in their names), a key set twice,
``apiVersion``/``kind`` changed, CRLF or CR line ends and a byte-order mark, the file cut
at a byte, a tab, a YAML syntax character or a byte that is not UTF-8 inserted, deep
nesting, anchors and aliases, alias bombs, a second document, text inserted in a comment
(which must change nothing). Whatever the mutation, loading either succeeds, and the
policy then passes the published JSON Schema and survives a dump and reload unchanged,
or raises ``PolicyError`` (an ``AutoscalerError``) whose every line is
``file:line: field: message``, with the line in the file, never any other exception.
Where a mutation is tied to a field, the problem is named at that field and line, and two
independent bad fields are both named.

Sizes are bounded (files of a few kB, nesting of at most 600 levels), and the example
sequence is derandomised so that CI runs the same examples every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.errors import AutoscalerError, PolicyError, PolicyIssue
from autoscaler.policy.construct import build_document
from autoscaler.policy.loader import LoadedPolicy, collect_policies, load_policy_file
from autoscaler.policy.model import ScalingPolicy
from autoscaler.policy.paths import render_path
from autoscaler.policy.schema import policy_json_schema
from autoscaler.policy.yaml_nodes import FieldPath, StrictYamlLoader

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "policies").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(policy_json_schema())
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

UNKNOWN_KEYS = [
    ("fuzzUnknown", "fuzzUnknown"),
    ("scale_down", "scale_down"),
    ("'a b'", "a b"),
    ('"fuzz\\nkey"', "fuzz\nkey"),
    ('"fuzz\\rkey"', "fuzz\rkey"),
    ('"\\t"', "\t"),
    ('"\\u2028"', "\u2028"),
]
"""(as written in YAML, the key): unknown keys, some with characters a one-line problem
must escape."""
FREE_FORM = ("labels", "annotations")
"""Mappings whose keys are free-form: an unknown key there is a value, not a typo."""

# Values no scalar field of a policy accepts: every field is a string, a bounded number,
# a duration or a boolean, none of them negative, non-finite, a collection or unreadable.
ALWAYS_BAD = [
    "[1, 2]",
    "[]",
    "{fuzz: 1}",
    "{}",
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "-1",
    "-0.5",
    "!fuzztag x",
    "[[[[1]]]]",
    "!!binary aGk=",
    "!!set {a}",
    "!!int x",
    "!!bool maybe",
    "!!bool ''",  # a bare tag would take a flow mapping's "," into its name
    "!!timestamp garbage",
    "!!timestamp ''",
    "!!omap [1]",
    "!!pairs {a: 1}",
    "!!merge x",
    "!!python/none x",
    "9" * 5000,
]
# Values that may or may not fit the field they replace.
MAYBE_BAD = [
    "null",
    "~",
    "true",
    "false",
    "yes",
    "0",
    "1",
    "0.5",
    str(10**30),
    "-" + str(10**30),
    "1e308",
    "1.0e-320",
    '"5x"',
    "5x",
    '"-1m"',
    "-1m",
    "1e400s",
    "99999999999999999999999999999999999999999d",
    "0.0000000001ms",
    "1:30",
    "0x10",
    "0o7",
    "010",
    '""',
    "''",
    '"a\\nb"',
    '"ünïcode"',
    '"\\u2028"',
    "2024-06-01",
    "<<",
    "=",
    "&fzself [*fzself]",
    "!!str 3",
    "!!float 3",
    "!!timestamp 2024-06-01",
    "!!null x",
    "!!bool yes",
    "!!bool TRUE",
    "*undefined",
    '"' + "x" * 300 + '"',
]
API_VERSIONS = [
    '"lws-autoscaler.io/v1"',
    "lws-autoscaler.io/v1beta1",
    "v1alpha1",
    '"LWS-AUTOSCALER.IO/V1ALPHA1"',
    '"lws-autoscaler.io/v1alpha1 "',
    "null",
    "1",
]
KINDS = ['"scalingpolicy"', "ScalingPolicies", "HorizontalPodAutoscaler", "null", "[ScalingPolicy]"]


SYNTAX = [":", ": ", "- ", "-", "{", "}", "[", "]", ",", "&a ", "*a", "!", "|", ">", "'"]
SYNTAX += ['"', "%", "@", "`", "? ", "---\n", "...\n", "\n", " ", "  ", "#", "<<: ", "\x00"]
SYNTAX += ["\x1b", "\ufeff", "\x85", "\u2028", "\r", "\\", "~"]


@dataclass(frozen=True)
class Slot:
    """A scalar value of a shipped policy: where its text is and which field it is."""

    path: FieldPath
    line: int
    start: int
    end: int
    single_line: bool


@dataclass(frozen=True)
class Entry:
    """A ``key: value`` entry of a mapping, with what it takes to delete, copy or add
    next to it without changing the structure around it."""

    path: FieldPath
    line: int
    key_start: int
    value_end: int
    flow: bool
    column: int
    """The key's column; for a block entry, the key is the first thing on its line
    (after a ``- `` for an item's first key)."""
    lines: tuple[int, int]
    """First and last line (0-based) of the entry as a block, for deleting it."""
    item_first: bool
    """The first key of a list item (``- type: x``)."""
    scalar_line: bool
    """The value is a scalar on the key's line: the entry is one line."""


@dataclass(frozen=True)
class Base:
    name: str
    text: str
    slots: tuple[Slot, ...]
    entries: tuple[Entry, ...]

    def __repr__(self) -> str:
        return self.name


def _content_end_line(text: str, mark: yaml.Mark, floor: int) -> int:
    """The last line (0-based) holding the content that ends at ``mark``: a block ends
    at the next token, which may be on a later line."""
    line_start = text.rfind("\n", 0, mark.index) + 1
    if mark.line > floor and not text[line_start : mark.index].strip():
        return mark.line - 1
    return mark.line


def _base(path: Path) -> Base:
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=StrictYamlLoader)
    slots: list[Slot] = []
    entries: list[Entry] = []

    def walk(node: yaml.Node, at: FieldPath) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*at, key.value)
                line_start = text.rfind("\n", 0, key.start_mark.index) + 1
                before = text[line_start : key.start_mark.index].strip()
                one_line = value.end_mark.line == key.start_mark.line
                scalar = isinstance(value, yaml.ScalarNode)
                if scalar:
                    # A block scalar (``>-``) ends after its line break: keep that.
                    end = value.start_mark.index
                    end += len(text[end : value.end_mark.index].rstrip())
                    slots.append(
                        Slot(
                            here,
                            key.start_mark.line + 1,
                            value.start_mark.index,
                            end,
                            one_line,
                        )
                    )
                else:
                    walk(value, here)
                if node.flow_style or before in ("", "-"):
                    last = _content_end_line(text, value.end_mark, key.start_mark.line)
                    entries.append(
                        Entry(
                            here,
                            key.start_mark.line + 1,
                            key.start_mark.index,
                            value.end_mark.index,
                            bool(node.flow_style),
                            key.start_mark.column,
                            (key.start_mark.line, last),
                            before == "-",
                            scalar and one_line and value.style in (None, "'", '"'),
                        )
                    )
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*at, index))

    assert root is not None
    walk(root, ())
    return Base(path.name, text, tuple(slots), tuple(entries))


BASES = [_base(p) for p in SHIPPED]


def _line_of(text: str, path: FieldPath) -> int:
    """The line a problem at ``path`` belongs on: the key of the deepest entry of
    ``path`` that exists (an item's own line in a list), else the document's first line.
    Written here again, independently of the loader's ``LineIndex``."""
    node = yaml.compose(text, Loader=StrictYamlLoader)
    assert node is not None
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if k.value == part]
            if not found:
                break
            key, node = found[-1]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# --- the property --------------------------------------------------------------------


def _load(tmp: Path, data: bytes) -> tuple[list[LoadedPolicy], list[PolicyIssue]]:
    """Load ``data`` as a file through both entry points; check what every outcome must
    satisfy, and return what ``validate`` saw."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "policy.yaml"
    path.write_bytes(data)
    policies, issues = collect_policies([path])
    if not issues:
        loaded = load_policy_file(path)
        assert [p.policy for p in loaded] == [p.policy for p in policies]
        _round_trips(data, loaded)
        return policies, issues
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert isinstance(caught.value, AutoscalerError)
    assert caught.value.issues == issues
    rendered = str(caught.value).split("\n")
    assert len(rendered) == len(issues)
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    for issue, text in zip(issues, rendered, strict=True):
        assert issue.file == str(path)
        assert 1 <= issue.line <= lines, issue
        assert issue.message, issue
        field = issue.field or "<document>"
        assert text == f"{path}:{issue.line}: {field}: {issue.message}"
        # One line per problem: a message must not break the CLI's format.
        assert "\r" not in text, text
    return policies, issues


def _round_trips(data: bytes, loaded: list[LoadedPolicy]) -> None:
    """A policy the loader accepts is one the published JSON Schema accepts, as the
    loader read it, and dumping it gives a document that loads to the same policy."""
    loader = StrictYamlLoader(data.decode("utf-8"))
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None
            built, problems = build_document(node)
            assert not problems
            if built is not None:
                documents.append(built)
    finally:
        loader.dispose()
    assert len(documents) == len(loaded)
    for document, policy in zip(documents, loaded, strict=True):
        errors = [e.message for e in VALIDATOR.iter_errors(document)]
        assert not errors, f"loaded, but the JSON Schema refuses it: {errors}"
        dumped = policy.policy.model_dump(mode="json", by_alias=True)
        assert not list(VALIDATOR.iter_errors(dumped))
        assert ScalingPolicy.model_validate(dumped, by_alias=True, by_name=False) == policy.policy


def _named(issues: list[PolicyIssue], path: FieldPath, line: int) -> bool:
    return any(i.field == render_path(path) and i.line == line for i in issues)


# --- mutations -----------------------------------------------------------------------

Edit = tuple[int, int, str]
"""Replace text[start:end] with the string."""


def _apply(text: str, edits: list[Edit]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _delete(base: Base, entry: Entry) -> str:
    text = base.text
    if entry.flow:
        start, end = entry.key_start, entry.value_end
        if text[end : end + 2] == ", ":
            end += 2
        elif text[start - 2 : start] == ", ":
            start -= 2
        return text[:start] + text[end:]
    lines = text.split("\n")
    first, last = entry.lines
    if entry.item_first:
        # Keep the item's "- ": the next key of the item moves up to it.
        rest = lines[last + 1] if last + 1 < len(lines) else ""
        key_line = lines[first][: entry.column] + rest[entry.column :]
        return "\n".join([*lines[:first], key_line, *lines[last + 2 :]])
    return "\n".join(lines[:first] + lines[last + 1 :])


def _insert_after(base: Base, entry: Entry, key: str, value: str) -> tuple[str, int]:
    """``key: value`` as a sibling right after one-line ``entry``; the text and its line."""
    if entry.flow:
        new = f", {key}: {value}"
        return _apply(base.text, [(entry.value_end, entry.value_end, new)]), entry.line
    line_end = base.text.index("\n", entry.value_end)
    new = "\n" + " " * entry.column + f"{key}: {value}"
    return _apply(base.text, [(line_end, line_end, new)]), entry.line + 1


def _value_text(base: Base, entry: Entry) -> str:
    slot = next(s for s in base.slots if s.path == entry.path)
    return base.text[slot.start : slot.end]


bases = st.sampled_from(BASES)


@st.composite
def replaced(draw: st.DrawFn) -> tuple[Base, Slot, str, bool]:
    """A shipped policy with one scalar replaced; whether the new value is always bad."""
    base = draw(bases)
    slot = draw(st.sampled_from(base.slots))
    if slot.path in (("apiVersion",), ("kind",)) and draw(st.booleans()):
        pool = API_VERSIONS if slot.path == ("apiVersion",) else KINDS
        return base, slot, draw(st.sampled_from(pool)), True
    always = draw(st.booleans())
    value = draw(st.sampled_from(ALWAYS_BAD if always else MAYBE_BAD))
    return base, slot, value, always


@given(replaced(), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
@FUZZ
def test_a_replaced_scalar_loads_or_is_named_at_its_line(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[Base, Slot, str, bool],
    newline: str,
    bom: bool,
) -> None:
    """Also with CRLF or CR line ends and a byte-order mark: the lines stay the same."""
    base, slot, value, always_bad = case
    text = _apply(base.text, [(slot.start, slot.end, value)]).replace("\n", newline)
    text = "\ufeff" + text if bom else text
    _, issues = _load(tmp_path_factory.mktemp("replace"), text.encode())
    if always_bad:
        assert _named(issues, slot.path, slot.line), (render_path(slot.path), value, issues)


def _independent(a: Slot, b: Slot) -> bool:
    """Neither hides the other: a signal whose ``type`` is wrong has no fields to check."""
    for one, other in ((a, b), (b, a)):
        if one.path[-1] == "type" and other.path[: len(one.path) - 1] == one.path[:-1]:
            return False
    return a.path != b.path


@st.composite
def two_replaced(draw: st.DrawFn) -> tuple[Base, Slot, Slot, str, str]:
    base = draw(bases)
    first = draw(st.sampled_from(base.slots))
    second = draw(st.sampled_from([s for s in base.slots if _independent(first, s)]))
    return (
        base,
        first,
        second,
        draw(st.sampled_from(ALWAYS_BAD)),
        draw(st.sampled_from(ALWAYS_BAD)),
    )


@given(two_replaced(), st.booleans())
@FUZZ
def test_two_bad_fields_are_both_named(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[Base, Slot, Slot, str, str],
    two_documents: bool,
) -> None:
    """In one document, or one in each of two (the second after a ``---``)."""
    base, first, second, one, other = case
    if two_documents:
        head = _apply(base.text, [(first.start, first.end, one)]) + "---\n"
        text = head + _apply(base.text, [(second.start, second.end, other)])
        offset = head.count("\n")
    else:
        edits = [(first.start, first.end, one), (second.start, second.end, other)]
        text, offset = _apply(base.text, edits), 0
    _, issues = _load(tmp_path_factory.mktemp("two"), text.encode())
    pairs = ((first, one, 0, second, other), (second, other, offset, first, one))
    for slot, value, lines_before, before, new in pairs:
        where = slot.line + lines_before
        if not two_documents and before.start < slot.start:
            # A block scalar (``query: >-``) replaced by a one-line value moved it up.
            where -= base.text.count("\n", before.start, before.end) - new.count("\n")
        assert _named(issues, slot.path, where), (render_path(slot.path), value, issues)


@st.composite
def structural(draw: st.DrawFn) -> tuple[str, str, FieldPath | None, int]:
    """A key deleted, added or set twice: (how, text, path expected, line expected)."""
    base = draw(bases)
    how = draw(st.sampled_from(["delete", "unknown", "duplicate", "second-document"]))
    if how == "second-document":
        doc = base.text if draw(st.booleans()) else base.text.replace("name: ", "name: x")
        return how, base.text + "---\n" + doc, None, 0
    if how == "delete":
        entry = draw(st.sampled_from([e for e in base.entries if e.path != ("spec",)]))
        text = _delete(base, entry)
        return how, text, entry.path, _line_of(text, entry.path[:-1])
    entry = draw(st.sampled_from([e for e in base.entries if e.scalar_line]))
    if how == "unknown":
        written, key = draw(st.sampled_from(UNKNOWN_KEYS))
        # A label's value is a string; elsewhere the key is unknown whatever its value.
        free = len(entry.path) > 1 and entry.path[-2] in FREE_FORM
        value = "x" if free else draw(st.sampled_from(["1", "x", "{a: 1}"]))
        text, line = _insert_after(base, entry, written, value)
        return how, text, (*entry.path[:-1], key), line
    text, line = _insert_after(base, entry, str(entry.path[-1]), _value_text(base, entry))
    return how, text, entry.path, line


@given(structural())
@FUZZ
def test_a_deleted_added_or_doubled_key_is_named_at_its_line(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, str, FieldPath | None, int]
) -> None:
    how, text, path, line = case
    policies, issues = _load(tmp_path_factory.mktemp(how), text.encode())
    if how == "second-document":
        # The same policy twice is refused for its target and name; renamed, both load.
        assert len(policies) == 2
        assert bool(issues) == ("name: x" not in text)
        assert {i.field for i in issues} <= {"spec.target", "metadata.name"}
        return
    assert path is not None
    if how == "delete":
        # An optional field falls back to its default; a required one is missing; a rule
        # of the object that held it (``maxStep`` with neither groups nor percent) is
        # reported at that object.
        missing = [i for i in issues if i.field == render_path(path)]
        around = [i for i in issues if i.field == render_path(path[:-1])]
        assert not issues or missing or around, (render_path(path), issues)
        assert all(i.line == line for i in missing), (line, missing)
        return
    if how == "unknown" and len(path) > 1 and path[-2] in FREE_FORM:
        assert not issues
        return
    assert _named(issues, path, line), (how, render_path(path), line, issues)


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes, int, str]:
    """Bytes cut, inserted or nested: (how, file, the line and field of the damage)."""
    base = draw(bases)
    data = base.text.encode()
    how = draw(st.sampled_from(["truncate", "tab", "byte", "syntax", "nest", "alias", "bomb"]))
    at = draw(st.integers(0, len(data)))
    line = data[:at].count(b"\n") + 1
    if how == "truncate":
        return how, data[:at], line, ""
    if how == "tab":
        return how, data[:at] + b"\t" + data[at:], line, ""
    if how == "syntax":
        # A character YAML gives a meaning to, where it may or may not have one.
        inserted = draw(st.sampled_from(SYNTAX)).encode()
        return how, data[:at] + inserted + data[at:], line, ""
    if how == "byte":
        bad = draw(st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xfe"]))
        return how, data[:at] + bad + data[at:], line, ""
    # Slots are in the order of the text; an alias needs one after the anchor.
    slot = draw(st.sampled_from(base.slots[:-1]))
    if how == "nest":
        depth = draw(st.one_of(st.integers(1, 120), st.integers(120, 600)))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        value = opening * depth + "1" + closing * depth
        text = _apply(base.text, [(slot.start, slot.end, value)])
        return how, text.encode(), slot.line, render_path(slot.path)
    if how == "alias":
        # An anchor on one value, an alias to it in another field.
        other = draw(st.sampled_from([s for s in base.slots if s.start > slot.end]))
        edits = [(slot.start, slot.start, "&fz "), (other.start, other.end, "*fz")]
        return how, _apply(base.text, edits).encode(), other.line, render_path(other.path)
    bomb = "[" + _bomb_levels(draw(st.integers(5, 9))) + "]"
    text = _apply(base.text, [(slot.start, slot.end, bomb)])
    return how, text.encode(), slot.line, render_path(slot.path)


def _bomb_levels(levels: int) -> str:
    """Nested anchors, each a list of ten aliases to the one before: 10**levels values."""
    parts = ["&b0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels + 1):
        parts.append(f"&b{level} [" + ", ".join([f"*b{level - 1}"] * 10) + "]")
    return ", ".join(parts)


@given(damaged())
@FUZZ
def test_damaged_bytes_load_or_are_reported(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, bytes, int, str]
) -> None:
    how, data, line, field = case
    _, issues = _load(tmp_path_factory.mktemp(how), data)
    if how == "byte":
        assert [(i.line, i.field) for i in issues] == [(line, "")]
        assert "not UTF-8" in issues[0].message
    if how == "bomb":
        assert issues
    if how in ("nest", "bomb"):
        # However deep, the value is at its own line, and at its field unless it is too
        # deep to read on (the document's other problems are kept: see the table below).
        assert any(i.line == line and (i.field.startswith(field) or not i.field) for i in issues), (
            line,
            field,
            issues,
        )
    if how == "tab" and issues:
        assert any(i.line == line for i in issues), (line, issues)


@given(bases, st.data())
@settings(FUZZ, max_examples=60)
def test_what_a_comment_holds_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, base: Base, data: st.DataObject
) -> None:
    """A tab, a YAML 1.1 line break (NEL, LS, PS), a character that is not ASCII, or
    YAML syntax in a comment: the same policy, at the same lines."""
    (expected,), _ = _load(tmp_path_factory.mktemp("plain"), base.text.encode())
    comments = [i for i, c in enumerate(base.text) if c == "#"]
    at = data.draw(st.sampled_from(comments)) + 1
    inserted = data.draw(
        st.sampled_from(["\t", "\x85", "\u2028", "\u2029", "é≥", " key: [1, {", " ---", "\ufeff"])
    )
    text = base.text[:at] + inserted + base.text[at:]
    (loaded,), issues = _load(tmp_path_factory.mktemp("comment"), text.encode())
    assert not issues
    assert loaded.policy == expected.policy
    assert (loaded.line, dict(loaded.field_lines)) == (expected.line, dict(expected.field_lines))


def test_every_shipped_policy_loads_and_round_trips(tmp_path: Path) -> None:
    """The fuzzer's starting points are valid, so a problem it finds is its mutation's."""
    for base in BASES:
        policies, issues = _load(tmp_path / base.name, base.text.encode())
        assert not issues
        assert len(policies) == 1


# --- defects the fuzzer found, pinned -----------------------------------------------

HEAD = BASES[0].text  # dev-8b.yaml: `max: 2` on line 16, `holdFor: 5m` on line 39
MAX_LINE = 16
ALSO = ("  holdFor: 5m", "  holdFor: soon")
ALSO_ISSUE = (39, "spec.missingMetrics.holdFor")


def _issues(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    _, issues = _load(tmp_path, text.encode())
    return [(i.line, i.field, i.message) for i in issues]


@pytest.mark.parametrize(
    ("depth", "opening", "closing", "field"),
    [
        (49, "[", "]", "spec.replicas.max"),
        (60, "[", "]", "spec.replicas.max" + "[0]" * 47),
        (180, "[", "]", "spec.replicas.max" + "[0]" * 47),
        (180, "{a: ", "}", "spec.replicas.max" + ".a" * 47),
    ],
    ids=["within-bound", "past-bound", "far-past-bound", "mappings"],
)
def test_deep_nesting_is_named_at_its_line_and_field_with_the_other_problems(
    tmp_path: Path, depth: int, opening: str, closing: str, field: str
) -> None:
    """It was a ``RecursionError``, reported at the document's first line (or the
    file's, from about 300 levels) as ``<document>``, hiding every other problem, and at
    a depth that changed with the caller's stack."""
    value = opening * depth + "1" + closing * depth
    text = HEAD.replace("max: 2", "max: " + value).replace(*ALSO)
    issues = _issues(tmp_path, text)
    assert (MAX_LINE, field) in [(line, f) for line, f, _ in issues]
    assert ALSO_ISSUE in [(line, f) for line, f, _ in issues]
    if depth > 50:
        assert any(f == field and "nested too deeply" in m for _, f, m in issues)


def test_an_alias_to_an_anchor_nested_too_deeply_is_no_undefined_alias(tmp_path: Path) -> None:
    value = "[" * 55 + "&deep 3" + "]" * 55
    text = HEAD.replace("    max: 2\n", f"    max: {value}\n  tolerance: *deep\n")
    issues = _issues(tmp_path, text.replace(*ALSO))
    assert [(line, f) for line, f, _ in issues] == [
        (MAX_LINE, "spec.replicas.max"),
        (MAX_LINE, "spec.replicas.max" + "[0]" * 47),
        (MAX_LINE + 1, "spec.tolerance"),
        (ALSO_ISSUE[0] + 1, ALSO_ISSUE[1]),
    ]


def test_nesting_too_deep_to_read_ends_the_file_at_its_own_line(tmp_path: Path) -> None:
    """Past 200 levels reading stops, as at a syntax error (PyYAML's parser slows down
    with the square of the depth), but at the line of the value, not line 1."""
    text = HEAD.replace("max: 2", "max: " + "[" * 5000 + "]" * 5000)
    ((line, field, message),) = _issues(tmp_path, text)
    assert (line, field) == (MAX_LINE, "")
    assert message.startswith("invalid YAML: nested too deeply")


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ('"fuzz\\nkey"', 'spec."fuzz\\nkey"'),
        ('"fuzz\\rkey"', 'spec."fuzz\\rkey"'),
        ('"fuzz\\u2028key"', 'spec."fuzz\\u2028key"'),
        ('"fuzz\\tkey"', 'spec."fuzz\\tkey"'),
        ('"\\x85"', 'spec."\\x85"'),
        ('!custom "a\\nb"', 'spec."<key a\\nb>"'),
        ('""', 'spec.""'),
    ],
    ids=["newline", "carriage-return", "line-separator", "tab", "next-line", "tagged-key", "empty"],
)
def test_a_key_with_a_line_break_is_escaped_in_the_one_line_of_its_problem(
    tmp_path: Path, key: str, field: str
) -> None:
    """A key written with a line break (``"a\\nb": 1``) split its problem over two lines,
    and a carriage return made a terminal overwrite the file name; the key is shown as
    YAML writes it, in double quotes with escapes."""
    text = HEAD.replace("  gpusPerGroup: 1\n", f"  gpusPerGroup: 1\n  {key}: 1\n").replace(*ALSO)
    issues = _issues(tmp_path, text)
    # On line 18, after gpusPerGroup; holdFor one line further down.
    assert [(line, f) for line, f, _ in issues] == [(18, field), (40, ALSO_ISSUE[1])]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!timestamp garbage", "not a timestamp"),
        ("!!timestamp", "not a timestamp"),
        ("!!bool maybe", "not a boolean"),
        ("!!bool", "not a boolean"),
        ("!!bool yes", "not a boolean"),  # YAML 1.2, as without the tag
    ],
)
def test_an_explicit_tag_that_cannot_build_its_value_is_a_problem_at_its_field(
    tmp_path: Path, value: str, message: str
) -> None:
    """PyYAML's own constructors raised ``AttributeError`` (``!!timestamp garbage``) and
    ``KeyError`` (``!!bool maybe``): a traceback from ``validate``, an "unexpected
    error" at line 1 from the server's watcher."""
    text = HEAD.replace("max: 2", f"max: {value}").replace(*ALSO)
    issues = _issues(tmp_path, text)
    assert [(line, f) for line, f, _ in issues] == [(MAX_LINE, "spec.replicas.max"), ALSO_ISSUE]
    assert message in issues[0][2]


def test_explicit_yaml_1_2_booleans_still_load(tmp_path: Path) -> None:
    text = HEAD.replace("enabled: true", "enabled: !!bool TRUE")
    (loaded,), _ = _load(tmp_path, text.encode())
    assert loaded.policy.spec.scale_to_zero.enabled is True
