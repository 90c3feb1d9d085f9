"""Answers a JSON parser cannot hold: nested deeper than its stack, or numbers of
hundreds of digits. Each is one source error for the cycle to report, never a
RecursionError or OverflowError traceback (a fake Prometheus on 127.0.0.1)."""

from __future__ import annotations

import socket

import pytest

from autoscaler.errors import QueryRejectedError, SourceUnavailableError
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.prometheus_frames import parse_points
from tests.support.raw_server import RawServer

DEEP = b"[" * 100_000 + b"]" * 100_000


def _read_request(conn: socket.socket) -> None:
    """The whole request, body included: closing with bytes unread resets the
    connection, and the client may lose the answer to the reset."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


def _answering(status: int, body: bytes) -> RawServer:
    def answer(conn: socket.socket) -> None:
        with conn:
            _read_request(conn)
            head = (
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close"
            )
            conn.sendall(f"{head}\r\n\r\n".encode() + body)

    return RawServer(answer)


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (
            200,
            b'{"status":"success","data":{"result":' + DEEP + b"}}",
            SourceUnavailableError,
            "sent an unreadable answer: RecursionError",
        ),
        (400, DEEP, QueryRejectedError, "rejected the query (400): [[[["),
    ],
    ids=["200", "400"],
)
def test_json_nested_too_deep_is_one_source_error(
    status: int, body: bytes, error: type[Exception], message: str
) -> None:
    server = _answering(status, body)
    try:
        client = PrometheusQueryClient(f"http://127.0.0.1:{server.port}", timeout=5, retries=0)
        with pytest.raises(error) as caught:
            client.instant("up", 1_700_000_000.0)
    finally:
        server.close()
    assert message in str(caught.value)


def test_a_time_of_hundreds_of_digits_is_a_malformed_series() -> None:
    with pytest.raises(SourceUnavailableError, match="malformed series: OverflowError"):
        parse_points([{"metric": {}, "value": [int("9" * 400), "1"]}])


@pytest.mark.parametrize(
    "metric",
    [{"pod": ["dev-0"]}, {"pod": {"name": "dev-0"}}, {"pod": None}, ["pod", "dev-0"]],
    ids=["list-value", "object-value", "null-value", "labels-a-list"],
)
def test_labels_that_are_not_strings_are_a_malformed_series(metric: object) -> None:
    """Labels are read later as keys, outside the guard: a list there raised an
    unhashable TypeError out of the fetch."""
    with pytest.raises(SourceUnavailableError, match="labels must be strings"):
        parse_points([{"metric": metric, "value": [1_767_225_600, "1"]}])


def test_instant_and_range_items_flatten_to_labels_time_value() -> None:
    labels = {"pod": "dev-0"}
    points = parse_points(
        [
            {"metric": labels, "value": [100, "1.5"]},
            {"metric": labels, "values": [[100, "2"], [115, "3"]]},
            {"value": [130, "4"]},  # an aggregate without labels
        ]
    )
    assert points == [
        (labels, 100.0, 1.5),
        (labels, 100.0, 2.0),
        (labels, 115.0, 3.0),
        ({}, 130.0, 4.0),
    ]
