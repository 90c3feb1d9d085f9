"""Authentication, as a Kubernetes aggregated API server does it.

In order:

1. **Front proxy.** The aggregator connects with its proxy client certificate, signed
   by the front-proxy (requestheader) CA, and names the end user in ``X-Remote-User``,
   ``X-Remote-Group`` and ``X-Remote-Extra-*``. The headers are trusted only when the
   TLS peer certificate was issued by that CA and, if allowed names are set, its CN is
   one of them. The TLS handshake verifies the chain (see tls_reload.py); here the
   issuer is matched so that a certificate from another trusted CA never unlocks the
   headers.
2. **Client certificate.** A certificate issued by the client CA is the user: CN =
   username, O = groups (what kubectl with a client certificate sends).
3. **Bearer token**, checked with a TokenReview; answers are cached briefly.

The CAs, names and headers come from :mod:`autoscaler.server.trust` (flags, or ConfigMap
kube-system/extension-apiserver-authentication), read afresh for every request so a
rotated CA applies at once. As in Kubernetes' union authenticator, a method that does
not identify the caller hands over to the next, and whoever is identified is also in
group ``system:authenticated``. Anything else is 401 ``Unauthorized``; the reason is
logged, never returned.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
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
from autoscaler.server.trust import HeaderNames, Trust
from autoscaler.server.ttl_cache import TtlCache

log = logging.getLogger(__name__)


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
        trust: Callable[[], Trust] = Trust,
        *,
        success_ttl: float,
        failure_ttl: float,
    ) -> None:
        self._reviewer = reviewer
        self._trust = trust
        self._tokens: TtlCache[str, UserInfo | bool] = TtlCache(monotonic)
        self._success_ttl, self._failure_ttl = success_ttl, failure_ttl

    async def authenticate(self, scope: dict[str, Any]) -> UserInfo:
        """The caller, in ``system:authenticated`` whichever method named it (as the
        delegating authenticator wraps its union of methods)."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        pem = peer_certificate_pem(scope)
        if pem is not None:
            user = self._from_certificate(pem, headers)
            if user is not None:
                return user.authenticated()
        token = _bearer_token(headers)
        if token is not None:
            return (await self._from_token(token)).authenticated()
        log.info(
            "unauthenticated request to %s: no client certificate or bearer token",
            scope.get("path"),
        )
        raise unauthorized()

    def _from_certificate(self, pem: bytes, headers: list[tuple[bytes, bytes]]) -> UserInfo | None:
        leaf = x509.load_pem_x509_certificate(pem)
        name = _common_name(leaf)
        trust = self._trust()  # one consistent view for this request
        front = trust.request_header
        if front is not None and _issued_by(leaf, front.authorities):
            user = _from_front_proxy(front.names, name, headers)
            if user is not None:
                return user
        if trust.client_authorities and _issued_by(leaf, trust.client_authorities):
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
        if not isinstance(cached, UserInfo):  # False: the review said no
            log.info("bearer token rejected by TokenReview")
            raise unauthorized()
        return cached


def _from_front_proxy(
    names: HeaderNames, common_name: str, headers: list[tuple[bytes, bytes]]
) -> UserInfo | None:
    """The user named in the headers of a front-proxy request, or None (logged): the
    certificate may still be a client certificate if both CAs are the same."""
    if names.allowed_names and common_name not in names.allowed_names:
        log.warning("front-proxy certificate CN %r is not in the allowed names", common_name)
        return None
    username = _first(headers, names.username_headers)
    if not username:
        log.warning("front-proxy request from %r without a username header", common_name)
        return None
    groups = _all(headers, names.group_headers)
    extra = _extra(headers, names.extra_headers_prefixes)
    return UserInfo.build(username, groups=groups, extra=extra)


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
