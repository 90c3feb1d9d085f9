"""Fuzzing the trace readers and the profile loader from the shipped excerpts.

Each case takes a small piece of a shipped file (an Azure excerpt, the Mooncake excerpt,
a ServeGen client file, a shipped profile) and breaks it the way real files break: cut
at a byte, a field dropped or added, a count that is not a number (NaN, inf, negative,
10**400), timestamps out of order, duplicated, before 1970 or in the year 10000,
non-UTF-8 bytes, a BOM, CRLF line ends, a JSONL line that is no object. The property
("bad input gets a clear error and loses nothing"): reading gives a workload that is sane
(finite, sorted arrivals from 0, whole token counts in 0..2**53 - 1, within the replay
limits of :mod:`simulations.trace_limits`) or an :class:`AutoscalerError` whose message
names the file; never another exception. A few CLI cases check that such a file ends the
benchmark with exit 2 and one line on stderr, leaving the previous run's outputs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.cli.main import main
from autoscaler.errors import AutoscalerError
from simulations.profile import PROFILE_DIR, ServingProfile, load_profile
from simulations.trace_limits import MAX_REPLAY_SECONDS, MAX_REQUESTS, MIN_REPLAY_SECONDS
from simulations.traces import Trace, TraceFormat
from simulations.workload import DATA, WorkloadOptions, load_workload

SERVEGEN_CLIENT = DATA / "servegen" / "data" / "reason" / "deepseek-r1" / "chunk-0-trace.csv"
MAX_TOKENS = 2**53 - 1  # the bound the Mooncake reader states, and the Azure one keeps


def _head(path: Path, lines: int) -> bytes:
    """The first ``lines`` lines of a shipped file: small, so that a case reads fast."""
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


def _busy_servegen_rows() -> bytes:
    """A run of the client file's rows that has requests (its first rows are idle)."""
    rows = SERVEGEN_CLIENT.read_bytes().splitlines(keepends=True)
    busy = [i for i, row in enumerate(rows) if row.split(b",")[1] not in (b"0", b"")]
    return b"".join(rows[busy[0] : busy[0] + 4])


BASES: dict[TraceFormat, list[bytes]] = {
    "azure": [
        _head(DATA / "azure_conv_excerpt.csv", 40),
        _head(DATA / "azure_code_excerpt.csv", 40),
    ],
    "mooncake": [_head(DATA / "mooncake_synthetic_excerpt.jsonl", 30)],
    "servegen": [_busy_servegen_rows()],
}
SUFFIX = {"azure": "trace.csv", "mooncake": "trace.jsonl", "servegen": "chunk-0-trace.csv"}

BIG = "1" + "0" * 400  # 10**400
BAD_NUMBERS = [
    "",
    " ",
    "abc",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "-1",
    "-0",
    "1.5",
    "1e400",
    BIG,
    "-" + BIG,
    "9223372036854775807",
    "9223372036854775808",
    "9007199254740993",
    "0x10",
    "1_000",
    " 7 ",
    "\x00",
    "\u0663",
    "1e5",
    "5e-324",
    "1e308",
]
BAD_STAMPS = [
    "",
    "NaT",
    "now",
    "1",
    "2023-11-16",
    "1969-12-31 23:59:59",
    "1970-01-01 00:00:00",
    "1678-01-01 00:00:00",
    "1677-09-21 00:12:44",
    "2261-12-31 23:59:59.9999999",
    "2262-04-12 00:00:00",
    "9999-12-31 23:59:59",
    "10000-01-01 00:00:00",
    "0001-01-01 00:00:00",
    "2023-02-30 00:00:00",
    "2023-11-16 24:00:00",
    "2023-11-16T18:17:03.9799600",
    "2023-11-16 18:17:03.97996001234567",
    "2023-11-16 18:17:03+01:00",
    "x" * 140_000,
]
BAD_JSON_VALUES = [
    '"7000"',
    "true",
    "null",
    "[]",
    "{}",
    "5.9",
    "7000.0",
    "-1",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    BIG,
    "9007199254740992",
    "9007199254740991",
    "0",
    '"\\ud800"',
]
BAD_JSON_LINES = ["[]", "1", "null", '"x"', "{", "}{", "{}", '{"timestamp": 1}', "[" * 5000]


@st.composite
def _row_edit(draw: st.DrawFn, fmt: TraceFormat) -> Any:
    """One edit of one row: (kind, row index, field index, new text)."""
    kind = draw(
        st.sampled_from(["value", "drop", "extra", "swap", "duplicate", "stamp", "line", "blank"])
    )
    row = draw(st.integers(0, 40))
    field = draw(st.integers(0, 8))
    if fmt == "mooncake":
        text = draw(st.sampled_from(BAD_JSON_LINES if kind == "line" else BAD_JSON_VALUES))
    elif kind == "stamp" and fmt == "azure":
        text = draw(st.sampled_from(BAD_STAMPS))
    else:
        text = draw(st.sampled_from([*BAD_NUMBERS, "Gamma", "Weibull", "Pareto", "Poisson"]))
    return kind, row, field, text


def _edit_csv(lines: list[str], kind: str, row: int, field: int, text: str) -> None:
    if not lines:
        return
    i = row % len(lines)
    fields = lines[i].split(",")
    if kind in ("value", "stamp"):
        fields[(0 if kind == "stamp" else field) % len(fields)] = text
    elif kind == "drop":
        del fields[field % len(fields)]
    elif kind == "extra":
        fields.insert(field % (len(fields) + 1), text)
    elif kind == "swap":
        j = field % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
        return
    elif kind == "duplicate":
        lines.insert(i, lines[i])
        return
    elif kind == "line":
        lines[i] = text
        return
    elif kind == "blank":
        lines.insert(i, "")
        return
    lines[i] = ",".join(fields)


_KEYS = ("timestamp", "input_length", "output_length")


def _edit_jsonl(lines: list[str], kind: str, row: int, field: int, text: str) -> None:
    if not lines:
        return
    i = row % len(lines)
    key = _KEYS[field % 3]
    if kind == "line":
        lines[i] = text
    elif kind == "swap":
        j = field % len(lines)
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "blank":
        lines.insert(i, "   ")
    elif kind == "drop":
        lines[i] = lines[i].replace(f'"{key}": ', '"gone": ', 1)
    elif kind == "extra":
        lines[i] = lines[i].replace("{", f'{{"{key}": {text}, ', 1)  # a repeated key
    else:
        start = lines[i].find(f'"{key}": ')
        if start >= 0:
            start += len(key) + 4
            end = lines[i].find(",", start)
            lines[i] = lines[i][:start] + text + lines[i][end:]


def _one_in(draw: st.DrawFn, n: int) -> bool:
    """A damage done to one case in ``n``: most cases keep enough to be read (not 0,
    which hypothesis draws far more often than one time in ``n``)."""
    return draw(st.integers(0, n - 1)) == n - 1


@st.composite
def _broken_file(draw: st.DrawFn, fmt: TraceFormat) -> bytes:
    """A shipped excerpt with edits, then whole-file damage."""
    base = draw(st.sampled_from(BASES[fmt])).decode()
    lines = base.splitlines()
    header = lines[:1] if fmt == "azure" else []
    body = lines[len(header) :]
    shape = draw(st.sampled_from(["rows"] * 8 + ["empty", "header-only"]))
    if shape == "empty":
        body, header = [], []
    elif shape == "header-only":
        body = []
    for kind, row, field, text in draw(st.lists(_row_edit(fmt), max_size=3)):
        (_edit_jsonl if fmt == "mooncake" else _edit_csv)(body, kind, row, field, text)
    if fmt == "servegen" and draw(st.booleans()):
        # Windows far from the first day: before 0, past a year of replay, not numbers.
        far = draw(st.sampled_from(["-600", "-1e300", "1e17", "1e300", "3.2e7", "nan"]))
        i = draw(st.integers(0, max(0, len(body) - 1)))
        if body:
            body[i] = ",".join([far, *body[i].split(",")[1:]])
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = newline.join(header + body).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data += newline.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if _one_in(draw, 4):
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\x80\x80", b"\xed\xa0\x80", b"\x00"]))
        data = data[:at] + junk + data[at:]
    if _one_in(draw, 3):
        data = data[: len(data) - draw(st.integers(0, len(data)))]
    return data


def _check_sane(trace: Trace) -> None:
    """What every policy may assume of the arrivals it replays."""
    arrival, prompt, output = trace.arrival, trace.prompt_tokens, trace.output_tokens
    assert len(arrival) == len(prompt) == len(output)
    assert 2 <= len(trace) <= MAX_REQUESTS
    assert arrival.dtype == np.float64
    assert prompt.dtype == output.dtype == np.int64
    assert np.all(np.isfinite(arrival))
    assert np.all(np.diff(arrival) >= 0)
    assert arrival[0] >= 0
    assert MIN_REPLAY_SECONDS <= trace.duration <= MAX_REPLAY_SECONDS
    for counts in (prompt, output):
        assert np.all(counts >= 0)
        assert np.all(counts <= MAX_TOKENS)


def _read_or_refuse(path: Path, fmt: TraceFormat, options: WorkloadOptions) -> None:
    try:
        trace = load_workload(path, options)
    except AutoscalerError as exc:
        message = str(exc)
    else:
        _check_sane(trace)
        return
    assert path.name in message, message
    assert "\n" not in message, message


FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("fmt", ["azure", "mooncake", "servegen"])
@FUZZ
@given(data=st.data())
def test_a_broken_trace_is_read_sanely_or_refused_naming_the_file(
    tmp_path: Path, fmt: TraceFormat, data: st.DataObject
) -> None:
    path = tmp_path / SUFFIX[fmt]
    path.write_bytes(data.draw(_broken_file(fmt)))
    given_format = data.draw(st.sampled_from([fmt, None]))
    options = WorkloadOptions(
        format=given_format,
        rate_scale=data.draw(st.sampled_from([1.0, 0.5, 2.5])),
        time_compression=data.draw(st.sampled_from([1.0, 1.0, 10.0])),
    )
    _read_or_refuse(path, fmt, options)


# -- profiles ---------------------------------------------------------------------------

PROFILE_TEXTS = [p.read_text() for p in sorted(PROFILE_DIR.glob("*.yaml"))]
BAD_PROFILE_VALUES: list[Any] = [
    "20000",
    "",
    None,
    True,
    [],
    {},
    -1,
    0,
    -0.5,
    0.0,
    1e-300,
    5e-324,
    1e308,
    10**400,
    -(10**400),
    float("inf"),
    float("-inf"),
    float("nan"),
    2**63,
    2**64,
    3.5,
]


def _leaves(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*at, k))] or [at]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*at, i))] or [at]
    return [at]


def _set(node: Any, at: tuple[Any, ...], value: Any, delete: bool) -> None:
    if not at:  # the whole document: an unknown key added at the top
        node.update(value)
        return
    for key in at[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[at[-1]]
    else:
        node[at[-1]] = value


def _yaml_scalar(value: Any) -> str:
    """A value as YAML 1.2 writes it (safe_dump writes 10**400 as a plain int, and
    ``.inf``/``.nan`` for the floats the loader must refuse)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


@st.composite
def _broken_profile(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(draw(st.sampled_from(PROFILE_TEXTS)))
    for _ in range(draw(st.integers(0, 3))):
        leaves = _leaves(data)
        at = draw(st.sampled_from(leaves))
        if not at:
            continue
        choice = draw(st.sampled_from(["value", "value", "delete", "unknown"]))
        if choice == "unknown":
            _set(data, (), {**data, "surprise": 1}, delete=False)
        else:
            _set(data, at, draw(st.sampled_from(BAD_PROFILE_VALUES)), choice == "delete")
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.booleans()):  # a number YAML reads as a float too large for one
        text = text.replace("kv_cache_tokens: ", "kv_cache_tokens: 1e400 #", 1)
    raw = text.encode()
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if _one_in(draw, 4):
        at_byte = draw(st.integers(0, len(raw)))
        raw = raw[:at_byte] + draw(st.sampled_from([b"\xff", b"\x00", b"\t"])) + raw[at_byte:]
    if _one_in(draw, 4):
        raw = raw[: len(raw) - draw(st.integers(0, len(raw)))]
    return raw


def _check_profile(profile: ServingProfile) -> None:
    numbers = [
        profile.prefill_tokens_per_second,
        profile.decode.base_seconds,
        profile.decode.per_sequence_seconds,
        profile.decode.per_kv_token_seconds,
        profile.cold_start.median_seconds,
        profile.cold_start.spread,
        profile.drain_seconds,
    ]
    assert all(isinstance(v, float | int) and math.isfinite(v) and v >= 0 for v in numbers)
    assert profile.decode.base_seconds > 0
    assert profile.cold_start.median_seconds > 0
    assert profile.prefill_tokens_per_second >= 100
    assert min(profile.gpus_per_group, profile.max_num_seqs, profile.kv_cache_tokens) >= 1
    assert profile.kv_cache_tokens >= profile.max_context_tokens >= 1


@FUZZ
@given(raw=_broken_profile())
def test_a_broken_profile_loads_sanely_or_is_refused_naming_the_file(
    tmp_path: Path, raw: bytes
) -> None:
    path = tmp_path / "my-gpu.yaml"
    path.write_bytes(raw)
    try:
        profile = load_profile(str(path))
    except AutoscalerError as exc:
        problems = str(exc).splitlines()
    else:
        _check_profile(profile)
        return
    # One line per problem, each naming the file (docs/benchmark.md, Profiles).
    assert all(line.startswith(f"{path}") for line in problems), problems


@pytest.mark.parametrize("value", [_yaml_scalar(v) for v in (10**400, -(10**400))])
def test_a_profile_number_too_large_for_a_float_is_refused(tmp_path: Path, value: str) -> None:
    text = PROFILE_TEXTS[0]
    path = tmp_path / "my-gpu.yaml"
    path.write_text(
        text.replace("prefill_tokens_per_second: ", f"prefill_tokens_per_second: {value} #", 1)
    )
    with pytest.raises(AutoscalerError, match=r"my-gpu\.yaml"):
        load_profile(str(path))


# -- defects the fuzzer found, kept as plain cases --------------------------------------

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_a_field_over_the_csv_limit_is_a_trace_error_naming_its_line(tmp_path: Path) -> None:
    # csv.Error ("field larger than field limit (131072)") escaped as a traceback.
    path = tmp_path / "trace.csv"
    path.write_text(HEADER + "2023-11-16 18:17:03.97,1,1\n" + "x" * 140_000 + ",1,1\n")
    with pytest.raises(AutoscalerError, match=r"trace\.csv:3: .*field"):
        load_workload(path, WorkloadOptions(format="azure"))


def test_stamps_over_292_years_apart_keep_their_order_and_span(tmp_path: Path) -> None:
    # The span in int64 nanoseconds wrapped past 292 years: 1678 and 2261 (2**64 ns
    # apart, less 0.55 years) came out as the later request 0.55 years *before* the
    # first, and 1700 to 2200 as 84.6 years instead of 500.
    path = tmp_path / "trace.csv"
    path.write_text(
        HEADER + "1700-01-01 00:00:00,1,2\n2200-01-01 00:00:00,3,4\n2261-12-31 00:00:00,5,6\n"
    )
    trace = load_workload(path, WorkloadOptions(format="azure", time_compression=1e4))
    years = trace.arrival * 1e4 / (365.2425 * 86_400)
    assert years == pytest.approx([0.0, 500.0, 562.0], abs=0.01)
    assert list(trace.prompt_tokens) == [1, 3, 5]


# 2**53, 2**63 - 1 (an int64, over MAX_TOKENS) and 2**63 (not an int64 at all).
@pytest.mark.parametrize(
    "count", ["9007199254740992", "9223372036854775807", "9223372036854775808"]
)
def test_a_token_count_over_2_53_is_refused_as_in_mooncake(tmp_path: Path, count: str) -> None:
    # 2**63 - 1 prompt tokens plus 1 output token wrapped to a negative int64 in the
    # gateway's "prompt + output > max_context_tokens" check: the request was admitted.
    path = tmp_path / "trace.csv"
    path.write_text(HEADER + "2023-11-16 18:17:03.97,1,1\n" + f"2023-11-16 18:17:05.97,{count},1\n")
    with pytest.raises(AutoscalerError, match=r"trace\.csv:3: ContextTokens .* out of range"):
        load_workload(path, WorkloadOptions(format="azure"))


def test_token_counts_from_0_to_2_53_minus_1_are_read(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(
        HEADER + "2023-11-16 18:17:03.97,0,0\n" + "2023-11-16 18:17:05.97,9007199254740991,1\n"
    )
    trace = load_workload(path, WorkloadOptions(format="azure"))
    assert list(trace.prompt_tokens) == [0, 2**53 - 1]
    assert list(trace.output_tokens) == [0, 1]


def test_a_servegen_window_past_a_year_of_replay_names_the_file(tmp_path: Path) -> None:
    # The replay-span check said "servegen:reason/deepseek-r1: --time-compression 1
    # stretches 1e+17 s", without the file that holds the window.
    path = tmp_path / "chunk-0-trace.csv"
    path.write_text("0,1,0,,0,0\n1e17,1,0,,0,0\n")
    with pytest.raises(AutoscalerError, match=r"chunk-0-trace\.csv"):
        load_workload(path, WorkloadOptions(format="servegen"))


# -- the CLI: exit 2, one line, the previous outputs kept -------------------------------

CLI_CASES = {
    "azure-cut-row": ("trace.csv", HEADER.encode() + b"2023-11-16 18:17:03.97,1"),
    "azure-huge-field": ("trace.csv", HEADER.encode() + b"x" * 140_000 + b",1,1\n"),
    "azure-not-utf8": ("trace.csv", HEADER.encode() + b"2023-11-16 18:17:0\xff,1,1\n"),
    "mooncake-not-an-object": (
        "trace.jsonl",
        b'{"timestamp": 0, "input_length": 1, "output_length": 1}\n[1, 2]\n',
    ),
    "servegen-bad-rate": ("chunk-0-trace.csv", b"0,nan,0,,0,0\n"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_the_benchmark_refuses_a_broken_trace_in_one_line_keeping_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    name, raw = CLI_CASES[case]
    trace = tmp_path / name
    trace.write_bytes(raw)
    out = tmp_path / "out"
    out.mkdir()
    kept = ["results.json", "meta.json", "timeline.png"]
    for file in kept:
        (out / file).write_text("the last run's")
    args = ["benchmark", "--quiet", "--trace", str(trace), "--jobs", "1", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("lws-autoscaler benchmark: "), err
    assert name in err
    assert "Traceback" not in err
    assert all((out / file).read_text() == "the last run's" for file in kept)


def test_the_benchmark_refuses_a_broken_profile_keeping_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "my-gpu.yaml"
    profile.write_text(PROFILE_TEXTS[0].replace("kv_cache_tokens: ", "kv_cache_tokens: -", 1))
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("the last run's")
    assert main(["benchmark", "--quiet", "--profile", str(profile), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lws-autoscaler benchmark: {profile}:")
    assert "Traceback" not in err
    assert (out / "results.json").read_text() == "the last run's"
