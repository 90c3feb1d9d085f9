"""One list call to the Kubernetes API, read as the API's own JSON, with one error story.

Shared by the reader of LeaderWorkerSets and their pods (:mod:`~autoscaler.sources.kube`)
and the audit of the HorizontalPodAutoscalers that target them
(:mod:`~autoscaler.server.hpa_audit`):

- an answer with an error code is a :class:`~autoscaler.errors.QueryRejectedError`
  (4xx: RBAC refused, say) or a :class:`~autoscaler.errors.SourceUnavailableError` (5xx),
  with the ``Status`` object's message;
- no answer at all (refused, reset, past ``timeout``) is a :class:`NoAnswerError`, which
  a caller reading several namespaces takes as "do not wait on it once more";
- an answer that is no list of objects (a proxy's error page) is a
  ``SourceUnavailableError`` too, never an ``AttributeError`` further on.
"""

from __future__ import annotations

import json
from typing import Any

from autoscaler.errors import QueryRejectedError, SourceUnavailableError, one_line

Json = dict[str, Any]


class NoAnswerError(SourceUnavailableError):
    """The API server could not be reached or did not answer (not: answered an error)."""


def list_items(
    api_client: Any, timeout: float, what: str, fn: Any, *args: Any, **kwargs: Any
) -> list[Json]:
    """The items of one list call ``fn(*args, **kwargs)`` of a typed client built on
    ``api_client``; ``what`` names the call in errors (``list pods in ns-a``). With
    ``_preload_content=False`` the answer is read as JSON, not through the typed
    models: one object the models refuse then fails only itself, not the whole list."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError, MaxRetryError, ReadTimeoutError

    raw = kwargs.get("_preload_content") is False
    try:
        answer = fn(*args, _request_timeout=timeout, **kwargs)
        # Unloaded, the call returns with the headers: a body that stalls or breaks off
        # is no answer either, and its read is bounded by the same timeout per read.
        data: bytes = answer.data if raw else b""
    except ApiException as exc:
        message = _status_message(exc.body) or exc.reason
        text = f"Kubernetes API: {what}: {exc.status} {message}"
        if exc.status and exc.status >= 500:
            raise SourceUnavailableError(text) from exc
        raise QueryRejectedError(text) from exc
    except (HTTPError, OSError) as exc:
        reason = exc.reason if isinstance(exc, MaxRetryError) else exc
        if isinstance(reason, ReadTimeoutError):
            raise NoAnswerError(
                f"Kubernetes API did not answer ({what}) within {timeout:g}s"
            ) from exc
        raise NoAnswerError(f"Kubernetes API unreachable ({what}): {exc}") from exc
    except ValueError as exc:
        # The typed client could not build its model (a pod list that is a string, a
        # time that is none): pydantic's ValidationError is a ValueError.
        raise unreadable(what, exc) from exc
    if raw:
        answer.release_conn()  # read whole: the connection goes back to the pool
        try:
            body = json.loads(data)
        except ValueError as exc:  # also a body that is not UTF-8
            raise unreadable(what, exc) from exc
    else:
        # Typed models (pods) become the API's own JSON shape: camelCase, RFC 3339 times.
        body = api_client.sanitize_for_serialization(answer)
    items = body.get("items") if isinstance(body, dict) else body
    if items is None:
        return []  # an empty list (the API leaves ``items`` out)
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("metadata"), dict) for item in items
    ):
        # A proxy's error page, or a list of something else: read on, it raised a plain
        # AttributeError or KeyError out of the reader, so every namespace failed.
        raise unreadable(what, f"not a list of objects: {body!r:.200}")
    return items


def unreadable(what: str, why: object) -> SourceUnavailableError:
    """An answer that is no readable list: that namespace fails, as on a 5xx."""
    return SourceUnavailableError(
        f"Kubernetes API: {what}: unreadable answer: {one_line(str(why), 300)}"
    )


def _status_message(body: object) -> str | None:
    try:
        decoded = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        return None
    return str(decoded.get("message")) if isinstance(decoded, dict) else None
