"""Queries travel in form-encoded POST bodies, never in the URL: a batched selector for
hundreds of leaders would otherwise make a URL that proxies with 8 KB limits reject and
access logs keep. Checked against a recording fake on 127.0.0.1 (what goes on the wire,
retries and headers kept) and against the real Prometheus (same answers as GET). Also
what is retried (once: connection errors, 502, 504) and what never is (a read timeout, a
503), and the durations Prometheus accepts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from autoscaler.errors import QueryRejectedError, SourceUnavailableError
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from tests.support.background import serve_in_background, shut_down
from tests.support.prometheus import PrometheusServer, needs_prometheus
from tests.support.raw_server import RawServer

# 500 leader pods, as one batched cycle selects them: about 10 KB of selector.
MANY_PODS = "|".join(f"llama-70b-{i}" for i in range(500))
BATCHED = f'vllm:num_requests_waiting{{namespace="inference",pod=~"{MANY_PODS}|llama-0"}}'


class _Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.fail_first = 0  # answer this many requests with fail_code first
        self.fail_code = 502
        self.answer: dict[str, Any] | None = None  # instead of an empty success
        self.retry_after: str | None = None  # a Retry-After header on the failures

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.server.requests.append(
            {
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "authorization": self.headers.get("Authorization"),
                "form": parse_qs(body),
            }
        )
        if self.server.fail_first > 0:
            self.server.fail_first -= 1
            self._answer(self.server.fail_code, {"status": "error", "error": "overloaded"})
            return
        empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
        self._answer(200, self.server.answer or empty)

    def _answer(self, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(code)
        if code != 200 and self.server.retry_after is not None:
            self.send_header("Retry-After", self.server.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    thread = serve_in_background(server)
    try:
        yield server
    finally:
        shut_down(server, thread)


def test_queries_go_in_the_body_not_the_url(recorder: _Recorder) -> None:
    client = PrometheusQueryClient(
        recorder.url, timeout=3, retries=1, backoff=0.01, headers={"Authorization": "Bearer t"}
    )
    try:
        recorder.fail_first = 1  # a 502 (a proxy) is retried, with the body sent again
        assert client.instant(BATCHED, 1_767_225_600.0) == []
        assert client.range(BATCHED, 1_767_225_000.0, 1_767_225_600.0, 15.0) == []
    finally:
        client.close()
    retried, instant, ranged = recorder.requests
    assert retried == instant
    for request in (instant, ranged):
        assert "?" not in request["path"]
        assert len(request["path"]) < 30
        assert request["content_type"] == "application/x-www-form-urlencoded"
        assert request["authorization"] == "Bearer t"
        assert request["form"]["query"] == [BATCHED]
    assert instant["path"] == "/api/v1/query"
    assert instant["form"]["time"] == ["1767225600.000"]
    assert ranged["path"] == "/api/v1/query_range"
    assert {k: v for k, v in ranged["form"].items() if k != "query"} == {
        "start": ["1767225000"],
        "end": ["1767225600"],
        "step": ["15s"],
        "timeout": ["3s"],
    }


@needs_prometheus()
@pytest.mark.prometheus
def test_real_prometheus_answers_as_for_get(prom: PrometheusServer) -> None:
    at = prom.settled_second('namespace="inference",pod="llama-0"')
    client = PrometheusQueryClient(prom.url, timeout=5, retries=1, backoff=0.05)
    try:
        instant = client.instant(BATCHED, at)
        ranged = client.range(BATCHED, at - 4, at, 1.0)
        with pytest.raises(QueryRejectedError, match=r"rejected the query \(400\).*bad_data"):
            client.instant("sum(", at)
    finally:
        client.close()
    get = httpx.get(f"{prom.url}/api/v1/query", params={"query": BATCHED, "time": at}, timeout=5)
    get_range = httpx.get(
        f"{prom.url}/api/v1/query_range",
        params={"query": BATCHED, "start": at - 4, "end": at, "step": "1s"},
        timeout=5,
    )
    assert len(str(get.request.url)) > 8000  # what the URL form of this query costs
    assert instant == get.json()["data"]["result"]
    assert ranged == get_range.json()["data"]["result"]
    assert instant
    assert {s["metric"]["pod"] for s in instant} == {"llama-0"}
    assert ranged
    assert all(len(s["values"]) == 5 for s in ranged)


@pytest.mark.parametrize(("code", "sent"), [(502, 2), (504, 2), (503, 1), (429, 1)])
def test_only_proxy_errors_are_retried_and_only_once(
    recorder: _Recorder, code: int, sent: int
) -> None:
    """503 is Prometheus's own query timeout: sending the query again would cost another
    timeout. 502/504 come from a proxy whose Prometheus was away a moment: once more."""
    client = PrometheusQueryClient(recorder.url, timeout=3)
    recorder.fail_code, recorder.fail_first = code, 5
    try:
        with pytest.raises(SourceUnavailableError, match=f"answered {code}"):
            client.instant("up", 1_767_225_600.0)
    finally:
        client.close()
    assert len(recorder.requests) == sent


def test_a_proxys_retry_after_does_not_hold_the_cycle(recorder: _Recorder) -> None:
    """A 502 asking to come back in 30 s: the one retry comes after the client's own
    0.2 s backoff, inside the query's timeout, not after the 30 s."""
    client = PrometheusQueryClient(recorder.url, timeout=3)
    recorder.fail_first, recorder.retry_after = 1, "30"
    try:
        started = time.monotonic()
        assert client.instant("up", 1_767_225_600.0) == []
        assert time.monotonic() - started < 3.0
    finally:
        client.close()
    assert len(recorder.requests) == 2


def test_a_200_that_is_not_a_success_says_what_prometheus_said(recorder: _Recorder) -> None:
    # Read as a result, it came out as "no data: check the PodMonitor", hiding the cause.
    recorder.answer = {
        "status": "error",
        "errorType": "execution",
        "error": "query processing would load too many samples",
        "data": {"resultType": "vector", "result": []},
    }
    client = PrometheusQueryClient(recorder.url, timeout=3)
    try:
        with pytest.raises(SourceUnavailableError, match="too many samples"):
            client.instant("up", 1_767_225_600.0)
    finally:
        client.close()


def test_an_answer_dribbled_out_is_cut_at_the_timeout() -> None:
    """A proxy that sends a byte every 0.25 s never lets a read time out: without a
    bound on the whole answer, one query held the control loop for 86 s at timeout 2."""

    def dribble(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(200):
                conn.sendall(b" ")
                time.sleep(0.25)
        except OSError:
            pass

    proxy = RawServer(dribble)
    client = PrometheusQueryClient(f"http://127.0.0.1:{proxy.port}", timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer a query within 1s"):
            client.instant("up", 1_767_225_600.0)
        # The fetch deadline is 2 s; without it the trickle lasts 50 s. Slack for a
        # loaded machine, still far from the bug.
        assert time.monotonic() - started < 5.0
    finally:
        client.close()
        proxy.close()


def test_more_than_one_retry_is_refused() -> None:
    with pytest.raises(ValueError, match="retries must be 0 or 1"):
        PrometheusQueryClient("http://127.0.0.1:9", retries=2)


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_timeout_that_is_not_positive_is_refused(timeout: float) -> None:
    """0 would be no time at all for any query, not "no timeout"."""
    with pytest.raises(ValueError, match="timeout must be positive"):
        PrometheusQueryClient("http://127.0.0.1:9", timeout=timeout)


def test_a_silent_prometheus_costs_one_timeout_on_one_connection() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    running = True

    def accept() -> None:
        while running:
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    client = PrometheusQueryClient(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer a query within 1s"):
            client.instant("up", 1_767_225_600.0)
        assert time.monotonic() - started < 4.0  # a hang would not end; slack for load
        assert len(held) == 1  # a query that was sent is never sent again
    finally:
        client.close()
        running = False
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


def test_fractional_durations_go_out_in_whole_units(recorder: _Recorder) -> None:
    client = PrometheusQueryClient(recorder.url, timeout=2.5)
    try:
        client.instant("up", 1_767_225_600.0)
        client.range("up", 1_767_225_000.0, 1_767_225_600.0, 7.5)
    finally:
        client.close()
    instant, ranged = recorder.requests
    assert instant["form"]["timeout"] == ["2500ms"]
    assert ranged["form"]["step"] == ["7500ms"]
    assert ranged["form"]["timeout"] == ["2500ms"]


@needs_prometheus()
@pytest.mark.prometheus
def test_real_prometheus_takes_fractional_timeout_and_step(prom: PrometheusServer) -> None:
    at = float(int(time.time()) - 2)
    client = PrometheusQueryClient(prom.url, timeout=2.5)
    try:
        assert client.instant('up{job="leaders"}', at)
        ranged = client.range('up{job="leaders"}', at - 15, at, 7.5)
    finally:
        client.close()
    times = {float(t) for series in ranged for t, _ in series["values"]}
    assert at - 7.5 in times
    assert times <= {at - 15, at - 7.5, at}  # evaluated every 7.5 s
