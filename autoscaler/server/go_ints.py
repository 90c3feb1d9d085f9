"""Go's ``strconv.ParseInt(s, 10, 64)``, the way apimachinery reads an integer from text:
the ``limit`` and ``timeoutSeconds`` query parameters of a list, and the value of a ``>``
or ``<`` label-selector requirement.

An optional sign and ASCII digits only (Python's ``int`` would also take ``1_000``,
`` 7`` and other scripts' digits), within -2^63 (MinInt64, which parses) and 2^63 - 1.
"""

from __future__ import annotations

import re

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_END = -(2**63), 2**63


def parse_int64(text: str) -> int | None:
    """The int64 ``text`` spells, or None where ``ParseInt`` returns an error."""
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value < _INT64_END else None
