"""Starts the real ``prometheus`` binary on 127.0.0.1 for tests, and stops it.

The server gets a free port, a temporary TSDB, and the scrape config the test passes
(usually from :func:`scrape_config` with a 1 s interval). ``stop()`` and ``start()`` may
be called again mid-test to simulate an outage: the port and TSDB are kept, so the
restarted server still holds the data scraped before.

Use it from a fixture::

    with PrometheusServer(tmp_path, scrape_config(exporter.targets())) as prom:
        prom.url  # http://127.0.0.1:PORT
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

PROMETHEUS = shutil.which("prometheus")


def needs_prometheus() -> pytest.MarkDecorator:
    return pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus binary is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape_config(
    jobs: Mapping[str, Sequence[Mapping[str, Any]]], interval: str = "1s"
) -> dict[str, Any]:
    """A prometheus.yml with one job per entry; each entry is a list of static target
    groups ``{"targets": [...], "labels": {...}}`` (``__metrics_path__`` allowed)."""
    return {
        "global": {"scrape_interval": interval, "scrape_timeout": interval},
        "scrape_configs": [
            {"job_name": name, "static_configs": [dict(g) for g in groups]}
            for name, groups in jobs.items()
        ],
    }


class PrometheusServer:
    """One real Prometheus process; see the module docstring."""

    def __init__(self, workdir: Path, config: Mapping[str, Any]) -> None:
        if PROMETHEUS is None:
            raise RuntimeError("the prometheus binary is not installed")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(dict(config)))
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"
        self.settled_at = 0.0  # set by fixtures once rates over their window are complete

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        assert self._process is None, "already running"
        log = self._log.open("ab")
        self._process = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self._log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"prometheus not ready after {timeout}s: {self._log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for assertions ---------------------------------------------------------------
    def query_count(self) -> int:
        """Queries Prometheus has answered (instant + range), from its own /metrics."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and (
                'handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def wait_scraped_past(self, at: float, timeout: float = 30.0) -> None:
        """Wait until every target has a scrape stamped after ``at`` in the TSDB.

        Until then Prometheus may still change the past up to ``at``: a scrape stamped at
        or before it that fails writes staleness markers at its own start time once it
        gives up, up to a scrape timeout later (more on a loaded machine). A target's
        scrapes run one after the other and a scrape's ``up`` sample is committed with its
        markers, so once every target's newest ``up`` is stamped after ``at``, two queries
        of any time up to ``at`` get the same answer whenever they are made."""
        self.wait_for(
            "min(timestamp(up))",
            lambda r: bool(r) and float(r[0]["value"][1]) > at,
            timeout=timeout,
        )

    def settled_second(self, selector: str, span: float = 6.0, timeout: float = 30.0) -> float:
        """A whole second ``at`` in the past such that every scrape of the targets
        ``selector`` picks (PromQL label matchers, e.g. ``namespace="replay"``) in the
        ``span`` seconds up to ``at`` succeeded, and none still in flight can change them.

        A scrape that times out on a loaded machine writes staleness markers: for about a
        second the target's series are absent, and a test that reads that instant sees a
        pod or a signal missing. Waits a second and tries again until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            at = float(math.floor(time.time())) - 1
            self.wait_scraped_past(at, timeout=timeout)
            query = f"min(min_over_time(up{{{selector}}}[{span:g}s]))"
            response = httpx.post(
                f"{self.url}/api/v1/query", data={"query": query, "time": at}, timeout=5
            )
            result = response.json()["data"]["result"]
            if result and float(result[0]["value"][1]) == 1.0:
                return at
            if time.monotonic() > deadline:
                raise AssertionError(f"no {span:g} s of successful scrapes of {{{selector}}}")
            time.sleep(1.0)

    def wait_for(self, promql: str, predicate: Any, timeout: float = 15.0) -> list[Any]:
        """Poll an instant query until ``predicate(result)`` holds; returns the result."""
        deadline = time.monotonic() + timeout
        result: list[Any] = []
        while time.monotonic() < deadline:
            response = httpx.post(f"{self.url}/api/v1/query", data={"query": promql}, timeout=5)
            result = response.json()["data"]["result"]
            if predicate(result):
                return result
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting on {promql!r}; last result {result!r}")
