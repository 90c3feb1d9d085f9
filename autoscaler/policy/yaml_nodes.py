"""YAML as the loader needs it: nodes that keep their line, YAML 1.2 booleans, and
duplicate keys reported instead of silently overwritten.

Booleans follow YAML 1.2 (only ``true``/``false``): YAML 1.1 would silently read
``learn: yes`` as true and a label ``enabled: no`` as a boolean, so ``yes``/``no``/``on``/
``off`` stay strings here and the strict schema reports them where a boolean is expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]
"""Keys and list indices from the document root, e.g. ``("spec", "signals", 0)``."""

_BOOL_TAG = "tag:yaml.org,2002:bool"


class StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (see the module docstring).

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


StrictYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictYamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class LineIndex:
    """Maps a path of keys/indices inside one YAML document to a 1-based line."""

    def __init__(self, root: yaml.Node) -> None:
        self._lines: dict[FieldPath, int] = {}
        self._walk(root, ())

    def _walk(self, node: yaml.Node, path: FieldPath) -> None:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                self._walk(value_node, (*path, key))
                # A key's own line is the better answer for "unknown key" errors.
                self._lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line_of(self, path: FieldPath) -> int:
        for end in range(len(path), -1, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return 1


def duplicate_keys(node: yaml.Node, path: FieldPath = ()) -> Iterator[tuple[FieldPath, int]]:
    """YAML silently keeps the last of two equal keys; a policy must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield (*path, key), key_node.start_mark.line + 1
            seen.add(key)
            yield from duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from duplicate_keys(item, (*path, index))


def is_empty_document(node: yaml.Node | None) -> bool:
    """An empty document, as a trailing or doubled ``---`` leaves in many GitOps repos."""
    return node is None or (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and not node.value
    )
