"""Label-selector parsing and matching follow apimachinery's labels.Parse semantics."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.server.selectors import SelectorError, parse_selector

LABELS = {
    "leaderworkerset": "llama-70b",
    "policy": "llama-70b",
    "tier": "gold",
    "gen": "3",
    "shard": "1_0",  # a valid label value Python's int() reads as 10, Go's ParseInt refuses
    "big": "9223372036854775808",  # beyond int64
}

MATCH_CASES = [
    ("", True),
    ("  \t ", True),  # only whitespace: labels.Parse reads the end at once, Everything()
    ("leaderworkerset=llama-70b", True),
    ("leaderworkerset==llama-70b", True),
    ("leaderworkerset=dev-8b", False),
    ("leaderworkerset!=dev-8b", True),
    ("leaderworkerset!=llama-70b", False),
    ("missing!=x", True),  # != matches an absent key
    ("leaderworkerset in (dev-8b, llama-70b)", True),
    ("leaderworkerset in (dev-8b)", False),
    ("leaderworkerset notin (dev-8b)", True),
    ("leaderworkerset notin (llama-70b,dev-8b)", False),
    ("missing notin (x)", True),  # notin matches an absent key
    ("missing in (x)", False),
    ("tier", True),
    ("missing", False),
    ("!missing", True),
    ("!tier", False),
    ("gen>2", True),
    ("gen<3", False),
    ("gen>3", False),  # strictly greater
    ("gen<4", True),
    ("missing>1", False),
    ("tier>1", False),  # not an integer label value
    ("shard>5", False),  # compared only as strconv.ParseInt reads the label
    ("big>5", False),
    ("  leaderworkerset = llama-70b ,  tier in ( gold )  ", True),
    ("leaderworkerset=llama-70b,tier=silver", False),
    ("tier=gold,tier!=silver", True),
    ("missing=", False),  # empty value: key must exist with ""
    ("missing!=", True),
    ("tier in (gold,)", True),  # trailing comma adds the empty value
    ("example.com/team notin (a)", True),
    ("in in (x)", False),  # keywords are identifiers in key and value position
]


@pytest.mark.parametrize(("selector", "expected"), MATCH_CASES)
def test_matching(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


def test_empty_value_and_keyword_values() -> None:
    assert parse_selector("x in (,a)").matches({"x": ""})
    assert parse_selector("x in ()").matches({"x": ""})
    assert parse_selector("x in (in, notin)").matches({"x": "notin"})
    assert parse_selector("x=").matches({"x": ""})


BAD = [
    "leaderworkerset=",  # fine, control below
    "=x",
    "x==",  # fine too
    "x in a",
    "x in (a",
    "x in (a b)",
    "x notin",
    "x = a b",
    "x,",
    ",x",
    "!x=a",
    "x=(a)",
    "x>a",
    "x>1.5",
    "x<",
    "-bad=1",
    "bad-=1",
    "UPPER.example.com/x=1",
    "a/b/c=1",
    f"{'k' * 64}=1",
    f"k={'v' * 64}",
    "k=-v",
    "x=a;b",
    "x !! y",
    "x=1,,y=2",
]


@pytest.mark.parametrize("text", [b for b in BAD if b not in ("leaderworkerset=", "x==")])
def test_malformed_selectors_raise(text: str) -> None:
    with pytest.raises(SelectorError, match="unable to parse requirement"):
        parse_selector(text)


@pytest.mark.parametrize(
    ("text", "found"),
    [("x in (a b)", "'b'"), ("x in (a", "'the end'"), ("x=a b", "'b'"), ("x, =", "'='")],
)
def test_errors_name_what_was_found(text: str, found: str) -> None:
    with pytest.raises(SelectorError, match=f"found {found}"):
        parse_selector(text)


@pytest.mark.parametrize("text", ["leaderworkerset=", "x=="])
def test_empty_exact_value_is_valid(text: str) -> None:
    parse_selector(text)


_PREFIX_253 = ".".join(["a" * 63] * 3 + ["b" * 61])  # 3 x 63 + 61 + 3 dots = 253


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        # A key's prefix is a DNS subdomain of at most 253 characters, its name 63.
        (f"{_PREFIX_253}/k=1", True),
        (f"{_PREFIX_253}b/k=1", False),
        (f"{'k' * 63}=1", True),
        (f"k={'v' * 63}", True),
        # > and < take an int64 (strconv.ParseInt(v, 10, 64)) that is also a label value,
        # so no sign: apimachinery's NewRequirement checks both.
        ("gen>9223372036854775807", True),
        ("gen>9223372036854775808", False),
        ("gen<-1", False),
        ("gen<+1", False),
    ],
)
def test_length_and_integer_limits(text: str, valid: bool) -> None:
    if valid:
        parse_selector(text)
    else:
        with pytest.raises(SelectorError):
            parse_selector(text)


label_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z")


@given(st.dictionaries(label_names, label_names, max_size=4), label_names, label_names)
def test_equality_and_inequality_are_complements(
    labels: dict[str, str], key: str, value: str
) -> None:
    eq = parse_selector(f"{key}={value}").matches(labels)
    ne = parse_selector(f"{key}!={value}").matches(labels)
    assert eq != ne
    assert parse_selector(f"{key} in ({value})").matches(labels) == eq
    assert parse_selector(f"{key} notin ({value})").matches(labels) == ne


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_selector_error(text: str) -> None:
    with contextlib.suppress(SelectorError):
        parse_selector(text)
