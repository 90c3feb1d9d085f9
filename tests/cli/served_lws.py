"""The real ``serve`` process scaling one LWS ``inference/llama`` of one group: its
leader's metrics from a real exporter on 127.0.0.1, the cluster from the wire-level fake
API server (``tests/support/fake_apiserver.py``; no kube-apiserver can run here), which
stores the LWS and its leader pod shaped as the real server returns them. Shared by the
end-to-end tests of ``serve`` that need a cluster (Events, the operator's pause)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.server.helpers import write_policy
from tests.sources.kube_objects import lws_object, pod_object
from tests.support.exporter import FakeLeader, MetricsExporter
from tests.support.fake_apiserver import FakeApiServer

EVENTS = "/apis/events.k8s.io/v1/namespaces/inference/events"
LISTS = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets"


@dataclass
class Served:
    api: FakeApiServer
    lws: dict[str, Any]
    """The LWS as the fake API server stored it (uid included)."""
    process: subprocess.Popen[str]

    def wait(self, condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
        """Until ``condition``; fails with ``what`` after ``seconds``, or at once with the
        server's stderr when it exits."""
        deadline = time.monotonic() + seconds
        while not condition():
            assert self.process.poll() is None, self.process.communicate()[1]
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the server and wait for it (again: nothing); the fake API server
        stays up until the ``with`` ends, for reading what the server wrote."""
        if self.process.returncode is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def posted_events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.api.requests if r.method == "POST" and r.path == EVENTS]


@contextmanager
def served_lws(
    tmp_path: Path,
    leader: FakeLeader,
    port: int,
    extra: Sequence[str] = (),
    objects: Sequence[dict[str, Any]] = (),
) -> Iterator[Served]:
    """``serve --source scrape`` on plain HTTP at 127.0.0.1:``port`` (no authentication),
    a 1 s cycle, a queueDepth policy (10 a group, no up window or step limit), its
    kubeconfig's token ``sa``, and the flags in ``extra``; the API server holds
    ``objects`` too before it starts. Stopped (SIGTERM) and the exporter too on leaving."""
    exporter = MetricsExporter([leader]).start()
    policies = tmp_path / "policies"
    policies.mkdir()
    write_policy(
        policies / "llama.yaml",
        name="llama",
        lws="llama",
        signals=[{"type": "queueDepth", "targetPerGroup": 10}],
        metrics={"scrape": {"port": "http"}},
        scaleUp={"stabilizationWindow": "0s", "maxStep": None},
    )
    try:
        with FakeApiServer() as api:
            lws = api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1))
            ports = {"http": exporter.port}
            api.put(pod_object("inference", "llama", 0, 0, ip="127.0.0.1", size=1, ports=ports))
            for obj in objects:
                api.put(obj)
            config = api.write_kubeconfig(tmp_path / "kubeconfig", token="sa")
            command = [
                *(sys.executable, "-m", "autoscaler.cli.main", "serve", "--source", "scrape"),
                *("--policies", str(policies), "--kubeconfig", str(config), "--disable-auth"),
                *("--insecure", "--insecure-port", str(port), "--cycle", "1s"),
                *extra,
            ]
            process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
            served = Served(api, lws, process)
            try:
                yield served
            finally:
                served.stop()
    finally:
        exporter.stop()
