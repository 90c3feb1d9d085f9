"""PromQL building: escaping, batching and templates (the end-to-end behaviour against a
real Prometheus is in test_prometheus.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.signals import Signal
from autoscaler.sources.promql import (
    LabelNames,
    activation_query,
    format_window,
    regex_literal,
    signal_queries,
    string_literal,
)
from tests.sources.factories import target


def _unquote(literal: str) -> str:
    """Decode a PromQL double-quoted string (Go escapes), independently of the product."""
    assert literal.startswith('"')
    assert literal.endswith('"')
    body = literal[1:-1]
    assert not re.search(r'(?<!\\)(?:\\\\)*"', body), "an unescaped quote ends the string"
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), body)


@given(st.text())
def test_string_literal_round_trips_any_text(value: str) -> None:
    assert _unquote(string_literal(value)) == value


@given(st.lists(st.from_regex(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", fullmatch=True), min_size=1))
def test_regex_literal_matches_exactly_the_names(names: list[str]) -> None:
    pattern = re.compile(_unquote(regex_literal(names)))
    for name in names:
        assert pattern.fullmatch(name)
        if "." in name:
            assert not pattern.fullmatch(name.replace(".", "x"))  # "." is not a wildcard


def test_query_count_does_not_grow_with_targets() -> None:
    one = signal_queries([target("a", "m0", queue_wait=0.9)], LabelNames())
    many = signal_queries(
        [target(f"ns{i % 7}", f"m{i}", queue_wait=0.9) for i in range(200)], LabelNames()
    )
    assert len(one) == len(many) == 7
    assert {q.key.signal for q in many} == set(Signal) - {Signal.ACTIVATION}


def test_queries_split_only_by_what_changes_their_text() -> None:
    targets = [
        target("a", "x"),
        target("a", "y", window=120.0),  # another window: new counter/TTFT queries
        target("a", "z", engine="sglang"),  # another engine: a whole new set
        target("a", "w", quantile=None),  # no TTFT signal: no TTFT query for it
        target("a", "u", queue_wait=0.9),  # a queue-wait signal: one query, like TTFT's
        target("a", "v", overrides={"queueDepth": "sum by ($by) (q{$selector})"}),
    ]
    queries = signal_queries(targets, LabelNames())
    by_signal: dict[Signal, int] = {}
    for query in queries:
        by_signal[query.key.signal] = by_signal.get(query.key.signal, 0) + 1
    assert by_signal[Signal.QUEUE_DEPTH] == 3  # vllm, sglang, override
    assert by_signal[Signal.KV_CACHE] == 2  # gauges ignore the window
    assert by_signal[Signal.PROMPT_TOKENS] == 3  # 10s vllm, 120s vllm, sglang
    assert by_signal[Signal.TTFT] == 3
    assert by_signal[Signal.QUEUE_WAIT] == 1
    override = next(q for q in queries if q.key.override is not None)
    assert override.promql.startswith(
        "sum by (namespace, leaderworkerset_sigs_k8s_io_name, pod) (q{"
    )
    assert 'leaderworkerset_sigs_k8s_io_name=~"v"' in override.promql


def test_queue_wait_query_reads_the_engine_histogram_with_the_policy_quantile() -> None:
    vllm = [target("ns", "m", quantile=None, queue_wait=0.75)]
    sglang = [target("ns", "s", engine="sglang", quantile=None, queue_wait=0.5)]
    queries = {q.key.signal: q.promql for q in signal_queries(vllm, LabelNames())}
    assert Signal.TTFT not in queries  # only what the policy scales on
    promql = queries[Signal.QUEUE_WAIT]
    assert promql.startswith("((histogram_quantile(0.75, sum by (namespace, ")
    assert "rate(vllm:request_queue_time_seconds_bucket{" in promql
    assert "timestamp(vllm:request_queue_time_seconds_count{" in promql
    (sg,) = [q for q in signal_queries(sglang, LabelNames()) if q.key.signal is Signal.QUEUE_WAIT]
    assert "histogram_quantile(0.5, " in sg.promql
    assert "rate(sglang:queue_time_seconds_bucket{" in sg.promql


def test_default_query_shapes() -> None:
    queries = {q.key.signal: q.promql for q in signal_queries([target("ns", "m")], LabelNames())}
    kv = queries[Signal.KV_CACHE]
    assert "avg by" in kv
    assert "vllm:kv_cache_usage_perc" in kv
    assert "vllm:gpu_cache_usage_perc" in kv
    assert kv.index("kv_cache_usage_perc") < kv.index("gpu_cache_usage_perc")  # new name wins
    assert "rate(vllm:prompt_tokens_total{" in queries[Signal.PROMPT_TOKENS]
    assert "[10s]" in queries[Signal.PROMPT_TOKENS]
    assert queries[Signal.TTFT].startswith("((histogram_quantile(0.9, sum by (namespace, ")
    for promql in queries.values():
        assert "label_replace(" in promql
        assert '"lws_autoscaler_field", "timestamp"' in promql
    sglang = {
        q.key.signal: q.promql
        for q in signal_queries([target("ns", "m", engine="sglang")], LabelNames())
    }
    copies = "container, endpoint, instance, job, {}prometheus, prometheus_replica, service"
    # SGLang gauges collapse the ranks and the scrape copies; counters only the copies.
    ranks = "moe_ep_rank, pp_rank, "
    assert f"max without ({copies.format(ranks)}, tp_rank)" in sglang[Signal.QUEUE_DEPTH]
    assert f"max without ({copies.format('')}) (rate(" in sglang[Signal.PROMPT_TOKENS]


def test_activation_substitutes_escaped_names() -> None:
    built = activation_query(
        [target("ns", "m", activation="sum(gw{ns=$namespace, svc=$name})"), target("ns", "other")]
    )
    assert built is not None
    promql, index = built
    assert 'sum((sum(gw{ns="ns", svc="m"})))' in promql
    assert list(index.values()) == [target("ns", "m").key]
    assert activation_query([target("ns", "other")]) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60.0, "60s"), (90.0, "90s"), (0.5, "500ms"), (1.5, "1500ms"), (2.25, "2250ms")],
)
def test_format_window(seconds: float, text: str) -> None:
    assert format_window(seconds) == text


def test_label_names_are_validated() -> None:
    with pytest.raises(ValueError, match="not a valid Prometheus label name"):
        LabelNames(lws="leaderworkerset.sigs.k8s.io/name")
    # A scrape label is collapsed before the sum (``max without (..., service, ...)``):
    # as the LWS label, the values would lose it and match no target.
    for scrape_label in ("service", "job", "instance", "container"):
        with pytest.raises(ValueError, match="names the scrape, not the leader"):
            LabelNames(lws=scrape_label)
