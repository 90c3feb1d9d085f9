"""``read_bounded`` on real HTTP answers from a peer on 127.0.0.1 (:class:`RawServer`).

The cap is inclusive (an answer of exactly ``max_bytes`` is read, one byte more is not),
whether the size is declared in Content-Length or only counted as the body comes; a
body still coming at the deadline is cut, and the error says how much had come.
"""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from autoscaler.sources.bounded_read import ReadCapError, ReadDeadlineError, read_bounded
from tests.support.raw_server import RawServer


def _answer(head: bytes, pieces: list[bytes], gap: float = 0.0) -> Callable[[socket.socket], None]:
    """Sends ``head`` at once, then each piece ``gap`` seconds after the previous one,
    then closes (so a body without Content-Length ends there)."""

    def answer(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(head)
            for piece in pieces:
                time.sleep(gap)
                conn.sendall(piece)
            conn.close()
        except OSError:
            pass  # the client gave up: what a deadline test wants

    return answer


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        opened.trust_env = False  # no proxy from the environment between test and peer
        yield opened


def _get(session: requests.Session, peer: RawServer) -> requests.Response:
    return session.get(f"http://127.0.0.1:{peer.port}/", stream=True, timeout=5)


def _undeclared(body: bytes) -> bytes:
    """A head without Content-Length: the body's size is known only by reading it."""
    return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body


@pytest.mark.parametrize(("size", "fits"), [(100, True), (101, False)], ids=["at", "over"])
def test_the_cap_on_a_body_without_declared_size_is_inclusive(
    session: requests.Session, size: int, fits: bool
) -> None:
    body = b"y" * size
    peer = RawServer(_answer(_undeclared(b""), [body[:60], body[60:]], gap=0.05))
    try:
        response = _get(session, peer)
        if fits:
            assert read_bounded(response, time.monotonic() + 5, max_bytes=100) == body
        else:
            with pytest.raises(ReadCapError, match=r"^the answer is over the 100-byte cap$"):
                read_bounded(response, time.monotonic() + 5, max_bytes=100)
    finally:
        peer.close()


@pytest.mark.parametrize(("size", "fits"), [(100, True), (101, False)], ids=["at", "over"])
def test_a_declared_size_over_the_cap_is_refused_before_reading(
    session: requests.Session, size: int, fits: bool
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    peer = RawServer(_answer(head, [b"z" * size]))
    try:
        response = _get(session, peer)
        if fits:
            assert read_bounded(response, time.monotonic() + 5, max_bytes=100) == b"z" * 100
        else:
            with pytest.raises(ReadCapError, match=r"^a 101-byte answer is over the 100-byte"):
                read_bounded(response, time.monotonic() + 5, max_bytes=100)
    finally:
        peer.close()


def test_without_a_cap_any_size_is_read(session: requests.Session) -> None:
    body = b"w" * 300_000  # several socket reads
    peer = RawServer(_answer(_undeclared(body), []))
    try:
        assert read_bounded(_get(session, peer), time.monotonic() + 5) == body
    finally:
        peer.close()


def test_a_body_still_coming_at_the_deadline_is_cut_and_says_what_came(
    session: requests.Session,
) -> None:
    """10 bytes with the head, 10 more 0.6 s later, then 10 more 0.6 s after that, at a
    deadline 0.3 s after the head: the second piece's read returns after the deadline,
    so 20 bytes had come when it was cut (and not the whole 30, 1.2 s after the head)."""
    peer = RawServer(_answer(_undeclared(b"a" * 10), [b"b" * 10, b"c" * 10], gap=0.6))
    try:
        response = _get(session, peer)
        started = time.monotonic()
        with pytest.raises(ReadDeadlineError, match=r"^20 bytes read by the deadline$") as caught:
            read_bounded(response, started + 0.3, max_bytes=1000)
        assert caught.value.size == 20
        assert time.monotonic() - started < 1.0
    finally:
        peer.close()


def test_a_gzip_body_is_read_decoded_and_capped_as_decoded(session: requests.Session) -> None:
    """Content-Encoding is undone as the body is read (Prometheus answers gzip when asked);
    the cap counts the decoded bytes, which are what the caller holds in memory."""
    body = b"metric 1\n" * 50  # 450 bytes, far fewer once compressed
    packed = gzip.compress(body)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
    for cap, fits in ((450, True), (449, False)):
        peer = RawServer(_answer(head + packed, []))
        try:
            response = _get(session, peer)
            if fits:
                assert read_bounded(response, time.monotonic() + 5, max_bytes=cap) == body
            else:
                with pytest.raises(ReadCapError):
                    read_bounded(response, time.monotonic() + 5, max_bytes=cap)
        finally:
            peer.close()
