"""What a range query sends for steps and ends that are not whole seconds, checked on the
wire (a recording fake on 127.0.0.1) and against the real Prometheus; and that a
``user:password@`` in the URL is sent as basic auth and shown in no message."""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from autoscaler.errors import QueryRejectedError, SourceUnavailableError
from autoscaler.sources.prometheus import chunks
from autoscaler.sources.prometheus_api import PrometheusQueryClient, prometheus_duration
from tests.support.background import serve_in_background, shut_down
from tests.support.prometheus import PrometheusServer, needs_prometheus

NOW = 1_767_225_600.0


class _Wire(ThreadingHTTPServer):
    """Keeps each request's form and Authorization header; answers ``code``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[dict[str, str], str | None]] = []
        self.code = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Wire

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        self.server.requests.append((form, self.headers.get("Authorization")))
        if self.server.code == 200:
            answer: dict[str, Any] = {
                "status": "success",
                "data": {"resultType": "matrix", "result": []},
            }
        else:
            answer = {"status": "error", "errorType": "bad_data", "error": "parse error"}
        payload = json.dumps(answer).encode()
        self.send_response(self.server.code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def wire() -> Iterator[_Wire]:
    server = _Wire()
    thread = serve_in_background(server)
    try:
        yield server
    finally:
        shut_down(server, thread)


def test_the_end_goes_out_to_the_millisecond(wire: _Wire) -> None:
    """Rounded to a second, ``NOW + 14998.5`` (the end of a 1.5 s chunk) lost its point
    and ``NOW + 0.7`` was asked up to ``NOW + 1``, after it."""
    client = PrometheusQueryClient(wire.url, timeout=2)
    try:
        client.range("up", NOW, NOW + 14998.5, 1.5)
        client.range("up", NOW - 60, NOW + 0.7, 15.0)
        client.range("up", NOW - 60, NOW, 15.0)
    finally:
        client.close()
    sent = [(f["start"], f["end"], f["step"]) for f, _ in wire.requests]
    assert sent == [
        ("1767225600", "1767240598.500", "1500ms"),
        ("1767225540", "1767225600.700", "15s"),
        ("1767225540", "1767225600", "15s"),  # whole seconds: as before
    ]


def test_a_step_between_milliseconds_is_refused(wire: _Wire) -> None:
    """Prometheus steps in milliseconds: 1.0005 s went out as ``1000ms``, off the grid."""
    client = PrometheusQueryClient(wire.url, timeout=2)
    try:
        with pytest.raises(ValueError, match=r"whole milliseconds, got 1\.0005"):
            client.range("up", NOW - 60, NOW, 1.0005)
        for step in (math.inf, math.nan):  # a ValueError too, not round()'s OverflowError
            with pytest.raises(ValueError, match="whole milliseconds"):
                client.range("up", NOW - 60, NOW, step)
        client.range("up", NOW - 60, NOW, 2.0010000000000003)  # 2001ms, as parsed
    finally:
        client.close()
    assert [f["step"] for f, _ in wire.requests] == ["2001ms"]


def test_credentials_in_the_url_are_sent_and_shown_nowhere(wire: _Wire) -> None:
    secret = wire.url.replace("http://", "http://alice:s3cret@")
    client = PrometheusQueryClient(secret, timeout=2)
    wire.code = 400
    try:
        assert client.url == wire.url
        with pytest.raises(QueryRejectedError) as raised:
            client.range("sum(", NOW - 60, NOW, 15.0)
    finally:
        client.close()
    assert str(raised.value).startswith(f"Prometheus at {wire.url} rejected the query (400)")
    assert "s3cret" not in str(raised.value)
    ((_, authorization),) = wire.requests
    assert authorization == "Basic " + base64.b64encode(b"alice:s3cret").decode()


def test_credentials_are_not_shown_when_prometheus_is_unreachable() -> None:
    client = PrometheusQueryClient("http://alice:s3cret@127.0.0.1:9/", timeout=1, retries=0)
    try:
        with pytest.raises(SourceUnavailableError) as raised:
            client.range("up", NOW - 60, NOW, 15.0)
    finally:
        client.close()
    assert str(raised.value).startswith("Prometheus at http://127.0.0.1:9 is unreachable")
    assert "s3cret" not in str(raised.value)


@needs_prometheus()
@pytest.mark.prometheus
def test_real_prometheus_evaluates_every_point_of_fractional_chunks(
    prom: PrometheusServer,
) -> None:
    """Two chunks at 1.5 s (the first ending on ``x.5``) and an end 0.7 s past a second:
    every grid point once, none after the end."""
    start = float(int(time.time()) - 20_000)
    end = start + 18_002.7
    client = PrometheusQueryClient(prom.url, timeout=10)
    try:
        times = [
            float(t)
            for lo, hi in chunks(start, end, 1.5)
            for series in client.range("vector(1)", lo, hi, 1.5)
            for t, _ in series["values"]
        ]
    finally:
        client.close()
    assert times == [start + 1.5 * i for i in range(12_002)]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(15.0, "15s"), (60, "60s"), (2.5, "2500ms"), (0.001, "1ms"), (0.0004, "1ms")],
)
def test_durations_are_written_in_whole_units(seconds: float, text: str) -> None:
    """Prometheus refuses ``2.5s`` (400, not a valid duration); under a millisecond is
    one, not ``0ms``, which it refuses as well."""
    assert prometheus_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_a_duration_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="a duration must be positive"):
        prometheus_duration(seconds)
