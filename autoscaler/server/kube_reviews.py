"""TokenReview and SubjectAccessReview calls to the Kubernetes API (delegated auth).

The server asks kube-apiserver who a bearer token belongs to (``TokenReview``,
authentication.k8s.io/v1) and whether a user may read a metric (``SubjectAccessReview``,
authorization.k8s.io/v1), as every aggregated API server does; its service account needs
the ``system:auth-delegator`` ClusterRole. Calls are blocking (the ``kubernetes``
client); the authenticator and authoriser run them in worker threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import kubernetes
import yaml
from kubernetes.client import (
    ApiClient,
    AuthenticationV1Api,
    AuthorizationV1Api,
    V1NonResourceAttributes,
    V1ResourceAttributes,
    V1SubjectAccessReview,
    V1SubjectAccessReviewSpec,
    V1TokenReview,
    V1TokenReviewSpec,
)
from urllib3.util.retry import Retry

from autoscaler.errors import AutoscalerError
from autoscaler.server.identity import Attributes, UserInfo

_TIMEOUT_SECONDS = 5.0


class ReviewError(AutoscalerError):
    """The Kubernetes API could not answer a TokenReview or SubjectAccessReview."""


class KubeConfigError(AutoscalerError):
    """No usable kubeconfig or in-cluster configuration."""


class Reviewer(Protocol):
    """What authentication and authorisation need from the Kubernetes API."""

    def review_token(self, token: str) -> UserInfo | None:
        """The user the token belongs to, or None when it is not valid."""
        ...

    def review_access(self, user: UserInfo, attributes: Attributes) -> tuple[bool, str]:
        """(allowed, reason)."""
        ...


_AUTH_HINT = "pass --kubeconfig, or --disable-auth for local use"


def bounded_retries() -> Retry:
    """A connection error is retried once; a request that was sent is never sent again.

    urllib3's default, which the ``kubernetes`` client keeps, retries every failure 3
    times: a hung API server then costs four timeouts per call, 20 s at a 5 s timeout,
    for every cluster read, review and relabelling of a cycle."""
    return Retry(total=1, connect=1, read=False, status=0, other=0)


def api_client(kubeconfig: Path | None, hint: str = _AUTH_HINT) -> ApiClient:
    """A client from ``kubeconfig``, or the in-cluster service account when None, with
    :func:`bounded_retries` (every Kubernetes call of the server goes through one).

    ``hint`` ends the error message: what the caller's user can do about it."""
    configuration = kubernetes.client.Configuration()
    try:
        if kubeconfig is not None:
            kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration
            )
        else:
            kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
        where = str(kubeconfig) if kubeconfig else "the in-cluster service account"
        what = str(exc)
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            # Its str() spans several lines, with context a log line does not need.
            what = f"not valid YAML: {exc.problem} (line {exc.problem_mark.line + 1})"
        raise KubeConfigError(
            f"cannot configure Kubernetes API access from {where}: {what}; {hint}"
        ) from exc
    # The connection pools are built from the configuration when the client is made.
    configuration.retries = bounded_retries()
    return ApiClient(configuration)


class KubeReviewer:
    """Reviewer backed by the real API (or the test suite's wire-level fake)."""

    def __init__(self, client: ApiClient) -> None:
        self._authn = AuthenticationV1Api(client)
        self._authz = AuthorizationV1Api(client)

    def review_token(self, token: str) -> UserInfo | None:
        body = V1TokenReview(spec=V1TokenReviewSpec(token=token))
        try:
            review = self._authn.create_token_review(body, _request_timeout=_TIMEOUT_SECONDS)
        except Exception as exc:  # urllib3, ApiException: the API is the problem, not the token
            raise ReviewError(f"TokenReview failed: {exc}") from exc
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        user = status.user
        return UserInfo.build(
            user.username or "", user.uid or "", user.groups or [], user.extra or {}
        )

    def review_access(self, user: UserInfo, attributes: Attributes) -> tuple[bool, str]:
        spec = V1SubjectAccessReviewSpec(
            user=user.username,
            uid=user.uid or None,
            groups=list(user.groups) or None,
            extra={k: list(v) for k, v in user.extra} or None,
        )
        if attributes.is_resource:
            spec.resource_attributes = V1ResourceAttributes(
                group=attributes.group,
                version=attributes.version,
                resource=attributes.resource,
                namespace=attributes.namespace,
                verb=attributes.verb,
            )
        else:
            spec.non_resource_attributes = V1NonResourceAttributes(
                path=attributes.path, verb=attributes.verb
            )
        try:
            review = self._authz.create_subject_access_review(
                V1SubjectAccessReview(spec=spec), _request_timeout=_TIMEOUT_SECONDS
            )
        except Exception as exc:
            raise ReviewError(f"SubjectAccessReview failed: {exc}") from exc
        status = review.status
        if status is None:
            return False, "empty SubjectAccessReview status"
        return bool(status.allowed) and not status.denied, status.reason or ""
