"""The cluster's own authentication settings, read from ConfigMap
``kube-system/extension-apiserver-authentication``.

kube-apiserver publishes there what an aggregated API server needs to trust it, and
keeps it current (the front-proxy CA rotates):

- ``requestheader-client-ca-file``: PEM of the CA that signs the aggregator's proxy
  client certificate;
- ``requestheader-allowed-names``, ``requestheader-username-headers``,
  ``requestheader-group-headers``, ``requestheader-extra-headers-prefix``: each a JSON
  array of strings, e.g. ``["front-proxy-client"]`` and ``["X-Remote-User"]`` (an absent
  or empty value means none);
- ``client-ca-file``: PEM of the CA of ordinary client certificates (kubectl, kubelet).

This module only reads and parses; :mod:`autoscaler.server.trust` decides what to do
with the result, refreshes it and keeps the last good copy when a read fails. Reading
needs the Role ``extension-apiserver-authentication-reader`` in ``kube-system``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cryptography import x509
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from autoscaler.errors import AutoscalerError

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"
CONFIGMAP = f"{CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}"
READER_ROLE = "extension-apiserver-authentication-reader"
_TIMEOUT_SECONDS = 5.0


class LookupFailure(StrEnum):
    NOT_FOUND = "NotFound"
    FORBIDDEN = "Forbidden"
    UNAVAILABLE = "Unavailable"
    INVALID = "Invalid"


class AuthLookupError(AutoscalerError):
    """The ConfigMap could not be read or does not hold valid settings."""

    def __init__(self, failure: LookupFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class ClusterAuthentication:
    """The parsed ConfigMap. ``None`` CA = the key is absent (or empty)."""

    requestheader_ca: bytes | None = None
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ()
    group_headers: tuple[str, ...] = ()
    extra_headers_prefixes: tuple[str, ...] = ()
    client_ca: bytes | None = None


class ClusterAuthReader(Protocol):
    def read(self) -> ClusterAuthentication:
        """The current settings; raises :class:`AuthLookupError`."""
        ...


def _string_list(data: Mapping[str, str], key: str) -> tuple[str, ...]:
    raw = data.get(key) or ""
    if not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise AuthLookupError(
            LookupFailure.INVALID, f"{CONFIGMAP} key {key} is not a JSON array: {exc}"
        ) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AuthLookupError(
            LookupFailure.INVALID, f"{CONFIGMAP} key {key} is not a JSON array of strings"
        )
    return tuple(v.strip() for v in value if v.strip())


def _pem(data: Mapping[str, str], key: str) -> bytes | None:
    raw = (data.get(key) or "").strip()
    if not raw:
        return None
    try:
        x509.load_pem_x509_certificates(raw.encode())
    except ValueError as exc:
        raise AuthLookupError(
            LookupFailure.INVALID, f"{CONFIGMAP} key {key} holds no valid PEM certificate: {exc}"
        ) from None
    return raw.encode() + b"\n"


def parse_configmap_data(data: Mapping[str, str]) -> ClusterAuthentication:
    """The settings in a ConfigMap's ``data``; raises AuthLookupError(INVALID)."""
    return ClusterAuthentication(
        requestheader_ca=_pem(data, "requestheader-client-ca-file"),
        allowed_names=_string_list(data, "requestheader-allowed-names"),
        username_headers=_string_list(data, "requestheader-username-headers"),
        group_headers=_string_list(data, "requestheader-group-headers"),
        extra_headers_prefixes=_string_list(data, "requestheader-extra-headers-prefix"),
        client_ca=_pem(data, "client-ca-file"),
    )


class KubeClusterAuthReader:
    """Reads the ConfigMap through the Kubernetes API (one GET per call)."""

    def __init__(self, client: ApiClient) -> None:
        self._core = CoreV1Api(client)

    def read(self) -> ClusterAuthentication:
        try:
            configmap = self._core.read_namespaced_config_map(
                CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, _request_timeout=_TIMEOUT_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                raise AuthLookupError(
                    LookupFailure.NOT_FOUND,
                    f"ConfigMap {CONFIGMAP} does not exist (is the API aggregation layer "
                    "enabled on kube-apiserver, --requestheader-client-ca-file?)",
                ) from None
            if exc.status == 403:
                raise AuthLookupError(
                    LookupFailure.FORBIDDEN,
                    f"not allowed to read ConfigMap {CONFIGMAP}; grant the Role {READER_ROLE}: "
                    f"kubectl create rolebinding -n {CONFIGMAP_NAMESPACE} "
                    f"lws-autoscaler-auth-reader --role={READER_ROLE} "
                    "--serviceaccount=<namespace>:<this server's service account>",
                ) from None
            raise AuthLookupError(
                LookupFailure.UNAVAILABLE,
                f"reading ConfigMap {CONFIGMAP} failed: HTTP {exc.status} {exc.reason}",
            ) from None
        except Exception as exc:  # urllib3 and socket errors: the API is unreachable
            raise AuthLookupError(
                LookupFailure.UNAVAILABLE, f"reading ConfigMap {CONFIGMAP} failed: {exc}"
            ) from None
        return parse_configmap_data(configmap.data or {})
