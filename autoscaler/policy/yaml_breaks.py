"""YAML 1.2 line breaks for PyYAML: only LF and CR end a line.

PyYAML follows YAML 1.1, which also breaks lines at NEL (U+0085), LS (U+2028) and PS
(U+2029); YAML 1.2 made them ordinary characters. One of them in a comment (pasted from
a word processor, say) ends the comment there, and PyYAML reads the rest of it as YAML:
a valid policy is refused ("expected '<document start>'"), and every later line number
is one higher than an editor, ``grep -n`` or a code review shows.

PyYAML has no switch for this, so ``Yaml12LineBreaks`` reads each of the three as a
stand-in, a private-use character the text does not hold (PyYAML takes those as
ordinary characters), and turns the stand-ins back in every scalar as it is composed
and in the messages of syntax errors.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import yaml

YAML11_BREAKS = "\x85\u2028\u2029"
"""NEL, LS, PS: line breaks in YAML 1.1 only."""


def _escaped(code: int) -> str:
    """The character as PyYAML quotes it in a message (``repr``): ``\\u2028``."""
    return repr(chr(code))[1:-1]


class Yaml12LineBreaks(yaml.SafeLoader):
    """A SafeLoader that reads NEL, LS and PS as ordinary characters (a ``str`` stream;
    bytes and files are read as PyYAML reads them)."""

    def __init__(self, stream: Any) -> None:
        self._restore: dict[int, int] | None = None
        if isinstance(stream, str) and any(c in stream for c in YAML11_BREAKS):
            unused = (chr(c) for c in range(0xE000, 0xF900) if chr(c) not in stream)
            stand_ins = "".join(islice(unused, len(YAML11_BREAKS)))
            # A text holding all but two of the 6,400 private-use characters keeps
            # PyYAML's reading: no stand-in could be told from the text's own.
            if len(stand_ins) == len(YAML11_BREAKS):
                stream = stream.translate(str.maketrans(YAML11_BREAKS, stand_ins))
                self._restore = str.maketrans(stand_ins, YAML11_BREAKS)
        super().__init__(stream)

    def compose_node(self, parent: Any, index: Any) -> Any:
        node = super().compose_node(parent, index)
        if self._restore is not None and isinstance(node, yaml.ScalarNode):
            node.value = node.value.translate(self._restore)
        return node

    # Every reader of the text goes through these three, so they raise its syntax errors.
    def check_event(self, *choices: Any) -> bool:
        return bool(self._reading(super().check_event, *choices))

    def peek_event(self) -> Any:
        return self._reading(super().peek_event)

    def get_event(self) -> Any:
        return self._reading(super().get_event)

    def _reading(self, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except yaml.MarkedYAMLError as exc:
            raise self._restored(exc) from None

    def _restored(self, exc: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
        for part in ("context", "problem"):
            text = getattr(exc, part)
            if text and self._restore is not None:
                for stand_in, original in self._restore.items():
                    text = text.replace(_escaped(stand_in), _escaped(original))
                setattr(exc, part, text.translate(self._restore))
        return exc
