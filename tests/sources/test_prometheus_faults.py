"""A misbehaving Prometheus (or a proxy in front of it), scripted on 127.0.0.1: answers cut
after their headers, bad chunks or gzip, redirects, oversized or slow answers, malformed
series, answers stamped apart. Each is a SourceError for the query (and so for the
policies that wrote it), never an escaping exception, a followed redirect, an unbounded
read or fetch, or silently dropped data."""

from __future__ import annotations

import functools
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.errors import QueryRejectedError, SourceUnavailableError
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.families import LEADER_SIGNALS
from autoscaler.sources.prometheus import PrometheusSource
from autoscaler.sources.prometheus_api import MAX_ANSWER_BYTES, PrometheusQueryClient
from autoscaler.sources.recorder import record
from tests.sources.factories import only, target
from tests.sources.fake_prometheus import (
    LWS_LABEL,
    Decide,
    FakePrometheus,
    http,
    leader_items,
    vector,
)

NOW = 1_767_225_600.0
EMPTY = vector([])


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus(lambda _query: http(200, EMPTY))
    try:
        yield server
    finally:
        server.close()


def query(fake: FakePrometheus, decide: Decide, **kwargs: Any) -> None:
    fake.decide = decide
    client = PrometheusQueryClient(fake.url, timeout=1, retries=0, **kwargs)
    try:
        client.instant("up", NOW)
    finally:
        client.close()


def _fixed(answer: bytes, _query: str) -> bytes:
    return answer


@pytest.mark.parametrize(
    "answer",
    [
        http(200, EMPTY[:20], length=1000),  # the connection closed 980 bytes short
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        http(200, b"0123456789", headers="Content-Encoding: gzip\r\n"),
    ],
    ids=["cut", "bad-chunk", "bad-gzip"],
)
def test_an_answer_broken_off_after_its_headers_is_a_source_error(
    fake: FakePrometheus, answer: bytes
) -> None:
    # urllib3's ProtocolError / DecodeError came through raw and failed the whole cycle.
    with pytest.raises(SourceUnavailableError, match="broke off its answer to a query"):
        query(fake, lambda _q: answer)


def test_silence_after_the_headers_is_a_timeout(fake: FakePrometheus) -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="did not answer a query within 1s"):
        query(fake, lambda _q: (http(200, b"", length=64), 10.0))
    assert time.monotonic() - started < 5  # cut at the 1 s timeout, not the 10 s hold


@pytest.mark.parametrize("code", [301, 307])
def test_a_redirect_is_refused_and_named(fake: FakePrometheus, code: int) -> None:
    """A 301 turned the POST into a GET without its query (read as a PromQL rejection);
    a 307 loop got a fresh timeout per hop (8.4 s at timeout 1)."""
    moved = http(code, b"", headers="Location: /prom/api/v1/query\r\n")
    with pytest.raises(
        SourceUnavailableError,
        match=f"answered {code} to /api/v1/query, redirecting to /prom/api/v1/query: "
        "point --prometheus-url at the final address",
    ):
        query(fake, lambda _q: moved)
    assert fake.request_lines == ["POST /api/v1/query HTTP/1.1"]


def test_an_answer_over_the_cap_is_refused(fake: FakePrometheus) -> None:
    big = vector([{"metric": {"pod": "x" * 5000}, "value": [NOW, "1"]}])
    no_length = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big  # read until closed
    for answer in (http(200, big), no_length):
        with pytest.raises(SourceUnavailableError, match="over the 4096-byte cap"):
            query(fake, functools.partial(_fixed, answer), max_answer_bytes=4096)
    # The default cap refuses a declared 64 MiB + 1 before reading it.
    assert MAX_ANSWER_BYTES == 64 * 2**20
    with pytest.raises(
        SourceUnavailableError,
        match=f"over the 64 MiB cap \\(a {MAX_ANSWER_BYTES + 1}-byte answer is over the "
        f"{MAX_ANSWER_BYTES}-byte cap\\); narrow the query",
    ):
        query(fake, lambda _q: http(200, big, length=MAX_ANSWER_BYTES + 1))


def test_recording_reads_answers_over_the_loop_cap(fake: FakePrometheus) -> None:
    """``record`` runs on a workstation: its range answers (a bucket query over a week's
    chunk) may be far over the control loop's cap."""
    values = [[NOW + 15 * i, "1"] for i in range(100)]
    metric = {"namespace": "inference", LWS_LABEL: "llama", "pod": "llama-0"}
    item = {"metric": metric, "values": values}
    matrix = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [item]}})
    fake.decide = lambda _q: http(200, matrix.encode())
    client = PrometheusQueryClient(fake.url, timeout=2, max_answer_bytes=1024)
    try:
        recording = record(client, [target("inference", "llama")], NOW, NOW + 60, 15.0)
        with pytest.raises(SourceUnavailableError, match="over the 1024-byte cap"):
            client.instant("up", NOW)
    finally:
        client.close()
    assert recording.series


def _source(
    fake: FakePrometheus, decide: Decide, deadline: float | None = None
) -> PrometheusSource:
    fake.decide = decide
    client = PrometheusQueryClient(fake.url, timeout=2, retries=0)
    return PrometheusSource(client, deadline=deadline)


def _leaders(*pods: str, at: float = NOW) -> bytes:
    return http(200, vector([i for pod in pods for i in leader_items(at, pod)]))


@pytest.mark.parametrize(
    "bad",
    [
        http(200, vector(leader_items(NOW, "old-0")), length=10_000),  # closed short
        http(200, vector([{"metric": ["x"], "value": [NOW, "1"]}])),
        # Label values are strings; a list or object here raised TypeError (unhashable)
        # out of the fetch, and every policy held instead of this one.
        http(
            200,
            vector(
                [
                    {
                        "metric": {**leader_items(NOW, "old-0")[0]["metric"], "pod": ["old-0"]},
                        "value": [NOW, "1"],
                    }
                ]
            ),
        ),
    ],
    ids=["cut", "metric-not-an-object", "label-not-a-string"],
)
def test_a_bad_override_answer_fails_only_its_policy(fake: FakePrometheus, bad: bytes) -> None:
    good, old = (
        target("inference", "llama"),
        target("inference", "old", overrides={"queueDepth": "sum by ($by) (MARKER{$selector})"}),
    )
    source = _source(fake, lambda q: bad if "MARKER" in q else _leaders("llama-0", "old-0"))
    try:
        result = source.fetch([good, old], NOW)
    finally:
        source.close()
    assert only(result, "inference", "llama").leaders["llama-0"]
    assert LwsKey("inference", "old") not in result.snapshots
    assert "override for queueDepth" in result.errors[LwsKey("inference", "old")]


def test_a_malformed_series_in_a_shared_query_fails_the_cycle_cleanly(
    fake: FakePrometheus,
) -> None:
    source = _source(fake, lambda _q: http(200, vector([{"metric": ["x"], "value": [NOW, 1]}])))
    try:
        with pytest.raises(SourceUnavailableError, match="malformed series"):
            source.fetch([target("inference", "llama")], NOW)
    finally:
        source.close()


def test_a_slow_prometheus_cannot_stretch_a_fetch(fake: FakePrometheus) -> None:
    """Every query answered in 0.6 s at timeout 1: 7 queries took 4.2 s; none is sent
    after the 2 s deadline (twice the timeout), and the cycle fails, not reads zero."""

    def slow(_q: str) -> bytes:
        fake.closing.wait(0.6)
        return _leaders("llama-0")

    fake.decide = slow
    source = PrometheusSource(PrometheusQueryClient(fake.url, timeout=1, retries=0))
    slow_target = target("inference", "llama", queue_wait=0.9, activation="vector(1)")
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailableError, match="ran past its 2s deadline"):
            source.fetch([slow_target], NOW)
    finally:
        source.close()
    assert 1 <= len(fake.queries) <= 4  # sent at 0, 0.6, 1.2, 1.8 s at most
    assert time.monotonic() - started < 4


def test_queries_past_the_deadline_fail_their_policies_only(fake: FakePrometheus) -> None:
    def decide(q: str) -> bytes:
        if "SLOW" in q:
            # Past the 1 s deadline (within the 2 s timeout): the next override is not
            # sent. (The 7 shared queries before it have the deadline's second: at 0.5 s
            # a loaded machine left the first override unsent too.)
            fake.closing.wait(1.2)
        return _leaders("llama-0", "a-0", "b-0")

    overridden = [
        target("inference", n, overrides={"queueDepth": f"sum by ($by) (SLOW_{n}{{$selector}})"})
        for n in ("a", "b")
    ]
    source = _source(fake, decide, deadline=1.0)
    try:
        result = source.fetch([target("inference", "llama"), *overridden], NOW)
    finally:
        source.close()
    assert only(result, "inference", "llama").leaders["llama-0"][Signal.QUEUE_DEPTH].value == 3
    answered = {LwsKey("inference", n) for n in ("a", "b")} & set(result.snapshots)
    (unsent,) = {LwsKey("inference", n) for n in ("a", "b")} - answered
    assert len(answered) == 1
    assert "ran past its 1s deadline" in result.errors[unsent]


def test_answers_stamped_apart_keep_every_signal(fake: FakePrometheus) -> None:
    """A backend stamping one answer 1 s earlier left two frames; only one was kept, so
    four of five signals vanished without an error."""

    def decide(q: str) -> bytes:
        return _leaders("llama-0", at=NOW - 1 if "generation_tokens" in q else NOW)

    source = _source(fake, decide)
    try:
        result = source.fetch([target("inference", "llama", quantile=None)], NOW)
    finally:
        source.close()
    assert set(only(result, "inference", "llama").leaders["llama-0"]) == set(LEADER_SIGNALS)


def test_a_proxy_error_page_is_cut_to_one_short_line(fake: FakePrometheus) -> None:
    page = b"<html>\n<head><title>502 Bad Gateway</title></head>\n" + b"<p>x</p>\n" * 500
    with pytest.raises(SourceUnavailableError) as caught:
        query(fake, functools.partial(_fixed, http(500, page)))
    message = str(caught.value)
    assert "\n" not in message
    assert "<html> <head><title>502 Bad Gateway</title></head>" in message
    assert message.endswith("...")
    # The page is cut to 200 characters, the last three of them "...".
    detail = message.split(" answered 500: ", 1)[1]
    assert len(detail) == 200


@pytest.fixture
def no_connection() -> Iterator[int]:
    """A port on 127.0.0.1 where a connection is never established: a listener with a
    backlog of one, filled by a first connection and never accepted, so the next SYNs
    are dropped, as by a firewall in front of Prometheus."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield port
    finally:
        filler.close()
        listener.close()


@pytest.mark.parametrize(
    ("timeout", "retries", "connect", "tries"),
    [(1.0, 1, 1.0, 2), (8.0, 0, 5.0, 1)],
    ids=["within-the-timeout-retried-once", "at-most-5s"],
)
def test_no_connection_costs_the_connect_timeout_per_try(
    no_connection: int, timeout: float, retries: int, connect: float, tries: int
) -> None:
    """Connecting waits ``min(timeout, 5 s)`` (docs/sources.md) a try; a retry (the
    default one) tries once more. At timeout 8 without retries, 5 s: not the 8 s of a
    query that was sent."""
    client = PrometheusQueryClient(
        f"http://127.0.0.1:{no_connection}", timeout=timeout, retries=retries
    )
    try:
        started = time.monotonic()
        with pytest.raises(
            SourceUnavailableError, match=f"unreachable: no connection within {connect:g}s$"
        ):
            client.instant("up", 1_767_225_600.0)
        elapsed = time.monotonic() - started
        assert connect * tries - 0.1 < elapsed < connect * tries + 2.0
    finally:
        client.close()


@pytest.mark.parametrize(
    ("code", "body", "error", "message"),
    [
        (
            400,
            b'{"status":"error","errorType":"bad_data","error":"parse error at char 5"}',
            QueryRejectedError,
            "rejected the query (400): bad_data: parse error at char 5",
        ),
        (422, b'{"status":"error"}', QueryRejectedError, "rejected the query (422): error:"),
        (
            503,
            b'{"status":"error","errorType":"timeout","error":"query timed out"}',
            SourceUnavailableError,
            "answered 503: timeout: query timed out",
        ),
        (503, b'["not", "an"]', SourceUnavailableError, 'answered 503: ["not", "an"]'),
        (
            502,
            b"<html>Bad Gateway</html>",
            SourceUnavailableError,
            "answered 502: <html>Bad Gateway</html>",
        ),
    ],
    ids=["bad-data", "no-type", "timeout", "json-list", "html"],
)
def test_an_error_answer_is_told_by_its_type_and_message(
    fake: FakePrometheus, code: int, body: bytes, error: type[Exception], message: str
) -> None:
    """Prometheus's own errors are JSON (``errorType``, ``error``): told as such, a 400
    or 422 as the query's fault. Anything else (a proxy's page, JSON of another shape)
    is quoted as it came."""
    with pytest.raises(error) as caught:
        query(fake, lambda _q: http(code, body))
    assert str(caught.value) == f"Prometheus at {fake.url} {message}"
