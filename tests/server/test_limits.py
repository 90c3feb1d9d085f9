"""Bounds on what a client can make the server hold, over real HTTP(S) on 127.0.0.1: the
label sets of the request metrics, connections that never finish their request headers,
the number of open connections, and a staleness limit that could never be met."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import ssl
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from autoscaler.cli.main import main
from autoscaler.server.identity import Attributes, UserInfo
from autoscaler.server.settings import ServeSettings
from tests.server.conftest import Running, Start

BASE = "/apis/external.metrics.k8s.io/v1beta1"
REC = f"{BASE}/namespaces/inference/lws_recommended_replicas"
ROUTES = {
    "/apis",
    "/apis/external.metrics.k8s.io",
    BASE,
    f"{BASE}/namespaces/{{namespace}}/{{metric}}",
    "/metrics",
    "unmatched",
}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"}
# Seconds a test waits for the server to close a connection (or to answer on a raw
# socket): far above the header deadlines here, so a loaded machine does not fail a
# close that comes late; below the default 30 s deadline, and nothing like "never".
CLOSE_WITHIN = 20.0
# The request-header deadline of the tests that are not about its length: what the
# client does before it (a handshake, then a request or two chunks 0.3 s apart) has
# ample time on a loaded machine, where 1 s or 0.5 s could pass before the first send.
HEADER_TIMEOUT = 2.0


def _series_labels(metrics: str, name: str) -> list[dict[str, str]]:
    found = []
    for line in metrics.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} ", line)
        if match:
            found.append(dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))))
    return found


def test_request_metrics_keep_a_fixed_label_set(start_server: Start) -> None:
    """Any token is a valid HTTP method to the parser and any path can be asked for:
    neither may add a series to /metrics (which would let a client grow it without
    bound). Methods outside the standard ones count as ``other``, paths no route
    matches as ``unmatched``."""
    rng = random.Random(7)
    with start_server(disable_auth=True) as running, running.client() as http:
        running.cycle()
        for _ in range(40):
            method = "".join(rng.choices(string.ascii_uppercase, k=12))
            path = "/" + "".join(rng.choices(string.ascii_lowercase, k=10))
            assert http.request(method, path).status_code in (404, 405)
            assert http.request(method, REC).status_code == 405
            assert http.get(path).status_code == 404
        assert http.request("PATCH", REC).status_code == 405
        assert http.get(REC).status_code == 200
        metrics = http.get("/metrics").text
    counted = _series_labels(metrics, "lws_autoscaler_http_requests_total")
    timed = _series_labels(metrics, "lws_autoscaler_http_request_duration_seconds_count")
    assert {s["method"] for s in counted} == {"GET", "PATCH", "other"}
    assert {s["method"] for s in counted} <= METHODS
    assert {s["route"] for s in counted} <= ROUTES
    assert {(s["route"], s["method"]) for s in timed} == {
        ("unmatched", "other"),
        ("unmatched", "GET"),
        (f"{BASE}/namespaces/{{namespace}}/{{metric}}", "other"),
        (f"{BASE}/namespaces/{{namespace}}/{{metric}}", "PATCH"),
        (f"{BASE}/namespaces/{{namespace}}/{{metric}}", "GET"),
    }
    assert len(counted) <= 6


def _closed_by_server(sock: socket.socket | ssl.SSLSocket, within: float) -> float:
    """Seconds until the server closed ``sock`` (EOF or reset); fails after ``within``."""
    started = time.monotonic()
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                break
    except (ConnectionResetError, ssl.SSLError):
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {within:g}s")
    return time.monotonic() - started


def _address(running: Running) -> tuple[str, int]:
    host, port = running.url.split("://")[1].rsplit(":", 1)
    return host, int(port)


@contextlib.contextmanager
def _tls_socket(running: Running) -> Iterator[ssl.SSLSocket]:
    assert running.ca_file is not None
    context = ssl.create_default_context(cafile=str(running.ca_file))
    raw = socket.create_connection(_address(running), timeout=CLOSE_WITHIN)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        yield tls


@pytest.mark.parametrize(
    ("scheme", "sent"),
    [
        ("https", []),  # handshake done, then nothing
        ("https", [b"GET /apis HTTP/1.1\r\nHost: 127.0.0.1\r\n"]),  # half the headers
        (
            "https",
            [  # a whole request, then half of the next one, a line at a time
                b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                b"GET /apis HTTP/1.1\r\n",
                b"Host: 127.0.0.1\r\n",
            ],
        ),
        ("http", []),  # plain TCP, nothing sent
    ],
    ids=["tls-silent", "tls-partial-headers", "tls-second-request-partial", "plain-silent"],
)
def test_connections_without_complete_headers_are_closed(
    start_server: Start, scheme: str, sent: list[bytes]
) -> None:
    """A connection that sends nothing, half a request's headers, or half the headers of
    its second request is closed after ``request_header_timeout``, like kube-apiserver's
    ReadHeaderTimeout; uvicorn alone keeps each open for good (its keep-alive timeout
    only covers a connection silent since its last response)."""
    settings = {"disable_auth": True, "request_header_timeout": HEADER_TIMEOUT}
    if scheme == "http":
        settings["insecure"] = True
    with start_server(**settings) as running:
        with contextlib.ExitStack() as stack:
            if scheme == "https":
                sock: socket.socket = stack.enter_context(_tls_socket(running))
            else:
                sock = stack.enter_context(socket.create_connection(_address(running)))
            started = time.monotonic()
            for chunk in sent:
                sock.sendall(chunk)
                if chunk.endswith(b"\r\n\r\n"):
                    sock.settimeout(CLOSE_WITHIN)
                    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
                    started = time.monotonic()
                else:
                    time.sleep(0.3)  # slower than the parser, faster than the deadline
            _closed_by_server(sock, CLOSE_WITHIN)
            # The deadline counts from the handshake or the last response, not the
            # last byte: dribbling the headers does not extend it.
            assert HEADER_TIMEOUT / 2 < time.monotonic() - started < CLOSE_WITHIN
        with running.client() as http:  # complete requests are unaffected
            assert http.get("/healthz").status_code == 200


def test_headers_dribbled_without_end_are_still_cut(start_server: Start) -> None:
    """A client that sends a header byte every 0.5 s, for ever (slowloris): each byte is
    well inside the 2 s deadline, so a deadline that restarted with each byte would never
    cut it. The server closes it all the same, within ``CLOSE_WITHIN`` of the handshake."""
    with (
        start_server(disable_auth=True, request_header_timeout=HEADER_TIMEOUT) as running,
        _tls_socket(running) as sock,
    ):
        sock.sendall(b"GET /apis HTTP/1.1\r\n")
        started = time.monotonic()
        sock.settimeout(0.5)
        closed = False
        while not closed and time.monotonic() - started < CLOSE_WITHIN:
            try:
                sock.sendall(b"X")
                closed = sock.recv(4096) == b""
            except TimeoutError:
                continue  # no answer yet: the next byte
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                closed = True
        assert closed, f"dribbling one byte every 0.5 s kept it open for {CLOSE_WITHIN:g}s"
        assert time.monotonic() - started > HEADER_TIMEOUT / 2


class SlowReviewer:
    """Answers every review after ``delay`` seconds (off the event loop, as the server
    calls reviews from a worker thread), allowing everyone."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def review_token(self, token: str) -> UserInfo | None:
        time.sleep(self.delay)
        return UserInfo.build("alice")

    def review_access(self, user: UserInfo, attributes: Attributes) -> tuple[bool, str]:
        return True, ""


def test_the_header_deadline_covers_the_headers_only(start_server: Start) -> None:
    """A request whose answer takes longer than the deadline (here a slow TokenReview)
    is answered; the deadline starts again with the response, for the next request."""
    with start_server(
        reviewer=SlowReviewer(delay=HEADER_TIMEOUT + 1),
        authentication_skip_lookup=True,
        request_header_timeout=HEADER_TIMEOUT,
    ) as running:
        running.cycle()
        with _tls_socket(running) as sock:
            sock.sendall(
                f"GET {REC} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n".encode()
            )
            sock.settimeout(CLOSE_WITHIN)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            answered = time.monotonic()
            sock.sendall(b"GET /apis HTTP/1.1\r\n")
            _closed_by_server(sock, CLOSE_WITHIN)
            assert time.monotonic() - answered < CLOSE_WITHIN


def test_requests_above_the_connection_limit_get_a_status_503(start_server: Start) -> None:
    with start_server(disable_auth=True, max_connections=2) as running:
        # One connection held open and the client's: two, at the limit, served.
        with _tls_socket(running), running.client() as http:
            assert http.get("/healthz").status_code == 200
        # Two connections held open; the client's is the third.
        with _tls_socket(running), _tls_socket(running), running.client() as http:
            refused = http.get("/healthz")
        assert refused.status_code == 503
        assert refused.headers["connection"] == "close"
        body = refused.json()
        assert (body["kind"], body["code"], body["reason"]) == (
            "Status",
            503,
            "ServiceUnavailable",
        )
        assert "more than 2 connections" in body["message"]
        with running.client() as http:  # the held connections are gone
            assert http.get("/healthz").status_code == 200


def test_a_limit_of_one_serves_one_request_at_a_time(start_server: Start) -> None:
    # One connection open and one request in flight (this one): both at the limit.
    with start_server(disable_auth=True, max_connections=1) as running, running.client() as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/healthz").status_code == 200  # and again on the same connection


def test_a_max_decision_age_under_two_cycles_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A decision is up to one cycle old when the next replaces it, plus the cycle's run
    time: a max age at or just above one cycle makes the API and /readyz flap."""
    for age in (10.0, 15.0, 29.0):
        with pytest.raises(ValidationError) as refused:
            ServeSettings(cycle_seconds=15.0, max_decision_age=age)
        message = str(refused.value)
        assert "--max-decision-age" in message
        assert "--cycle" in message
    assert ServeSettings(cycle_seconds=15.0, max_decision_age=30.0).decision_max_age == 30.0
    assert ServeSettings(cycle_seconds=15.0).decision_max_age == 45.0

    argv = ["serve", "--source", "recording", "--policies", str(tmp_path), "--cycle", "15s"]
    assert main([*argv, "--max-decision-age", "15s"]) == 2
    err = capsys.readouterr().err
    assert "--max-decision-age (15s) must be at least twice --cycle (15s)" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
