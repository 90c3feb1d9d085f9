"""Authorisation with SubjectAccessReview, as a delegating aggregated API server does it.

Members of ``system:masters`` are always allowed (the aggregator's availability check
comes as ``system:kube-aggregator`` in that group). Everyone else is checked with a
SubjectAccessReview: a metric read is ``list`` on resource ``<metric>`` in API group
``external.metrics.k8s.io`` in the request's namespace (the URL names no object, so
kube-apiserver's RequestInfo makes the GET a ``list``); discovery, ``/metrics`` and
``/debug/...`` are non-resource ``get`` on the path. Answers are cached (10 s allowed,
10 s denied by default, like kube-apiserver's webhook authoriser); review failures are
not cached and answer 500 with a generic message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio.to_thread

from autoscaler.server.identity import Attributes, UserInfo
from autoscaler.server.kube_reviews import Reviewer, ReviewError
from autoscaler.server.status import ApiError, internal_error
from autoscaler.server.ttl_cache import TtlCache

log = logging.getLogger(__name__)

ALWAYS_ALLOWED_GROUPS = frozenset({"system:masters"})


def forbidden(user: UserInfo, attributes: Attributes, reason: str) -> ApiError:
    """403 worded like kube-apiserver's (``User "x" cannot list resource ...``)."""
    message = f'User "{user.username}" cannot {attributes.describe()}'
    if attributes.is_resource:
        message = f"{attributes.resource}.{attributes.group} is forbidden: {message}"
        details = {"group": attributes.group, "kind": attributes.resource}
    else:
        message = f"forbidden: {message}"
        details = {}
    if reason:
        message = f"{message}: {reason}"
    return ApiError(403, message, details=details)


class Authorizer:
    """Allows or refuses (user, attributes); raises ApiError 403 or 500."""

    def __init__(
        self,
        reviewer: Reviewer,
        monotonic: Callable[[], float],
        allowed_ttl: float = 10.0,
        denied_ttl: float = 10.0,
    ) -> None:
        self._reviewer = reviewer
        self._cache: TtlCache[tuple[UserInfo, Attributes], tuple[bool, str]] = TtlCache(monotonic)
        self._allowed_ttl, self._denied_ttl = allowed_ttl, denied_ttl

    async def authorize(self, user: UserInfo, attributes: Attributes) -> None:
        if ALWAYS_ALLOWED_GROUPS.intersection(user.groups):
            return
        key = (user, attributes)
        answer = self._cache.get(key)
        if answer is None:
            try:
                answer = await anyio.to_thread.run_sync(
                    self._reviewer.review_access, user, attributes
                )
            except ReviewError as exc:
                log.error("%s", exc)
                raise internal_error() from None
            self._cache.put(key, answer, self._allowed_ttl if answer[0] else self._denied_ttl)
        allowed, reason = answer
        if not allowed:
            log.info("denied %s: %s (%s)", user.username, attributes.describe(), reason)
            raise forbidden(user, attributes, reason)
