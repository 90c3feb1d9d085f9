"""Kubernetes label selectors (``labelSelector=`` query parameter), parsed and matched.

The grammar and semantics follow apimachinery's ``labels.Parse``:

- requirements are separated by ``,`` and must all hold;
- ``k=v`` / ``k==v``: the label exists and equals ``v``; ``k!=v``: absent or different;
- ``k in (a,b)``: exists and is one of the values; ``k notin (a,b)``: absent or none of
  them; ``()`` and empty items stand for the empty value (``k in (a,)`` = ``{a, ""}``);
- ``k``: exists; ``!k``: does not exist;
- ``k>3`` / ``k<3``: exists, and its value read as Go's ``ParseInt`` reads an int64 compares
  so (a value it refuses, such as ``1_0``, matches neither);
- whitespace separates tokens; ``in``/``notin`` are keywords only in operator position.

Keys must be qualified names (``[prefix/]name``), values valid label values; anything
else raises :class:`SelectorError`, which the API turns into a 400 ``BadRequest``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from autoscaler.errors import AutoscalerError
from autoscaler.server.go_ints import parse_int64

_SPECIAL = frozenset("=!(),<>")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = {"!", "!=", "=", "==", "(", ")", ",", "<", ">"}
_KEYWORDS = {"in", "notin"}

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_NAME = 63
_MAX_PREFIX = 253


class SelectorError(AutoscalerError, ValueError):
    """The selector text is not a valid Kubernetes label selector."""


class Operator(Enum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


_BINARY = {
    "=": Operator.EQUALS,
    "==": Operator.EQUALS,
    "!=": Operator.NOT_EQUALS,
    "in": Operator.IN,
    "notin": Operator.NOT_IN,
    ">": Operator.GREATER_THAN,
    "<": Operator.LESS_THAN,
}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        op = self.operator
        if op is Operator.EXISTS:
            return value is not None
        if op is Operator.DOES_NOT_EXIST:
            return value is None
        if op in (Operator.EQUALS, Operator.IN):
            return value is not None and value in self.values
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            return value is None or value not in self.values
        have = None if value is None else parse_int64(value)
        if have is None:
            return False  # absent, or not an int64 as Go reads one ("1_0" is not 10)
        (want,) = (int(v) for v in self.values)
        return have > want if op is Operator.GREATER_THAN else have < want


@dataclass(frozen=True)
class Selector:
    """All requirements must match; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, literal) pairs; kind is the symbol itself, "id", "in", "notin" or "end"."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n:
            out.append(("end", ""))
            return out
        if text[i] in _SPECIAL:
            # Longest run of special characters that is still a symbol: "!=" vs "!" "(".
            j = i + 1
            while j < n and text[i : j + 1] in _SYMBOLS:
                j += 1
            out.append((text[i:j], text[i:j]))
            i = j
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE:
            j += 1
        word = text[i:j]
        out.append((word if word in _KEYWORDS else "id", word))
        i = j


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    problems = []
    if slash and (not prefix or len(prefix) > _MAX_PREFIX or not _DNS_SUBDOMAIN.match(prefix)):
        problems.append("the prefix must be a lower-case DNS subdomain of at most 253 characters")
    if not name or len(name) > _MAX_NAME or not _NAME.match(name):
        problems.append(
            "a name must be at most 63 characters of alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric"
        )
    if problems:
        raise SelectorError(f"invalid label key {key!r}: {'; '.join(problems)}")


def _check_value(key: str, value: str) -> None:
    if value and (len(value) > _MAX_NAME or not _NAME.match(value)):
        raise SelectorError(
            f"invalid value {value!r} for label {key!r}: at most 63 characters of "
            "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        )


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        return kind, literal

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def take_value(self) -> tuple[str, str]:
        # In value position the keywords are plain identifiers: "x in (in)".
        kind, literal = self.take()
        return ("id" if kind in _KEYWORDS else kind), literal

    def selector(self) -> Selector:
        requirements: list[Requirement] = []
        if self.peek()[0] == "end":
            return Selector()
        while True:
            requirements.append(self.requirement())
            kind, literal = self.take()
            if kind == "end":
                return Selector(tuple(requirements))
            if kind != ",":
                raise SelectorError(f"found {literal!r}, expected ',' or the end of the selector")
            if self.peek()[0] not in ("id", "in", "notin", "!"):
                raise SelectorError(f"found {self.peek()[1]!r}, expected a label key after ','")

    def requirement(self) -> Requirement:
        negated = self.peek()[0] == "!"
        if negated:
            self.take()
        kind, key = self.take_value()
        if kind != "id":
            raise SelectorError(f"found {key!r}, expected a label key")
        _check_key(key)
        if self.peek()[0] in ("end", ","):
            return Requirement(key, Operator.DOES_NOT_EXIST if negated else Operator.EXISTS)
        if negated:
            raise SelectorError(f"'!{key}' takes no operator or value")
        kind, literal = self.take()
        operator = _BINARY.get(kind)
        if operator is None:
            raise SelectorError(f"found {literal!r}, expected one of =, ==, !=, in, notin, >, <")
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self.value_set()
        else:
            values = frozenset({self.exact_value()})
        for value in values:
            _check_value(key, value)
        if operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
            (value,) = values
            if parse_int64(value) is None:
                raise SelectorError(f"{key}{operator.value}{value}: the value must be an integer")
        return Requirement(key, operator, values)

    def exact_value(self) -> str:
        if self.peek()[0] in ("end", ","):
            return ""
        kind, literal = self.take_value()
        if kind != "id":
            raise SelectorError(f"found {literal!r}, expected a value")
        return literal

    def value_set(self) -> frozenset[str]:
        kind, literal = self.take_value()
        if kind != "(":
            raise SelectorError(f"found {literal!r}, expected '('")
        values: set[str] = set()
        expect_value = True
        while True:
            kind, literal = self.take_value()
            if kind == ")":
                if expect_value:
                    values.add("")  # "()" or a trailing ",": the empty value
                return frozenset(values)
            if kind == ",":
                if expect_value:
                    values.add("")  # "(,a)" or "a,,b"
                expect_value = True
            elif kind == "id" and expect_value:
                values.add(literal)
                expect_value = False
            else:
                raise SelectorError(f"found {literal or 'the end'!r}, expected a value, ',' or ')'")


def parse_selector(text: str | None) -> Selector:
    """Parse a label selector; ``None`` or ``""`` select everything."""
    if not text:
        return Selector()
    try:
        return _Parser(text).selector()
    except SelectorError as exc:
        raise SelectorError(f"unable to parse requirement: {exc}") from None
