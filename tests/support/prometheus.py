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

import itertools
import math
import random
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
    """A port free on 127.0.0.1 now, for a server started later (a subprocess).

    Taken below the kernel's ephemeral range where it can: a port from that range (what
    binding port 0 gives) may be handed to an outgoing connection of the suite between
    this check and the server's bind, which then fails with "address in use"."""
    low = _ephemeral_low()
    picks = random.Random()  # seeded from the OS: not the tests' fixed seeds
    tries = [picks.randrange(10000, low) for _ in range(50)] if low > 11000 else []
    for port in [*tries, 0]:  # port 0 last: any free port, from the ephemeral range
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen: int = sock.getsockname()[1]
            return chosen
    raise OSError("no free port on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


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


def _seconds(duration: str) -> float:
    """A Prometheus duration of one unit ("1s", "500ms", "2m") in seconds."""
    for unit, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(unit) and duration[: -len(unit)].isdigit():
            return int(duration[: -len(unit)]) * factor
    raise ValueError(f"unsupported scrape interval {duration!r}")


class PrometheusServer:
    """One real Prometheus process; see the module docstring."""

    def __init__(self, workdir: Path, config: Mapping[str, Any]) -> None:
        if PROMETHEUS is None:
            raise RuntimeError("the prometheus binary is not installed")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(dict(config)))
        self.interval = _seconds(str(config.get("global", {}).get("scrape_interval", "1m")))
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"

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

    def settled_second(
        self,
        *selectors: str,
        span: float = 6.0,
        timeout: float = 30.0,
        steady: float | None = None,
    ) -> float:
        """A whole second ``at`` in the past such that every scrape of the targets the
        ``selectors`` pick (PromQL label matchers, e.g. ``namespace="replay"``) in the
        ``span`` seconds up to ``at`` succeeded, and none still in flight can change
        them; with ``steady`` (seconds), also that none was missed and none took longer
        than ``steady`` (see :meth:`scrape_problem`).

        A scrape that times out on a loaded machine writes staleness markers: for about a
        second the target's series are absent, and a test that reads that instant sees a
        pod or a signal missing. A missed or slow scrape bends a rate over a window that
        holds it (one missing at a 10 s window's edge reads 14 % low), which a test that
        compares rates asks ``steady`` for. Waits a second and tries again until
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            at = float(math.floor(time.time())) - 1
            self.wait_scraped_past(at, timeout=timeout)
            problem = self.scrape_problem(at, *selectors, span=span, steady=steady)
            if problem is None:
                return at
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {span:g} s of settled scrapes of {selectors} within {timeout:g} s; "
                    f"last: {problem}"
                )
            time.sleep(1.0)

    def scrape_problem(
        self, at: float, *selectors: str, span: float, steady: float | None = None
    ) -> str | None:
        """What went wrong in ``[at - span, at]`` with the scrapes of the targets the
        ``selectors`` pick, or None: a scrape failed (``up`` 0); with ``steady``, also a
        scrape missed (two, or a window edge and a scrape, more than 1.5 scrape intervals
        apart) or one that took longer than ``steady`` seconds
        (``scrape_duration_seconds``: Prometheus stamps a sample with the scrape's start,
        an exporter computes its counters when it renders the page, so a slow scrape is
        a counter ahead of its timestamp). Call it once :meth:`wait_scraped_past` ``at``:
        scrapes still in flight can change the answer."""
        gap = 1.5 * self.interval
        window = f"[{round(span * 1000)}ms]"  # PromQL durations are whole numbers
        for selector in selectors:
            ups = self._samples(f"up{{{selector}}}{window}", at)
            if not ups:
                return f"no target matches {{{selector}}}"
            for target, points in ups:
                failed = [t for t, v in points if v != 1.0]
                if failed:
                    return f"{target} failed a scrape at {failed[0]:.3f}"
                if steady is None:
                    continue
                stamps = [at - span, *(t for t, _ in points), at]
                for before, after in itertools.pairwise(stamps):
                    if after - before > gap:
                        return f"{target} had no scrape from {before:.3f} to {after:.3f}"
            if steady is None:
                continue
            durations = self._samples(f"scrape_duration_seconds{{{selector}}}{window}", at)
            for target, points in durations:
                slow = [(t, v) for t, v in points if v > steady]
                if slow:
                    return f"{target} took {slow[0][1]:.3f} s to scrape at {slow[0][0]:.3f}"
        return None

    def _samples(self, matrix: str, at: float) -> list[tuple[str, list[tuple[float, float]]]]:
        """The raw samples of a range selector at ``at``: (target, [(time, value)])."""
        response = httpx.post(
            f"{self.url}/api/v1/query", data={"query": matrix, "time": at}, timeout=10
        )
        response.raise_for_status()
        return [
            (
                ",".join(f"{k}={v}" for k, v in sorted(item["metric"].items()) if k != "__name__"),
                [(float(t), float(v)) for t, v in item["values"]],
            )
            for item in response.json()["data"]["result"]
        ]

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
