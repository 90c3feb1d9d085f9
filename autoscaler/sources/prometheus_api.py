"""A thin client for Prometheus's HTTP query API, with timeouts, retries with backoff, and
the failures sorted into the error tree.

Queries go as ``application/x-www-form-urlencoded`` POST bodies to ``/api/v1/query`` and
``/api/v1/query_range`` (both accept that): a batched selector for hundreds of leaders is
tens of kilobytes, which proxies with 8 KB URL limits reject and access logs would carry.
(``prometheus-api-client``'s ``method="POST"`` still puts every parameter in the URL, so
its :class:`PrometheusConnect` only sets up the session, with the retries; the requests
are made here, on that session, and a caller's session keeps its auth, TLS and proxies.)

Retries happen for connection errors and for 429/502/503/504, for POST too since queries
are read-only, through urllib3's :class:`~urllib3.util.retry.Retry`. Its backoff sleeps
nothing after the first failure and ``backoff * 2**(n - 1)`` after the n-th consecutive
one: with the defaults (``retries=2``, ``backoff=0.2``) that is 0 s, then 0.4 s, so a dead
Prometheus costs three attempts and 0.4 s of sleep on top of their timeouts. Failures
become:

- :class:`~autoscaler.errors.SourceUnavailableError`: connection refused, timeout, 5xx
  after the retries ("Prometheus down"), an unreadable answer;
- :class:`~autoscaler.errors.QueryRejectedError`: 400/422 (bad PromQL, too many samples,
  a query timeout inside Prometheus), with Prometheus's own error message.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from autoscaler.errors import QueryRejectedError, SourceUnavailableError

Json = dict[str, Any]


class PrometheusQueryClient:
    """Instant and range queries against one Prometheus, returning the raw result lists."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        headers: dict[str, str] | None = None,
        verify_tls: bool = True,
        session: requests.Session | None = None,
    ) -> None:
        """``session``: one carrying auth, client certificates or proxies (its own
        ``verify`` is kept; ``verify_tls`` applies to the session made here)."""
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
        )
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = headers
        if session is None:
            session = requests.Session()
            session.verify = verify_tls
        # prometheus-api-client sets the connection up: it mounts the retrying adapter on
        # the session for this Prometheus only (a shared session keeps its other
        # adapters). The queries themselves are posted below, as form bodies.
        PrometheusConnect(url=self.url, headers=headers, retry=retry, session=session)
        self._session = session

    def close(self) -> None:
        self._session.close()

    def _post(self, what: str, path: str, form: dict[str, str]) -> list[Json]:
        try:
            response = self._session.post(
                f"{self.url}{path}", data=form, headers=self._headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} did not answer {what} within {self.timeout:g}s"
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailableError(f"Prometheus at {self.url} is unreachable: {exc}") from exc
        if response.status_code != 200:
            raise _classify(self.url, response.status_code, response.text)
        try:
            result = response.json()["data"]["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} sent an unreadable answer: {exc!r}"
            ) from exc
        if not isinstance(result, list):
            raise SourceUnavailableError(f"Prometheus at {self.url} sent a non-list result")
        return result

    def instant(self, query: str, at: float) -> list[Json]:
        """``/api/v1/query`` evaluated at ``at`` (Unix seconds): the vector's items."""
        form = {"query": query, "time": f"{at:.3f}", "timeout": f"{self.timeout:g}s"}
        return self._post("a query", "/api/v1/query", form)

    def range(self, query: str, start: float, end: float, step: float) -> list[Json]:
        """``/api/v1/query_range``: the matrix's items (``{"metric", "values"}``), evaluated
        at ``round(start) + i * step``: whole seconds, where the source looks them up."""
        form = {
            "query": query,
            "start": str(round(start)),
            "end": str(round(end)),
            "step": f"{step:g}s",
            "timeout": f"{self.timeout:g}s",
        }
        return self._post("a range query", "/api/v1/query_range", form)


def _classify(url: str, code: int, body: str) -> Exception:
    detail = _error_text(body)
    if code in (400, 422):
        return QueryRejectedError(f"Prometheus at {url} rejected the query ({code}): {detail}")
    return SourceUnavailableError(f"Prometheus at {url} answered {code}: {detail}")


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(body, dict):
        return f"{body.get('errorType', 'error')}: {body.get('error', '')}"[:500]
    return text[:300]
