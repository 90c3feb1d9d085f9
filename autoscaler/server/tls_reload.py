"""The serving TLS context, rebuilt without a restart when the certificate or the
client CAs change (cert-manager renews the Secret in place; the front-proxy CA rotates).

uvicorn builds its ``SSLContext`` once and asyncio keeps it for the listening socket:
there is no supported way to replace it. OpenSSL, however, lets a server move a
connection to another context in the middle of its handshake, from the SNI callback,
which runs on every ClientHello whether or not the client names a server. So the
listening context never changes; its ``sni_callback`` moves each new connection onto
the newest context. New connections get the new certificate and verify client
certificates against the new CAs; connections already open keep what they started with
until they close.

What moves with the context: the certificate chain and key, and the CA store client
certificates are verified against. What does not: the verify mode (client certificates
*requested*, optional), fixed on the listening context at start.

:meth:`ServingTls.refresh` compares the certificate and key files (resolved path,
inode, size, mtime: a Secret volume swaps a ``..data`` symlink) and the CA bundle
bytes. If building the new context fails (say the key was replaced before the
certificate, and the refresh fell in between), the current one stays in force, the
error is logged and counted, and the next change of the files is tried again.

Each certificate in force is also judged for expiry (:mod:`~autoscaler.server.cert_expiry`)
at start and at every refresh, files changed or not: its ``notAfter`` is exported, and a
certificate about to expire, expired or not valid yet is logged when that becomes so.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from autoscaler.server.cert_expiry import ExpiryWatch, read_dates
from autoscaler.server.file_version import FileSignature, signature_or_none
from autoscaler.server.telemetry import Telemetry

log = logging.getLogger(__name__)


class ServingTls:
    """Owns the listening context and the one new connections are moved onto."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        client_cas: Callable[[], bytes],
        request_client_certificates: bool,
        telemetry: Telemetry,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        # Wall time, not the loop's clock: a replayed recording runs on the recording's
        # time, certificates expire on the real one.
        self._wall = wall
        self._client_cas = client_cas
        self._request = request_client_certificates
        self._telemetry = telemetry
        self._version = self._inputs()
        # The first build is strict: a bad certificate at start-up is a setup error.
        self.listening = self._build(self._version[2])
        self.listening.sni_callback = self._select
        self.current = self.listening
        self._attempted = self._version
        self.expiry = ExpiryWatch(cert_file)
        self._in_force()

    def _in_force(self) -> None:
        """A certificate came into force: export its end and judge it."""
        dates = read_dates(self.cert_file)
        if dates is not None:
            self._telemetry.serving_cert_expiry.labels(str(self.cert_file)).set(dates.not_after)
        self.expiry.loaded(dates, self._wall())

    def _inputs(self) -> tuple[FileSignature | None, FileSignature | None, bytes]:
        return (
            signature_or_none(self.cert_file),
            signature_or_none(self.key_file),
            self._client_cas(),
        )

    def _build(self, client_cas: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        if self._request:
            # Requested, not required: bearer-token clients and kubelet probes send none.
            context.verify_mode = ssl.CERT_OPTIONAL
            if client_cas:
                context.load_verify_locations(cadata=client_cas.decode())
        return context

    def _select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, _server_name: str | None, _: ssl.SSLContext
    ) -> None:
        current = self.current
        if current is not self.listening:
            connection.context = current

    def refresh(self) -> bool:
        """Rebuild if the files or the CAs changed; True when a new context is in force.
        Either way, judge the expiry of the certificate in force."""
        changed = self._rebuild()
        self.expiry.check(self._wall())
        return changed

    def _rebuild(self) -> bool:
        inputs = self._inputs()
        if inputs in (self._version, self._attempted):
            return False
        self._attempted = inputs
        try:
            context = self._build(inputs[2])
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._telemetry.tls_reloads.labels("error").inc()
            log.error(
                "cannot load the new TLS material (%s, %s): %s; still serving the previous one",
                self.cert_file,
                self.key_file,
                exc,
            )
            return False
        what = [
            name
            for name, old, new in zip(
                ("certificate", "key", "client CAs"), self._version, inputs, strict=True
            )
            if old != new
        ]
        self.current, self._version = context, inputs
        self._telemetry.tls_reloads.labels("ok").inc()
        log.info("TLS reloaded (%s changed): new connections use it", ", ".join(what))
        if "certificate" in what:
            self._in_force()
        return True
