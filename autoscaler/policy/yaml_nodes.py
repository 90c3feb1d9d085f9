"""YAML as the loader needs it: nodes that keep their line, YAML 1.2 booleans and
numbers, duplicate keys reported instead of silently overwritten, and a bound on what
aliases may expand to.

Booleans follow YAML 1.2 (only ``true``/``false``): YAML 1.1 would silently read
``learn: yes`` as true and a label ``enabled: no`` as a boolean, so ``yes``/``no``/``on``/
``off`` stay strings here and the strict schema reports them where a boolean is expected.
Numbers follow YAML 1.2's core schema for the same reason: YAML 1.1 reads ``max: 010`` as
8 (octal) and ``holdFor: 1:30`` as 90 (base 60), where every YAML 1.2 tool, and a reader,
sees 10 and the text ``1:30``. Dates and ``=`` are plain strings, as in YAML 1.2 and the
JSON Schema: YAML 1.1 makes ``release: 2024-06-01`` a date (an annotation must be a
string) and ``2026-02-30`` an error, and ``=`` a "value" tag nothing can build.

Aliases are resolved by reference: ``&a [*b, *b]`` is one node seen twice. A few hundred
bytes of nested aliases ("billion laughs") thus stand for billions of values, which
walking the document or validating it would visit one by one; ``check_expansion``
refuses such a document before anything walks it.

Line breaks are YAML 1.2's: only LF and CR end a line (``yaml_breaks``). Lists and
mappings nest at most ``yaml_depth.MAX_DEPTH`` levels; a deeper value is a problem at its
own line (``yaml_depth``). Where each alias placed its anchor's node is recorded while
composing, so that a field reached through an alias has the alias's line (``yaml_lines``,
which also holds ``LineIndex``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

from autoscaler.policy.yaml_lines import AliasRecorder, AliasSites, FieldPath, LineIndex

# ``FieldPath`` and ``LineIndex`` moved to ``yaml_lines``; callers still import them here.
__all__ = [
    "MAX_VALUES",
    "FieldPath",
    "LineIndex",
    "StrictYamlLoader",
    "check_expansion",
    "duplicate_keys",
    "is_empty_document",
    "open_loader",
]

MAX_VALUES = 100_000
"""Most values (nodes, every alias expanded) one document may stand for. A policy has a
few hundred; the bound only has to keep a hostile file from costing gigabytes."""

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.1 only: resolved implicitly no more (an explicit ``!!timestamp`` still works).
_DROPPED_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


class StrictYamlLoader(AliasRecorder):
    """SafeLoader with YAML 1.2 booleans, numbers and line breaks (see the module docstring).

    A scalar YAML resolves but Python cannot build (``2026-02-30`` as a date, an integer
    of more than 4,300 digits) raises a plain ``ValueError`` in SafeLoader; here it is a
    ``ConstructorError`` at that node, so the loader can name its line.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            text = str(node.value)
            shown = text if len(text) <= 40 else f"{text[:37]}..."
            # Python's advice after ";" (set_int_max_str_digits) is not for policy authors.
            reason = str(exc).split(";")[0]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r}: {reason}", node.start_mark
            ) from exc

    _composed = 0
    _document_mark: yaml.Mark | None = None

    def compose_document(self) -> Any:
        event = self.peek_event()
        self._composed, self._document_mark = 0, event.start_mark
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Checked while composing, not only after (``check_expansion``): a document of
        # 400,000 plain values would otherwise take many seconds to compose and walk
        # before being refused. Every node or alias is at least one value.
        self._composed += 1
        if self._composed > MAX_VALUES:
            raise yaml.MarkedYAMLError(
                problem=f"the document has more than {MAX_VALUES:,} values (counting aliases "
                "expanded); a whole policy has a few hundred",
                problem_mark=self._document_mark,
            )
        return super().compose_node(parent, index)

    # SafeLoader's own constructors would still read an explicit ``!!int 010`` as octal
    # and ``!!float 1:30`` as base 60, and Python's int()/float() accept "1_0" and " 1".
    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if not _INT.fullmatch(text):
            raise ValueError("not an integer (YAML 1.2: digits, 0o octal or 0x hex)")
        base = {"0o": 8, "0x": 16}.get(text[:2], 10)
        return int(text if base == 10 else text[2:], base)

    # SafeLoader's constructors for these raise ``KeyError`` (``!!bool maybe``) and
    # ``AttributeError`` (``!!timestamp garbage``), which would escape as tracebacks; and
    # its ``!!bool yes`` is YAML 1.1 (true), where a plain ``yes`` here is a string.
    def construct_yaml12_bool(self, node: yaml.ScalarNode) -> bool:
        text = str(self.construct_scalar(node))
        if text not in ("true", "True", "TRUE", "false", "False", "FALSE"):
            raise ValueError("not a boolean (YAML 1.2: true or false)")
        return text.lower() == "true"

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        if not self.timestamp_regexp.match(str(self.construct_scalar(node))):
            raise ValueError("not a timestamp (YYYY-MM-DD, or a date and time)")
        return super().construct_yaml_timestamp(node)

    def construct_yaml12_float(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        if not _FLOAT.fullmatch(text):
            raise ValueError("not a number (YAML 1.2)")
        special = text.lstrip("+-").lower()
        if special == ".inf":
            return -math.inf if text.startswith("-") else math.inf
        return math.nan if special == ".nan" else float(text)


StrictYamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG, *_DROPPED_TAGS)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# Integers before floats: the float pattern also matches "10".
StrictYamlLoader.add_implicit_resolver(
    _INT_TAG, re.compile(f"^(?:{_INT.pattern})$"), list("-+0123456789")
)
StrictYamlLoader.add_implicit_resolver(
    _FLOAT_TAG, re.compile(f"^(?:{_FLOAT.pattern})$"), list("-+0123456789.")
)
StrictYamlLoader.add_constructor(_BOOL_TAG, StrictYamlLoader.construct_yaml12_bool)
StrictYamlLoader.add_constructor(_INT_TAG, StrictYamlLoader.construct_yaml12_int)
StrictYamlLoader.add_constructor(_FLOAT_TAG, StrictYamlLoader.construct_yaml12_float)
StrictYamlLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", StrictYamlLoader.construct_yaml_timestamp
)


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield key_node
            yield value_node
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def check_expansion(root: yaml.Node, limit: int = MAX_VALUES) -> None:
    """Raise a ``MarkedYAMLError`` if ``root`` stands for more than ``limit`` values once
    its aliases are expanded, or if an alias contains itself.

    Each distinct node is sized once (sizes stop counting past ``limit``), so the check
    costs as much as the text, not as the expansion. The error points at the innermost
    value that alone is too large: in a billion-laughs file, the anchor that tips it over.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in open_nodes:
            raise yaml.MarkedYAMLError(
                problem="an alias contains itself", problem_mark=node.start_mark
            )
        open_nodes.add(id(node))
        total = min(limit + 1, 1 + sum(size(child) for child in _children(node)))
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    if size(root) <= limit:
        return
    node = root
    while (inner := next((c for c in _children(node) if sizes[id(c)] > limit), None)) is not None:
        node = inner
    raise yaml.MarkedYAMLError(
        problem=(
            f"this value stands for more than {limit:,} values (counting aliases "
            "expanded); a whole policy has a few hundred"
        ),
        problem_mark=node.start_mark,
    )


def duplicate_keys(
    node: yaml.Node, aliases: AliasSites | None = None
) -> Iterator[tuple[FieldPath, int]]:
    """YAML silently keeps the last of two equal keys; a policy must not.

    A mapping an alias shares is checked once, under the path where it is first seen:
    its duplicates are on its own lines whichever path reaches it.
    """
    seen_nodes: set[int] = set()

    def walk(node: yaml.Node, path: FieldPath) -> Iterator[tuple[FieldPath, int]]:
        if id(node) in seen_nodes:
            return
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            # By tag too: ``1:`` and ``"1":`` are two keys (the loader refuses the first).
            seen: set[tuple[str, str]] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if (key_node.tag, key) in seen:
                    # A key written as an alias (``*k: 1``) is at the alias, not the anchor.
                    site = (aliases or AliasSites()).keys.get((id(node), id(key_node)))
                    line = key_node.start_mark.line + 1 if site is None else site.line
                    yield (*path, key), line
                seen.add((key_node.tag, key))
                yield from walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                yield from walk(item, (*path, index))

    return walk(node, ())


def is_empty_document(node: yaml.Node | None) -> bool:
    """An empty document, as a trailing or doubled ``---`` leaves in many GitOps repos."""
    return node is None or (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and not node.value
    )


def open_loader(text: str) -> StrictYamlLoader:
    """A loader over ``text``. PyYAML checks every character when the loader is made, so
    a NUL or an escape byte fails here, before any node: the ``ReaderError`` is raised
    again as a ``MarkedYAMLError`` at that character's line, which every caller reports
    like any other YAML problem (``unacceptable character #x0000`` at line 3)."""
    try:
        return StrictYamlLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0))
        mark = yaml.Mark("<file>", exc.position, line, 0, "", 0)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise yaml.MarkedYAMLError(
            problem=f"unacceptable character #x{code:04x}: {exc.reason}", problem_mark=mark
        ) from None
