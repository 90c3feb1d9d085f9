"""Bounds on the server's connections: a request-header deadline and a connection limit.

A connection that has not delivered a request's headers within
``--request-header-timeout`` (default 30 s, like kube-apiserver's ``ReadHeaderTimeout``)
after its TLS handshake or its previous response is closed, and above
``--max-connections`` open connections (or as many requests in flight) a request is
refused with a 503 ``Status``. Without them an idle or half-sent connection stayed open
for ever, and any pod that could reach the port could hold file descriptors and memory
before authentication ran.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from autoscaler.server.status import ApiError

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (capped by somaxconn)."""


def _overloaded_response(max_connections: int) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        ApiError(
            503, f"the server has more than {max_connections} connections open; try again later"
        ).body()
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    return headers, body


def bounded_protocol(
    base: type[asyncio.Protocol], header_timeout: float, max_connections: int
) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol) with a request-header deadline and a limit on
    open connections.

    - The deadline starts when the connection is made (for TLS: when the handshake is
      done) and again when a response completes; it stops when a request's headers are
      complete, i.e. when uvicorn calls the application. When it passes, the connection
      is closed. uvicorn's own keep-alive timeout only covers a connection that has sent
      nothing since its last response; a client that sends a first byte, or a first
      request that never finishes its headers, would otherwise hold the connection forever.
    - Above ``max_connections`` open connections, or as many requests in flight, a
      request gets a 503 ``Status`` and the connection is closed. This is uvicorn's
      ``limit_concurrency`` rule (left unset in the config), which would answer the
      same in plain text.

    Relies on uvicorn's protocol attributes ``app``, ``transport``, ``connections`` and
    ``tasks`` (both the h11 and the httptools protocol have them); a connection is
    refused loudly if they are missing.
    """

    overloaded_headers, overloaded_body = _overloaded_response(max_connections)

    async def refuse(send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": overloaded_headers})
        await send({"type": "http.response.body", "body": overloaded_body})

    class BoundedProtocol(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._header_timer: asyncio.TimerHandle | None = None
            self._active_requests = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            if not all(hasattr(self, a) for a in ("app", "transport", "connections", "tasks")):
                transport.close()
                raise RuntimeError("unsupported uvicorn version: HTTP protocol attributes changed")
            inner: Any = self.app  # type: ignore[has-type]

            async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
                self._cancel_header_timer()
                self._active_requests += 1
                try:
                    open_connections = len(self.connections)
                    in_flight = len(self.tasks)
                    if open_connections > max_connections or in_flight > max_connections:
                        log.warning(
                            "refusing a request: %d connections open, %d requests in "
                            "flight (--max-connections %d)",
                            open_connections,
                            in_flight,
                            max_connections,
                        )
                        await refuse(send)
                    else:
                        await inner(scope, receive, send)
                finally:
                    self._active_requests -= 1
                    if self._active_requests == 0:
                        self._arm_header_timer()  # for the next request on this connection

            self.app = app
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            transport: asyncio.BaseTransport | None = self.transport
            if transport is None or transport.is_closing():
                return
            self._header_timer = asyncio.get_running_loop().call_later(
                header_timeout, self._header_deadline_passed
            )

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline_passed(self) -> None:
            self._header_timer = None
            transport: asyncio.BaseTransport = self.transport
            if self._active_requests or transport.is_closing():
                return
            log.debug(
                "closing a connection from %s: no complete request headers within %gs",
                transport.get_extra_info("peername"),
                header_timeout,
            )
            transport.close()

    BoundedProtocol.__name__ = f"Bounded{base.__name__}"
    return BoundedProtocol
