"""The outermost ASGI layer: the URI length guard, the catch-all and the request count.

Most cases drive :class:`ObserveAndContain` directly with ASGI scopes, so a failure can
be placed before or after the response starts; the last one sends an over-long URI
through uvicorn over real HTTP (the guard must measure the URI as sent, not decoded).
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from autoscaler.server import middleware
from autoscaler.server.middleware import DEFAULT_MAX_PATH_BYTES, ObserveAndContain
from autoscaler.server.status import GENERIC_INTERNAL_MESSAGE
from autoscaler.server.telemetry import Telemetry
from tests.server.conftest import Start

COUNTER = "lws_autoscaler_http_requests_total"


class Route:
    path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"


def drive(
    layer: ObserveAndContain, scope: dict[str, Any], client_gone: bool = False
) -> tuple[list[dict[str, Any]], Exception | None]:
    """Sends ``scope`` through ``layer``: (the messages it sent, what it raised). With
    ``client_gone``, every send fails as on a closed connection."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if client_gone:
            raise OSError("the client went away")
        sent.append(dict(message))

    async def run() -> Exception | None:
        try:
            await layer(scope, receive, send)
        except Exception as exc:  # what the ASGI server would see
            return exc
        return None

    return sent, anyio.run(run)


def http_scope(path: str, raw_path: bytes | None = None, query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
    }


async def ok_app(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = Route()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def status_of(sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    start, body = sent
    assert start["type"] == "http.response.start"
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    return int(start["status"]), json.loads(body["body"])


@pytest.mark.parametrize(
    ("path_bytes", "query_bytes", "served"),
    [
        (DEFAULT_MAX_PATH_BYTES, 0, True),  # at the limit
        (DEFAULT_MAX_PATH_BYTES + 1, 0, False),
        (DEFAULT_MAX_PATH_BYTES - 10, 10, True),  # the query counts too
        (DEFAULT_MAX_PATH_BYTES - 10, 11, False),
    ],
)
def test_a_uri_over_the_limit_is_refused_before_routing(
    path_bytes: int, query_bytes: int, served: bool
) -> None:
    telemetry = Telemetry()
    layer = ObserveAndContain(ok_app, telemetry)
    scope = http_scope("/" + "a" * (path_bytes - 1), query=b"q" * query_bytes)
    sent, raised = drive(layer, scope)
    assert raised is None
    if served:
        assert sent[0]["status"] == 200
        return
    code, body = status_of(sent)
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == "request URI longer than 4096 bytes"
    assert (
        telemetry.registry.get_sample_value(
            COUNTER, {"route": "unmatched", "method": "GET", "code": "400"}
        )
        == 1.0
    )


def test_the_uri_is_measured_as_sent_not_as_decoded() -> None:
    # 1,400 escaped slashes: 4,201 bytes on the wire, 1,401 once decoded.
    raw = b"/" + b"%2F" * 1400
    layer = ObserveAndContain(ok_app, Telemetry())
    sent, _ = drive(layer, http_scope("/" + "/" * 1400, raw_path=raw))
    assert status_of(sent)[0] == 400
    # Without raw_path (the ASGI spec allows it), the decoded path is measured.
    scope = http_scope("/" + "a" * 5000)
    del scope["raw_path"]
    assert status_of(drive(layer, scope)[0])[0] == 400


def test_a_failure_before_the_response_is_a_logged_generic_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("secret detail")

    telemetry = Telemetry()
    with caplog.at_level(logging.ERROR):
        sent, raised = drive(ObserveAndContain(broken, telemetry), http_scope("/apis"))
    assert raised is None  # contained: the server sees a normal answer
    code, body = status_of(sent)
    assert (code, body["reason"], body["message"]) == (
        500,
        "InternalError",
        GENERIC_INTERNAL_MESSAGE,
    )
    assert "secret detail" not in json.dumps(body)
    assert "unhandled error serving GET /apis" in caplog.text
    assert "secret detail" in caplog.text  # the traceback goes to the log
    assert (
        telemetry.registry.get_sample_value(
            COUNTER, {"route": "unmatched", "method": "GET", "code": "500"}
        )
        == 1.0
    )


def test_a_failure_after_the_response_started_sends_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails_midway(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = Route()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the start")

    telemetry = Telemetry()
    with caplog.at_level(logging.ERROR):
        sent, raised = drive(ObserveAndContain(fails_midway, telemetry), http_scope("/x"))
    assert raised is None
    assert [m["type"] for m in sent] == ["http.response.start"]  # no second start
    assert "unhandled error" not in caplog.text  # the app's own handler logged it
    assert (
        telemetry.registry.get_sample_value(
            COUNTER, {"route": Route.path, "method": "GET", "code": "200"}
        )
        == 1.0
    )


def test_a_request_that_could_not_be_answered_counts_as_a_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("failed")

    telemetry = Telemetry()
    _, raised = drive(ObserveAndContain(broken, telemetry), http_scope("/apis"), client_gone=True)
    assert isinstance(raised, OSError)
    assert (
        telemetry.registry.get_sample_value(
            COUNTER, {"route": "unmatched", "method": "GET", "code": "500"}
        )
        == 1.0
    )


def test_other_scopes_pass_through_uncounted() -> None:
    seen: list[str] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    telemetry = Telemetry()
    drive(ObserveAndContain(lifespan_app, telemetry), {"type": "lifespan"})
    assert seen == ["lifespan"]
    assert not [
        s for m in telemetry.registry.collect() if m.name + "_total" == COUNTER for s in m.samples
    ]


def test_an_over_long_uri_over_http_gets_a_status_400(start_server: Start) -> None:
    with start_server(disable_auth=True) as running, running.client() as http:
        answer = http.get("/apis/" + "%2F" * 1400)
        assert answer.status_code == 400
        body = answer.json()
        assert (body["kind"], body["reason"]) == ("Status", "BadRequest")
        assert http.get("/apis").status_code == 200  # the connection is still good


def test_the_latency_observed_is_the_time_the_request_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # perf_counter read twice: when the request arrives and when it is counted. Only the
    # middleware's view of the time module is replaced, not the process's.
    readings = iter([1000.0, 1000.25])
    clock = SimpleNamespace(perf_counter=lambda: next(readings))
    monkeypatch.setattr(middleware, "time", clock)
    telemetry = Telemetry()
    drive(ObserveAndContain(ok_app, telemetry), http_scope("/apis"))
    labels = {"route": Route.path, "method": "GET"}
    latency = "lws_autoscaler_http_request_duration_seconds"
    assert telemetry.registry.get_sample_value(f"{latency}_count", labels) == 1.0
    assert telemetry.registry.get_sample_value(f"{latency}_sum", labels) == 0.25
