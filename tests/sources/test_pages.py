"""Fetching many leaders' pages: which pods go first when not all fit in the deadline.

The pods are raw HTTP servers on 127.0.0.1 (tests/support/raw_server.py).
"""

from __future__ import annotations

import socket
import time

import pytest

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.sources.pages import PageFetcher
from tests.support.raw_server import RawServer

PAGE = b'vllm:num_requests_waiting{engine="0"} 3\n'


def _slow_answer(conn: socket.socket) -> None:
    """A pod that takes 1 s to answer each request."""
    try:
        conn.recv(4096)
        time.sleep(1.0)
        head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(PAGE)
        conn.sendall(head + PAGE)
        conn.close()
    except OSError:
        pass


def test_the_pods_that_went_without_a_page_longest_go_first() -> None:
    # One thread and a 2.8 s deadline: 2 of 4 pods fit in a fetch (2.0 s, with 0.8 s to
    # spare on a loaded machine, and 0.8 s within each read's timeout), 3 never do (3.0 s
    # however fast the machine is).
    # In a fixed order the same 2 missed out every time; least recently served first,
    # all 4 are read within two fetches, and the third serves the first two again.
    pods = [RawServer(_slow_answer) for _ in range(4)]
    urls = {f"pod-{i}": f"http://127.0.0.1:{p.port}/metrics" for i, p in enumerate(pods)}
    fetcher: PageFetcher[str] = PageFetcher(timeout=1.8, deadline=2.8, concurrency=1)
    try:
        served = []
        for _ in range(3):
            pages = fetcher.fetch_all(urls)
            served.append({pod for pod, body in pages.items() if not isinstance(body, SourceError)})
            time.sleep(1.0)  # let a scrape cut at the deadline free the thread
        assert all(len(s) == 2 for s in served), served
        assert served[0] | served[1] == set(urls)
        assert served[2] == served[0]
    finally:
        fetcher.close()
        for pod in pods:
            pod.close()


def test_a_scrape_whose_turn_comes_after_the_deadline_never_connects() -> None:
    """A queued scrape that a worker thread picks up after the fetch's deadline (the
    race with its cancellation) fails at once, without opening a connection: the pod
    would answer, but too late for this fetch."""
    pod = RawServer(_slow_answer)
    url = f"http://127.0.0.1:{pod.port}/metrics"
    fetcher: PageFetcher[str] = PageFetcher(timeout=1.8, deadline=2.8, concurrency=1)
    try:
        with pytest.raises(SourceUnavailableError, match=r"did not start within the fetch's 2\.8s"):
            fetcher._page(url, time.monotonic() - 0.1)
        time.sleep(0.3)  # a connection, had one been opened, would be accepted by now
        assert pod.conns == []
    finally:
        fetcher.close()
        pod.close()
