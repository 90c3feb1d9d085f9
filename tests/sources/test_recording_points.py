"""The fast recording parser (``recording_points``) must read exactly what the plain
``json.loads`` path reads: same series, same points bit for bit, same errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from autoscaler.errors import RecordingError
from autoscaler.sources import recording_format
from autoscaler.sources.recording import default_recording_path
from autoscaler.sources.recording_format import Recording, load_recording
from autoscaler.sources.recording_points import PointArrays, parse_with_arrays


def _plain(path: Path, monkeypatch: pytest.MonkeyPatch) -> Recording:
    with monkeypatch.context() as patch:
        patch.setattr(recording_format, "parse_with_arrays", lambda raw: None)
        return load_recording(path)


def _same_points(a: Recording, b: Recording) -> None:
    assert [s.metric for s in a.series] == [s.metric for s in b.series]
    for fast, plain in zip(a.series, b.series, strict=True):
        assert len(fast.points) == len(plain.points)
        for (t1, v1), (t2, v2) in zip(fast.points, plain.points, strict=True):
            assert t1 == t2
            assert (math.isnan(v1) and math.isnan(v2)) or (
                v1 == v2 and math.copysign(1, v1) == math.copysign(1, v2)
            )


def test_demo_recording_takes_the_fast_path_and_matches_the_plain_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = default_recording_path()
    fast = load_recording(path)
    assert all(isinstance(s.points, PointArrays) for s in fast.series)
    _same_points(fast, _plain(path, monkeypatch))


def _document(values: str) -> bytes:
    return (
        '{"format":"lws-autoscaler-recording","version":1,"start":0,"end":30,"step":15,'
        '"targets":[{"namespace":"ns","name":"lws"}],"series":[{"metric":{"__name__":'
        f'"vllm:num_requests_waiting","namespace":"ns","pod":"p"}},"values":{values}}}]}}'
    ).encode()


@pytest.mark.parametrize(
    "values",
    [
        '[[0,"1"],[15,"2.5"],[30,"-0.0"]]',
        '[[0,"NaN"],[15,"+Inf"],[30,"1e-3"]]',
        '[[0, "1"], [15, "2"]]',
        '[[0,"1"],[15,"x"]]',
        '[[0,"1"],[15]]',
        "[]",
    ],
)
def test_fast_and_plain_parse_agree(
    values: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    raw = _document(values)
    json.loads(raw)  # each case is valid JSON; the values themselves may be bad
    path.write_bytes(raw)
    outcomes: list[Recording | str] = []
    for loader in (load_recording, lambda p: _plain(p, monkeypatch)):
        try:
            outcomes.append(loader(path))
        except RecordingError as exc:
            outcomes.append(str(exc))
    fast, plain = outcomes
    if isinstance(fast, str) or isinstance(plain, str):
        assert fast == plain
    else:
        _same_points(fast, plain)


def test_fast_path_declines_what_it_does_not_understand() -> None:
    assert parse_with_arrays(b'{"no": "series"}') is None
    assert parse_with_arrays(b"not json") is None
    # The structure's characters in the right order but not where JSON puts them (a
    # value outside its quotes, a time inside them): the ordinary parse says what is wrong.
    for values in ('[[0,1""]]', '[["0",""]]', '[[0,"1"]x[15,"2"]]', '[[0,"1"],,[15,"2"]]'):
        assert parse_with_arrays(_document(values)) is None, values
    # A document that already holds the placeholder text is parsed the ordinary way: the
    # fast path could not tell its own placeholders from the file's.
    holding = _document('[[0,"1"],[15,"2"]]').replace(
        b'"pod":"p"', b'"pod":"lws-recording-values#0"'
    )
    assert parse_with_arrays(holding) is None
    assert parse_with_arrays(_document('[[0,"1"],[15,"2"]]')) is not None


def test_point_arrays_read_as_a_list_of_pairs() -> None:
    points = PointArrays(np.array([0.0, 15.0, 30.0]), np.array([1.0, 2.5, 4.0]))
    assert points[1] == (15.0, 2.5)
    assert points[1:] == [(15.0, 2.5), (30.0, 4.0)]
    assert points == [(0.0, 1.0), (15.0, 2.5), (30.0, 4.0)]
    assert points != [(0.0, 1.0)]
    assert repr(points) == "PointArrays(3 points)"


def test_a_saved_query_range_answer_takes_the_fast_path_too() -> None:
    answer = (
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":'
        b'{"__name__":"vllm:num_requests_waiting"},"values":[[0,"1"],[15,"2"]]}]}}'
    )
    body = parse_with_arrays(answer)
    assert body is not None
    (item,) = body["data"]["result"]
    assert isinstance(item["values"], PointArrays)
    assert item["values"] == [(0.0, 1.0), (15.0, 2.0)]
    # Our own format names its series "series", even with a "data" key beside it.
    ours = _document('[[0,"1"],[15,"2"]]').replace(b'"version":1,', b'"version":1,"data":{},')
    assert isinstance(parse_with_arrays(ours)["series"][0]["values"], PointArrays)


def test_a_series_without_points_beside_one_with_them_is_no_crash(tmp_path: Path) -> None:
    raw = _document('[[0,"1"],[15,"2"]]').replace(
        b'"series":[', b'"series":[{"metric":{"__name__":"x"},"values":null},'
    )
    body = parse_with_arrays(raw)
    assert body is not None
    assert body["series"][0]["values"] is None  # left for the ordinary checks to refuse
    path = tmp_path / "r.json"
    path.write_bytes(raw)
    with pytest.raises(RecordingError, match="values"):
        load_recording(path)
