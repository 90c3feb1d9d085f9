"""Reading a recording's sample arrays without a Python object per point.

A week of 15 s samples is 40,320 ``[time, "value"]`` pairs per series; ``json.loads``
makes two lists, a string and a number out of each, and the reader then two floats and
a tuple: a second per 30 MB file. :func:`parse_with_arrays` reads the same document
faster and gives the same numbers:

1. every ``"values":[[...]]`` array is cut out of the text and replaced by a marker, and
   the rest (labels, header) goes through ``json.loads`` as before;
2. each array is checked to be exactly ``[[t,"v"],[t,"v"],...]`` (numpy over its
   bytes: the brackets, commas and quotes in that order, nothing but number characters
   between them); the times are parsed by ``json.loads`` (JSON's number grammar, as
   before), the values by ``float`` (as before) on the tokens, into float64 arrays;
3. identical time arrays (every series of a recording shares its grid) are parsed once.

Anything else (spaces, escapes, a values array outside ``series``, a token ``float``
refuses) returns None and the caller parses the whole document the ordinary way, with
its ordinary errors, so this never accepts or rejects a file differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

_START = b'"values":[['
_MARKER = "lws-recording-values#"
# Bytes allowed inside a values array: structure, digits, and the letters of NaN/Inf.
_ALLOWED = b'[],"0123456789.+-eEnaNIif'
_STRUCTURE = np.zeros(256, dtype=bool)
_STRUCTURE[list(b'[],"')] = True


class PointArrays(Sequence[tuple[float, float]]):
    """A series' points as two float64 arrays; reads as the list of ``(t, v)`` tuples."""

    __slots__ = ("times", "values")

    def __init__(self, times: NDArray[np.float64], values: NDArray[np.float64]) -> None:
        self.times = times
        self.values = values

    def __len__(self) -> int:
        return len(self.times)

    @overload
    def __getitem__(self, index: int) -> tuple[float, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, float]]: ...

    def __getitem__(self, index: int | slice) -> tuple[float, float] | list[tuple[float, float]]:
        if isinstance(index, slice):
            return list(self)[index]
        return float(self.times[index]), float(self.values[index])

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self.times.tolist(), self.values.tolist(), strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable arrays, like a list

    def __repr__(self) -> str:
        return f"PointArrays({len(self)} points)"


def _arrays(chunk: bytes, times_seen: dict[bytes, NDArray[np.float64]]) -> PointArrays | None:
    """``[[t,"v"],...]`` -> arrays, or None when ``chunk`` is anything else."""
    if chunk.translate(None, _ALLOWED):
        return None
    raw = np.frombuffer(chunk, dtype=np.uint8)
    at = np.flatnonzero(_STRUCTURE[raw])
    pairs = (at.size - 1) // 6
    if pairs < 1 or raw[at].tobytes() != b"[" + b'[,""],' * (pairs - 1) + b'[,""]]':
        return None
    # Per pair: [ , " " ] then , (the last: the closing ]). Only the time (between [
    # and ,) and the value (between the quotes) may hold characters.
    cols = at[1:].reshape(pairs, 6)
    if not (
        at[0] == 0
        and cols[0, 0] == 1
        and np.all(cols[:, 2] == cols[:, 1] + 1)
        and np.all(cols[:, 4] == cols[:, 3] + 1)
        and np.all(cols[:, 5] == cols[:, 4] + 1)
        and np.all(cols[1:, 0] == cols[:-1, 5] + 1)
    ):
        return None
    tokens = chunk.translate(None, b'[]"').split(b",")
    stamps = b",".join(tokens[0::2])
    times = times_seen.get(stamps)
    try:
        if times is None:
            parsed = json.loads(b"[" + stamps + b"]")
            times = times_seen[stamps] = np.fromiter(map(float, parsed), float, pairs)
        values = np.fromiter(map(float, tokens[1::2]), float, pairs)
    except (ValueError, TypeError, OverflowError):
        return None
    return PointArrays(times, values)


def _series_items(body: Any) -> list[Any] | None:
    if not isinstance(body, dict):
        return None
    items = body.get("series")
    if "data" in body and "format" not in body:  # a saved query_range response
        data = body.get("data")
        items = data.get("result") if isinstance(data, dict) else None
    return items if isinstance(items, list) else None


def parse_with_arrays(raw: bytes) -> Any:
    """The JSON document ``raw`` with each series' ``values`` as :class:`PointArrays`,
    or None when the fast path does not apply (parse ``raw`` the ordinary way)."""
    if _MARKER.encode() in raw or _START not in raw:
        return None
    pieces: list[bytes] = []
    chunks: list[bytes] = []
    end = 0
    while (start := raw.find(_START, end)) >= 0:
        close = raw.find(b"]]", start)
        if close < 0:
            return None
        pieces += [raw[end : start + 9], f'"{_MARKER}{len(chunks)}"'.encode()]
        chunks.append(raw[start + 9 : close + 2])
        end = close + 2
    pieces.append(raw[end:])
    try:
        body = json.loads(b"".join(pieces))
    except (ValueError, RecursionError):
        return None  # the ordinary parse says what is wrong
    items = _series_items(body)
    if items is None:
        return None
    times_seen: dict[bytes, NDArray[np.float64]] = {}
    claimed = 0
    for item in items:
        values = item.get("values") if isinstance(item, dict) else None
        if not (isinstance(values, str) and values.startswith(_MARKER)):
            continue
        index = int(values[len(_MARKER) :])
        arrays = _arrays(chunks[index], times_seen)
        if arrays is None:
            return None
        item["values"] = arrays
        claimed += 1
    # Every cut-out array must have been a series' values, each exactly once.
    return body if claimed == len(chunks) else None
