"""A thin client for Prometheus's HTTP query API, with timeouts, retries with backoff, and
the failures sorted into the error tree.

Built on ``prometheus-api-client``'s :class:`PrometheusConnect` (its requests session
carries auth, TLS and proxies). Retries happen for connection errors and for 429/502/503/
504 with exponential backoff (``backoff * 2**attempt``: 0.2, 0.4, 0.8 s by default), for
POST too since queries are read-only. Failures become:

- :class:`~autoscaler.errors.SourceUnavailableError`: connection refused, timeout, 5xx
  after the retries ("Prometheus down");
- :class:`~autoscaler.errors.QueryRejectedError`: 400/422 (bad PromQL, too many samples,
  a query timeout inside Prometheus), with Prometheus's own error message.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from autoscaler.errors import QueryRejectedError, SourceUnavailableError

Json = dict[str, Any]
_STATUS = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)


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
        self._connect = PrometheusConnect(
            url=self.url,
            headers=headers,
            disable_ssl=not verify_tls,
            retry=retry,
            session=session,
            timeout=timeout,
            method="POST",  # long batched selectors stay out of URLs and access logs
        )

    def close(self) -> None:
        self._connect.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> list[Json]:
        try:
            result: list[Json] = fn(*args, **kwargs)
        except PrometheusApiClientException as exc:
            raise _classify(self.url, str(exc)) from exc
        except requests.Timeout as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} did not answer {what} within {self.timeout:g}s"
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailableError(f"Prometheus at {self.url} is unreachable: {exc}") from exc
        except (ValueError, KeyError) as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} sent an unreadable answer: {exc}"
            ) from exc
        return result

    def instant(self, query: str, at: float) -> list[Json]:
        """``/api/v1/query`` evaluated at ``at`` (Unix seconds): the vector's items."""
        params = {"time": f"{at:.3f}", "timeout": f"{self.timeout:g}s"}
        return self._call("a query", self._connect.custom_query, query, params=params)

    def range(self, query: str, start: float, end: float, step: float) -> list[Json]:
        """``/api/v1/query_range``: the matrix's items (``{"metric", "values"}``)."""
        return self._call(
            "a range query",
            self._connect.custom_query_range,
            query,
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(end, UTC),
            f"{step:g}s",
            params={"timeout": f"{self.timeout:g}s"},
        )


def _classify(url: str, message: str) -> Exception:
    match = _STATUS.match(message)
    if match is None:
        return SourceUnavailableError(f"Prometheus at {url}: {message}")
    code = int(match.group(1))
    detail = _error_text(match.group(2))
    if code in (400, 422):
        return QueryRejectedError(f"Prometheus at {url} rejected the query ({code}): {detail}")
    return SourceUnavailableError(f"Prometheus at {url} answered {code}: {detail}")


def _error_text(body_repr: str) -> str:
    # The library puts repr(response.content) in its message: b'{"status":"error",...}'.
    text = body_repr
    if text.startswith(("b'", 'b"')):
        text = text[2:-1].encode().decode("unicode_escape", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(body, dict):
        return f"{body.get('errorType', 'error')}: {body.get('error', '')}"[:500]
    return text[:300]
