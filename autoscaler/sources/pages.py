"""Fetching many leaders' ``/metrics`` pages at once, within bounds (the scrape source's
HTTP side).

Bounds, per :meth:`PageFetcher.fetch_all`:

- ``timeout`` bounds connecting and each wait for data; ``deadline`` bounds the whole
  call, wall clock: a page still being read then is a failed scrape of that pod.
- A page is read up to ``max_body_bytes``; a redirect is a failure, not followed (a
  leader's ``/metrics`` never redirects, and each hop would get a fresh timeout).
- The status line and headers must be in within ``timeout`` of being first waited for,
  in total (:class:`~autoscaler.sources.head_deadline.HeadDeadlineAdapter`): the socket
  read timeout alone restarts with each byte, and a pod sending its headers a byte at a
  time held a thread for as long as it liked.
- **At most one scrape in flight per URL.** A scrape can still outlive the deadline by
  up to a read timeout or two: a silent pod when ``deadline`` is shorter than
  ``timeout``, the last read of a trickled page. Such a pod is not scraped again (it
  fails at once, "previous scrape still running") until its thread is free, so one bad
  pod holds one thread, not one more per cycle until the pool is gone and every LWS
  goes blind.
- **Each page with the time its last byte came** (``Page.read_at``, on the fetcher's
  monotonic ``clock``): rates divide by the time between two pages, not between two
  loop ticks, which a slow cluster read or an overrun cycle moves (see
  :class:`~autoscaler.sources.pod_history.PodHistory`).
- **Least recently served first.** When there are more pods than the pool can scrape
  within the deadline, the ones that went without a page longest go first, so the same
  pods do not miss out every cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, NamedTuple, TypeVar

import requests
from urllib3.exceptions import HTTPError

from autoscaler.errors import SourceError, SourceUnavailableError
from autoscaler.sources.bounded_read import ReadCapError, ReadDeadlineError, read_bounded
from autoscaler.sources.head_deadline import HeadDeadlineAdapter

MAX_BODY_BYTES = 16 * 1024 * 1024

PodKey = TypeVar("PodKey", bound=Hashable)


class Page(NamedTuple):
    """A page's text, and when its last byte came (the fetcher's monotonic clock)."""

    text: str
    read_at: float


class PageFetcher(Generic[PodKey]):
    """Concurrent GETs of ``/metrics`` pages, each a body or the reason it failed."""

    def __init__(
        self,
        *,
        timeout: float,
        deadline: float,
        max_body_bytes: int = MAX_BODY_BYTES,
        concurrency: int = 16,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout, self._deadline, self._max_body = timeout, deadline, max_body_bytes
        self._clock = clock
        self._session = session or requests.Session()
        adapter = HeadDeadlineAdapter(pool_maxsize=concurrency, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="scrape")
        self._running: dict[str, Future[Page]] = {}
        self._last_page: dict[str, float] = {}

    def fetch_all(self, urls: Mapping[PodKey, str]) -> dict[PodKey, Page | SourceError]:
        """Every page, or why not, by one wall-clock deadline."""
        deadline = time.monotonic() + self._deadline
        self._running = {u: f for u, f in self._running.items() if not f.done()}
        self._last_page = {u: t for u, t in self._last_page.items() if u in urls.values()}
        out: dict[PodKey, Page | SourceError] = {}
        futures: dict[PodKey, Future[Page]] = {}
        # Never served (-inf) first, then the longest without a page.
        for pod in sorted(urls, key=lambda p: self._last_page.get(urls[p], -float("inf"))):
            url = urls[pod]
            if url in self._running:
                out[pod] = SourceUnavailableError(
                    f"scrape of {url}: its previous scrape is still running (a pod that "
                    "sends its answer too slowly to cut)"
                )
                continue
            futures[pod] = self._running[url] = self._pool.submit(self._page, url, deadline)
        wait(futures.values(), timeout=self._deadline)
        for pod, future in futures.items():
            out[pod] = self._outcome(urls[pod], future)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    def _outcome(self, url: str, future: Future[Page]) -> Page | SourceError:
        if not future.done():
            future.cancel()  # still queued: it never starts; running: it stays in _running
            return SourceUnavailableError(
                f"scrape of {url} did not finish within the fetch's {self._deadline:g}s"
            )
        try:
            body = future.result()
        except SourceError as exc:
            return exc
        except Exception as exc:  # a bad page never crashes the loop
            return SourceUnavailableError(f"scrape of {url} failed: {exc!r}")
        self._last_page[url] = body.read_at
        return body

    def _page(self, url: str, deadline: float) -> Page:
        """One page, read by ``deadline`` (``time.monotonic()``) or failed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise SourceUnavailableError(
                f"scrape of {url} did not start within the fetch's {self._deadline:g}s"
            )
        try:
            with self._session.get(
                url, timeout=min(self._timeout, left), stream=True, allow_redirects=False
            ) as response:
                if response.status_code != 200:
                    raise SourceUnavailableError(f"scrape of {url} answered {response.status_code}")
                body = read_bounded(response, deadline, self._max_body)
        except ReadDeadlineError as exc:
            raise SourceUnavailableError(
                f"scrape of {url} did not finish within the fetch's {self._deadline:g}s "
                f"({exc.size} bytes read)"
            ) from exc
        except ReadCapError as exc:
            raise SourceUnavailableError(f"scrape of {url}: {exc}") from exc
        except (requests.RequestException, HTTPError, OSError) as exc:
            raise SourceUnavailableError(f"scrape of {url} failed: {exc}") from exc
        read_at = self._clock()
        return Page(body.decode("utf-8", errors="replace"), read_at)  # text formats are UTF-8
