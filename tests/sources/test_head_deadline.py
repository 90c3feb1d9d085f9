"""An answer's head (status line and headers) must be in by the read timeout in total.

A peer on 127.0.0.1 (:class:`RawServer`, plain TCP or TLS) plays a proxy in front of
Prometheus that sends its head a line at a time, each gap shorter than the timeout, so
that no single read ever times out. Through the real Prometheus client (POST over
``requests``), and through the adapter on a plain session for what happens after the
head: the body keeps one read timeout per read, and an answer sent with
``Connection: close`` is still read whole.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from autoscaler.errors import SourceUnavailableError
from autoscaler.sources.head_deadline import HeadDeadlineAdapter
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from tests.support.certs import TestPki
from tests.support.raw_server import RawServer

ANSWER = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()


def _dribble_head(lines: int, gap: float) -> Callable[[socket.socket], None]:
    """Answers with ``lines`` header lines ``gap`` seconds apart, then a whole answer."""

    def answer(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for i in range(lines):
                time.sleep(gap)
                conn.sendall(f"X-Slow-{i}: {i}\r\n".encode())
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(ANSWER) + ANSWER)
        except OSError:
            pass  # the client gave up and closed: what the test wants

    return answer


def _proxy(
    tmp_path: Path, lines: int, gap: float, tls: bool
) -> tuple[RawServer, PrometheusQueryClient, float]:
    """A peer dribbling its head (see :func:`_dribble_head`), over TLS or not, and a
    Prometheus client for it (trusting its certificate) with ``timeout`` 1 s when the
    head takes longer than that, 2 s otherwise."""
    timeout = 1.0 if lines * gap > 1.0 else 2.0
    dribble = _dribble_head(lines, gap)
    if not tls:
        proxy = RawServer(dribble)
        return (
            proxy,
            PrometheusQueryClient(f"http://127.0.0.1:{proxy.port}", timeout=timeout),
            timeout,
        )
    pki = TestPki(tmp_path)
    served = pki.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(served.cert, served.key)

    def answer(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the handshake, when the client gave up
            dribble(context.wrap_socket(conn, server_side=True))

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test's CA
    session.verify = str(pki.ca_file)
    proxy = RawServer(answer)
    url = f"https://127.0.0.1:{proxy.port}"
    return proxy, PrometheusQueryClient(url, timeout=timeout, session=session), timeout


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_proxy_dribbling_its_headers_is_cut_at_the_timeout(tmp_path: Path, tls: bool) -> None:
    """20 header lines 0.4 s apart at timeout 1: each read waits less than the timeout,
    so without a bound on the whole head the query took the 8 s the proxy wanted."""
    proxy, client, _ = _proxy(tmp_path, 20, 0.4, tls)
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer a query within 1s"):
            client.instant("up", 1_767_225_600.0)
        # About 1 s; slack for a loaded machine, still far from the 8 s of the bug.
        assert time.monotonic() - started < 4.0
        assert len(proxy.conns) == 1  # a sent query is never sent again
    finally:
        client.close()
        proxy.close()


def test_a_head_dribbled_within_the_timeout_is_read(tmp_path: Path) -> None:
    """The bound is on the whole head, over TLS too: 4 lines 0.1 s apart fit in 2 s."""
    proxy, client, timeout = _proxy(tmp_path, 4, 0.1, tls=True)
    assert timeout == 2.0
    try:
        assert client.instant("up", 1_767_225_600.0) == []
    finally:
        client.close()
        proxy.close()


def _adapter_session() -> requests.Session:
    session = requests.Session()
    adapter = HeadDeadlineAdapter(max_retries=0)
    session.mount("http://", adapter)
    return session


def test_after_the_head_the_body_waits_one_timeout_per_read() -> None:
    """The head in at once, then the body in 5 pieces 0.3 s apart (1.5 s in all) at a
    1 s read timeout: the head's deadline must not reach into the body, which the
    callers bound as a whole themselves (read_bounded)."""
    body = b"x" * 50

    def answer(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), 10):
                time.sleep(0.3)
                conn.sendall(body[i : i + 10])
        except OSError:
            pass

    peer = RawServer(answer)
    session = _adapter_session()
    try:
        response = session.get(f"http://127.0.0.1:{peer.port}/", timeout=1)
        assert response.content == body
    finally:
        session.close()
        peer.close()


def test_an_answer_with_connection_close_is_read_whole() -> None:
    """``http.client`` closes such a connection once the head is read; the body, sent
    0.2 s later, must still come through the socket's own file."""

    def answer(conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
            conn.sendall(head % len(ANSWER))
            time.sleep(0.2)
            conn.sendall(ANSWER)
            conn.close()
        except OSError:
            pass

    peer = RawServer(answer)
    session = _adapter_session()
    try:
        for _ in range(2):  # and the next request opens a new connection
            assert session.get(f"http://127.0.0.1:{peer.port}/", timeout=1).content == ANSWER
        assert len(peer.conns) == 2
    finally:
        session.close()
        peer.close()


def test_without_a_timeout_the_head_waits_as_long_as_it_takes() -> None:
    """No timeout asked for, none imposed: 3 header lines 0.2 s apart are read."""
    peer = RawServer(_dribble_head(3, 0.2))
    session = _adapter_session()
    try:
        assert session.get(f"http://127.0.0.1:{peer.port}/").content == ANSWER
    finally:
        session.close()
        peer.close()


def test_a_forward_proxy_dribbling_its_headers_is_cut_at_the_timeout() -> None:
    """Through a forward HTTP proxy (the session's ``proxies``, as ``HTTP_PROXY`` would
    set), the pools are the proxy manager's, not the session's own: they must bound the
    head too. 20 lines 0.4 s apart at timeout 1 took 8 s with urllib3's plain pools.
    The proxy is the peer on 127.0.0.1 and the URL asked for names 127.0.0.1 as well."""
    proxy = RawServer(_dribble_head(20, 0.4))
    session = requests.Session()
    session.trust_env = False  # NO_PROXY in the environment would bypass the proxy
    session.proxies = {"http": f"http://127.0.0.1:{proxy.port}"}
    client = PrometheusQueryClient("http://127.0.0.1:9", timeout=1.0, session=session)
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer a query within 1s"):
            client.instant("up", 1_767_225_600.0)
        assert time.monotonic() - started < 4.0
        assert len(proxy.conns) == 1  # the query went to the proxy, once
    finally:
        client.close()
        proxy.close()
