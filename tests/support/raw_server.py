"""A raw TCP server on 127.0.0.1 for fault tests: it accepts connections and hands each
to a callback (or keeps it open and silent), so a test can play a peer that never
answers or answers badly. Connections and the listener close with :meth:`close`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


class RawServer:
    """Accepts on 127.0.0.1 (a free port); ``answer(conn)`` runs in its own thread per
    connection, or, without it, every connection is held open and never answered."""

    def __init__(self, answer: Callable[[socket.socket], None] | None = None) -> None:
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.conns: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            if self.answer is not None:
                threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        for conn in self.conns:
            conn.close()
        self.sock.close()
