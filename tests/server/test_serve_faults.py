"""Faults of the parts ``serve`` reads, through the real server: the source ``serve
--source scrape`` builds from its settings (its kubeconfig pointing at the wire-level fake
of the Kubernetes API, tests/support/fake_apiserver.py: no kube-apiserver can run here),
real leader pages on 127.0.0.1, the real control loop and uvicorn over HTTPS.

One bad part must cost only what it concerns: a leader whose page the exposition parser
cannot read fails that leader's scrape, a namespace whose API answers cannot be read
fails the LWSes of that namespace, and every other LWS is decided on its data and
published as usual. Before the fixes each raised out of the fetch as a plain exception
(IndexError, AttributeError, KeyError, pydantic's ValidationError), so the loop held
*every* LWS, cycle after cycle, on no data."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from autoscaler.server.runner import ServerProcess, bound_port
from autoscaler.server.series import QUEUE_DEPTH, RECOMMENDED_REPLICAS
from autoscaler.server.settings import ServeSettings
from autoscaler.server.sources_factory import build_source
from tests.server.helpers import T0, ManualClock, write_policy
from tests.sources.kube_objects import lws_object, pod_object
from tests.support.background import serve_in_background, shut_down
from tests.support.exporter import FakeLeader, MetricsExporter
from tests.support.fake_apiserver import FakeApiServer, Handler, RecordedRequest

# A label with no name after a comma: prometheus_client's parser (0.26) raises IndexError
# on it, where other malformed lines are a ValueError.
BROKEN_PAGE = b'vllm:num_requests_waiting{engine="0", =1} 3\n'


class _Page:
    """One leader pod serving a fixed body on 127.0.0.1 (any path)."""

    def __init__(self, body: bytes) -> None:
        page = body

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = serve_in_background(self._server)
        self.port = int(self._server.server_address[1])

    def stop(self) -> None:
        shut_down(self._server, self._thread)


def _leader(namespace: str, lws: str, group: int, port: int) -> dict[str, Any]:
    """A leader pod at 127.0.0.1 whose container port ``http`` is ``port`` (one group of
    one pod: no workers to list)."""
    return pod_object(namespace, lws, group, 0, ip="127.0.0.1", size=1, ports={"http": port})


@dataclass
class Serving:
    api: FakeApiServer
    process: ServerProcess
    clock: ManualClock
    http: httpx.Client

    def cycle(self) -> None:
        self.process.loop.run_cycle(self.clock.now())

    def values(self, namespace: str, metric: str) -> dict[str, str]:
        answer = self.http.get(
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
        )
        assert answer.status_code in (200, 404), answer.text
        items = answer.json().get("items", [])
        return {i["metricLabels"]["leaderworkerset"]: i["value"] for i in items}

    def decision(self, namespace: str, name: str) -> dict[str, Any]:
        answer = self.http.get(f"/debug/decisions/{namespace}/{name}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def signals(self, namespace: str, name: str) -> dict[str, str]:
        """Each signal's status in the LWS's latest decision (``/debug/decisions``)."""
        return {p["signal"]: p["status"] for p in self.decision(namespace, name)["proposals"]}


@contextmanager
def serving(
    tmp_path: Path, api: FakeApiServer, policies: list[tuple[str, str]]
) -> Iterator[Serving]:
    """``serve --source scrape --kubeconfig <the fake>`` over HTTPS, its loop's cycles run
    by the test on a manual clock. ``policies``: (namespace, LWS) pairs, scraped at the
    leaders' port named ``http``, queue target 10 per group."""
    folder = tmp_path / "policies"
    folder.mkdir()
    for namespace, lws in policies:
        write_policy(
            folder / f"{namespace}-{lws}.yaml",
            name=f"{namespace}-{lws}",
            namespace=namespace,
            lws=lws,
            target_per_group=10,
            signals=[{"type": "queueDepth", "targetPerGroup": 10}],
            metrics={"scrape": {"port": "http"}},
        )
    settings = ServeSettings(
        policies=(folder,),
        source="scrape",
        kubeconfig=api.write_kubeconfig(tmp_path / "kubeconfig", token="sa"),
        bind_address="127.0.0.1",
        secure_port=0,
        cert_dir=tmp_path / "certs",
        disable_auth=True,
        scrape_timeout=10.0,  # generous: a loaded machine must not fail a good leader's scrape
    )
    clock = ManualClock(T0 + 3600)  # the pods turned ready at T0 + 5 min
    process = ServerProcess(settings, build_source(settings), clock)
    with process.background(start_loop=False) as server:
        url = f"https://127.0.0.1:{bound_port(server)}"
        verify = ssl.create_default_context(cafile=str(settings.cert_dir / "apiserver.crt"))
        with httpx.Client(base_url=url, verify=verify, timeout=10) as http:
            yield Serving(api, process, clock, http)


def test_a_leader_page_the_parser_chokes_on_fails_that_scrape_only(tmp_path: Path) -> None:
    good = MetricsExporter([FakeLeader("inference", "llama", "llama-0", waiting=16)]).start()
    other = MetricsExporter([FakeLeader("inference", "dev", "dev-0", waiting=5)]).start()
    broken = _Page(BROKEN_PAGE)
    try:
        with FakeApiServer() as api:
            api.put(lws_object("inference", "llama", replicas=2, status=2, ready=2, size=1))
            api.put(lws_object("inference", "dev", replicas=1, status=1, ready=1, size=1))
            api.put(_leader("inference", "llama", 0, good.port))
            api.put(_leader("inference", "llama", 1, broken.port))
            api.put(_leader("inference", "dev", 0, other.port))
            with serving(tmp_path, api, [("inference", "llama"), ("inference", "dev")]) as s:
                s.cycle()
                # dev is decided on its own leader's page, as if llama's did not exist.
                assert s.values("inference", QUEUE_DEPTH)["dev"] == "5"
                assert s.signals("inference", "dev") == {"queueDepth": "ok"}
                # llama on its readable leader: the other is a failed scrape, a ready
                # group assumed to carry the average (16 each: 32 over 2 groups -> 4).
                assert s.signals("inference", "llama") == {"queueDepth": "partial"}
                assert s.values("inference", RECOMMENDED_REPLICAS) == {"llama": "4", "dev": "1"}
    finally:
        for part in (good, other, broken):
            part.stop()


# Answers of a Kubernetes API (or a proxy in front of it) that the client cannot read as
# a list: (path of the namespace "broken", the JSON it answers with).
_LWS_LIST = "/apis/leaderworkerset.x-k8s.io/v1/namespaces/broken/leaderworkersets"
_POD_LIST = "/api/v1/namespaces/broken/pods"
UNREADABLE = {
    "lws-list-a-string": (_LWS_LIST, "<html>upstream error</html>"),
    "lws-list-an-array": (_LWS_LIST, [{"kind": "LeaderWorkerSet"}]),
    "lws-item-without-metadata": (_LWS_LIST, {"kind": "List", "items": [{"spec": {}}]}),
    "lws-items-not-a-list": (_LWS_LIST, {"kind": "List", "items": "none"}),
    "pod-list-a-string": (_POD_LIST, "<html>upstream error</html>"),
    "pod-with-a-bad-time": (
        _POD_LIST,
        {
            "kind": "PodList",
            "items": [{"metadata": {"name": "chat-0", "creationTimestamp": "yesterday"}}],
        },
    ),
}


def _answering(answer: Any) -> Handler:
    """A route answering ``answer`` as JSON, whatever it is (the fake dumps any value)."""

    def handle(_body: Any, _request: RecordedRequest) -> Any:
        return answer

    return handle


def test_an_unreadable_api_answer_fails_its_namespace_only(tmp_path: Path) -> None:
    dev = FakeLeader("inference", "dev", "dev-0", waiting=5)
    chat = FakeLeader("broken", "chat", "chat-0", waiting=5)
    with (
        MetricsExporter([dev]) as dev_page,
        MetricsExporter([chat]) as chat_page,
        FakeApiServer() as api,
    ):
        api.put(lws_object("inference", "dev", replicas=1, status=1, ready=1, size=1))
        api.put(_leader("inference", "dev", 0, dev_page.port))
        api.put(lws_object("broken", "chat", replicas=1, status=1, ready=1, size=1))
        api.put(_leader("broken", "chat", 0, chat_page.port))
        with serving(tmp_path, api, [("inference", "dev"), ("broken", "chat")]) as s:
            s.cycle()
            assert s.signals("broken", "chat") == {"queueDepth": "ok"}
            for case, (path, answer) in UNREADABLE.items():
                api.on_get(path, _answering(answer))
                s.clock.advance(15)
                s.cycle()
                assert s.values("inference", QUEUE_DEPTH) == {"dev": "5"}, case
                assert s.signals("inference", "dev") == {"queueDepth": "ok"}, case
                # The broken namespace's LWS is held on no data.
                held = s.decision("broken", "chat")
                assert held["replicas"] == 1, case
                assert held["reasons"][0]["code"] == "HoldLastRecommendation", case
                api.remove_route("GET", path)
