"""The TIMESTAMP column of an Azure 2023 trace, checked before numpy parses it.

The Azure 2023 traces write every TIMESTAMP as ``2023-11-16 18:17:03.9799600``. numpy's
parser takes far more (a bare ``1`` is the year 1, ``now``, a date alone, a time zone),
and wraps a year outside 1678-2261 at nanosecond resolution (2300 becomes 1715), so a
trace of bare numbers was read as one of years. ``stamps_fit`` checks a whole column at
once (vectorised: a multi-million-row file is read in seconds); ``stamp_problem`` says
what is wrong with one stamp, for the message that names its line.
"""

from __future__ import annotations

import re

import numpy as np

# A time is read only in this shape, ``T`` also taken as the separator.
_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?")
STAMP_SHAPE = "YYYY-MM-DD hh:mm:ss[.fraction]"
FIRST_YEAR, LAST_YEAR = 1678, 2261  # whole years that datetime64[ns] holds


def _class_table() -> bytes:
    """The ``bytes.translate`` table of ``stamps_fit``: a digit becomes 9, ``T`` a
    space; a space, ``-``, ``:``, ``.`` and a newline stay; anything else is ``?``."""
    table = bytearray(b"?" * 256)
    for kept in b" -:.\n":
        table[kept] = kept
    table[ord("T")] = ord(" ")
    table[ord("0") : ord("9") + 1] = b"9" * 10
    return bytes(table)


_CLASS_TABLE = _class_table()
_CLASS_SHAPE = re.compile(rb"9999-99-99 99:99:99(?:\.9+)?")


def stamps_fit(stamps: list[str]) -> bool:
    """Whether every stamp has ``_STAMP``'s shape and a year in FIRST_YEAR..LAST_YEAR:
    the verdict of ``stamp_problem`` on each row (which names the first bad one), at
    0.2 s instead of 0.5 s on 1.9 million rows (a read takes 3.4 s). The column is
    joined into one byte string and mapped to character classes (a digit 9, ``T`` a
    space: ``bytes.translate``); rows of one width, as in the Azure files, must then
    tile it with the first row's classes, rows of several widths are checked by their
    distinct class strings."""
    count = len(stamps)
    try:
        data = "\n".join(stamps).encode("ascii")
    except UnicodeEncodeError:
        return False
    classes = data.translate(_CLASS_TABLE)
    codes = np.frombuffer(data, dtype=np.uint8)
    width = len(stamps[0]) + 1  # with its newline
    first = classes[: width - 1]
    if (
        len(data) == count * width - 1
        and _CLASS_SHAPE.fullmatch(first)
        and classes.count(first + b"\n", 0, (count - 1) * width) == count - 1
        and classes.endswith(first)
    ):
        # Row i starts at i * width: its first four bytes, without a copy of the column.
        heads = np.lib.stride_tricks.as_strided(codes, (count, 4), (width, 1), writeable=False)
    else:
        # A newline inside a (quoted) field would make two lines of one stamp.
        if classes.count(b"\n") != count - 1:
            return False
        if not all(_CLASS_SHAPE.fullmatch(line) for line in set(classes.split(b"\n"))):
            return False
        starts = np.concatenate(([0], np.flatnonzero(codes == ord("\n")) + 1))
        heads = codes[starts[:, None] + np.arange(4)]
    # Four ASCII digits read as one big-endian number sort as the year they spell.
    spelled = np.ascontiguousarray(heads).view(">u4")
    low, high = (int.from_bytes(str(year).encode(), "big") for year in (FIRST_YEAR, LAST_YEAR))
    return bool(spelled.min() >= low and spelled.max() <= high)


def stamp_problem(stamp: str) -> str | None:
    """What is wrong with one TIMESTAMP, or None: the row-by-row ``stamps_fit``."""
    if not _STAMP.fullmatch(stamp):
        return (
            f"TIMESTAMP {stamp!r} is not a time in the form {STAMP_SHAPE} (as in the "
            "Azure 2023 traces, e.g. 2023-11-16 18:17:03.9799600); write it so"
        )
    if not FIRST_YEAR <= int(stamp[:4]) <= LAST_YEAR:
        return (
            f"TIMESTAMP {stamp!r} is outside the years {FIRST_YEAR}-{LAST_YEAR} "
            "that a time in nanoseconds can hold; check the year"
        )
    return None
