"""A scripted fake Prometheus on 127.0.0.1 for fault tests: each query's raw HTTP answer
is chosen by the test (a cut body, a bad chunk, a redirect, a slow or oversized answer),
which a real Prometheus or ``http.server`` cannot be made to send."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from tests.support.raw_server import RawServer

LWS_LABEL = "leaderworkerset_sigs_k8s_io_name"


def http(status: int, body: bytes, *, headers: str = "", length: int | None = None) -> bytes:
    """A whole raw HTTP/1.1 answer; ``length`` declares another Content-Length than the
    body's (a longer one is a body cut short)."""
    declared = len(body) if length is None else length
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\nConnection: close\r\n{headers}\r\n"
    )
    return head.encode() + body


def vector(items: list[Any]) -> bytes:
    result = {"resultType": "vector", "result": items}
    return json.dumps({"status": "success", "data": result}).encode()


def leader_items(at: float, pod: str = "llama-0", value: str = "3") -> list[Any]:
    """One leader's value and freshness series, as a batched signal query answers."""
    metric = {"namespace": "inference", LWS_LABEL: pod.rsplit("-", 1)[0], "pod": pod}
    return [
        {"metric": metric, "value": [at, value]},
        {"metric": {**metric, "lws_autoscaler_field": "timestamp"}, "value": [at, str(at - 5)]},
    ]


Decide = Callable[[str], bytes | tuple[bytes, float]]
"""A query's answer: raw bytes, or (bytes, seconds the connection then stays open and
silent; until :meth:`FakePrometheus.close`, if sooner)."""


class FakePrometheus:
    """Answers each POSTed query with ``decide(query)``, then closes; records the queries
    (and request lines) it was sent. ``decide`` runs in the connection's thread: it may
    wait on :attr:`closing` to be a slow Prometheus."""

    def __init__(self, decide: Decide) -> None:
        self.decide = decide
        self.queries: list[str] = []
        self.request_lines: list[str] = []
        self.closing = threading.Event()  # set at close: a handler waiting on it returns
        self._server = RawServer(self._answer)
        self.url = f"http://127.0.0.1:{self._server.port}"

    def _answer(self, conn: socket.socket) -> None:
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = next(
                (
                    int(v)
                    for k, _, v in (x.partition(":") for x in lines)
                    if k.lower() == "content-length"
                ),
                0,
            )
            while len(body) < length:
                more = conn.recv(65536)
                if not more:
                    break
                body += more
            query = parse_qs(body.decode()).get("query", [""])[0]
            self.request_lines.append(lines[0])
            self.queries.append(query)
            answer = self.decide(query)
            payload, hold = answer if isinstance(answer, tuple) else (answer, 0.0)
            conn.sendall(payload)
            self.closing.wait(hold)
            conn.close()
        except OSError:
            pass  # the client gave up, or close() closed the connection

    def close(self) -> None:
        self.closing.set()
        self._server.close()
