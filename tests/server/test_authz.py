"""The authoriser's own logic, with the SubjectAccessReview seam answered in-process:
answers cached for their own time (allowed and denied apart), failures never cached,
``system:masters`` never reviewed, and 403s worded as kube-apiserver words them.
The reviews over the wire (a fake API server) are tested in test_auth.py."""

from __future__ import annotations

import anyio
import pytest

from autoscaler.server.authz import Authorizer
from autoscaler.server.identity import Attributes, UserInfo
from autoscaler.server.kube_reviews import ReviewError
from autoscaler.server.status import GENERIC_INTERNAL_MESSAGE, ApiError
from tests.server.helpers import ManualClock

READ = Attributes.metric("inference", "lws_recommended_replicas")
HPA = UserInfo.build("system:serviceaccount:kube-system:horizontal-pod-autoscaler")


class Reviewer:
    """Answers from ``allowed`` (by username), or raises while ``failing``."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.failing = False
        self.reviews: list[tuple[str, Attributes]] = []

    def review_token(self, token: str) -> UserInfo | None:
        raise AssertionError("the authoriser reviews no token")

    def review_access(self, user: UserInfo, attributes: Attributes) -> tuple[bool, str]:
        self.reviews.append((user.username, attributes))
        if self.failing:
            raise ReviewError("SubjectAccessReview failed: 503")
        if user.username in self.allowed:
            return True, ""
        return False, "no RBAC policy matched"


def authorize(authorizer: Authorizer, user: UserInfo, attributes: Attributes) -> ApiError | None:
    async def run() -> ApiError | None:
        try:
            await authorizer.authorize(user, attributes)
        except ApiError as refused:
            return refused
        return None

    return anyio.run(run)


def test_allowed_and_denied_answers_are_cached_each_for_its_own_time() -> None:
    reviewer, clock = Reviewer({HPA.username}), ManualClock()
    authorizer = Authorizer(reviewer, clock.now, allowed_ttl=30.0, denied_ttl=5.0)
    stranger = UserInfo.build("stranger")
    assert authorize(authorizer, HPA, READ) is None
    assert authorize(authorizer, stranger, READ) is not None
    assert len(reviewer.reviews) == 2
    clock.advance(4.9)  # both still cached
    assert authorize(authorizer, HPA, READ) is None
    assert authorize(authorizer, stranger, READ) is not None
    assert len(reviewer.reviews) == 2
    clock.advance(0.2)  # 5.1 s: the refusal is asked again, the permission is not
    reviewer.allowed.add("stranger")  # an RBAC binding made meanwhile
    assert authorize(authorizer, stranger, READ) is None
    assert authorize(authorizer, HPA, READ) is None
    assert [name for name, _ in reviewer.reviews] == [HPA.username, "stranger", "stranger"]
    clock.advance(25.0)  # 30.1 s after the first answer
    assert authorize(authorizer, HPA, READ) is None
    assert [name for name, _ in reviewer.reviews][-1] == HPA.username


def test_the_default_times_are_ten_seconds_each() -> None:
    reviewer, clock = Reviewer({HPA.username}), ManualClock()
    authorizer = Authorizer(reviewer, clock.now)
    stranger = UserInfo.build("stranger")
    authorize(authorizer, HPA, READ)
    authorize(authorizer, stranger, READ)
    clock.advance(9.9)
    authorize(authorizer, HPA, READ)
    authorize(authorizer, stranger, READ)
    assert len(reviewer.reviews) == 2
    clock.advance(0.2)
    authorize(authorizer, HPA, READ)
    authorize(authorizer, stranger, READ)
    assert len(reviewer.reviews) == 4


def test_a_failed_review_is_a_generic_500_and_is_not_cached() -> None:
    reviewer, clock = Reviewer({HPA.username}), ManualClock()
    authorizer = Authorizer(reviewer, clock.now)
    reviewer.failing = True
    refused = authorize(authorizer, HPA, READ)
    assert refused is not None
    assert (refused.code, refused.message) == (500, GENERIC_INTERNAL_MESSAGE)
    reviewer.failing = False
    assert authorize(authorizer, HPA, READ) is None  # asked again at once
    assert len(reviewer.reviews) == 2


def test_system_masters_are_never_reviewed() -> None:
    reviewer = Reviewer(set())
    authorizer = Authorizer(reviewer, ManualClock().now)
    admin = UserInfo.build("system:kube-aggregator", groups=["system:masters"])
    assert authorize(authorizer, admin, Attributes.non_resource("/apis")) is None
    assert reviewer.reviews == []


@pytest.mark.parametrize(
    ("attributes", "message", "details"),
    [
        pytest.param(
            READ,
            'lws_recommended_replicas.external.metrics.k8s.io is forbidden: User "stranger" '
            'cannot list resource "lws_recommended_replicas" in API group '
            '"external.metrics.k8s.io" in the namespace "inference": no RBAC policy matched',
            {"group": "external.metrics.k8s.io", "kind": "lws_recommended_replicas"},
            id="metric-read",
        ),
        pytest.param(
            Attributes.non_resource("/metrics"),
            'forbidden: User "stranger" cannot get path "/metrics": no RBAC policy matched',
            None,
            id="non-resource",
        ),
    ],
)
def test_a_refusal_is_worded_as_kube_apiserver_words_it(
    attributes: Attributes, message: str, details: dict[str, str] | None
) -> None:
    refused = authorize(
        Authorizer(Reviewer(set()), ManualClock().now), UserInfo.build("stranger"), attributes
    )
    assert refused is not None
    assert (refused.code, refused.reason, refused.message) == (403, "Forbidden", message)
    assert refused.body().get("details") == details
