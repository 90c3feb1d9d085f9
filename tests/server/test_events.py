"""Kubernetes Events on LeaderWorkerSets: which decisions make which events, with what
note (a table of decision pairs; the writing is tested in test_event_writer.py)."""

from __future__ import annotations

import pytest

from autoscaler.engine import Decision, Reason, ReasonCode
from autoscaler.server.events import (
    MAX_NOTE_BYTES,
    LwsEvent,
    cut_note,
    event_object,
    events_for,
    micro_time,
)
from autoscaler.snapshot import LwsKey
from tests.server.helpers import T0

KEY = LwsKey("inference", "llama-70b")
EVENTS = "/apis/events.k8s.io/v1/namespaces/inference/events"


def _decision(replicas: int | None, *codes: ReasonCode, current: int = 4) -> Decision:
    reasons = tuple(Reason(code, f"{code.value} says why") for code in codes)
    return Decision(KEY, "llama-70b", T0, replicas, current, None, reasons, ())


# (previous, current, expected [(type, reason)])
CASES = [
    pytest.param(None, _decision(6, ReasonCode.SIGNAL), [], id="first-decision-tells-nothing"),
    pytest.param(_decision(4), _decision(4, ReasonCode.SIGNAL), [], id="unchanged"),
    pytest.param(_decision(4), _decision(6), [("Normal", "ScaleUpRecommended")], id="up"),
    pytest.param(_decision(6), _decision(3), [("Normal", "ScaleDownRecommended")], id="down"),
    pytest.param(
        _decision(4),
        _decision(None, ReasonCode.NO_RECOMMENDATION),
        [("Warning", "NoRecommendation")],
        id="no-recommendation-is-no-scale-event",
    ),
    pytest.param(
        _decision(4),
        _decision(5, ReasonCode.SLOW_START, ReasonCode.FALLBACK),
        [
            ("Normal", "ScaleUpRecommended"),
            ("Warning", "SlowStart"),
            ("Warning", "FallbackReplicas"),
        ],
        id="a-change-and-two-warnings",
    ),
    pytest.param(
        _decision(None, ReasonCode.NO_RECOMMENDATION),
        _decision(3),
        [("Normal", "RecommendationResumed")],
        id="resumed-after-none",
    ),
    pytest.param(
        _decision(4, ReasonCode.SLOW_START),
        _decision(4, ReasonCode.SLOW_START),
        [],
        id="a-warning-that-lasts-is-told-once",
    ),
    pytest.param(
        _decision(4, ReasonCode.HOLD),
        _decision(4, ReasonCode.INVALID_SIGNAL),
        [("Warning", "InvalidSignal")],
        id="invalid-signal",
    ),
    pytest.param(
        _decision(4), _decision(4, ReasonCode.PARTIAL_DATA), [], id="other-codes-are-quiet"
    ),
    pytest.param(
        _decision(6, ReasonCode.SIGNAL),
        _decision(4, ReasonCode.PAUSED, ReasonCode.SIGNAL),
        [("Normal", "ScaleDownRecommended"), ("Normal", "AutoscalingPaused")],
        id="paused",
    ),
    pytest.param(
        _decision(4, ReasonCode.PAUSED),
        _decision(4, ReasonCode.PAUSED),
        [],
        id="a-pause-that-lasts-is-told-once",
    ),
    pytest.param(
        _decision(4, ReasonCode.SIGNAL),
        _decision(4, ReasonCode.INVALID_PAUSE, ReasonCode.PAUSED),
        [("Normal", "AutoscalingPaused"), ("Warning", "InvalidPause")],
        id="paused-by-a-value-that-is-no-count",
    ),
    pytest.param(
        _decision(4, ReasonCode.PAUSED),
        _decision(7, ReasonCode.SIGNAL),
        [("Normal", "ScaleUpRecommended"), ("Normal", "AutoscalingResumed")],
        id="resumed",
    ),
]


@pytest.mark.parametrize(("previous", "current", "expected"), CASES)
def test_events_for(
    previous: Decision | None, current: Decision, expected: list[tuple[str, str]]
) -> None:
    assert [(e.type, e.reason) for e in events_for(previous, current)] == expected


def test_the_scale_note_says_what_and_why() -> None:
    (event,) = events_for(_decision(4), _decision(6, ReasonCode.SIGNAL, current=4))
    assert event.note == "recommended 6 groups (was 4; current 4): Signal: Signal says why"
    unknown = Decision(KEY, "p", T0, 6, None, None, (), ())
    (event,) = events_for(_decision(None), unknown)
    assert event.note == "recommended 6 groups (was none; current unknown): "


def test_the_pause_notes_say_what_was_paused_and_what_the_rules_say_after() -> None:
    paused = _decision(2, ReasonCode.PAUSED, ReasonCode.SIGNAL)
    (_, event) = events_for(_decision(4), paused)
    assert event.note == "Paused says why"
    (_, event) = events_for(paused, _decision(5, ReasonCode.SIGNAL))
    assert event.note == "the pause was lifted: the rules recommend 5 groups"
    lifted = events_for(paused, _decision(None, ReasonCode.NO_RECOMMENDATION))
    (event,) = [e for e in lifted if e.reason == "AutoscalingResumed"]
    assert event.note == "the pause was lifted; the rules make no recommendation"


def test_a_long_note_is_cut_to_the_api_limit_on_a_character() -> None:
    long = Decision(KEY, "p", T0, 6, 4, None, (Reason(ReasonCode.SIGNAL, "é" * 2000),), ())
    (event,) = events_for(_decision(4), long)
    assert len(event.note.encode()) <= MAX_NOTE_BYTES
    assert event.note.endswith("é...")


def test_the_note_limit_is_the_api_servers_1024_bytes() -> None:
    # Written out rather than read from the module: kube-apiserver's limit is 1,024 bytes.
    assert cut_note("x" * 1024) == "x" * 1024
    assert cut_note("x" * 1025) == "x" * 1021 + "..."


def test_a_warning_note_carries_only_its_own_reasons() -> None:
    both = _decision(5, ReasonCode.SIGNAL, ReasonCode.SLOW_START, ReasonCode.FALLBACK)
    warnings = {e.reason: e.note for e in events_for(_decision(5), both) if e.type == "Warning"}
    assert warnings == {
        "SlowStart": "SlowStart says why",
        "FallbackReplicas": "FallbackReplicas says why",
    }


def test_the_reporting_instance_is_cut_to_the_api_servers_128_characters() -> None:
    event = LwsEvent(KEY, "Normal", "ScaleUpRecommended", "up")
    body = event_object(event, None, "p" * 200, T0, 0)
    assert body["reportingInstance"] == "p" * 128


def test_micro_time_has_six_fractional_digits_at_a_whole_second() -> None:
    assert micro_time(1_767_225_600.0).isoformat() == "2026-01-01T00:00:00.000000Z"
