"""Serving a test HTTP server from a daemon thread, and shutting it down again.

Shared by the fake leader exporter and the fake Kubernetes API server: both serve on
127.0.0.1 for the duration of a test and must stop promptly (a short poll interval).
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return thread


def shut_down(server: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
