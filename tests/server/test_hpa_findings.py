"""Which HPAs target which LeaderWorkerSet, and the Warnings a change of that makes: the
pure part of the HPA audit, on objects shaped as the API server returns them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.server.events import MAX_NOTE_BYTES
from autoscaler.server.hpa_findings import (
    HpaStanding,
    PolicyBounds,
    Stopped,
    confirmed,
    hpa_events,
    hpas_by_lws,
    lws_of,
    narrower,
    standing_of,
)
from autoscaler.snapshot import LwsKey
from tests.server.hpa_objects import NO_METRIC, SCALING, ambiguous, condition, hpa_object

NS = "inference"
KEY = LwsKey(NS, "llama-70b")


@pytest.mark.parametrize(
    ("hpa", "expected"),
    [
        pytest.param(hpa_object(NS, "h", "llama-70b"), KEY, id="the-chart's-reference"),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version="leaderworkerset.x-k8s.io/v2"),
            KEY,
            id="another-version-of-the-group-is-the-same-lws",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", kind="Deployment", api_version="apps/v1"),
            None,
            id="a-deployment-of-the-same-name",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version="example.com/v1"),
            None,
            id="a-leaderworkerset-kind-of-another-group",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version=""),
            None,
            id="no-group-is-the-core-group",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version="leaderworkerset.x-k8s.io"),
            None,
            id="a-bare-word-is-a-core-version",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version="leaderworkerset.x-k8s.io/"),
            KEY,
            id="no-version-is-still-the-group",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", api_version="leaderworkerset.x-k8s.io/v1/x"),
            None,
            id="two-slashes-is-no-api-version",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", kind="leaderworkerset"),
            KEY,
            id="the-lowercase-kind",
        ),
        pytest.param(
            hpa_object(NS, "h", "llama-70b", kind="LeaderWorkerSets"),
            None,
            id="the-plural-is-no-kind",
        ),
        pytest.param({"metadata": {"name": "h", "namespace": NS}}, None, id="no-spec"),
        pytest.param("not an object", None, id="not-an-object"),
    ],
)
def test_lws_of(hpa: Any, expected: LwsKey | None) -> None:
    assert lws_of(hpa) == expected


def test_lws_of_reads_the_namespace_of_the_hpa() -> None:
    assert lws_of(hpa_object("other", "h", "llama-70b")) == LwsKey("other", "llama-70b")


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        pytest.param(SCALING, None, id="scaling"),
        pytest.param(None, None, id="no-status-yet"),
        pytest.param(
            NO_METRIC,
            ("ScalingActive", "FailedGetExternalMetric"),
            id="cannot-read-the-metric",
        ),
        pytest.param(
            ambiguous(NS, ["a", "b"]), ("ScalingActive", "AmbiguousSelector"), id="ambiguous"
        ),
        pytest.param(
            [
                condition("ScalingActive", "False", "ScalingDisabled", "scaling is disabled"),
                condition("AbleToScale", "False", "FailedGetScale", "no scale subresource"),
            ],
            ("AbleToScale", "FailedGetScale"),
            id="able-to-scale-is-told-first-whatever-the-order",
        ),
        pytest.param(
            [condition("ScalingLimited", "True", "TooManyReplicas", "at the maximum")],
            None,
            id="held-at-a-bound-still-scales",
        ),
        pytest.param(
            [condition("ScalingActive", "Unknown", "", "")], None, id="unknown-is-not-false"
        ),
    ],
)
def test_standing_of(conditions: Any, expected: tuple[str, str] | None) -> None:
    standing = standing_of(hpa_object(NS, "h", "llama-70b", conditions))
    assert standing.name == "h"
    stopped = standing.stopped
    assert (None if stopped is None else (stopped.condition, stopped.reason)) == expected


@pytest.mark.parametrize(
    ("metrics", "follows"),
    [
        pytest.param(None, True, id="the-chart's-lws_recommended_replicas"),
        pytest.param("lws_queue_depth_per_group", True, id="another-of-ours"),
        pytest.param("vllm_num_requests_waiting", False, id="another-adapter's"),
        pytest.param([{"type": "Resource", "resource": {"name": "cpu"}}], False, id="cpu"),
        pytest.param([], False, id="no-metric"),
        pytest.param(
            ["junk", {"type": "External", "external": {"metric": {"name": ["x"]}}}, None],
            False,
            id="entries-of-any-shape",
        ),
    ],
)
def test_standing_of_tells_whether_the_hpa_reads_this_servers_metrics(
    metrics: str | list[Any] | None, follows: bool
) -> None:
    hpa = (
        hpa_object(NS, "h", "llama-70b", SCALING)
        if metrics is None or isinstance(metrics, list)
        else hpa_object(NS, "h", "llama-70b", SCALING, metric=metrics)
    )
    if isinstance(metrics, list):
        hpa["spec"]["metrics"] = metrics
    assert standing_of(hpa).follows is follows


# (the HPA's spec bounds, the policy's range, what is said; None: nothing)
NARROWER_CASES = [
    pytest.param({"minReplicas": 1, "maxReplicas": 8}, (1, 8), None, id="the-chart's-copy"),
    pytest.param({"minReplicas": 1, "maxReplicas": 12}, (1, 8), None, id="wider-is-harmless"),
    pytest.param(
        {"minReplicas": 1, "maxReplicas": 4},
        (1, 8),
        "its maxReplicas 4 is below the policy's replicas.max 8: a recommendation above 4 "
        "scales to 4",
        id="a-lower-max",
    ),
    pytest.param(
        {"minReplicas": 3, "maxReplicas": 8},
        (2, 8),
        "its minReplicas 3 is above the policy's replicas.min 2: a recommendation below 3 "
        "scales to 3",
        id="a-higher-min",
    ),
    pytest.param(
        {"maxReplicas": 8},
        (1, 8, True),
        "its minReplicas 1 keeps at least 1: the policy's scale-to-zero never reaches 0 "
        "(that needs minReplicas 0, with the HPAScaleToZero feature)",
        id="scale-to-zero-with-the-default-min",
    ),
    pytest.param(
        {"minReplicas": 3, "maxReplicas": 8},
        (2, 8, True),
        "its minReplicas 3 keeps at least 3: the policy's scale-to-zero never reaches 0 "
        "(that needs minReplicas 0, with the HPAScaleToZero feature); its minReplicas 3 is "
        "above the policy's replicas.min 2: a recommendation below 3 scales to 3",
        id="scale-to-zero-and-a-higher-min",
    ),
    pytest.param(
        {"minReplicas": 0, "maxReplicas": 8}, (1, 8, True), None, id="scale-to-zero-ready"
    ),
    pytest.param({"minReplicas": 0, "maxReplicas": 8}, (1, 8), None, id="a-lower-min-is-harmless"),
    pytest.param(
        {"minReplicas": 2, "maxReplicas": 3},
        (1, 8),
        "its maxReplicas 3 is below the policy's replicas.max 8: a recommendation above 3 "
        "scales to 3; its minReplicas 2 is above the policy's replicas.min 1: a "
        "recommendation below 2 scales to 2",
        id="both",
    ),
    pytest.param({"minReplicas": True, "maxReplicas": "4"}, (1, 8), None, id="not-counts"),
]


@pytest.mark.parametrize(("spec", "policy", "said"), NARROWER_CASES)
def test_narrower(spec: dict[str, Any], policy: tuple[Any, ...], said: str | None) -> None:
    assert narrower(spec, PolicyBounds(*policy)) == said


def test_the_bounds_of_an_hpa_that_does_not_follow_are_not_ours_to_judge() -> None:
    hpa = hpa_object(NS, "h", "llama-70b", SCALING, metric="vllm_num_requests_waiting")
    standing = standing_of(hpa, PolicyBounds(1, 100))
    assert (standing.follows, standing.narrower) == (False, None)
    ours = standing_of(hpa_object(NS, "h", "llama-70b", SCALING), PolicyBounds(1, 100))
    assert ours.narrower is not None  # maxReplicas 8 under 100


def test_the_condition_message_is_kept_on_one_line_and_bounded() -> None:
    long = condition("ScalingActive", "False", "FailedGetExternalMetric", "line\n" * 500)
    stopped = standing_of(hpa_object(NS, "h", "llama-70b", [long])).stopped
    assert stopped is not None
    assert "\n" not in stopped.message
    assert 100 < len(stopped.message) <= 300


def test_hpas_by_lws_matches_names_and_tells_unknown_from_none() -> None:
    keys = [KEY, LwsKey(NS, "mixtral"), LwsKey("other", "llama-70b")]
    listed = {
        NS: [
            hpa_object(NS, "llama-70b", "llama-70b", SCALING),
            hpa_object(NS, "keda-hpa-llama", "llama-70b", NO_METRIC),
            hpa_object(NS, "web", "llama-70b", SCALING, kind="Deployment", api_version="apps/v1"),
            hpa_object(NS, "unwatched", "qwen", SCALING),
        ]
    }
    found = hpas_by_lws(listed, keys)
    assert [h.name for h in found[KEY]] == ["keda-hpa-llama", "llama-70b"]  # sorted
    assert found[LwsKey(NS, "mixtral")] == ()  # listed, and no HPA targets it
    assert LwsKey("other", "llama-70b") not in found  # its namespace was not listed


STOPPED = Stopped("ScalingActive", "FailedGetExternalMetric", "unable to fetch")
AMBIGUOUS = Stopped("ScalingActive", "AmbiguousSelector", "controlled by multiple HPAs")


def _found(*hpas: HpaStanding) -> dict[LwsKey, tuple[HpaStanding, ...]]:
    return {KEY: hpas}


# (previous audit, this audit, expected [(reason, words in the note)])
EVENT_CASES = [
    pytest.param({}, _found(HpaStanding("a")), [], id="one-healthy-hpa"),
    pytest.param({}, _found(), [], id="no-hpa-is-no-warning"),
    pytest.param(
        {},
        _found(HpaStanding("a"), HpaStanding("keda-hpa-b")),
        [
            (
                "CompetingAutoscalers",
                "2 HorizontalPodAutoscalers target this LeaderWorkerSet (a, keda-hpa-b)",
            )
        ],
        id="two-at-start-up-are-told",
    ),
    pytest.param(
        _found(HpaStanding("a"), HpaStanding("b")),
        _found(HpaStanding("a"), HpaStanding("b")),
        [],
        id="the-same-two-are-told-once",
    ),
    pytest.param(
        _found(HpaStanding("a"), HpaStanding("b")),
        _found(HpaStanding("a"), HpaStanding("c")),
        [("CompetingAutoscalers", "(a, c)")],
        id="another-pair-is-told-again",
    ),
    pytest.param(
        _found(HpaStanding("a")),
        _found(HpaStanding("a", STOPPED)),
        [
            (
                "HPANotScaling",
                "a does not scale this LeaderWorkerSet: ScalingActive is False "
                "(FailedGetExternalMetric): unable to fetch",
            )
        ],
        id="an-hpa-stops",
    ),
    pytest.param(
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a", Stopped("ScalingActive", "FailedGetExternalMetric", "new text"))),
        [],
        id="the-same-reason-with-another-message-is-told-once",
    ),
    pytest.param(
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a", AMBIGUOUS), HpaStanding("b", AMBIGUOUS)),
        [("CompetingAutoscalers", "(a, b)")],
        id="a-second-hpa-is-one-warning-not-three",
    ),
    pytest.param(
        _found(HpaStanding("a")),
        _found(HpaStanding("a", AMBIGUOUS)),
        [("HPANotScaling", "(AmbiguousSelector)")],
        id="ambiguous-with-an-hpa-of-another-object-is-told",
    ),
    pytest.param(
        _found(HpaStanding("a", STOPPED)), _found(HpaStanding("a")), [], id="recovery-is-quiet"
    ),
]


CUT = "its maxReplicas 4 is below the policy's replicas.max 8"
EVENT_CASES += [
    pytest.param(
        _found(HpaStanding("a")),
        _found(HpaStanding("a", narrower=CUT)),
        [
            (
                "HPABoundsNarrower",
                f"a reads this recommendation but clamps it to narrower bounds than the "
                f"policy's: {CUT}",
            )
        ],
        id="narrower-bounds",
    ),
    pytest.param(
        _found(HpaStanding("a", narrower=CUT)),
        _found(HpaStanding("a", narrower=CUT)),
        [],
        id="narrower-bounds-told-once",
    ),
    pytest.param(
        _found(HpaStanding("a", narrower=CUT)),
        _found(HpaStanding("a", narrower="its maxReplicas 6 is below ...")),
        [("HPABoundsNarrower", "maxReplicas 6")],
        id="other-narrower-bounds-told-again",
    ),
]


@pytest.mark.parametrize(("previous", "current", "expected"), EVENT_CASES)
def test_hpa_events(
    previous: dict[LwsKey, tuple[HpaStanding, ...]],
    current: dict[LwsKey, tuple[HpaStanding, ...]],
    expected: list[tuple[str, str]],
) -> None:
    events = hpa_events(previous, current)
    assert [e.reason for e in events] == [reason for reason, _ in expected]
    for event, (_, words) in zip(events, expected, strict=True):
        assert (event.key, event.type) == (KEY, "Warning")
        assert words in event.note


def test_a_warning_naming_many_hpas_fits_the_api_limit() -> None:
    many = tuple(HpaStanding(f"hpa-{i:03d}-{'x' * 40}") for i in range(60))
    (event,) = hpa_events({}, {KEY: many})
    assert len(event.note.encode()) <= MAX_NOTE_BYTES
    assert event.note.startswith("60 HorizontalPodAutoscalers target this LeaderWorkerSet")


# (previous audit, this audit, what both agree on)
CONFIRM_CASES = [
    pytest.param({}, _found(HpaStanding("a", STOPPED)), {}, id="first-sight-is-not-enough"),
    pytest.param(
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a", STOPPED)),
        id="twice-the-same-stop",
    ),
    pytest.param(
        _found(HpaStanding("a")),
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a")),
        id="a-stop-seen-once",
    ),
    pytest.param(
        _found(HpaStanding("a", AMBIGUOUS)),
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a")),
        id="two-different-stops-agree-on-none",
    ),
    pytest.param(
        _found(HpaStanding("a", STOPPED)),
        _found(HpaStanding("a", Stopped(STOPPED.condition, STOPPED.reason, "other text"))),
        _found(HpaStanding("a", Stopped(STOPPED.condition, STOPPED.reason, "other text"))),
        id="the-message-may-change",
    ),
    pytest.param(
        _found(HpaStanding("a")),
        _found(HpaStanding("a"), HpaStanding("b")),
        _found(HpaStanding("a")),
        id="an-hpa-seen-once-is-not-counted",
    ),
    pytest.param(
        _found(HpaStanding("a", narrower="max 4")),
        _found(HpaStanding("a", narrower="max 5")),
        _found(HpaStanding("a")),
        id="bounds-read-differently-agree-on-none",
    ),
    pytest.param(
        _found(HpaStanding("a", narrower="max 4")),
        _found(HpaStanding("a", narrower="max 4")),
        _found(HpaStanding("a", narrower="max 4")),
        id="bounds-read-twice-are-kept",
    ),
    pytest.param(
        _found(HpaStanding("a", narrower="max 4"), HpaStanding("b", narrower="max 4")),
        _found(HpaStanding("a", narrower="max 4"), HpaStanding("b", narrower="max 4")),
        _found(HpaStanding("a"), HpaStanding("b")),
        id="with-two-hpas-bounds-are-not-the-story",
    ),
    pytest.param(
        _found(HpaStanding("a", STOPPED, narrower="max 4")),
        _found(HpaStanding("a", STOPPED, narrower="max 4")),
        _found(HpaStanding("a", STOPPED)),
        id="a-stopped-hpa's-bounds-are-not-the-story",
    ),
]


@pytest.mark.parametrize(("previous", "current", "expected"), CONFIRM_CASES)
def test_confirmed(
    previous: dict[LwsKey, tuple[HpaStanding, ...]],
    current: dict[LwsKey, tuple[HpaStanding, ...]],
    expected: dict[LwsKey, tuple[HpaStanding, ...]],
) -> None:
    assert confirmed(previous, current) == expected


def test_a_swap_shorter_than_an_audit_is_never_told() -> None:
    """A chart upgrade renaming the HPA: the new one is created before the old one is
    deleted, and one audit sees both."""
    audits = [_found(HpaStanding("old")), _found(HpaStanding("old"), HpaStanding("new"))]
    audits.append(_found(HpaStanding("new")))
    told: dict[LwsKey, tuple[HpaStanding, ...]] = {}
    events = []
    for before, now in zip([{}, *audits], audits, strict=False):
        agreed = confirmed(before, now)
        events += hpa_events(told, agreed)
        told = agreed
    assert events == []


# Anything JSON can hold, where the API server's objects have their fields: the audit
# reads HPAs as JSON (not through the client's models), so any shape must be read or
# skipped, never raise.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return value | JSON


HPA_LIKE = st.fixed_dictionaries(
    {
        "metadata": _maybe(
            st.fixed_dictionaries({"name": _maybe(st.just("h")), "namespace": _maybe(st.just(NS))})
        ),
        "spec": _maybe(
            st.fixed_dictionaries(
                {
                    "scaleTargetRef": _maybe(
                        st.fixed_dictionaries(
                            {
                                "apiVersion": _maybe(st.just("leaderworkerset.x-k8s.io/v1")),
                                "kind": _maybe(st.just("LeaderWorkerSet")),
                                "name": _maybe(st.just(KEY.name)),
                            }
                        )
                    ),
                    "metrics": _maybe(st.lists(JSON, max_size=3)),
                }
            )
        ),
        "status": _maybe(st.fixed_dictionaries({"conditions": _maybe(st.lists(JSON, max_size=3))})),
    }
)


# An HPA of the LWS whose metrics and status are anything: it reaches standing_of.
READS_OURS = {"type": "External", "external": {"metric": {"name": "lws_recommended_replicas"}}}
OF_THE_LWS = st.fixed_dictionaries(
    {
        "metadata": st.just({"name": "h", "namespace": NS}),
        "spec": st.fixed_dictionaries(
            {
                "scaleTargetRef": st.just(
                    {
                        "apiVersion": "leaderworkerset.x-k8s.io/v1",
                        "kind": "LeaderWorkerSet",
                        "name": KEY.name,
                    }
                ),
                "metrics": _maybe(st.lists(JSON | st.just(READS_OURS), max_size=3)),
                "minReplicas": _maybe(st.integers(0, 20)),
                "maxReplicas": _maybe(st.integers(0, 20)),
            }
        ),
        "status": _maybe(st.fixed_dictionaries({"conditions": _maybe(st.lists(JSON, max_size=3))})),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OF_THE_LWS | HPA_LIKE | JSON, max_size=4))
def test_any_object_is_read_or_skipped_never_raises(items: list[Any]) -> None:
    found = hpas_by_lws({NS: items}, [KEY], {KEY: PolicyBounds(2, 8, to_zero=True)})
    assert set(found) == {KEY}
    assert all(isinstance(h, HpaStanding) for h in found[KEY])
