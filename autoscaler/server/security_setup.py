"""Who may read the API: the authenticator, the authoriser and the trust they rest on.

``build_security`` turns the ``serve`` flags into the request pipeline's
:class:`~autoscaler.server.app.Security` (TokenReview and SubjectAccessReview through a
reviewer, cached for ``--auth-cache-ttl``) and the :class:`TrustSource` of client CAs
and front-proxy header names, from files or from the cluster's
``extension-apiserver-authentication`` ConfigMap. ``--disable-auth`` gives neither,
loudly.
"""

from __future__ import annotations

import logging
import time

from autoscaler.server.app import Security
from autoscaler.server.auth_lookup import ClusterAuthReader, KubeClusterAuthReader
from autoscaler.server.authn import Authenticator
from autoscaler.server.authz import Authorizer
from autoscaler.server.kube_reviews import KubeReviewer, Reviewer, api_client
from autoscaler.server.settings import ServerSetupError, ServeSettings
from autoscaler.server.telemetry import Telemetry
from autoscaler.server.trust import HeaderNames, TrustSource

log = logging.getLogger(__name__)


def _trust_source(
    settings: ServeSettings, cluster: ClusterAuthReader | None, telemetry: Telemetry
) -> TrustSource:
    names = HeaderNames(
        allowed_names=settings.requestheader_allowed_names,
        username_headers=settings.requestheader_username_headers,
        group_headers=settings.requestheader_group_headers,
        extra_headers_prefixes=settings.requestheader_extra_headers_prefix,
    )
    both_files = settings.requestheader_client_ca_file and settings.client_ca_file
    if settings.authentication_skip_lookup or both_files:
        cluster = None
    elif cluster is None:
        cluster = KubeClusterAuthReader(api_client(settings.kubeconfig))
    if settings.requestheader_client_ca_file is None and names != HeaderNames():
        log.warning(
            "--requestheader-allowed-names and --requestheader-*-headers apply only with "
            "--requestheader-client-ca-file; without it they come from the cluster"
        )
    try:
        return TrustSource(
            telemetry,
            settings.requestheader_client_ca_file,
            names,
            settings.client_ca_file,
            cluster,
        )
    except ValueError as exc:
        raise ServerSetupError(str(exc)) from exc


def build_security(
    settings: ServeSettings,
    reviewer: Reviewer | None,
    cluster: ClusterAuthReader | None,
    telemetry: Telemetry,
) -> tuple[Security | None, TrustSource | None]:
    if settings.disable_auth:
        log.warning(
            "AUTHENTICATION AND AUTHORISATION ARE DISABLED (--disable-auth): anyone who "
            "can reach %s:%d can read every recommendation. Use only for local testing.",
            settings.bind_address,
            settings.port,
        )
        return None, None
    if reviewer is None:
        reviewer = KubeReviewer(api_client(settings.kubeconfig))
    trust = _trust_source(settings, cluster, telemetry)
    authenticator = Authenticator(
        reviewer,
        time.monotonic,
        lambda: trust.current,
        success_ttl=settings.auth_cache_ttl,
        failure_ttl=settings.auth_cache_ttl,
    )
    authorizer = Authorizer(
        reviewer, time.monotonic, settings.auth_cache_ttl, settings.auth_cache_ttl
    )
    return Security(authenticator, authorizer), trust
