"""The outermost ASGI layer: request metrics, a path-length guard, and the catch-all.

Whatever happens inside, the client gets a Kubernetes ``Status``: an unexpected
exception becomes a generic 500 ``InternalError`` (the traceback goes to the log, never
to the client); a request path longer than ``max_path_bytes`` is refused with 400
before routing. Every request is counted by route *template* (so metric names and
namespaces do not explode the label set; any path no route matches is ``unmatched``),
method and status code. The method label is one of :data:`METHOD_LABELS` or ``other``:
the HTTP parser accepts any token as a method, and a label per token would let any
client grow ``/metrics`` without bound.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from autoscaler.server.status import ApiError, internal_error
from autoscaler.server.telemetry import Telemetry

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_PATH_BYTES = 4096
METHOD_LABELS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


def method_label(method: object) -> str:
    """The ``method`` label of a request: a standard method as is, anything else ``other``."""
    return method if isinstance(method, str) and method in METHOD_LABELS else "other"


def route_label(scope: Scope) -> str:
    """The ``route`` label: the matched route's template, never the request path."""
    template = getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


async def send_status(send: Send, error: ApiError) -> None:
    # Compact, as every other answer (Starlette's JSONResponse) and kube-apiserver write it.
    payload = json.dumps(error.body(), separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class ObserveAndContain:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        telemetry: Telemetry,
        max_path_bytes: int = DEFAULT_MAX_PATH_BYTES,
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.max_path_bytes = max_path_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()  # latency only; never a decision input
        code = 500
        response_started = False

        async def observed_send(message: Message) -> None:
            nonlocal code, response_started
            if message["type"] == "http.response.start":
                code = int(message["status"])
                response_started = True
            await send(message)

        try:
            raw_path = scope.get("raw_path") or scope.get("path", "").encode()
            if len(raw_path) + len(scope.get("query_string", b"")) > self.max_path_bytes:
                await send_status(
                    observed_send,
                    ApiError(400, f"request URI longer than {self.max_path_bytes} bytes"),
                )
            else:
                await self.app(scope, receive, observed_send)
        except Exception:
            if not response_started:  # else the app's handler has logged it already
                log.exception(
                    "unhandled error serving %s %s", scope.get("method"), scope.get("path")
                )
                await send_status(observed_send, internal_error())
        finally:
            template = route_label(scope)
            method = method_label(scope.get("method"))
            self.telemetry.http_requests.labels(template, method, str(code)).inc()
            self.telemetry.http_latency.labels(template, method).observe(
                time.perf_counter() - started
            )
