"""A small HTTP exporter on loopback (127.0.0.1 by default) impersonating LWS leader pods.

Each :class:`FakeLeader` is served at ``/pods/<namespace>/<pod>/metrics`` in the real
text format (rendered by ``prometheus_client``'s own ``generate_latest`` with the real
metric types), with the names and labels of vLLM 0.33 (``model_name``, ``engine``; data
parallelism splits a leader across ``engine="0"``, ``"1"``...), pre-0.10 vLLM
(``gpu_cache_usage_perc``) or SGLang (gauges repeated per ``tp_rank``, counters with
``is_streaming``).

Values are what the test sets: gauges directly, counters as *rates* (the counter is
``rate * (t - since)`` at scrape time, so PromQL's ``rate()`` and a scrape-to-scrape rate
both give the rate back exactly), the TTFT and queue-time histograms as observations per
second spread uniformly over ``[0, 2 * median]``. ``reset()`` restarts a leader's counters from 0,
``frozen_at`` serves explicit sample timestamps that stop moving (a stale leader), and
``present=False`` answers 404 (the pod is gone).

``/ksm`` serves kube-state-metrics-style replica gauges of the LWS the test declares.
``targets()`` gives Prometheus static target groups carrying ``namespace``,
``leaderworkerset_sigs_k8s_io_name`` and ``pod``, as the shipped PodMonitor would.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from autoscaler.signals import VLLM_QUEUE_TIME_BUCKETS, VLLM_TTFT_BUCKETS, Signal
from tests.support.background import serve_in_background, shut_down

SGLANG_TTFT_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400)
# The first bounds of sglang:queue_time_seconds (0.5.23; the real list goes on to 3000).
SGLANG_QUEUE_BUCKETS = (0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 3, 4, 5, 10, 15, 20)
BUCKETS = {
    ("vllm", Signal.TTFT): VLLM_TTFT_BUCKETS,
    ("vllm", Signal.QUEUE_WAIT): VLLM_QUEUE_TIME_BUCKETS,
    ("sglang", Signal.TTFT): SGLANG_TTFT_BUCKETS,
    ("sglang", Signal.QUEUE_WAIT): SGLANG_QUEUE_BUCKETS,
}
MODEL = "meta-llama/Llama-3.1-70B-Instruct"


@dataclass
class FakeLeader:
    """One leader pod's metrics; mutate the fields while the exporter runs."""

    namespace: str
    lws: str
    pod: str
    engine: str = "vllm"  # "vllm", "vllm-old" (gpu_cache_usage_perc) or "sglang"
    waiting: float = 0.0
    running: float = 0.0
    kv: float = 0.0
    prompt_rate: float = 0.0
    generation_rate: float = 0.0
    ttft_rate: float = 0.0
    ttft_median: float = 0.5
    queue_rate: float = 0.0
    queue_median: float = 0.2
    data_parallel: int = 1
    tensor_parallel: int = 2
    model_name: str = MODEL
    present: bool = True
    frozen_at: float | None = None
    since: float = field(default_factory=time.time)

    def reset(self, at: float | None = None) -> None:
        """The pod restarted: counters begin again from zero."""
        self.since = time.time() if at is None else at

    def counter(self, rate: float, at: float) -> float:
        return rate * max(0.0, at - self.since)

    def rate_and_median(self, signal: Signal) -> tuple[float, float]:
        if signal is Signal.TTFT:
            return self.ttft_rate, self.ttft_median
        return self.queue_rate, self.queue_median

    def buckets(self, signal: Signal, at: float) -> list[tuple[str, float]]:
        """Cumulative (le, count) of the TTFT or queue-time histogram at ``at``."""
        bounds = BUCKETS[("sglang" if self.engine == "sglang" else "vllm", signal)]
        rate, median = self.rate_and_median(signal)
        total = self.counter(rate, at)
        cumulative = [(b, total * min(1.0, b / (2 * median))) for b in bounds]
        return [(_le(b), c) for b, c in cumulative] + [("+Inf", total)]


def _le(bound: float) -> str:
    return repr(float(bound))


def _split(value: float, parts: int) -> list[float]:
    # Engines carry unequal shares (40/60 for two) so a wrong reduction shows.
    weights = [i + 2 for i in range(parts)]
    return [value * w / sum(weights) for w in weights]


class _LeaderCollector:
    def __init__(self, leader: FakeLeader) -> None:
        self.leader = leader

    def collect(self) -> Iterable[Metric]:
        lead = self.leader
        at = lead.frozen_at if lead.frozen_at is not None else time.time()
        stamp = lead.frozen_at
        if lead.engine == "sglang":
            yield from self._sglang(lead, at, stamp)
        else:
            yield from self._vllm(lead, at, stamp)

    def _vllm(self, lead: FakeLeader, at: float, stamp: float | None) -> Iterable[Metric]:
        labels = ["model_name", "engine"]
        engines = [str(i) for i in range(lead.data_parallel)]
        kv_name = (
            "vllm:gpu_cache_usage_perc"
            if lead.engine == "vllm-old"
            else ("vllm:kv_cache_usage_perc")
        )
        gauges = [
            ("vllm:num_requests_waiting", _split(lead.waiting, len(engines))),
            ("vllm:num_requests_running", _split(lead.running, len(engines))),
            (kv_name, [lead.kv] * len(engines)),
        ]
        for name, values in gauges:
            g = GaugeMetricFamily(name, f"{name} help", labels=labels)
            for engine, value in zip(engines, values, strict=True):
                g.add_metric([lead.model_name, engine], value, timestamp=stamp)
            yield g
        for base, rate in (
            ("vllm:prompt_tokens", lead.prompt_rate),
            ("vllm:generation_tokens", lead.generation_rate),
        ):
            c = CounterMetricFamily(base, f"{base} help", labels=labels)
            for engine, share in zip(engines, _split(rate, len(engines)), strict=True):
                c.add_metric([lead.model_name, engine], lead.counter(share, at), timestamp=stamp)
            yield c
        for name, signal in (
            ("vllm:time_to_first_token_seconds", Signal.TTFT),
            ("vllm:request_queue_time_seconds", Signal.QUEUE_WAIT),
        ):
            h = HistogramMetricFamily(name, f"{name} help", labels=labels)
            for engine in engines:
                buckets = [(le, c / len(engines)) for le, c in lead.buckets(signal, at)]
                h.add_metric(
                    [lead.model_name, engine],
                    buckets,
                    sum_value=buckets[-1][1] * lead.rate_and_median(signal)[1],
                    timestamp=stamp,
                )
            yield h

    def _sglang(self, lead: FakeLeader, at: float, stamp: float | None) -> Iterable[Metric]:
        ranks = ["model_name", "engine_type", "tp_rank", "pp_rank"]
        for name, value in (
            ("sglang:num_queue_reqs", lead.waiting),
            ("sglang:num_running_reqs", lead.running),
            ("sglang:token_usage", lead.kv),
        ):
            g = GaugeMetricFamily(name, f"{name} help", labels=ranks)
            for tp in range(lead.tensor_parallel):
                g.add_metric([lead.model_name, "unified", str(tp), "0"], value, timestamp=stamp)
            yield g
        streaming = ["model_name", "engine_type", "is_streaming"]
        for base, rate in (
            ("sglang:prompt_tokens", lead.prompt_rate),
            ("sglang:generation_tokens", lead.generation_rate),
        ):
            c = CounterMetricFamily(base, f"{base} help", labels=streaming)
            for flag, share in zip(("true", "false"), _split(rate, 2), strict=True):
                c.add_metric(
                    [lead.model_name, "unified", flag], lead.counter(share, at), timestamp=stamp
                )
            yield c
        for name, signal in (
            ("sglang:time_to_first_token_seconds", Signal.TTFT),
            ("sglang:queue_time_seconds", Signal.QUEUE_WAIT),
        ):
            h = HistogramMetricFamily(name, f"{name} help", labels=streaming)
            buckets = lead.buckets(signal, at)
            h.add_metric(
                [lead.model_name, "unified", "true"],
                buckets,
                sum_value=buckets[-1][1] * lead.rate_and_median(signal)[1],
                timestamp=stamp,
            )
            yield h


@dataclass
class FakeLws:
    """Replica counts served on ``/ksm`` like kube-state-metrics' custom-resource metrics."""

    namespace: str
    name: str
    spec: int
    status: int
    ready: int


class MetricsExporter:
    """Threaded HTTP server for :class:`FakeLeader` pages; a context manager."""

    def __init__(
        self,
        leaders: Iterable[FakeLeader] = (),
        lws: Iterable[FakeLws] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host, self._port = host, port
        self.leaders: dict[tuple[str, str], FakeLeader] = {}
        self.lws: dict[tuple[str, str], FakeLws] = {}
        self.scrapes = 0
        self._lock = threading.Lock()
        for leader in leaders:
            self.add(leader)
        for item in lws:
            self.lws[(item.namespace, item.name)] = item
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, leader: FakeLeader) -> FakeLeader:
        self.leaders[(leader.namespace, leader.pod)] = leader
        return leader

    def path(self, leader: FakeLeader) -> str:
        return f"/pods/{leader.namespace}/{leader.pod}/metrics"

    def url(self, leader: FakeLeader) -> str:
        return f"{self.base_url}{self.path(leader)}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def targets(self, lws_label: str = "leaderworkerset_sigs_k8s_io_name") -> list[dict[str, Any]]:
        """Static target groups for every declared leader (present or not)."""
        return [
            {
                "targets": [f"{self.host}:{self.port}"],
                "labels": {
                    "__metrics_path__": self.path(leader),
                    "namespace": leader.namespace,
                    lws_label: leader.lws,
                    "pod": leader.pod,
                },
            }
            for leader in self.leaders.values()
        ]

    def ksm_targets(self) -> list[dict[str, Any]]:
        return [{"targets": [f"{self.host}:{self.port}"], "labels": {"__metrics_path__": "/ksm"}}]

    def render(self, path: str) -> bytes | None:
        if path == "/ksm":
            return self._ksm()
        if path == "/metrics" and len(self.leaders) == 1:
            # A one-pod exporter answers at the usual path, like a real leader pod.
            path = self.path(next(iter(self.leaders.values())))
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "pods" or parts[3] != "metrics":
            return None
        leader = self.leaders.get((parts[1], parts[2]))
        if leader is None or not leader.present:
            return None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_LeaderCollector(leader))
        return generate_latest(registry)

    def _ksm(self) -> bytes:
        lines = []
        for field_name in ("spec_replicas", "status_replicas", "status_ready_replicas"):
            name = f"kube_leaderworkerset_{field_name}"
            lines.append(f"# TYPE {name} gauge")
            for item in self.lws.values():
                value = {
                    "spec_replicas": item.spec,
                    "status_replicas": item.status,
                    "status_ready_replicas": item.ready,
                }[field_name]
                lines.append(
                    f'{name}{{namespace="{item.namespace}",leaderworkerset="{item.name}"}} {value}'
                )
        return ("\n".join(lines) + "\n").encode()

    def start(self) -> MetricsExporter:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with exporter._lock:
                    exporter.scrapes += 1
                    body = exporter.render(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._thread = serve_in_background(self._server)
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server = self._thread = None

    def __enter__(self) -> MetricsExporter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def expected_quantile(
    quantile: float, leaders: Iterable[FakeLeader], signal: Signal = Signal.TTFT
) -> float:
    """The TTFT (or queue-time) quantile PromQL computes from these leaders' bucket *rates*
    (test oracle, written independently of the product's histogram code)."""
    totals: dict[float, float] = {}
    for lead in leaders:
        for le, count in lead.buckets(signal, lead.since + 1.0):
            bound = math.inf if le == "+Inf" else float(le)
            totals[bound] = totals.get(bound, 0.0) + count
    bounds = sorted(totals)
    rank = quantile * totals[math.inf]
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        if totals[bound] >= rank:
            if math.isinf(bound):
                return previous_bound
            width = totals[bound] - previous_count
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / width
        previous_bound, previous_count = bound, totals[bound]
    return previous_bound
