"""Building a policy document from its YAML nodes without stopping at the first bad value.

PyYAML raises at the first value it cannot build (an unknown ``!tag``, a 5,000-digit
integer, ``!!seq {a: 1}``), which would hide every other problem of the document and
could only be reported as ``<document>``. Here such a value becomes a placeholder and a
problem at its own line and field path; pydantic's errors at or below it are dropped by
the loader (they would only say the placeholder is not a string).

Mapping keys must be strings. YAML builds ``1:``, ``~:`` and ``true:`` as an integer,
None and a boolean, and Python's dict then merges ``true:`` into ``1:`` (``True == 1``)
without a word. Such a key is a problem at its own line, named ``spec.<key 1>`` (not
``spec[1]``, which reads as a list index), and its entry is left out of the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from autoscaler.policy.yaml_nodes import FieldPath, StrictYamlLoader


class _Unbuilt:
    """The placeholder of a value YAML could not build."""

    def __repr__(self) -> str:
        return "<unreadable value>"


UNBUILT: Any = _Unbuilt()


@dataclass(frozen=True)
class BuildProblem:
    """A value or key that is not part of the built document, and why."""

    path: FieldPath
    line: int
    message: str
    hides: bool
    """True for a value replaced by ``UNBUILT``: errors at or below ``path`` are moot."""


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}
_KINDS.update({list: "a list", dict: "a mapping"})


def _key_label(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return f"<key {node.value}>"
    return "<key [...]>" if isinstance(node, yaml.SequenceNode) else "<key {...}>"


class _PolicyLoader(StrictYamlLoader):
    def __init__(self) -> None:
        super().__init__("")
        # (node, line, message, whether the node's value is now the placeholder)
        self.problems: list[tuple[yaml.Node, int, str, bool]] = []

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        old_deep = self.deep_construct
        try:
            return super().construct_object(node, deep=deep)
        except yaml.constructor.ConstructorError as exc:
            # PyYAML leaves its bookkeeping of this node half done when it raises.
            self.recursive_objects.pop(node, None)
            self.deep_construct = old_deep
            self.constructed_objects[node] = UNBUILT
            self.problems.append((node, _line(node, exc), _reworded(exc), True))
            return UNBUILT

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, "expected a mapping", node.start_mark
            )
        self.flatten_mapping(node)  # ``<<`` merge keys
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str):
                mapping[key] = self.construct_object(value_node, deep=deep)
            elif key is not UNBUILT:
                kind = _KINDS.get(type(key), type(key).__name__)
                message = f"a key must be a string, not {kind}; quote it to mean text"
                self.problems.append((key_node, key_node.start_mark.line + 1, message, False))
        return mapping


def _line(node: yaml.Node, exc: yaml.constructor.ConstructorError) -> int:
    """The line of the problem within ``node``: ``<<: 5`` in a mapping is at the merge's
    line, not the mapping's first. A mark outside the node (the anchor of an alias, whose
    errors are reported where the alias is used) falls back to the node's start."""
    mark = exc.problem_mark
    if mark is not None and node.start_mark.index <= mark.index <= node.end_mark.index:
        return mark.line + 1
    return node.start_mark.line + 1


def _reworded(exc: yaml.constructor.ConstructorError) -> str:
    problem = exc.problem or str(exc)
    prefix = "could not determine a constructor for the tag "
    if problem == f"{prefix}'tag:yaml.org,2002:merge'":
        return "'<<' is a merge key, not a value; quote it to mean text"
    if problem.startswith(prefix):
        return f"unknown YAML tag {problem.removeprefix(prefix)}: cannot read this value"
    return problem if exc.context is None else f"{exc.context}: {problem}"


def _paths(root: yaml.Node, wanted: set[int]) -> dict[int, FieldPath]:
    """The path of each wanted node (first reached), keys named by ``_key_label``."""
    found: dict[int, FieldPath] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, FieldPath]] = [(root, ())]
    while stack and len(found) < len(wanted):
        node, path = stack.pop()
        if id(node) in wanted:
            found.setdefault(id(node), path)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in reversed(node.value):
                label = _key_label(key_node)
                if id(key_node) in wanted:
                    found.setdefault(id(key_node), (*path, label))
                plain = isinstance(key_node, yaml.ScalarNode)
                stack.append((value_node, (*path, str(key_node.value) if plain else label)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(node.value))))
    return found


def build_document(root: yaml.Node) -> tuple[Any, list[BuildProblem]]:
    """The document of ``root`` as Python data, and what could not be part of it.

    Built deep, so that a failure inside a list or mapping is raised (and caught) at the
    node itself rather than later, where PyYAML no longer knows which node it was.
    """
    loader = _PolicyLoader()
    try:
        data = loader.construct_object(root, deep=True)
    finally:
        loader.dispose()
    if not loader.problems:
        return data, []
    paths = _paths(root, {id(node) for node, _, _, _ in loader.problems})
    problems = [
        BuildProblem(paths.get(id(node), ()), line, message, hides)
        for node, line, message, hides in loader.problems
    ]
    return data, problems
