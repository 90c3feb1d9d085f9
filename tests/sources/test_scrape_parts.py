"""The scrape source on a leader with data-parallel engines: rates per engine, then summed.

The leader is a small HTTP server on 127.0.0.1 whose page the test sets before each
fetch, so each engine's counters are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey
from autoscaler.sources.scrape import ACTIVATION_UNSUPPORTED, DirectScrapeSource, needs_prometheus
from tests.sources.factories import only, target, values
from tests.support.background import serve_in_background, shut_down

T0 = 1_800_000_000.0
BOUNDS = ("0.3", "1.0", "2.5", "+Inf")


class _Leader(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Page)
        self.page = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/metrics"


class _Page(BaseHTTPRequestHandler):
    server: _Leader

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.page)))
        self.end_headers()
        self.wfile.write(self.server.page)

    def log_message(self, *args: Any) -> None:
        pass


def page(engines: dict[str, tuple[float, tuple[float, float, float, float]]]) -> bytes:
    """Per engine: its prompt-token counter and its queue-time buckets (``BOUNDS``)."""
    lines = [
        "# TYPE vllm:num_requests_waiting gauge",
        *(f'vllm:num_requests_waiting{{engine="{e}",model_name="m"}} 0' for e in engines),
        "# TYPE vllm:prompt_tokens counter",
        *(
            f'vllm:prompt_tokens_total{{engine="{e}",model_name="m"}} {t}'
            for e, (t, _) in engines.items()
        ),
        "# TYPE vllm:request_queue_time_seconds histogram",
    ]
    for engine, (_, buckets) in engines.items():
        labels = f'engine="{engine}",model_name="m"'
        for le, count in zip(BOUNDS, buckets, strict=True):
            lines.append(f'vllm:request_queue_time_seconds_bucket{{{labels},le="{le}"}} {count}')
        lines.append(f"vllm:request_queue_time_seconds_count{{{labels}}} {buckets[-1]}")
        lines.append(f"vllm:request_queue_time_seconds_sum{{{labels}}} 0")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def leader() -> Iterator[_Leader]:
    server = _Leader()
    thread = serve_in_background(server)
    try:
        yield server
    finally:
        shut_down(server, thread)


def test_one_engine_restarting_alone_is_its_own_reset(leader: _Leader) -> None:
    # Two engines, 100 prompt tokens/s and 10 requests/s each. Engine 0's requests wait
    # under 0.3 s, engine 1's between 1 and 2.5 s. At T0 + 30 engine 0 restarts alone
    # (its counters start again from 0; it served 15 s since). Summed first, the total
    # drops from 23,000 to 14,500 and reads as a reset of the sum: (3,000 + 14,500) / 30
    # = 583 tokens/s, not 200. Per engine, each reset is its own: 100 + 100.
    steps = [
        ((10_000, (10_000, 10_000, 10_000, 10_000)), (10_000, (0, 0, 10_000, 10_000))),
        ((11_500, (10_150, 10_150, 10_150, 10_150)), (11_500, (0, 0, 10_150, 10_150))),
        ((1_500, (150, 150, 150, 150)), (13_000, (0, 0, 10_300, 10_300))),
    ]
    read_at = [T0]  # each page is read at its tick, 15 s apart, as the counters say
    source = DirectScrapeSource(
        endpoints={LwsKey("inference", "llama"): {"llama-0": leader.url}},
        clock=lambda: read_at[0],
    )
    policy = target("inference", "llama", window=60.0, quantile=None, queue_wait=0.9)
    try:
        for n, (first, second) in enumerate(steps):
            leader.page = page({"0": first, "1": second})
            read_at[0] = T0 + 15 * n
            snap = only(source.fetch([policy], T0 + 15 * n), "inference", "llama")
    finally:
        source.close()
    assert values(snap)["llama-0"]["promptTokensPerSecond"] == pytest.approx(200)
    # Queue wait: 10/s at or under 0.3 s, 10/s in (1, 2.5]; p90 is rank 18 of 20, in the
    # (1, 2.5] bucket: 1 + 1.5 x (18 - 10) / (20 - 10) = 2.2 s. Summed first: 2.35 s.
    assert snap.aggregates[Signal.QUEUE_WAIT].value == pytest.approx(2.2)


@pytest.mark.parametrize(("enabled", "refused"), [(True, True), (False, False)])
def test_an_activation_needs_prometheus_only_while_scale_to_zero_is_on(
    enabled: bool, refused: bool
) -> None:
    """Turned off with its activation kept (to turn it on again later), a policy never
    runs the query: the scrape source serves it."""
    activation = "sum(rate(gateway_requests_total[1m]))"
    why = needs_prometheus(
        target("inference", "parked", activation=activation, zero_enabled=enabled)
    )
    assert why == (ACTIVATION_UNSUPPORTED if refused else None)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "needs a cluster reader or fixed endpoints"),
        ({"endpoints": {}, "timeout": 0}, "must be positive"),
        ({"endpoints": {}, "deadline": 0}, "must be positive"),
        ({"endpoints": {}, "max_body_bytes": 0}, "must be positive"),
    ],
    ids=["nothing-to-scrape", "timeout", "deadline", "body-cap"],
)
def test_the_source_refuses_settings_that_could_never_scrape(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DirectScrapeSource(**arguments)


def test_the_smallest_positive_settings_are_accepted() -> None:
    """A deadline is optional (twice the timeout); any positive figure is a setting."""
    for deadline in (None, 0.001):
        DirectScrapeSource(endpoints={}, timeout=0.001, deadline=deadline, max_body_bytes=1).close()
