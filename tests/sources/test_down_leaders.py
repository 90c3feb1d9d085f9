"""The down-leaders query without a cluster reader: its text, the merge of its answer
into the snapshot, and its failure rules (a refinement: a failure falls back to counting
the reporting leaders, with a warning). Against a scripted Prometheus on 127.0.0.1; the
real Prometheus end to end is in ``test_prometheus_down.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from autoscaler.engine.decide import decide
from autoscaler.engine.decision import ReasonCode
from autoscaler.engine.state import EngineState
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsKey, LwsSnapshot, Sample
from autoscaler.sources.assemble import assemble
from autoscaler.sources.cluster import LeaderPod, LwsState, StaticClusterReader
from autoscaler.sources.down_leaders import DOWN_LOOKBACK, down_leaders_query, parse_down
from autoscaler.sources.prometheus import EmptyResultError, PrometheusSource
from autoscaler.sources.prometheus_api import PrometheusQueryClient
from autoscaler.sources.promql import LabelNames
from tests.sources.conftest import INJECTED
from tests.sources.factories import only, target
from tests.sources.fake_prometheus import LWS_LABEL, FakePrometheus, http, leader_items, vector

NOW = 1_767_225_600.0
KEY = LwsKey("inference", "llama")
UP = "up{"  # only the down-leaders query selects on ``up``


def _down(*pods: str, namespace: str = "inference") -> list[dict[str, Any]]:
    return [
        {
            "metric": {
                "namespace": namespace,
                LWS_LABEL: pod.rsplit("-", 1)[0],
                "pod": pod,
                "lws_autoscaler_field": "down",
            },
            "value": [NOW, "1"],
        }
        for pod in pods
    ]


def _answers(reporting: list[str], down: list[str]) -> FakePrometheus:
    items = [i for pod in reporting for i in leader_items(NOW, pod, value="10")]
    return FakePrometheus(
        lambda q: http(200, vector(_down(*down) if UP in q else items)),
    )


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = _answers(["llama-0"], ["llama-1", "llama-2"])
    try:
        yield server
    finally:
        server.close()


def _source(
    fake: FakePrometheus, cluster: StaticClusterReader | None = None, deadline: float | None = None
) -> PrometheusSource:
    client = PrometheusQueryClient(fake.url, timeout=2, retries=0)
    return PrometheusSource(client, cluster, deadline=deadline)


# -- the query -----------------------------------------------------------------------------


def test_the_query_asks_for_down_pods_that_served_the_engines_metrics_recently() -> None:
    query = down_leaders_query(
        [
            target("inference", "llama", model_name="m"),
            target("inference", "chat"),
            target("other", "sg", engine="sglang"),
        ],
        LabelNames(),
    )
    by = f"namespace, {LWS_LABEL}, pod"
    # ``up`` carries no model name: its half selects on namespace and LWS only.
    assert (
        f'count by ({by}) (up{{namespace=~"inference|other", {LWS_LABEL}=~"chat|llama|sg"}} == 0)'
    ) in query
    # A worker pod (up == 0 for ever) never exported the engine's queue gauge: the match
    # on it keeps such pods out. A range selector skips the staleness markers a failed
    # scrape writes, so a failing leader's last real sample is still there.
    assert f" and on ({by}) (" in query
    assert (
        f'count by ({by}) (last_over_time(vllm:num_requests_waiting{{namespace=~"inference", '
        f'{LWS_LABEL}=~"llama", model_name="m"}}[600s]))'
    ) in query
    assert (
        f'count by ({by}) (last_over_time(vllm:num_requests_waiting{{namespace=~"inference", '
        f'{LWS_LABEL}=~"chat"}}[600s]))'
    ) in query
    assert (
        f'count by ({by}) (last_over_time(sglang:num_queue_reqs{{namespace=~"other", '
        f'{LWS_LABEL}=~"sg"}}[600s]))'
    ) in query
    # A leader shutting down after a scale-down refuses its scrapes too: only pods that
    # kube-state-metrics lists, and does not say are being deleted, count.
    assert (
        ' and on (namespace, pod) (kube_pod_info{namespace=~"inference|other"}'
        ' unless on (namespace, pod) kube_pod_deletion_timestamp{namespace=~"inference|other"})'
    ) in query
    assert query.startswith("label_replace(")
    assert query.endswith(', "lws_autoscaler_field", "down", "", "")')
    assert DOWN_LOOKBACK == 600.0


def test_the_query_uses_the_configured_labels_and_escapes_values() -> None:
    query = down_leaders_query(
        [target("inference", "llama", model_name=INJECTED)], LabelNames(lws="lws_name")
    )
    assert LWS_LABEL not in query
    assert "by (namespace, lws_name, pod)" in query
    # kube-state-metrics names its labels ``namespace`` and ``pod`` whatever ours are.
    other = down_leaders_query(
        [target("inference", "llama")], LabelNames(namespace="ns", pod="pod_name")
    )
    for metric in ("kube_pod_info", "kube_pod_deletion_timestamp"):
        assert (
            f"on (ns, pod_name) {'(' if metric == 'kube_pod_info' else ''}"
            f"label_replace(label_replace({metric}"
            '{namespace=~"inference"}, "ns", "$1", "namespace", "(.*)"), '
            '"pod_name", "$1", "pod", "(.*)")'
        ) in other
    assert 'model_name="x\\"} or vector(1) or up{job=\\""' in query


def test_the_answer_is_kept_for_the_targets_asked_only() -> None:
    items: list[dict[str, Any]] = [
        *_down("llama-1"),
        *_down("llama-0", namespace="other"),  # matched by the batched regexes only
        {"metric": {"namespace": "inference", LWS_LABEL: "llama"}, "value": [NOW, "1"]},
        {"metric": {"namespace": "inference", LWS_LABEL: "llama", "pod": "x"}, "value": [NOW, 1]},
    ]
    targets = [target("inference", "llama"), target("other", "chat")]
    assert parse_down(items, targets, LabelNames()) == {KEY: frozenset({"llama-1"})}


# -- the merge -------------------------------------------------------------------------------


LEADER = {"llama-0": {Signal.QUEUE_DEPTH: Sample(10.0, NOW)}}


def _counts(snapshot: LwsSnapshot | str) -> tuple[int, int, int]:
    assert isinstance(snapshot, LwsSnapshot), snapshot
    return snapshot.spec_replicas, snapshot.status_replicas, snapshot.ready_replicas


def test_down_leaders_are_ready_groups_that_do_not_report() -> None:
    snapshot = assemble(KEY, NOW, LEADER, {}, None, silent={"llama-1", "llama-2"})
    assert _counts(snapshot) == (3, 3, 3)
    assert isinstance(snapshot, LwsSnapshot)
    assert set(snapshot.leaders) == {"llama-0"}


def test_a_leader_both_reporting_and_down_counts_once() -> None:
    # Scraped by two jobs, one of them failing: it reports, and it is down.
    assert _counts(assemble(KEY, NOW, LEADER, {}, None, silent={"llama-0", "llama-1"})) == (
        2,
        2,
        2,
    )


def test_only_down_leaders_is_a_silent_lws_not_one_at_zero() -> None:
    # Activation above its threshold: without the down leaders the LWS read as parked
    # at zero and was woken to replicas.min, a scale-down of an overloaded LWS.
    activation = {Signal.ACTIVATION: Sample(8.0, NOW)}
    snapshot = assemble(KEY, NOW, {}, activation, None, wake_above=0.0, silent={"llama-0"})
    assert _counts(snapshot) == (1, 1, 1)
    assert isinstance(snapshot, LwsSnapshot)
    assert snapshot.leaders == {}


def test_the_cluster_state_is_not_overridden() -> None:
    state = LwsState(KEY, 2, 2, 1, leaders=(LeaderPod("llama-0", 0),))
    assert _counts(assemble(KEY, NOW, LEADER, {}, state, silent={"llama-1", "llama-2"})) == (
        2,
        2,
        1,
    )


# -- the source --------------------------------------------------------------------------------


def test_the_source_counts_down_leaders_only_without_a_cluster_reader(fake: FakePrometheus) -> None:
    overridden = target(
        "inference", "chat", overrides={"queueDepth": "sum by ($by) (MARKER{$selector})"}
    )
    source = _source(fake)
    try:
        result = source.fetch([target("inference", "llama"), overridden], NOW)
    finally:
        source.close()
    snapshot = only(result, "inference", "llama")
    assert _counts(snapshot) == (3, 3, 3)
    assert set(snapshot.leaders) == {"llama-0"}
    # One query, after the shared default ones (a dead Prometheus fails the cycle first),
    # before any per-policy query (which could use up the deadline).
    ups = [i for i, q in enumerate(fake.queries) if UP in q]
    (marker,) = [i for i, q in enumerate(fake.queries) if "MARKER" in q]
    assert ups == [6] == [marker - 1]
    # With a cluster reader the API server says which groups are ready: no such query.
    state = LwsState(KEY, 3, 3, 3, leaders=(LeaderPod("llama-0", 0),))
    sent = len(fake.queries)
    source = _source(fake, StaticClusterReader({KEY: state}))
    try:
        result = source.fetch([target("inference", "llama")], NOW)
    finally:
        source.close()
    assert _counts(only(result, "inference", "llama")) == (3, 3, 3)
    assert len(fake.queries) > sent
    assert not [q for q in fake.queries[sent:] if UP in q]


@pytest.mark.parametrize(
    "answer",
    [
        http(500, b'{"status":"error","errorType":"internal","error":"boom"}'),
        http(400, b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
        http(200, vector([{"metric": ["x"], "value": [NOW, "1"]}])),  # malformed
    ],
    ids=["500", "rejected", "malformed"],
)
def test_a_failing_query_falls_back_to_the_reporting_leaders(
    fake: FakePrometheus, answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    leaders = http(200, vector(leader_items(NOW, "llama-0", value="10")))
    fake.decide = lambda q: answer if UP in q else leaders
    source = _source(fake)
    caplog.set_level(logging.WARNING, logger="autoscaler.sources.down_leaders")
    try:
        result = source.fetch([target("inference", "llama")], NOW)
    finally:
        source.close()
    assert not result.errors  # a refinement: the cycle goes on as before
    assert _counts(only(result, "inference", "llama")) == (1, 1, 1)
    (record,) = caplog.records
    assert "leaders whose scrapes fail did not succeed" in record.getMessage()
    assert "a failing leader is a group fewer" in record.getMessage()


def test_the_query_is_not_sent_past_the_deadline(
    fake: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    leaders = http(200, vector(leader_items(NOW, "llama-0", value="10")))

    def decide_slowly(q: str) -> bytes:
        if "generation_tokens" in q:  # the last default query ends past the deadline
            fake.closing.wait(1.2)  # (within the 2 s timeout)
        return http(200, vector(_down("llama-1"))) if UP in q else leaders

    fake.decide = decide_slowly
    # The queries before the slow one have a second: with 0.5 s, a loaded machine could
    # use the deadline up before the slow one was even sent.
    source = _source(fake, deadline=1.0)
    caplog.set_level(logging.WARNING, logger="autoscaler.sources.down_leaders")
    try:
        result = source.fetch([target("inference", "llama", quantile=None)], NOW)
    finally:
        source.close()
    assert _counts(only(result, "inference", "llama")) == (1, 1, 1)
    assert not [q for q in fake.queries if UP in q]
    assert "ran past its 1s deadline" in caplog.records[0].getMessage()


def test_every_leader_down_holds_instead_of_failing_the_cycle() -> None:
    fake = _answers([], ["llama-0", "llama-1"])
    source = _source(fake)
    try:
        # No series but the down leaders': not "check your labels" (EmptyResultError).
        result = source.fetch([target("inference", "llama")], NOW)
        snapshot = only(result, "inference", "llama")
        assert _counts(snapshot) == (2, 2, 2)
        assert snapshot.leaders == {}
        tgt = target("inference", "llama")
        decision, _ = decide(tgt.policy, snapshot, EngineState(), NOW)
        assert decision.replicas == 2  # held, not read as zero demand
        assert ReasonCode.HOLD in {r.code for r in decision.reasons}
        # Nothing down either: the error it always was.
        fake.decide = lambda _q: http(200, vector([]))
        with pytest.raises(EmptyResultError):
            source.fetch([target("inference", "llama")], NOW)
    finally:
        source.close()
        fake.close()
