"""Reading an HTTP answer's body by a wall-clock deadline and within a size cap.

``requests``' read timeout restarts with every byte received, so a peer that dribbles
its answer (a proxy in front of Prometheus, a stuck leader) is never cut by it. Both the
Prometheus client and the leader scrapes read their bodies here instead, one socket read
at a time, checking the deadline before each.
"""

from __future__ import annotations

import time

import requests

from autoscaler.errors import SourceUnavailableError

_CHUNK = 64 * 1024


class ReadDeadlineError(SourceUnavailableError):
    """The body was not all in by the deadline; ``size`` bytes had been read. Callers
    re-raise it with the URL and the deadline; left uncaught it still reads as a source
    that did not answer."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes read by the deadline")
        self.size = size


class ReadCapError(SourceUnavailableError):
    """The body is larger than the cap (declared in Content-Length, or as read)."""


def read_bounded(
    response: requests.Response, deadline: float, max_bytes: int | None = None
) -> bytes:
    """The whole body of a ``stream=True`` response by ``deadline`` (``time.monotonic()``)."""
    declared = response.headers.get("Content-Length", "")
    if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ReadCapError(f"a {declared}-byte answer is over the {max_bytes}-byte cap")
    raw = response.raw
    # read1 returns what one read of the socket gave (urllib3 2): a trickling peer cannot
    # hold a chunk past the deadline. read(n) waits for n bytes.
    read = getattr(raw, "read1", None) or raw.read
    parts: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise ReadDeadlineError(size)
        chunk: bytes = read(_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise ReadCapError(f"the answer is over the {max_bytes}-byte cap")
        parts.append(chunk)
