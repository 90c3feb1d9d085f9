"""A hypothesis fuzzer of the recording reader: valid recordings (the tests' small one, as
a recording and as a curl'ed query_range answer, and the shipped demo) mutated at random
paths and bytes. Whatever the mutation, :class:`RecordingSource` either loads the file
and replays sane snapshots over its whole span (finite times, replica counts an LWS can
have, no exception from ``fetch`` or ``history``), or raises a ``RecordingError`` (an
``AutoscalerError``) whose one-line message names the file; never another exception and
never a hang (every span the mutations make is small or refused). ``simulate`` on a few
of these files prints that one line, exits 2 and leaves the last run's outputs alone.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from autoscaler.cli.main import main
from autoscaler.errors import AutoscalerError, RecordingError
from autoscaler.policy.fields import MAX_GROUPS
from autoscaler.signals import Signal
from autoscaler.snapshot import LwsSnapshot
from autoscaler.sources.base import Target
from autoscaler.sources.recording import RecordingSource, default_recording_path
from autoscaler.sources.recording_format import save_recording
from tests.simulations.dryrun.recordings import LLAMA_70B, POLICIES, waiting_pods, write_recording
from tests.sources.factories import target
from tests.sources.test_recording import small_recording

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A numpy warning (inf - inf) is a line of noise on simulate's stderr: a failure here.
pytestmark = pytest.mark.filterwarnings("error")

RECORDING: dict[str, Any] = json.loads(json.dumps(small_recording().to_json()))
QUERY_RANGE: dict[str, Any] = {
    "status": "success",
    "data": {"resultType": "matrix", "result": copy.deepcopy(RECORDING["series"])},
}
TARGETS = [
    target("inference", "llama", queue_wait=0.5),
    target("inference", "llama", engine="sglang", window=60.0),
    target("inference", "llama", model_name="m", quantile=0.99),
]
# Grid points replayed one by one; longer spans are replayed at sampled points.
FULL_REPLAY_STEPS = 400


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is: a number ``json.dumps`` cannot make (``1e400``)."""

    text: str


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# No value here makes a span of between ~100,000 and 5,000,000 steps (allowed, but slow
# to replay in a test): a start, end or step from this list is refused or small.
WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.5,
    2**63,
    10**400,
    -(10**400),
    1e300,
    -1e300,
    5e-324,
    math.nan,
    math.inf,
    -math.inf,
    Raw("1e400"),
    Raw("-1e400"),
    Raw("1e-400"),
    "",
    "x",
    "15",
    "NaN",
    "+Inf",
    "-Inf",
    "1e400",
    "\ud800",
    "llama-0",
    [],
    {},
    [1],
    [1, "2", 3],
    [[1, "2"]],
    {"a": 1},
    {"metric": {}, "values": []},
    _deep(60),
]


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*here, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _paths(item, (*here, n))


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _series_lists(doc: dict[str, Any]) -> list[list[Any]]:
    items = doc.get("series", doc.get("data", {}).get("result", []))
    return [s["values"] for s in items]


@dataclass(frozen=True)
class Edit:
    """One mutation of a JSON document (a dataclass, so a failing example reads well).

    ``replace``, ``delete``: the value at ``path``; ``unknown``: an unknown key added to
    the object at ``path``; ``reverse``, ``duplicate``, ``rotate``, ``cut``, ``shift``,
    ``pair``: series ``n``'s points reordered, repeated, cut short (so lengths
    mismatch), moved in time, or one pair given 0 to 3 items; ``values``: every value of
    series ``n`` set to ``value``; ``grid``: ``value`` is (start shift, end shift, step).
    """

    kind: str
    path: tuple[Any, ...] = ()
    value: Any = None
    n: int = 0

    def __call__(self, doc: Any) -> Any:
        if self.kind == "replace":
            if not self.path:
                return copy.deepcopy(self.value)
            _parent(doc, self.path)[self.path[-1]] = copy.deepcopy(self.value)
        elif self.kind == "delete":
            if self.path:
                del _parent(doc, self.path)[self.path[-1]]
        elif self.kind == "unknown":
            at = _parent(doc, (*self.path, None))
            if isinstance(at, dict):
                at["unknownKey"] = copy.deepcopy(self.value)
        elif self.kind == "grid":
            start, end, step = self.value
            doc["start"], doc["end"], doc["step"] = doc["start"] + start, doc["end"] + end, step
        else:
            self._points(doc)
        return doc

    def _points(self, doc: Any) -> None:
        lists = _series_lists(doc)
        values = lists[self.n % len(lists)] if lists else []
        if not values:
            return
        at = self.n % len(values)
        if self.kind == "reverse":
            values.reverse()
        elif self.kind == "duplicate":
            values[:] = [values[0]] * len(values)
        elif self.kind == "rotate":
            values[:] = values[at:] + values[:at]
        elif self.kind == "cut":
            del values[at:]
        elif self.kind == "shift":
            for pair in values:
                pair[0] = pair[0] + (self.n - 5) * 7.3
        elif self.kind == "pair":
            values[at] = values[at][: self.n % 4]
        elif self.kind == "values":
            for pair in values:
                pair[1:] = [self.value]


POINT_EDITS = ["reverse", "duplicate", "rotate", "cut", "shift", "pair"]
# Grids of up to 200,000 steps, or refused (1e5 s at 0.001 s is over 5,000,000 steps).
SHIFTS = [-1e5, -30.0, -7.5, 0.0, 7.5, 30.0, 1e5]
STEPS = [15.0, 7.5, 1.0, 60.0, 1e5, 0.001, 0.0, -15.0]
SAMPLE_VALUES = ["0", "-1", "1e300", "-1e300", "3e9", "1e-300", "NaN", "+Inf", "-Inf", "2.5"]


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[Edit]:
    paths = sorted(_paths(base), key=repr)
    # Most paths are inside the series' points: the header's and the labels' are drawn
    # as often as those.
    outside = [p for p in paths if "values" not in p]
    where = st.one_of(st.sampled_from(outside), st.sampled_from(paths))
    what = st.sampled_from(WEIRD)
    shifts = st.sampled_from(SHIFTS)
    return st.one_of(
        st.builds(Edit, st.just("replace"), where, what),
        st.builds(Edit, st.just("delete"), where),
        st.builds(Edit, st.just("unknown"), where, what),
        st.builds(Edit, st.sampled_from(POINT_EDITS), n=st.integers(0, 12)),
        st.builds(
            Edit, st.just("values"), value=st.sampled_from(SAMPLE_VALUES), n=st.integers(0, 12)
        ),
        st.builds(Edit, st.just("grid"), value=st.tuples(shifts, shifts, st.sampled_from(STEPS))),
    )


def _dumps(doc: Any) -> bytes:
    raws: list[str] = []

    def raw(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        raise TypeError(type(value))

    text = json.dumps(doc, default=raw)
    for n, token in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{n}\x00"), token)
    return text.encode("utf-8", "surrogatepass")


def _check_snapshot(snapshot: LwsSnapshot, now: float, start: float, step: float) -> None:
    assert snapshot.observed_at == now
    counts = (snapshot.spec_replicas, snapshot.status_replicas, snapshot.ready_replicas)
    for count in counts:
        assert isinstance(count, int), counts
        assert 0 <= count <= MAX_GROUPS, counts
    samples = [s for by_signal in snapshot.leaders.values() for s in by_signal.values()]
    for sample in [*samples, *snapshot.aggregates.values()]:
        # Values may be +-Inf (a recording may hold "+Inf"); NaN is no sample.
        assert not math.isnan(sample.value), sample
        assert math.isfinite(sample.timestamp), sample
        assert start - step <= sample.timestamp <= now + step, (sample, now)


def _replay(source: RecordingSource, targets: list[Target]) -> None:
    start, end, step = source.start, source.end, source.step
    steps = source._grid.times.size
    if steps <= FULL_REPLAY_STEPS:
        instants = list(source.history(targets, start - step, end + step, step))
    else:
        # Both ends in full, and fetches spread over the rest.
        head = list(source.history(targets, start - step, start + 50 * step, step))
        tail = list(source.history(targets, end - 50 * step, end + step, step))
        spread = [start + i * step for i in np.linspace(0, steps - 1, 50).round().tolist()]
        instants = [*head, *tail, *((now, source.fetch(targets, now)) for now in spread)]
    assert instants
    for now, result in instants:
        assert math.isfinite(now)
        for snapshot in result.snapshots.values():
            _check_snapshot(snapshot, now, start, step)
        assert all(isinstance(e, str) and e for e in result.errors.values())


def _event(text: str) -> None:
    """For ``--hypothesis-show-statistics``: how many examples load, and why others not."""
    with contextlib.suppress(InvalidArgument):  # outside a hypothesis test
        event(text)


def _outcome(path: Path) -> RecordingSource | None:
    """The loaded source, or None after checking the error said what it should."""
    try:
        source = RecordingSource(path)
    except RecordingError as exc:
        # RecordingError is an AutoscalerError: the CLI prints it as one line.
        message = str(exc)
        _event("refused: " + message.removeprefix(f"{path}: ")[:30])
        assert str(path) in message, message
        assert "\n" not in message, message
        assert len(message) < 1000, message
        return None
    _event("loaded, " + ("short" if source._grid.times.size <= FULL_REPLAY_STEPS else "long"))
    try:
        _replay(source, TARGETS)
    finally:
        source.close()
    return source


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    # Module-scoped: hypothesis runs every example of a test in one function-scoped fixture.
    folder = Path(tempfile.mkdtemp(prefix="recording-fuzz-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _apply(base: dict[str, Any], edits: list[Edit]) -> Any:
    doc = copy.deepcopy(base)
    for edit in edits:
        # An earlier edit may have removed or retyped this path: then it does nothing.
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            doc = edit(doc)
    return doc


@FUZZ
@given(edits=st.lists(_mutations(RECORDING), min_size=1, max_size=3), gz=st.booleans())
def test_a_mutated_recording_loads_and_replays_or_is_a_clear_error(
    scratch: Path, edits: list[Edit], gz: bool
) -> None:
    raw = _dumps(_apply(RECORDING, edits))
    path = scratch / ("mutated.json.gz" if gz else "mutated.json")
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    _outcome(path)


@settings(FUZZ, max_examples=100)
@given(edits=st.lists(_mutations(QUERY_RANGE), min_size=1, max_size=3))
def test_a_mutated_query_range_answer_loads_and_replays_or_is_a_clear_error(
    scratch: Path, edits: list[Edit]
) -> None:
    path = scratch / "query-range.json"
    path.write_bytes(_dumps(_apply(QUERY_RANGE, edits)))
    _outcome(path)


def _small_bytes(gz: bool) -> bytes:
    raw = _dumps(RECORDING)
    return gzip.compress(raw, mtime=0) if gz else raw


@settings(FUZZ, max_examples=150)
@given(
    gz=st.booleans(),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=3),
    insert=st.sampled_from([b"", b"\xff", b"\xc3\x28", b"\x00", b"\xed\xa0\x80", b"\xfe\xff"]),
)
def test_cut_corrupted_or_non_utf8_bytes_load_or_are_a_clear_error(
    scratch: Path,
    gz: bool,
    cut: float,
    flips: list[tuple[float, int]],
    insert: bytes,
) -> None:
    """A file cut at any byte, bytes flipped (in the deflate stream too), bytes that are
    not UTF-8 inserted."""
    data = bytearray(_small_bytes(gz))
    for at, xor in flips:
        data[min(int(at * len(data)), len(data) - 1)] ^= xor
    at = int(cut * len(data))
    data = data[:at] + insert + data[at:] if insert else data[:at]
    path = scratch / ("bytes.json.gz" if gz else "bytes.json")
    path.write_bytes(bytes(data))
    _outcome(path)


@pytest.fixture(scope="module")
def demo_bytes() -> bytes:
    return default_recording_path().read_bytes()


@settings(FUZZ, max_examples=40)
@given(cut=st.floats(0, 1), xor=st.integers(1, 255))
def test_the_demo_recording_cut_or_corrupted_is_a_clear_error(
    scratch: Path, demo_bytes: bytes, cut: float, xor: int
) -> None:
    at = min(int(cut * len(demo_bytes)), len(demo_bytes) - 1)
    for n, data in enumerate(
        (demo_bytes[:at], demo_bytes[:at] + bytes([demo_bytes[at] ^ xor]) + demo_bytes[at + 1 :])
    ):
        path = scratch / f"demo-{n}.json.gz"
        path.write_bytes(data)
        # A flipped byte in the gzip trailer's CRC or size is still caught by gzip; one
        # in the header's name or flags may load, and then it must replay.
        _outcome(path)


@pytest.mark.parametrize(
    "kind", ["empty", "directory", "missing", "whitespace", "gzip-empty", "null", "list"]
)
def test_files_that_hold_no_recording_are_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "r.json"
    if kind == "directory":
        path.mkdir()
    elif kind != "missing":
        data = {
            "empty": b"",
            "whitespace": b" \n\t",
            "gzip-empty": gzip.compress(b""),
            "null": b"null",
            "list": b"[]",
        }[kind]
        path.write_bytes(data)
    assert _outcome(path) is None
    assert issubclass(RecordingError, AutoscalerError)


def test_an_integer_too_large_for_a_float_is_a_clear_error(tmp_path: Path) -> None:
    """A 400-digit time or value escaped as an OverflowError traceback."""
    for at in (0, 1):
        doc = copy.deepcopy(RECORDING)
        doc["series"][0]["values"][2][at] = 10**400
        path = tmp_path / f"big-{at}.json"
        path.write_bytes(_dumps(doc))
        with pytest.raises(RecordingError, match=r"series #0 .*too large"):
            RecordingSource(path)
    answer = copy.deepcopy(QUERY_RANGE)
    answer["data"]["result"][0]["values"][0][0] = 10**400
    path = tmp_path / "query-range.json"
    path.write_bytes(_dumps(answer))
    with pytest.raises(RecordingError, match=str(path)):
        RecordingSource(path)


@pytest.mark.parametrize("start", [1e12, -1e12, 1e15, 1e18, 253_402_300_800.0])
def test_a_grid_outside_the_years_1_to_9999_is_refused(tmp_path: Path, start: float) -> None:
    """``simulate`` failed with a ValueError traceback (year 33658 is out of range) at
    1e12, and hung at 1e18 (15 s steps are below a float's resolution there)."""
    doc = copy.deepcopy(RECORDING)
    shift = start - doc["start"]
    doc["start"], doc["end"] = doc["start"] + shift, doc["end"] + shift
    for series in doc["series"]:
        for pair in series["values"]:
            pair[0] += shift
    path = tmp_path / "far.json"
    path.write_bytes(_dumps(doc))
    with pytest.raises(RecordingError, match="0001-01-01 to 9999-12-31"):
        RecordingSource(path)


@pytest.mark.parametrize("how", ["reverse", "duplicate"])
def test_a_query_range_answer_whose_times_do_not_increase_says_so(tmp_path: Path, how: str) -> None:
    """It said "needs step > 0 and end >= start" of a file that has no step."""
    answer = Edit(how, n=0)(copy.deepcopy(QUERY_RANGE))
    answer["data"]["result"] = answer["data"]["result"][:1]
    path = tmp_path / "query-range.json"
    path.write_bytes(_dumps(answer))
    with pytest.raises(RecordingError, match="timestamps of a query_range response must increase"):
        RecordingSource(path)


def test_an_infinite_counter_replays_without_a_numpy_warning() -> None:
    """inf - inf printed "RuntimeWarning: invalid value encountered in subtract" on
    simulate's stderr; the rate is NaN (unusable), as PromQL's rate() gives it."""
    recording = small_recording()
    tokens = recording.series[3]
    tokens.points[:] = [(t, math.inf) for t, _ in tokens.points]  # type: ignore[index]
    source = RecordingSource(recording=recording)
    now = recording.start + 4 * recording.step
    snapshot = source.fetch([TARGETS[0]], now).snapshots[TARGETS[0].key]
    assert Signal.PROMPT_TOKENS not in snapshot.leaders["llama-0"]
    assert Signal.QUEUE_DEPTH in snapshot.leaders["llama-0"]


@pytest.mark.parametrize("count", [2.0**31, 1e300])
def test_a_replica_count_no_lws_can_have_is_no_count(count: float) -> None:
    """1e300 became a snapshot with 10**300 replicas: an LWS's replicas is an int32."""
    recording = small_recording()
    spec = recording.series[-3]
    spec.points[2] = (spec.points[2][0], count)  # type: ignore[index]
    source = RecordingSource(recording=recording)
    now = recording.start + 2 * recording.step
    snapshot = source.fetch([TARGETS[0]], now).snapshots[TARGETS[0].key]
    # The leaders reporting stand in, as for a NaN or negative count.
    assert (snapshot.spec_replicas, snapshot.status_replicas) == (1, 1)


# -- through the CLI ---------------------------------------------------------------------


def _version(doc: dict[str, Any]) -> None:
    doc["version"] = 2


def _big_time(doc: dict[str, Any]) -> None:
    doc["series"][3]["values"][0][0] = 10**400


def _far(doc: dict[str, Any]) -> None:
    doc["start"], doc["end"] = 1e12, 1e12 + 39 * 15


def _step(doc: dict[str, Any]) -> None:
    doc["step"] = -15


def _no_format(doc: dict[str, Any]) -> None:
    del doc["format"]


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "version": _version,
    "big-time": _big_time,
    "far": _far,
    "step": _step,
    "no-format": _no_format,
}


@pytest.fixture(scope="module")
def last_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A good recording (gzipped) and an --out folder holding its run's outputs."""
    folder = tmp_path_factory.mktemp("simulate")
    counts = np.full(40, 3.0)
    pods = waiting_pods(3, np.full(40, 10.0))
    good = write_recording(folder / "good.json.gz", LLAMA_70B, 40, pods, (counts,) * 3)
    out = folder / "out"
    assert _simulate(out, good) == 0
    return out, good.read_bytes()


def _simulate(out: Path, recording: Path) -> int:
    policies = str(POLICIES / "llama-70b.yaml")
    return main(
        ["simulate", "-q", "--out", str(out), "--recording", str(recording), "--policies", policies]
    )


@pytest.mark.parametrize(
    "kind", [*EDITS, "truncated", "corrupt-gzip", "non-utf8", "empty", "directory"]
)
def test_simulate_on_a_bad_recording_says_one_line_and_keeps_the_last_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    last_run: tuple[Path, bytes],
    kind: str,
) -> None:
    out, good = last_run
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    path = tmp_path / "bad.json.gz"
    doc = json.loads(gzip.decompress(good))
    if kind in EDITS:
        EDITS[kind](doc)
        path.write_bytes(gzip.compress(_dumps(doc)))
    elif kind == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
    elif kind == "corrupt-gzip":
        path.write_bytes(good[:40] + bytes(b ^ 0x5A for b in good[40:80]) + good[80:])
    elif kind == "non-utf8":
        path.write_bytes(gzip.compress(_dumps(doc).replace(b'"llama-70b"', b'"llama-\xff"')))
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.mkdir()
    capsys.readouterr()
    assert _simulate(out, path) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("lws-autoscaler simulate: "), captured.err
    assert str(path) in captured.err
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err + captured.out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_fuzzed_base_is_a_recording_that_replays(tmp_path: Path) -> None:
    """The fuzzer starts from files ``save_recording`` writes and the reader replays."""
    path = save_recording(small_recording(), tmp_path / "r.json")
    saved = json.loads(path.read_bytes())
    assert saved | {"createdAt": ""} == RECORDING | {"createdAt": ""}
    for base, name in ((RECORDING, "r.json"), (QUERY_RANGE, "q.json")):
        path = tmp_path / name
        path.write_bytes(_dumps(base))
        assert _outcome(path) is not None
