"""An HTTP adapter whose answers must have their status line and headers in by one
timeout in total, not per read.

``requests``' read timeout bounds each wait for data, so a peer that sends its headers
a few bytes at a time (a broken proxy in front of Prometheus) holds a request for as
long as it likes: 8 header lines 0.6 s apart passed a 1 s timeout and took 4.8 s. The
body is bounded separately, by :func:`autoscaler.sources.bounded_read.read_bounded`.

:class:`HeadDeadlineAdapter` gives its connections a ``getresponse`` that reads the head
through a file whose every read gets the time left until ``read timeout`` after the
head was first waited for; once the head is in, reads go back to one read timeout each.
The file is the socket's own (``makefile``), so the socket stays open while an answer
sent with ``Connection: close`` is read, as with the plain connection.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable
from typing import Any

import urllib3
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import HTTPResponse


class _HeadReader(io.RawIOBase):
    """The socket's file, each read bounded by the time left until ``deadline`` while
    the head is read (``deadline`` None afterwards: the socket's own timeout)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._file = sock.makefile("rb", buffering=0)
        self.deadline: float | None = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the answer's head was not in by the read timeout")
            self._sock.settimeout(left)
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


class _HeadSocket:
    """The connection's socket as ``http.client`` sees it while it reads one answer:
    the same socket, but its ``makefile`` is a :class:`_HeadReader`."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self.reader: _HeadReader | None = None

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        self.reader = _HeadReader(self._sock, self._deadline)
        return io.BufferedReader(self.reader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _read_head(conn: HTTPConnection, read: Callable[[], HTTPResponse]) -> HTTPResponse:
    """``read()`` (the connection's own ``getresponse``) with the head bounded in total."""
    sock, timeout = conn.sock, conn.timeout
    if sock is None or not isinstance(timeout, int | float):  # no timeout: none here either
        return read()
    head = _HeadSocket(sock, time.monotonic() + timeout)
    conn.sock = head
    try:
        response = read()
    finally:
        if conn.sock is head:  # None when http.client closed it (Connection: close)
            conn.sock = sock
    if head.reader is not None:
        # The head is in: the body waits one read timeout per read again (it is bounded
        # as a whole by read_bounded).
        head.reader.deadline = None
        sock.settimeout(timeout)
    return response


class _HeadDeadlineConnection(HTTPConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 does
        return _read_head(self, super().getresponse)


class _HeadDeadlineTlsConnection(HTTPSConnection):
    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3 does
        return _read_head(self, super().getresponse)


# urllib3's names: they show in its error messages ("HTTPConnectionPool(host=...):
# Read timed out"), which the logs pass on.
class HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HeadDeadlineConnection


class HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HeadDeadlineTlsConnection


def _bound_heads(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}


class HeadDeadlineAdapter(HTTPAdapter):
    """``HTTPAdapter`` (same arguments) whose answers' heads are bounded in total by the
    request's read timeout; also through an HTTP(S) proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _bound_heads(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are urllib3's own kind
            _bound_heads(manager)
        return manager
