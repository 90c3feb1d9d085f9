"""The cluster-state reader against a wire-level fake of the Kubernetes API server
(``tests/support/fake_apiserver.py``: real HTTP, objects shaped like the real server's;
no kube-apiserver can run here), through the real ``kubernetes`` Python client."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.engine import EngineState, decide
from autoscaler.engine.decision import SignalStatus
from autoscaler.errors import QueryRejectedError, SourceUnavailableError
from autoscaler.policy import load_policy_file
from autoscaler.signals import Signal
from autoscaler.snapshot import (
    PAUSED_REPLICAS_ANNOTATION,
    GroupStatus,
    LwsKey,
    LwsSnapshot,
    Pause,
    Sample,
)
from autoscaler.sources.assemble import assemble
from autoscaler.sources.cluster import read_pause
from autoscaler.sources.kube import READY_TIME_UNKNOWN, KubernetesClusterReader, parse_time
from tests.sources.kube_objects import annotate_lws, api_client, lws_object, pod_object
from tests.support.fake_apiserver import FakeApiServer, status, write_kubeconfig
from tests.support.raw_server import RawServer

T = "2026-01-01T00:0{}:00Z"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


def test_reads_counts_groups_and_leaders(api: FakeApiServer) -> None:
    api.put(lws_object("inference", "llama", replicas=3, status=3, ready=1))
    # Group 0: both pods ready (the worker last, at minute 6). Group 1: worker not ready.
    api.put(
        pod_object(
            "inference", "llama", 0, 0, ip="10.0.0.10", created=T.format(0), ready_at=T.format(5)
        )
    )
    api.put(pod_object("inference", "llama", 0, 1, created=T.format(0), ready_at=T.format(6)))
    api.put(
        pod_object(
            "inference", "llama", 1, 0, ip="10.0.0.11", created=T.format(2), ready_at=T.format(7)
        )
    )
    api.put(pod_object("inference", "llama", 1, 1, created=T.format(2), ready_at=None))
    # Group 2 has no pod IP yet; a terminating group 3 is ignored.
    api.put(pod_object("inference", "llama", 2, 0, ip=None, created=T.format(8), ready_at=None))
    api.put(pod_object("inference", "llama", 3, 0, created=T.format(1), terminating=True))
    # Another LWS's pods in the namespace are not mixed in.
    api.put(lws_object("inference", "other", 1, 1, 1))
    api.put(pod_object("inference", "other", 0, 0))

    reader = KubernetesClusterReader(api_client(api))
    states = reader.read([LwsKey("inference", "llama")])
    state = states[LwsKey("inference", "llama")]
    assert (state.spec_replicas, state.status_replicas, state.ready_replicas) == (3, 3, 1)
    assert state.groups == (
        GroupStatus(0, parse_time(T.format(0)) or 0, parse_time(T.format(6))),
        GroupStatus(1, parse_time(T.format(2)) or 0, None),
        GroupStatus(2, parse_time(T.format(8)) or 0, None),
    )
    assert [(p.name, p.group_index, p.ip, p.ready) for p in state.leaders] == [
        ("llama-0", 0, "10.0.0.10", True),
        ("llama-1", 1, "10.0.0.11", True),
        ("llama-2", 2, None, False),
    ]


def test_zero_counts_are_left_out_and_a_new_lws_has_no_status(api: FakeApiServer) -> None:
    """The LWS status counts are ``int32 ... omitempty``: with no group ready the API
    server sends no ``readyReplicas`` (and a new LWS no ``status`` at all). That is 0
    ready, not an unreadable object, or an LWS could never be read while it starts."""
    stored = api.put(lws_object("inference", "starting", replicas=2, status=2, ready=0))
    assert "readyReplicas" not in stored["status"]
    assert "status" not in api.put(lws_object("inference", "new", replicas=1, status=None))
    reader = KubernetesClusterReader(api_client(api))
    states = reader.read([LwsKey("inference", "starting"), LwsKey("inference", "new")])
    assert not states.errors
    starting, new = states[LwsKey("inference", "starting")], states[LwsKey("inference", "new")]
    assert (starting.spec_replicas, starting.status_replicas, starting.ready_replicas) == (2, 2, 0)
    assert (new.spec_replicas, new.status_replicas, new.ready_replicas) == (1, 0, 0)


def test_a_leaders_named_container_ports_are_read(api: FakeApiServer) -> None:
    api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1))
    pod = pod_object("inference", "llama", 0, 0, ports={"http": 8000, "metrics": 9090})
    # A port without a name is not one a policy can refer to: left out.
    pod["spec"]["containers"][0]["ports"].append({"containerPort": 8001, "protocol": "TCP"})
    api.put(pod)
    (leader,) = (
        KubernetesClusterReader(api_client(api))
        .read([LwsKey("inference", "llama")])[LwsKey("inference", "llama")]
        .leaders
    )
    assert leader.ports == (("http", 8000), ("metrics", 9090))
    assert (leader.port_named("metrics"), leader.port_named("grpc")) == (9090, None)


def test_two_list_calls_per_namespace_whatever_the_number_of_lws(api: FakeApiServer) -> None:
    keys = []
    for i in range(5):
        api.put(lws_object("inference", f"m{i}", 1, 1, 1))
        api.put(pod_object("inference", f"m{i}", 0, 0))
        keys.append(LwsKey("inference", f"m{i}"))
    api.put(lws_object("dev", "small", 1, 1, 1))
    keys.append(LwsKey("dev", "small"))
    keys.append(LwsKey("dev", "missing"))
    before = len(api.requests)
    states = KubernetesClusterReader(api_client(api)).read(keys)
    assert len(api.requests) - before == 4
    assert set(states) == set(keys) - {LwsKey("dev", "missing")}  # absent LWS: no state
    pod_calls = [r for r in api.requests if r.path.endswith("/pods")]
    assert "leaderworkerset.sigs.k8s.io/name in (m0,m1,m2,m3,m4)" in pod_calls[-2].query[
        "labelSelector"
    ][0] or (
        "leaderworkerset.sigs.k8s.io/name in (m0,m1,m2,m3,m4)"
        in pod_calls[-1].query["labelSelector"][0]
    )


def test_api_errors_are_source_errors(api: FakeApiServer) -> None:
    api.on_get(
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets",
        lambda _body, _req: (
            403,
            status(403, "Forbidden", "leaderworkersets is forbidden: no RBAC"),
        ),
    )
    reader = KubernetesClusterReader(api_client(api), timeout=2)
    with pytest.raises(QueryRejectedError, match="403 leaderworkersets is forbidden"):
        reader.read([LwsKey("inference", "llama")])
    url = api.url
    api.stop()
    from kubernetes.client import ApiClient, Configuration

    down = KubernetesClusterReader(ApiClient(Configuration(host=url)), timeout=1)
    with pytest.raises(SourceUnavailableError, match="unreachable"):
        down.read([LwsKey("inference", "llama")])


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (500, "InternalError", SourceUnavailableError),  # the server's trouble: 5xx from 500
        (503, "ServiceUnavailable", SourceUnavailableError),
        (429, "TooManyRequests", QueryRejectedError),  # the request's: 4xx
    ],
)
def test_an_api_status_is_unavailable_from_500_and_rejected_below(
    api: FakeApiServer, code: int, reason: str, error: type[Exception]
) -> None:
    """An unavailable source is held on its last data and retried; a rejected query is a
    setup problem (RBAC, a missing CRD) that the operator must see."""
    api.on_get(
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/inference/leaderworkersets",
        lambda _body, _req: (code, status(code, reason, "told by the test")),
    )
    reader = KubernetesClusterReader(api_client(api), timeout=2)
    with pytest.raises(error, match=f"{code} told by the test") as caught:
        reader.read([LwsKey("inference", "llama")])
    assert isinstance(caught.value, SourceUnavailableError) == (code >= 500)


def _forbid(api: FakeApiServer, namespace: str) -> None:
    api.on_get(
        f"/apis/leaderworkerset.x-k8s.io/v1/namespaces/{namespace}/leaderworkersets",
        lambda _body, _req: (
            403,
            status(403, "Forbidden", f"leaderworkersets is forbidden in {namespace}"),
        ),
    )


def test_a_forbidden_namespace_fails_only_its_lws(api: FakeApiServer) -> None:
    api.put(lws_object("inference", "llama", 1, 1, 1))
    api.put(pod_object("inference", "llama", 0, 0))
    _forbid(api, "team-b")
    reader = KubernetesClusterReader(api_client(api), timeout=2)
    states = reader.read([LwsKey("inference", "llama"), LwsKey("team-b", "chat")])
    assert set(states) == {LwsKey("inference", "llama")}
    assert states[LwsKey("inference", "llama")].spec_replicas == 1
    assert "403 leaderworkersets is forbidden in team-b" in states.errors[LwsKey("team-b", "chat")]
    assert LwsKey("inference", "llama") not in states.errors
    # Every namespace refused: the whole read fails.
    _forbid(api, "inference")
    with pytest.raises(QueryRejectedError, match="403"):
        reader.read([LwsKey("inference", "llama"), LwsKey("team-b", "chat")])


class _Silent(RawServer):
    """Accepts connections on 127.0.0.1 and never answers."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def test_a_silent_api_server_costs_one_timeout_not_one_per_retry_or_namespace(
    tmp_path: Path,
) -> None:
    """Through the server's own client factory (``api_client``), which bounds retries."""
    from autoscaler.server.kube_reviews import api_client as server_api_client

    silent = _Silent()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", silent.url, token="t")
    try:
        reader = KubernetesClusterReader(server_api_client(kubeconfig), timeout=1)
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer .* within 1s"):
            reader.read([LwsKey("a", "x"), LwsKey("b", "y"), LwsKey("c", "z")])
        assert time.monotonic() - started < 4.0  # a hang would not end; slack for load
        assert len(silent.conns) == 1  # the request that got no answer was not sent again
    finally:
        silent.close()


def test_the_server_waits_5s_for_the_api_by_default(tmp_path: Path) -> None:
    """The server builds its reader without a timeout (``sources_factory``), on its own
    client (retries bounded): 5 s is what a cycle waits on a silent API server, once."""
    from autoscaler.server.kube_reviews import api_client as server_api_client

    silent = _Silent()
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", silent.url, token="t")
    try:
        reader = KubernetesClusterReader(server_api_client(kubeconfig))
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match=r"did not answer .* within 5s"):
            reader.read([LwsKey("a", "x")])
        assert 4.5 < time.monotonic() - started < 9.0
    finally:
        silent.close()


def test_no_answer_in_one_namespace_fails_the_rest_without_waiting_on_each(
    api: FakeApiServer,
) -> None:
    api.put(lws_object("a", "x", 1, 1, 1))

    def slow(_body: object, _req: object) -> tuple[int, dict[str, object]]:
        time.sleep(6.0)
        return 200, {"items": []}

    api.on_get("/apis/leaderworkerset.x-k8s.io/v1/namespaces/b/leaderworkersets", slow)
    reader = KubernetesClusterReader(api_client(api), timeout=1.0)
    before = len(api.requests)
    started = time.monotonic()
    states = reader.read([LwsKey("a", "x"), LwsKey("b", "y"), LwsKey("c", "z")])
    # One timeout (1 s), not the answer (6 s); 4 s of slack for a loaded machine. Not
    # one per namespace (c is not asked) nor a retry (b is asked once): counted below.
    assert time.monotonic() - started < 5.0
    assert set(states) == {LwsKey("a", "x")}
    assert (
        "did not answer (list leaderworkersets in b) within 1s" in states.errors[LwsKey("b", "y")]
    )
    assert "c not tried" in states.errors[LwsKey("c", "z")]
    paths = [r.path for r in api.requests[before:]]
    assert not any("/namespaces/c/" in p for p in paths)
    assert sum("/namespaces/b/" in p for p in paths) == 1


def test_a_ready_condition_without_its_time_reads_as_just_ready(api: FakeApiServer) -> None:
    """The API always stamps a condition; a hand-made object may not. Read as 1970, the
    group was the oldest, the first a scale-down took despite minGroupAge."""
    api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1))
    pod = pod_object("inference", "llama", 0, 0)
    for condition in pod["status"]["conditions"]:
        condition.pop("lastTransitionTime")
    api.put(pod)
    state = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])[
        LwsKey("inference", "llama")
    ]
    (group,) = state.groups
    assert group.ready_at == READY_TIME_UNKNOWN == math.inf


@pytest.mark.parametrize(
    ("status", "ready"),
    [(6, 6), (2, 6)],
    ids=["current-controller", "older-controller"],
)
def test_groups_on_their_way_out_count_neither_as_created_nor_ready(
    api: FakeApiServer, status: int, ready: int
) -> None:
    """Scaled down from 6 groups to 2, the 4 leaving leaders still terminating. The
    current LWS controller still counts them in ``replicas`` and ``readyReplicas`` (its
    leader StatefulSet counts terminating pods, a terminating leader is still Ready), an
    older one in ``readyReplicas`` only. Read as such, they were 4 ready groups whose
    leaders never report, and the engine scaled the 2 reporting queues up 3-fold."""
    api.put(lws_object("inference", "llama", replicas=2, status=status, ready=ready, size=1))
    for group in range(6):
        api.put(pod_object("inference", "llama", group, 0, size=1, terminating=group >= 2))
    state = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])[
        LwsKey("inference", "llama")
    ]
    assert (state.spec_replicas, state.status_replicas, state.ready_replicas) == (2, 2, 2)
    assert [p.name for p in state.leaders] == ["llama-0", "llama-1"]
    # What the engine then decides: the two leaders report 10 waiting requests each,
    # under the shipped policy's 12 per group: 2 groups, not 5.
    (policy,) = load_policy_file(REPO / "policies" / "llama-70b.yaml")
    now = parse_time("2026-01-01T01:00:00Z") or 0.0
    samples = {Signal.QUEUE_DEPTH: Sample(10.0, now), Signal.KV_CACHE: Sample(0.3, now)}
    leaders = {name: samples for name in ("llama-0", "llama-1")}
    snapshot = assemble(state.key, now, leaders, {}, state)
    assert isinstance(snapshot, LwsSnapshot)
    decision, _ = decide(policy.policy, snapshot, EngineState(), now)
    queue = next(p for p in decision.proposals if p.name == "queueDepth")
    assert (queue.status, decision.replicas) == (SignalStatus.OK, 2)


def test_a_group_restarting_during_a_scale_down_is_still_created(api: FakeApiServer) -> None:
    # Group 1's leader is replaced (its old pod terminates, the new one is not created
    # yet) while groups 2-5 leave: group 1 stays a created group, not a ready one.
    api.put(lws_object("inference", "llama", replicas=2, status=6, ready=6, size=1))
    for group in range(6):
        api.put(pod_object("inference", "llama", group, 0, size=1, terminating=group >= 1))
    state = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])[
        LwsKey("inference", "llama")
    ]
    assert (state.status_replicas, state.ready_replicas) == (2, 1)


def test_an_lws_without_size_or_replicas_has_one_group_of_one_pod(api: FakeApiServer) -> None:
    """The CRD defaults ``leaderWorkerTemplate.size`` and ``replicas`` to 1; an object
    without them (made by hand, or from before the defaults) has one group of one pod:
    its leader ready, it is."""
    lws = lws_object("inference", "llama", replicas=1, status=1, ready=1, size=1)
    del lws["spec"]["leaderWorkerTemplate"]["size"], lws["spec"]["replicas"]
    api.put(lws)
    api.put(pod_object("inference", "llama", 0, 0, size=1))
    state = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])[
        LwsKey("inference", "llama")
    ]
    assert [g.ready_at for g in state.groups] == [parse_time(T.format(5))]
    assert state.spec_replicas == 1


def test_only_the_lws_asked_for_are_read(api: FakeApiServer) -> None:
    """One list call returns every LWS of the namespace; those no policy targets are
    not read (nor do they fail the read when their objects are odd)."""
    api.put(lws_object("inference", "llama", replicas=1, status=1, ready=1))
    odd = lws_object("inference", "mistral", replicas=1, status=1, ready=1)
    odd["spec"]["leaderWorkerTemplate"]["size"] = "two"
    api.put(odd)
    states = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])
    assert (list(states), states.errors) == ([LwsKey("inference", "llama")], {})


def test_a_groups_age_is_its_leaders_or_without_one_its_oldest_pods(api: FakeApiServer) -> None:
    """The age minGroupAge and the scale-down's choice read. Group 0's leader was
    re-created at 00:07, after its workers (00:00 and 00:05): the group is as old as its
    leader. Group 1's leader is gone (being re-created): as old as its oldest worker
    (00:02, the other 00:03), with no leader to scrape."""
    api.put(lws_object("inference", "llama", replicas=2, status=2, ready=1, size=3))
    for group, worker, created in ((0, 0, 7), (0, 1, 0), (0, 2, 5), (1, 1, 3), (1, 2, 2)):
        api.put(pod_object("inference", "llama", group, worker, size=3, created=T.format(created)))
    state = KubernetesClusterReader(api_client(api)).read([LwsKey("inference", "llama")])[
        LwsKey("inference", "llama")
    ]
    assert [(g.index, g.created_at) for g in state.groups] == [
        (0, parse_time(T.format(7))),
        (1, parse_time(T.format(2))),
    ]
    assert [p.name for p in state.leaders] == ["llama-0"]


def test_an_operators_pause_is_read_from_the_lws_annotation(api: FakeApiServer) -> None:
    """``kubectl annotate leaderworkerset llama lws-autoscaler.io/paused-replicas=2`` sends
    a JSON merge patch of the annotations; the next read carries the pause, and the
    patch removing it (``...paused-replicas-``: the key set to null) lifts it."""
    api.put(lws_object("inference", "llama", replicas=4, status=4, ready=4))
    key = LwsKey("inference", "llama")
    reader = KubernetesClusterReader(api_client(api))
    assert reader.read([key])[key].pause is None

    def annotate(value: str | None) -> None:
        annotate_lws(api, "inference", "llama", PAUSED_REPLICAS_ANNOTATION, value)

    annotate("2")
    assert reader.read([key])[key].pause == Pause("2", 2)
    annotate("two")
    assert reader.read([key])[key].pause == Pause("two", None)
    annotate(None)
    assert reader.read([key])[key].pause is None


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, None),
        ({}, None),
        ({"other.io/paused-replicas": "3"}, None),
        ({PAUSED_REPLICAS_ANNOTATION: "3"}, Pause("3", 3)),
        ({PAUSED_REPLICAS_ANNOTATION: " 03\n"}, Pause(" 03\n", 3)),
        ({PAUSED_REPLICAS_ANNOTATION: "0"}, Pause("0", 0)),
        ({PAUSED_REPLICAS_ANNOTATION: "0000000004"}, Pause("0000000004", 4)),
        ({PAUSED_REPLICAS_ANNOTATION: "1000000000"}, Pause("1000000000", 1_000_000_000)),
        # Beyond any bounds (the engine clamps it to replicas.max), without int() of it.
        ({PAUSED_REPLICAS_ANNOTATION: "9" * 30}, Pause("9" * 30, 10**18)),
        # 18 digits are read as they are; from 19 on the count is that ceiling.
        ({PAUSED_REPLICAS_ANNOTATION: "9" * 18}, Pause("9" * 18, 10**18 - 1)),
        ({PAUSED_REPLICAS_ANNOTATION: "2" + "0" * 18}, Pause("2" + "0" * 18, 10**18)),
        # Not a group count: a pause at the current size (replicas None).
        ({PAUSED_REPLICAS_ANNOTATION: "-1"}, Pause("-1", None)),
        ({PAUSED_REPLICAS_ANNOTATION: "2.5"}, Pause("2.5", None)),
        ({PAUSED_REPLICAS_ANNOTATION: "true"}, Pause("true", None)),
        ({PAUSED_REPLICAS_ANNOTATION: "\u00b2"}, Pause("\u00b2", None)),  # superscript two
        ({PAUSED_REPLICAS_ANNOTATION: ""}, Pause("", None)),
        # A pasted manifest is cut in messages (at 40 characters).
        ({PAUSED_REPLICAS_ANNOTATION: "x" * 5000}, Pause("x" * 37 + "...", None)),
        ({PAUSED_REPLICAS_ANNOTATION: "x" * 40}, Pause("x" * 40, None)),
        ({PAUSED_REPLICAS_ANNOTATION: "x" * 41}, Pause("x" * 37 + "...", None)),
    ],
)
def test_read_pause(annotations: dict[str, str] | None, expected: Pause | None) -> None:
    assert read_pause(annotations) == expected
