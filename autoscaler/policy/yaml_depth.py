"""A bound on how deeply lists and mappings nest, enforced while composing.

PyYAML composes nested collections by recursion, and everything after it (the alias
check, the duplicate-key walk, building the values) walks them by recursion too, so
``max: [[[[...]]]]`` a few hundred levels deep used to end in Python's ``RecursionError``:
caught, but reported at the first line of the document (or of the file) for the whole
document, hiding its other problems, at a depth that changed with the caller's stack.

Here a collection more than ``MAX_DEPTH`` levels down is not composed: its events are
skipped without recursion and it becomes a scalar node with the ``NESTED_TOO_DEEPLY``
tag, at its own line, which no constructor builds. The policy loader reports it like any
value YAML cannot build (at its line and field, next to the document's other problems);
other readers of ``StrictYamlLoader`` see a ``ConstructorError`` at that line. A
collection that goes on past ``STOP_DEPTH`` levels ends the file there instead, as a
syntax error does.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

from autoscaler.policy.yaml_breaks import Yaml12LineBreaks

MAX_DEPTH = 50
"""Most levels of lists and mappings one document may nest. A policy nests five
(``spec.signals[0].isolatedBurst.calmFor``); the bound keeps every walk far from Python's
recursion limit, wherever the loader is called from."""

STOP_DEPTH = 4 * MAX_DEPTH
"""Past this many levels the file is not read further, as after a syntax error: PyYAML's
parser slows down faster than the depth grows (1,000 ``[`` take most of a second, 3,000
several seconds), so the rest of a collection that deep is not skipped to its end."""

_TOO_DEEP = (
    f"nested too deeply: more than {MAX_DEPTH} levels of lists and mappings "
    "(a whole policy has five)"
)

NESTED_TOO_DEEPLY = "tag:lws-autoscaler.io,2026:nested-too-deeply"
"""The tag of the scalar that stands for a collection nested deeper than ``MAX_DEPTH``."""

_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _placeholder(start: Any, end: Any) -> yaml.ScalarNode:
    """The scalar that stands for a value nested too deeply, between its marks."""
    return yaml.ScalarNode(NESTED_TOO_DEEPLY, "", start, end)


class BoundedDepth(Yaml12LineBreaks):
    """Composes at most ``MAX_DEPTH`` levels of collections (see the module docstring)."""

    _depth = 0

    def compose_document(self) -> Any:
        self._depth = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        # An alias adds no level here: it repeats a node composed (and bounded) where it
        # was written, and every walk of the nodes visits a shared node once.
        if isinstance(self.peek_event(), _START) and self._depth >= MAX_DEPTH:
            return self._skip_collection()
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _skip_collection(self) -> yaml.ScalarNode:
        """Consume one collection's events without recursion, or stop reading the file
        at it if it goes on past ``STOP_DEPTH``."""
        start = self.get_event()
        node = _placeholder(start.start_mark, start.end_mark)
        level, event = 1, start
        while level:
            if level > STOP_DEPTH - MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    problem=f"{_TOO_DEEP}; reading stops here", problem_mark=start.start_mark
                )
            # An alias to an anchor in here, later on, repeats the placeholder: not an
            # "undefined alias", which would end the file.
            if getattr(event, "anchor", None) is not None:
                self.anchors[event.anchor] = node
            event = self.get_event()
            level += isinstance(event, _START) - isinstance(event, _END)
        node.end_mark = event.end_mark
        return node

    def construct_nested_too_deeply(self, node: yaml.Node) -> NoReturn:
        raise yaml.constructor.ConstructorError(None, None, _TOO_DEEP, node.start_mark)


BoundedDepth.add_constructor(NESTED_TOO_DEEPLY, BoundedDepth.construct_nested_too_deeply)
