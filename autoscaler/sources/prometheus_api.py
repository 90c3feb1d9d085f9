"""A thin client for Prometheus's HTTP query API, with timeouts, at most one retry, and the
failures sorted into the error tree.

Queries go as ``application/x-www-form-urlencoded`` POST bodies to ``/api/v1/query`` and
``/api/v1/query_range`` (both accept that): a batched selector for hundreds of leaders is
tens of kilobytes, which proxies with 8 KB URL limits reject and access logs would carry.
(``prometheus-api-client``'s ``method="POST"`` still puts every parameter in the URL, so
its :class:`PrometheusConnect` only sets up the session, with the retries; the requests
are made here, on that session, and a caller's session keeps its auth, TLS and proxies.)

Retries are few and cheap, so that a failing Prometheus costs about one timeout, well
inside a 15 s cycle: a connection error, a 502 or a 504 (a proxy in front of Prometheus)
is retried *once*, straight away (``retries=1``, the most allowed; ``retries=0`` turns it
off; urllib3 sleeps ``backoff`` only before a second retry, so it is never slept now). A
query that was sent and not answered within ``timeout`` (read timeout) is never sent
again, nor is one Prometheus answered 503 (its own query timeout: the same query would
time out again). Connecting is bounded by
``min(timeout, 5 s)``, and the whole answer must be in by ``timeout`` after the query was
sent (a bound on the total, not per read: a proxy dribbling a byte at a time cannot hold
the control loop), the headers within ``timeout`` of being first waited for, also in
total (:mod:`autoscaler.sources.head_deadline`); ``timeout`` also goes to Prometheus as
the query's ``timeout``.
Redirects are not followed (each hop would get a fresh timeout, and a 301 turns the POST
into a GET without its query), and an answer is read up to :data:`MAX_ANSWER_BYTES`.
Failures become:

- :class:`~autoscaler.errors.SourceUnavailableError`: connection refused or not
  established ("unreachable"), no answer within the timeout ("did not answer ... within
  Ns"), 5xx (503 is Prometheus's own query timeout or ``query.max-concurrency`` queue
  timeout), a 3xx (with its Location), an answer broken off or over the size cap, an
  unreadable answer, a 200 whose ``status`` is not ``success`` (with
  Prometheus's ``errorType`` and ``error``);
- :class:`~autoscaler.errors.QueryRejectedError`: 400 (bad PromQL, a bad parameter) and
  422 (the query failed to execute: too many samples, an error inside the evaluation),
  with Prometheus's own error message.

Durations go out as whole seconds (``15s``) or whole milliseconds (``2500ms``): Prometheus
parses ``2.5s`` as no duration at all.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.exceptions import HTTPError, ReadTimeoutError
from urllib3.util.retry import Retry

from autoscaler.errors import QueryRejectedError, SourceUnavailableError, one_line
from autoscaler.sources.bounded_read import ReadCapError, ReadDeadlineError, read_bounded
from autoscaler.sources.head_deadline import HeadDeadlineAdapter

Json = dict[str, Any]

CONNECT_TIMEOUT = 5.0
"""Seconds to establish a connection (at most ``timeout``): a dropped SYN must not cost a
full query timeout, twice."""
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer read (64 MiB). A cycle's batched instant query is about 300 bytes
per series: 1,000 leaders x 2 series is 0.6 MiB, a hundred times under. Parsed JSON takes
about 3x its size in Python objects (a 150 MiB answer raised the RSS by 420 MiB), so 64
MiB costs at most ~250 MiB, inside the chart's 512Mi limit; an answer past it is a
misbehaving proxy or a query selecting far more than leaders."""
RETRIED_STATUSES = frozenset({502, 504})
"""Answers of a proxy whose Prometheus was away a moment; never 503 (Prometheus's own
query timeout: the query would only time out again) nor 429."""


def prometheus_duration(seconds: float) -> str:
    """``15.0`` -> ``15s``, ``2.5`` -> ``2500ms``: Prometheus's durations take whole units
    (``2.5s`` is rejected with 400 "cannot parse ... to a valid duration")."""
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {seconds!r}")
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


class PrometheusQueryClient:
    """Instant and range queries against one Prometheus, returning the raw result lists."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 1,
        backoff: float = 0.2,
        headers: dict[str, str] | None = None,
        verify_tls: bool = True,
        session: requests.Session | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        """``retries``: 0 or 1 (see the module docstring). ``session``: one carrying auth,
        client certificates or proxies (its own ``verify`` is kept; ``verify_tls`` applies
        to the session made here). ``max_answer_bytes``: a larger answer is an error."""
        if retries not in (0, 1):
            raise ValueError(
                f"retries must be 0 or 1, got {retries!r}: more would multiply the timeout "
                "past the control loop's cycle"
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        retry = Retry(
            total=retries,
            connect=retries,
            read=False,  # a sent query is never sent again: re-raise the read error
            status=retries,
            other=0,
            backoff_factor=backoff,
            backoff_max=backoff,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        # Requests go to ``_base``, whose ``user:password@`` requests sends as basic auth;
        # ``url``, in every message and in recordings' headers, is the address without it.
        self._base = url.rstrip("/")
        self.url = without_credentials(self._base)
        self.timeout = timeout
        self.max_answer_bytes = max_answer_bytes
        self._timeouts = (min(timeout, CONNECT_TIMEOUT), timeout)
        self._headers = headers
        if session is None:
            session = requests.Session()
            session.verify = verify_tls
        # prometheus-api-client sets the connection up: it mounts the retrying adapter on
        # the session for this Prometheus only (a shared session keeps its other
        # adapters). The queries themselves are posted below, as form bodies. The
        # adapter is then replaced by one with the same retries whose answers must have
        # their headers in by the timeout in total (a per-read timeout let a proxy
        # dribbling 8 header lines 0.6 s apart hold a 1 s query for 4.8 s).
        PrometheusConnect(url=self._base, headers=headers, retry=retry, session=session)
        session.mount(self._base, HeadDeadlineAdapter(max_retries=retry))
        self._session = session

    def close(self) -> None:
        self._session.close()

    def _post(
        self, what: str, path: str, form: dict[str, str], max_bytes: int | None = None
    ) -> list[Json]:
        cap = max_bytes or self.max_answer_bytes
        started = time.monotonic()
        try:
            response = self._session.post(
                f"{self._base}{path}",
                data=form,
                headers=self._headers,
                timeout=self._timeouts,
                stream=True,
                # Each hop would get a fresh timeout (12 hops of 0.7 s took 8.4 s at
                # timeout 1), and a 301/302 turns the POST into a GET without the query.
                allow_redirects=False,
            )
            with response:
                if 300 <= response.status_code < 400:
                    raise SourceUnavailableError(
                        f"Prometheus at {self.url} answered {response.status_code} to {path}, "
                        f"redirecting to {response.headers.get('Location', '(none)')}: point "
                        "--prometheus-url at the final address"
                    )
                # The whole answer by ``timeout`` after sending: the read timeout alone
                # restarts with every byte (a dribbling proxy held one query for 86 s at 2).
                body = read_bounded(response, started + self.timeout, cap)
        except requests.ConnectTimeout as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} is unreachable: no connection within "
                f"{self._timeouts[0]:g}s"
            ) from exc
        except (requests.Timeout, ReadDeadlineError, ReadTimeoutError) as exc:
            # ReadTimeoutError: urllib3's, raised by a body read once the headers are in.
            raise SourceUnavailableError(
                f"Prometheus at {self.url} did not answer {what} within {self.timeout:g}s"
            ) from exc
        except ReadCapError as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} sent an answer to {what} over the "
                f"{cap / 2**20:g} MiB cap ({exc}); narrow the query"
            ) from exc
        except requests.RequestException as exc:
            raise SourceUnavailableError(f"Prometheus at {self.url} is unreachable: {exc}") from exc
        except (HTTPError, OSError) as exc:
            # After the headers, urllib3's own errors come through unwrapped: a body cut
            # short or a bad chunk (ProtocolError), bad gzip (DecodeError), a reset.
            raise SourceUnavailableError(
                f"Prometheus at {self.url} broke off its answer to {what}: {exc}"
            ) from exc
        text = body.decode("utf-8", errors="replace")
        if response.status_code != 200:
            raise _classify(self.url, response.status_code, text)
        try:
            payload = json.loads(text)
            if payload.get("status") != "success":
                # A 200 saying otherwise: Prometheus's own words, not "no data".
                raise SourceUnavailableError(
                    f"Prometheus at {self.url} answered status {payload.get('status')!r}: "
                    f"{payload.get('errorType', '')}: {payload.get('error', '')}"
                )
            result = payload["data"]["result"]
        # RecursionError: JSON nested deeper than the parser's stack (``[[[...`` x 100,000).
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise SourceUnavailableError(
                f"Prometheus at {self.url} sent an unreadable answer: {exc!r}"
            ) from exc
        if not isinstance(result, list):
            raise SourceUnavailableError(f"Prometheus at {self.url} sent a non-list result")
        return result

    def instant(self, query: str, at: float) -> list[Json]:
        """``/api/v1/query`` evaluated at ``at`` (Unix seconds): the vector's items."""
        form = {
            "query": query,
            "time": f"{at:.3f}",
            "timeout": prometheus_duration(self.timeout),
        }
        return self._post("a query", "/api/v1/query", form)

    def range(
        self, query: str, start: float, end: float, step: float, *, max_bytes: int | None = None
    ) -> list[Json]:
        """``/api/v1/query_range``: the matrix's items (``{"metric", "values"}``), evaluated
        at ``round(start) + i * step`` up to ``end``: whole seconds for a whole-second step,
        where the source looks them up. ``step`` must be whole milliseconds (ValueError
        otherwise): Prometheus steps in milliseconds, so a step of 1.0005 s would be
        evaluated every 1 s, off the caller's grid. ``end`` goes out to the millisecond:
        rounded to the second, a chunk ending on ``x.5`` (1.5 s steps) lost its last
        point and an ``end`` rounded up gained one after it.
        ``max_bytes``: this answer's cap, instead of ``max_answer_bytes``."""
        if not whole_milliseconds(step):
            raise ValueError(f"a range step must be whole milliseconds, got {step!r}")
        form = {
            "query": query,
            "start": str(round(start)),
            "end": _milliseconds_text(end),
            "step": prometheus_duration(step),
            "timeout": prometheus_duration(self.timeout),
        }
        return self._post("a range query", "/api/v1/query_range", form, max_bytes)


def whole_milliseconds(seconds: float) -> bool:
    """Whether ``seconds`` is a whole number of milliseconds, up to float error (a step
    of ``2001ms`` parses to 2.0010000000000003 s)."""
    thousandths = seconds * 1000
    return math.isfinite(thousandths) and math.isclose(
        thousandths, round(thousandths), rel_tol=1e-12, abs_tol=1e-6
    )


def milliseconds(seconds: float) -> int:
    """A time in whole milliseconds, as Prometheus resolves it: rounded, which also
    absorbs the float error of chunk bounds added up from steps such as 1.001 s."""
    return round(seconds * 1000)


def _milliseconds_text(seconds: float) -> str:
    """``1767225600.0`` -> ``1767225600``, ``1767240598.5`` -> ``1767240598.500``."""
    whole, rest = divmod(milliseconds(seconds), 1000)
    return str(whole) if rest == 0 else f"{whole}.{rest:03d}"


def without_credentials(url: str) -> str:
    """``http://user:pass@host:9090`` -> ``http://host:9090``: the address to show in
    messages and to write in files, where a password must not end up."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _classify(url: str, code: int, body: str) -> Exception:
    detail = _error_text(body)
    if code in (400, 422):
        return QueryRejectedError(f"Prometheus at {url} rejected the query ({code}): {detail}")
    return SourceUnavailableError(f"Prometheus at {url} answered {code}: {detail}")


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return one_line(text, 200)
    if isinstance(body, dict):
        return one_line(f"{body.get('errorType', 'error')}: {body.get('error', '')}", 500)
    return one_line(text, 200)
