"""Whom the server trusts right now: client-certificate CAs and front-proxy settings,
from its flags or from the cluster, kept current while it runs.

Per part, as k8s.io/apiserver's delegating authentication does it:

- **Front proxy (the aggregator).** With ``--requestheader-client-ca-file`` the CA
  comes from that file and the names and headers from the ``--requestheader-*`` flags.
  Without it, from ConfigMap ``kube-system/extension-apiserver-authentication``
  (:mod:`autoscaler.server.auth_lookup`): CA, allowed names and header names alike (a
  header list the ConfigMap leaves empty falls back to the standard ``X-Remote-*``).
- **Client certificates.** ``--client-ca-file``, else the ConfigMap's ``client-ca-file``.

``--authentication-skip-lookup`` turns the ConfigMap off. :meth:`TrustSource.refresh`
(called every ``--cert-reload-interval``) re-reads a CA file whose resolved path, inode,
size or mtime changed, and the ConfigMap, so a rotated CA is trusted without a restart.
A read that fails keeps the last good value: a blip of the API server, or a half-written
file, never drops a CA in use. Failures are logged when they start or change (not every
refresh), counted in ``auth_lookup_errors_total{reason}``, and
``front_proxy_ca_loaded`` says whether the aggregator can be authenticated at all.

An unreadable CA *file* at start-up is fatal (a wrong flag); an unreadable ConfigMap is
not: the server serves bearer tokens (TokenReview) and client certificates meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from autoscaler.server.auth_lookup import (
    CONFIGMAP,
    AuthLookupError,
    ClusterAuthentication,
    ClusterAuthReader,
    LookupFailure,
)
from autoscaler.server.file_version import signature_or_none
from autoscaler.server.telemetry import Telemetry

log = logging.getLogger(__name__)

STANDARD_USERNAME_HEADERS = ("X-Remote-User",)
STANDARD_GROUP_HEADERS = ("X-Remote-Group",)
STANDARD_EXTRA_PREFIXES = ("X-Remote-Extra-",)

Authorities = tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class HeaderNames:
    """Front-proxy names and headers (the ``--requestheader-*`` flags)."""

    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = STANDARD_USERNAME_HEADERS
    group_headers: tuple[str, ...] = STANDARD_GROUP_HEADERS
    extra_headers_prefixes: tuple[str, ...] = STANDARD_EXTRA_PREFIXES


@dataclass(frozen=True)
class RequestHeaderTrust:
    authorities: Authorities
    names: HeaderNames
    origin: str
    """Where it came from, for logs: a file path or the ConfigMap."""


@dataclass(frozen=True)
class Trust:
    """One consistent view; replaced as a whole, never mutated."""

    request_header: RequestHeaderTrust | None = None
    client_authorities: Authorities = ()

    def tls_bundle(self) -> bytes:
        """PEM of every distinct CA a client certificate may come from (for OpenSSL)."""
        front = self.request_header.authorities if self.request_header else ()
        every = (*front, *self.client_authorities)
        pems = dict.fromkeys(c.public_bytes(Encoding.PEM) for c in every)
        return b"".join(pems)


def read_authorities(path: Path) -> Authorities:
    """The certificates in a PEM file; ValueError names the file."""
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read CA bundle {path}: {exc}") from exc
    return tuple(certificates)


class _CaFile:
    """A CA bundle file, re-read when it changes; the last good content is kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature = signature_or_none(path)
        self.authorities = read_authorities(path)  # strict at start-up

    def refresh(self) -> None:
        signature = signature_or_none(self.path)
        if signature == self._signature:
            return
        self._signature = signature  # a bad version is reported once, not every refresh
        try:
            authorities = read_authorities(self.path)
        except ValueError as exc:
            log.error("%s; keeping the CA loaded before", exc)
            return
        if authorities != self.authorities:
            log.info("CA bundle %s changed: %d certificate(s) now", self.path, len(authorities))
            self.authorities = authorities


def _cluster_trust(found: ClusterAuthentication) -> tuple[RequestHeaderTrust | None, Authorities]:
    request_header = None
    if found.requestheader_ca is not None:
        names = HeaderNames(
            allowed_names=found.allowed_names,
            username_headers=found.username_headers or STANDARD_USERNAME_HEADERS,
            group_headers=found.group_headers or STANDARD_GROUP_HEADERS,
            extra_headers_prefixes=found.extra_headers_prefixes or STANDARD_EXTRA_PREFIXES,
        )
        authorities = tuple(x509.load_pem_x509_certificates(found.requestheader_ca))
        request_header = RequestHeaderTrust(authorities, names, f"ConfigMap {CONFIGMAP}")
    client = tuple(x509.load_pem_x509_certificates(found.client_ca)) if found.client_ca else ()
    return request_header, client


class TrustSource:
    """Builds and refreshes the :class:`Trust` in force (one writer thread, any readers)."""

    def __init__(
        self,
        telemetry: Telemetry,
        requestheader_ca_file: Path | None = None,
        header_names: HeaderNames | None = None,
        client_ca_file: Path | None = None,
        cluster: ClusterAuthReader | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._names = header_names or HeaderNames()
        self._proxy_file = _CaFile(requestheader_ca_file) if requestheader_ca_file else None
        self._client_file = _CaFile(client_ca_file) if client_ca_file else None
        # The ConfigMap is only consulted for the parts the flags leave open.
        needed = self._proxy_file is None or self._client_file is None
        self._cluster = cluster if needed else None
        self._from_cluster: ClusterAuthentication | None = None
        self._failure: tuple[LookupFailure, str] | None = None
        self.current = Trust()
        self.refresh()
        if self.current.request_header is None:
            # Client certificates are asked for only when some CA may be trusted: then the
            # aggregator's cannot be verified and its handshake fails; else it is not
            # asked for one, and its requests identify nobody (401).
            outcome = (
                "connections, i.e. every HPA read, fail the TLS handshake until one is "
                "available (its client certificate cannot be verified)"
                if self.may_have_cas
                else "requests, i.e. every HPA read, get 401 (no client certificate is asked "
                "for without a CA)"
            )
            log.warning(
                "front-proxy authentication is OFF: no requestheader CA (%s). The aggregator's "
                "%s; bearer tokens and certificates of the client CA still work.",
                self._why_no_front_proxy(),
                outcome,
            )

    def tls_bundle(self) -> bytes:
        """The CAs of the Trust in force right now, for the TLS layer."""
        return self.current.tls_bundle()

    @property
    def may_have_cas(self) -> bool:
        """Whether any CA can ever be trusted (so client certificates are worth asking for)."""
        return bool(self._proxy_file or self._client_file or self._cluster)

    def _why_no_front_proxy(self) -> str:
        if self._cluster is None:
            return "no --requestheader-client-ca-file, and the cluster lookup is off"
        if self._failure is not None:
            return f"{CONFIGMAP} unavailable: {self._failure[0].value}"
        return f"{CONFIGMAP} holds no requestheader-client-ca-file"

    def refresh(self) -> bool:
        """Re-read what may have changed; True when the Trust in force changed."""
        for ca_file in (self._proxy_file, self._client_file):
            if ca_file is not None:
                ca_file.refresh()
        if self._cluster is not None:
            self._lookup(self._cluster)
        trust = self._build()
        changed = trust != self.current
        if changed and self.current != Trust():
            log.info("client trust changed (front proxy from %s)", self._origin(trust))
        self.current = trust
        self._telemetry.front_proxy_ca_loaded.set(1 if trust.request_header else 0)
        return changed

    @staticmethod
    def _origin(trust: Trust) -> str:
        return trust.request_header.origin if trust.request_header else "nowhere"

    def _lookup(self, cluster: ClusterAuthReader) -> None:
        try:
            found = cluster.read()
        except AuthLookupError as exc:
            self._telemetry.auth_lookup_errors.labels(exc.failure.value).inc()
            failure = (exc.failure, str(exc))
            if failure != self._failure:
                kept = "keeping the settings read before" if self._from_cluster else "none loaded"
                level = (
                    logging.ERROR
                    if exc.failure in (LookupFailure.FORBIDDEN, LookupFailure.INVALID)
                    else logging.WARNING
                )
                log.log(level, "%s (%s; retrying every refresh)", exc, kept)
            self._failure = failure
            return
        if self._failure is not None:
            log.info("read %s again", CONFIGMAP)
        self._failure = None
        self._from_cluster = found

    def _build(self) -> Trust:
        cluster_header: RequestHeaderTrust | None = None
        cluster_client: Authorities = ()
        if self._from_cluster is not None:
            cluster_header, cluster_client = _cluster_trust(self._from_cluster)
        if self._proxy_file is not None:
            request_header: RequestHeaderTrust | None = RequestHeaderTrust(
                self._proxy_file.authorities, self._names, str(self._proxy_file.path)
            )
        else:
            request_header = cluster_header
        client = self._client_file.authorities if self._client_file else cluster_client
        return Trust(request_header, client)
