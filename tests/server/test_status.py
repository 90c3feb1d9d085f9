"""Status objects: each HTTP code carries the reason kube-apiserver gives it.

The expected reasons are apimachinery's ``metav1.StatusReason`` constants, as its
``NewGenericServerResponse`` pairs them with codes (k8s.io/apimachinery/pkg/api/errors):
a client such as kubectl branches on ``reason``, so a wrong one is a wrong answer.
"""

from __future__ import annotations

import pytest

from autoscaler.server.status import ApiError, status_body

KUBERNETES_REASONS = [
    (400, "BadRequest"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "NotFound"),
    (405, "MethodNotAllowed"),
    (406, "NotAcceptable"),
    (409, "Conflict"),
    (413, "RequestEntityTooLarge"),
    (415, "UnsupportedMediaType"),
    (422, "Invalid"),
    (429, "TooManyRequests"),
    (500, "InternalError"),
    (503, "ServiceUnavailable"),
    (504, "Timeout"),
    (418, "Unknown"),  # a code apimachinery does not name
]


@pytest.mark.parametrize(("code", "reason"), KUBERNETES_REASONS)
def test_each_code_gets_the_kubernetes_reason(code: int, reason: str) -> None:
    error = ApiError(code, "message")
    assert error.reason == reason
    assert error.body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "message",
        "reason": reason,
        "code": code,
    }
    assert status_body(code, "message")["reason"] == reason


def test_a_reason_given_is_kept_and_details_are_written_only_when_given() -> None:
    error = ApiError(404, "gone", reason="Gone", details={"name": "x"})
    assert (error.reason, error.body()["reason"]) == ("Gone", "Gone")
    assert error.body()["details"] == {"name": "x"}
    assert "details" not in ApiError(404, "gone", details={}).body()
