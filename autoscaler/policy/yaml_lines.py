"""Lines of fields in a composed YAML document, through aliases and merge keys.

PyYAML resolves an alias (``*sig``) to the very node of its anchor (``&sig``), so the
node tree alone only knows where a value was first written: a problem at
``spec.signals[3]`` whose item is ``- *sig`` would be reported at the anchor's line, where
the reader finds ``spec.signals[0]``. ``AliasRecorder`` notes, while composing, where each
alias placed its anchor's node (which parent, at which index or key), and ``LineIndex``
follows a field path through those notes: a problem whose path passes through an alias is
reported at the alias's line, with a note naming the anchor the value comes from.

Notes are kept per alias written in the text (a parent and a position), never per value
an alias expands to, and a path is followed in as many steps as it has parts: a file of
nested aliases costs here what its text costs, as ``yaml_nodes.check_expansion`` requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from autoscaler.policy.yaml_depth import BoundedDepth

FieldPath = tuple[str | int, ...]
"""Keys and list indices from the document root, e.g. ``("spec", "signals", 0)``."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class AliasSite:
    """One alias as written: its 1-based line, and the anchor it repeats."""

    line: int
    anchor: str
    anchor_line: int


@dataclass
class AliasSites:
    """Where the aliases of one document placed their anchors' nodes.

    Keyed by node ids, so only meaningful while that document's nodes are alive (the
    loader keeps the root for as long as it asks for lines).
    """

    values: dict[tuple[int, int], AliasSite] = field(default_factory=dict)
    """(id(list), index) or (id(mapping), id(key node)) -> the alias that is that value."""
    keys: dict[tuple[int, int], AliasSite] = field(default_factory=dict)
    """(id(mapping), id(key node)) -> the alias that is that key (``*k: 1``)."""
    merges: dict[int, list[tuple[AliasSite | None, yaml.MappingNode]]] = field(default_factory=dict)
    """id(mapping) -> the mappings its ``<<`` merges, first the one that wins, each with
    the alias that brought it (None for a mapping written in place)."""


class AliasRecorder(BoundedDepth):
    """Records each document's aliases in ``alias_sites`` while composing it."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.alias_sites = AliasSites()

    def compose_document(self) -> Any:
        # A new record per document: the loader validates each one after it is composed.
        self.alias_sites = AliasSites()
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        site = None
        if parent is not None and self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            # An undefined alias is left for PyYAML to report.
            if anchored is not None:
                site = AliasSite(
                    event.start_mark.line + 1, event.anchor, anchored.start_mark.line + 1
                )
        node = super().compose_node(parent, index)
        merge_key = isinstance(index, yaml.ScalarNode) and index.tag == _MERGE_TAG
        if merge_key:
            self._record_merge(parent, site, node)
        elif site is not None and index is None:
            self.alias_sites.keys[(id(parent), id(node))] = site
        elif site is not None:
            position = index if isinstance(index, int) else id(index)
            self.alias_sites.values[(id(parent), position)] = site
        return node

    def _record_merge(self, mapping: Any, site: AliasSite | None, value: Any) -> None:
        # Not in ``values``: ``flatten_mapping`` drops the ``<<`` key node, whose id
        # could then be reused by a later object.
        if isinstance(value, yaml.MappingNode):
            sources = [(site, value)]
        elif isinstance(value, yaml.SequenceNode):
            # In ``<<: [*a, *b]`` the earlier mapping wins, as in ``flatten_mapping``.
            # The items' notes are taken out of ``values``: the constructor frees this
            # list, and a later node could be given its id.
            sources = [
                (self.alias_sites.values.pop((id(value), i), None), item)
                for i, item in enumerate(value.value)
                if isinstance(item, yaml.MappingNode)
            ]
        else:
            return  # not a mapping: the constructor reports it
        # Of two ``<<`` keys the later wins, as in ``flatten_mapping``.
        merges = self.alias_sites.merges.setdefault(id(mapping), [])
        merges[:0] = sources


@dataclass(frozen=True)
class Location:
    """Where a problem at a field path is reported: the line, and ``note`` (empty, or
    `` (the value comes from the anchor ...)``) to append to its message."""

    line: int
    note: str = ""


_Entry = tuple[yaml.Node, yaml.Node]


def _note(through: list[AliasSite], written: int) -> str:
    first, *inner = through
    text = f"the value comes from the anchor &{first.anchor} at line {first.anchor_line}"
    text += "".join(
        f" and, inside it, from the anchor &{s.anchor} at line {s.anchor_line}" for s in inner
    )
    if written != through[-1].anchor_line:
        text += f"; written at line {written}"
    return f" ({text})"


class LineIndex:
    """Maps a path of keys/indices inside one YAML document to a 1-based line.

    Paths are followed through the nodes on demand rather than indexed up front: a node
    an alias shares is then never walked once per reference. Without ``sites`` (nodes
    not composed by an ``AliasRecorder``) lines are those of the nodes themselves.
    """

    def __init__(self, root: yaml.Node, sites: AliasSites | None = None) -> None:
        self._root = root
        self._sites = sites or AliasSites()
        # A mapping's ``<<`` sources may be shared by many mappings: each is searched
        # for a key once, however many paths ask.
        self._found: dict[tuple[int, str], tuple[yaml.Node, _Entry, list[AliasSite]] | None] = {}

    def line_of(self, path: FieldPath) -> int:
        """The line of the deepest node of ``path`` that exists: a key's own line for a
        mapping entry (the better answer for "unknown key"), an item's for a list; once
        the path has passed through an alias, that alias's line."""
        return self.locate(path).line

    def locate(self, path: FieldPath) -> Location:
        """``line_of``'s line, and a note on the anchors the path passed through."""
        node = self._root
        line = written = node.start_mark.line + 1
        # The line of the first alias on the path: past it, the text that places the
        # value at this path ends, and the nodes' own lines are the anchor's.
        alias_line: int | None = None
        through: list[AliasSite] = []
        for part in path:
            if alias_line is not None:
                line = alias_line
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                found = self._entry(node, part)
                if found is None:
                    break
                owner, (key_node, value_node), merged = found
                written = key_node.start_mark.line + 1
                if alias_line is None and merged:
                    line = alias_line = merged[0].line
                elif alias_line is None:
                    key_site = self._sites.keys.get((id(owner), id(key_node)))
                    line = written if key_site is None else key_site.line
                through += merged
                value_site = self._sites.values.get((id(owner), id(key_node)))
                if value_site is not None:
                    through.append(value_site)
                    alias_line = value_site.line if alias_line is None else alias_line
                    # Where the value is written: the anchor's node, not this key.
                    written = value_node.start_mark.line + 1
                node = value_node
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                item_site = self._sites.values.get((id(node), part))
                node = node.value[part]
                written = node.start_mark.line + 1
                if item_site is not None:
                    through.append(item_site)
                    alias_line = item_site.line if alias_line is None else alias_line
                line = written if alias_line is None else alias_line
            else:
                break
        return Location(line, _note(through, written) if through else "")

    def _entry(
        self, mapping: yaml.MappingNode, key: str
    ) -> tuple[yaml.Node, _Entry, list[AliasSite]] | None:
        """The entry YAML keeps for ``key`` (the last of equal keys, an entry of the
        mapping's own before a merged one), the mapping that holds it, and the merge
        aliases it came through."""
        cache_key = (id(mapping), key)
        if cache_key in self._found:
            return self._found[cache_key]
        # The entry tuple itself, not a copy: its identity tells where it came from.
        own = next(
            (
                entry
                for entry in reversed(mapping.value)
                if isinstance(entry[0], yaml.ScalarNode) and entry[0].value == key
            ),
            None,
        )
        found: tuple[yaml.Node, _Entry, list[AliasSite]] | None = None
        # Once the constructor has flattened ``<<``, a merged entry is among the
        # mapping's own, as the same tuple: found in a source, it came through that alias.
        for site, source in self._sites.merges.get(id(mapping), ()):
            inner = self._entry(source, key)
            if inner is not None and (own is None or inner[1] is own):
                found = (inner[0], inner[1], [s for s in (site,) if s] + inner[2])
                break
        if found is None and own is not None:
            found = (mapping, own, [])
        self._found[cache_key] = found
        return found
