"""Authentication, as a Kubernetes aggregated API server does it.

In order:

1. **Front proxy.** The aggregator connects with its proxy client certificate, signed
   by ``--requestheader-client-ca-file``, and names the end user in ``X-Remote-User``,
   ``X-Remote-Group`` and ``X-Remote-Extra-*``. The headers are trusted only when the
   TLS peer certificate was issued by that CA and, if ``--requestheader-allowed-names``
   is set, its CN is one of them. The TLS handshake verifies the chain (see tls.py);
   here the issuer is matched so that a certificate from another trusted CA never
   unlocks the headers.
2. **Client certificate.** With ``--client-ca-file``, a certificate issued by that CA is
   the user: CN = username, O = groups (what kubectl with a client certificate sends).
3. **Bearer token**, checked with a TokenReview; answers are cached briefly.

Anything else is 401 ``Unauthorized``; the reason is logged, never returned.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from autoscaler.server.identity import UserInfo
from autoscaler.server.kube_reviews import Reviewer, ReviewError
from autoscaler.server.status import unauthorized
from autoscaler.server.tls import peer_certificate_pem
from autoscaler.server.ttl_cache import TtlCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestHeaderConfig:
    """The ``--requestheader-*`` flags (kube-system/extension-apiserver-authentication)."""

    client_ca_file: Path
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_headers_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)


def load_ca_bundle(path: Path) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read CA bundle {path}: {exc}") from exc
    return certificates


def _issued_by(leaf: x509.Certificate, authorities: Sequence[x509.Certificate]) -> bool:
    for authority in authorities:
        try:
            leaf.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


class Authenticator:
    """Resolves the caller of one request to a :class:`UserInfo`, or raises 401."""

    def __init__(
        self,
        reviewer: Reviewer | None,
        monotonic: Callable[[], float],
        request_header: RequestHeaderConfig | None = None,
        client_ca_file: Path | None = None,
        success_ttl: float = 10.0,
        failure_ttl: float = 10.0,
    ) -> None:
        self._reviewer = reviewer
        self._request_header = request_header
        self._proxy_cas = load_ca_bundle(request_header.client_ca_file) if request_header else []
        self._client_cas = load_ca_bundle(client_ca_file) if client_ca_file else []
        self._tokens: TtlCache[str, UserInfo | bool] = TtlCache(monotonic)
        self._success_ttl, self._failure_ttl = success_ttl, failure_ttl

    async def authenticate(self, scope: dict[str, Any]) -> UserInfo:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        pem = peer_certificate_pem(scope)
        if pem is not None:
            user = self._from_certificate(pem, headers)
            if user is not None:
                return user
        token = _bearer_token(headers)
        if token is not None:
            return await self._from_token(token)
        log.info(
            "unauthenticated request to %s: no client certificate or bearer token",
            scope.get("path"),
        )
        raise unauthorized()

    def _from_certificate(self, pem: bytes, headers: list[tuple[bytes, bytes]]) -> UserInfo | None:
        leaf = x509.load_pem_x509_certificate(pem)
        name = _common_name(leaf)
        config = self._request_header
        if config is not None and _issued_by(leaf, self._proxy_cas):
            if config.allowed_names and name not in config.allowed_names:
                log.warning("front-proxy certificate CN %r is not in the allowed names", name)
                raise unauthorized()
            username = _first(headers, config.username_headers)
            if not username:
                log.warning("front-proxy request from %r without a username header", name)
                raise unauthorized()
            groups = _all(headers, config.group_headers)
            extra = _extra(headers, config.extra_headers_prefixes)
            return UserInfo.build(username, groups=groups, extra=extra)
        if self._client_cas and _issued_by(leaf, self._client_cas):
            organisations = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            return UserInfo.build(name, groups=[str(o.value) for o in organisations])
        return None  # a certificate we do not map to a user: try the other methods

    async def _from_token(self, token: str) -> UserInfo:
        if self._reviewer is None:
            log.warning("bearer token presented but no Kubernetes API is configured")
            raise unauthorized()
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached is None:
            try:
                user = await anyio.to_thread.run_sync(self._reviewer.review_token, token)
            except ReviewError as exc:
                log.error("%s", exc)  # not cached: the next request tries again
                raise unauthorized() from None
            cached = user if user is not None else False
            self._tokens.put(key, cached, self._success_ttl if user else self._failure_ttl)
        if cached is False or not isinstance(cached, UserInfo):
            log.info("bearer token rejected by TokenReview")
            raise unauthorized()
        return cached


def _values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    wanted = name.lower().encode("latin-1")
    return [v.decode("latin-1").strip() for k, v in headers if k.lower() == wanted]


def _first(headers: list[tuple[bytes, bytes]], names: Sequence[str]) -> str:
    for name in names:
        for value in _values(headers, name):
            if value:
                return value
    return ""


def _all(headers: list[tuple[bytes, bytes]], names: Sequence[str]) -> list[str]:
    return [v for name in names for v in _values(headers, name) if v]


def _extra(headers: list[tuple[bytes, bytes]], prefixes: Sequence[str]) -> dict[str, list[str]]:
    extra: dict[str, list[str]] = {}
    for raw_key, raw_value in headers:
        key = raw_key.decode("latin-1").lower()
        for prefix in prefixes:
            if key.startswith(prefix.lower()) and len(key) > len(prefix):
                name = unquote(key[len(prefix) :])
                extra.setdefault(name, []).append(raw_value.decode("latin-1").strip())
    return extra


def _bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for value in _values(headers, "authorization"):
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None
