"""Kubernetes ``Status`` objects: the only shape an error leaves this server in.

:class:`ApiError` carries the HTTP code, the ``reason`` and a message meant for the
caller; :func:`status_body` renders it exactly as kube-apiserver does
(``{"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", ...}``).
Internal failures never expose details: they become a generic 500 and the details go
to the log only.
"""

from __future__ import annotations

from typing import Any

from autoscaler.errors import AutoscalerError

# HTTP code -> metav1.StatusReason, for errors raised by the HTTP layer itself.
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}

GENERIC_INTERNAL_MESSAGE = "an internal error occurred; see the server log"


class ApiError(AutoscalerError):
    """An error answer: ``code``, ``reason`` (a metav1.StatusReason) and ``message``."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.message, self.reason, self.details)


def status_body(
    code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failure ``Status`` as kube-apiserver writes it (``details`` only when given)."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(404, message, details=details)


def unauthorized() -> ApiError:
    # kube-apiserver says only "Unauthorized": the reason is logged, never returned.
    return ApiError(401, "Unauthorized")


def internal_error() -> ApiError:
    return ApiError(500, GENERIC_INTERNAL_MESSAGE)
