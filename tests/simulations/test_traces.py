"""Trace readers on the shipped excerpts of the real traces (simulations/data/)."""

from __future__ import annotations

import csv
import json
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from simulations.azure_stamps import stamp_problem, stamps_fit
from simulations.mooncake import _quantum_ms, read_mooncake
from simulations.servegen import (
    WINDOW_SECONDS,
    _Window,
    _window_arrivals,
    _window_positions,
    read_servegen,
)
from simulations.trace_limits import MAX_REQUESTS
from simulations.traces import (
    Trace,
    TraceError,
    _reflect,
    _shown_header,
    build_trace,
    read_azure,
    rescale,
)
from simulations.workload import WorkloadOptions, detect_format, load_workload

DATA = Path(__file__).resolve().parents[2] / "simulations" / "data"
CONV = DATA / "azure_conv_excerpt.csv"
MOONCAKE = DATA / "mooncake_synthetic_excerpt.jsonl"
SERVEGEN = DATA / "servegen"


def test_azure_reader_keeps_rows_order_and_sub_second_times() -> None:
    trace = read_azure(CONV)
    with CONV.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(trace) == len(rows) == 2863
    assert trace.arrival[0] == 0.0
    assert np.all(np.diff(trace.arrival) >= 0)
    assert trace.prompt_tokens[0] == int(rows[0]["ContextTokens"])
    assert trace.output_tokens[-1] == int(rows[-1]["GeneratedTokens"])
    # 18:15:46.6805900 -> 18:15:50.9951690: 4.314579 s (100 ns resolution kept).
    assert trace.arrival[1] == pytest.approx(4.314579, abs=1e-6)


def test_azure_reader_rejects_a_foreign_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,in,out\n1,2,3\n")
    with pytest.raises(TraceError, match=r"expected header .*, got 'time,in,out'$"):
        read_azure(bad)


def test_a_jsonl_file_read_as_azure_shows_a_short_first_line(tmp_path: Path) -> None:
    # A Mooncake line read as CSV splits at every comma of its hash_ids: the message
    # shows the first 80 characters of the line, not a list of 200 fields.
    line = '{"timestamp": 0, "input_length": 40160, "output_length": 6, "hash_ids": ['
    line += ", ".join(str(i) for i in range(200)) + "]}\n"
    bad = tmp_path / "trace.jsonl"
    bad.write_text(line)
    with pytest.raises(TraceError) as caught:
        read_azure(bad)
    shown = str(caught.value).split(", got ", 1)[1]
    assert shown.startswith('\'{"timestamp": 0,')
    assert shown.endswith("...'")
    assert len(shown) == 82  # 77 characters, "...", and the quotes


def test_an_empty_azure_file_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TraceError, match=r"got an empty file$"):
        read_azure(empty)


def test_mooncake_reader_spreads_stamps_within_their_millisecond() -> None:
    trace = read_mooncake(MOONCAKE, np.random.default_rng(1))
    stamps = sorted(json.loads(line)["timestamp"] for line in MOONCAKE.read_text().splitlines())
    assert len(trace) == 200
    # Every arrival lies in the 1 ms slot of an original stamp (times are re-based to 0,
    # and the first stamp of the file is 0).
    floors = np.floor(trace.arrival * 1000 + 1e-9).astype(int)
    assert sorted(floors.tolist()) == stamps
    assert not np.all(trace.arrival * 1000 == np.round(trace.arrival * 1000))


def test_mooncake_time_0_is_the_start_of_the_first_slot(tmp_path: Path) -> None:
    """Stamps from 7 s on a 1,000 ms grid: each request lands within its second, counted
    from the first one's (7 s is 0)."""
    path = tmp_path / "late.jsonl"
    lines = [{"timestamp": t, "input_length": 10, "output_length": 2} for t in (7000, 9000, 12000)]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    trace = read_mooncake(path, np.random.default_rng(3))
    assert np.floor(trace.arrival).tolist() == [0.0, 2.0, 5.0]
    # Each at its stamp plus its own uniform draw within the slot, less 7 s.
    jitter = np.random.default_rng(3).uniform(0.0, 1000.0, 3)
    expected = (np.array([7000.0, 9000.0, 12000.0]) + jitter) / 1000.0 - 7.0
    assert trace.arrival == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("value", "shown"), [("x" * 38, '"' + "x" * 38 + '"'), ("x" * 39, '"' + "x" * 36 + "...")]
)
def test_a_mooncake_value_not_a_number_is_shown_up_to_40_characters(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"timestamp": 0, "input_length": value, "output_length": 2}))
    with pytest.raises(TraceError) as caught:
        read_mooncake(path, np.random.default_rng(0))
    assert f"input_length {shown} is not a number" in str(caught.value)


def test_mooncake_quantised_on_whole_seconds_spreads_over_the_second(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    lines = [{"timestamp": t, "input_length": 10, "output_length": 2} for t in (0, 0, 2000, 5000)]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    trace = read_mooncake(path, np.random.default_rng(3))
    seconds = np.floor(trace.arrival + trace.arrival[0] * 0).astype(int)
    # The grid is 1000 ms, so each request lands anywhere in its second.
    raw = np.sort(trace.arrival)
    assert len(raw) == 4
    assert np.all(np.diff(raw) >= 0)
    assert (seconds[-1] - seconds[0]) in (4, 5)
    assert len(set(np.round(trace.arrival % 1, 6))) > 1


def test_mooncake_reader_is_seeded() -> None:
    a = read_mooncake(MOONCAKE, np.random.default_rng(7)).arrival
    b = read_mooncake(MOONCAKE, np.random.default_rng(7)).arrival
    c = read_mooncake(MOONCAKE, np.random.default_rng(8)).arrival
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("scale", [0.5, 2.0, 2.5])
def test_rate_scale_multiplies_the_rate_and_keeps_the_shape(scale: float) -> None:
    trace = read_azure(CONV)
    scaled = rescale(trace, np.random.default_rng(0), rate_scale=scale)
    assert len(scaled) == pytest.approx(scale * len(trace), rel=0.03)
    assert scaled.duration == pytest.approx(trace.duration, rel=0.01)
    per_minute = np.bincount((trace.arrival // 60).astype(int))
    scaled_minute = np.bincount((scaled.arrival // 60).astype(int), minlength=len(per_minute))
    ratio = scaled_minute[: len(per_minute) - 1] / per_minute[:-1]
    assert np.all(np.abs(ratio - scale) < 0.25 * scale)


def _poisson(rate: float, seconds: float, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.exponential(1 / rate, size=int(rate * seconds * 1.2)))
    arrival = arrival[arrival < seconds]
    tokens = np.full(len(arrival), 100, dtype=np.int64)
    return Trace("poisson", arrival, tokens, tokens)


def test_a_rate_scaled_poisson_trace_is_poisson_at_the_scaled_rate() -> None:
    """x4 of Poisson at 1 req/s must look like Poisson at 4 req/s, as four times the
    users would: inter-arrival CV 1 and counts per second with variance = mean. Copies
    placed between a request and the next one (before 2026-11-24) gave CV 1.48 and a
    dispersion of 2.9: every gap got the same number of copies, however short."""
    scaled = rescale(_poisson(1.0, 20_000.0, 0), np.random.default_rng(1), rate_scale=4.0)
    gaps = np.diff(scaled.arrival)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)
    # The copies of one request share a 30 s span: a pair falls in the same 1 s bin with
    # probability about 1/30, which adds 2 * 6 pairs / 30 / 4 requests = 0.1 to the
    # dispersion of a 1 s count. Gap-filled copies had 2.9.
    counts = np.bincount(scaled.arrival.astype(np.int64))
    assert counts.var() / counts.mean() == pytest.approx(1.1, abs=0.06)


def test_rate_scale_leaves_long_idle_stretches_idle() -> None:
    """Two busy minutes around a silent hour: copies stay within 15 s of a request, so
    the middle of the silence gets none (the gap-filling copies of before 2026-11-24 put
    x - 1 requests into it for the last request before it)."""
    busy = _poisson(5.0, 60.0, 2)
    later = busy.arrival + 3660.0
    tokens = np.concatenate([busy.prompt_tokens, busy.prompt_tokens])
    trace = Trace("gap", np.concatenate([busy.arrival, later]), tokens, tokens)
    scaled = rescale(trace, np.random.default_rng(3), rate_scale=4.0)
    silence = (scaled.arrival > 60.0 + 15.0) & (scaled.arrival < 3660.0 - 15.0)
    assert not silence.any()
    assert scaled.arrival.min() >= 0.0
    assert scaled.arrival.max() <= trace.arrival[-1]


def test_a_copy_lands_anywhere_within_15_s_of_its_request() -> None:
    """200 requests at 500 s (and one at each end of the trace), doubled: each copy is
    shifted by its own draw in [-15, 15), and 200 draws reach within a second of both
    ends of that range."""
    arrival = np.concatenate([[0.0], np.full(200, 500.0), [1000.0]])
    tokens = np.full(202, 10)
    scaled = rescale(Trace("t", arrival, tokens, tokens), np.random.default_rng(0), 2.0)
    shifts = scaled.arrival[(scaled.arrival > 400.0) & (scaled.arrival < 600.0)] - 500.0
    assert len(shifts) == 400
    assert np.count_nonzero(shifts == 0.0) == 200  # the first copy stays
    assert np.count_nonzero(scaled.arrival == 0.0) >= 1  # the very first one too
    assert -15.0 <= shifts.min() < -14.0
    assert 14.0 < shifts.max() < 15.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_time_compression_not_above_0_or_not_finite_is_an_error(bad: float) -> None:
    trace = Trace("t", np.array([0.0, 10.0]), np.array([1, 1]), np.array([1, 1]))
    with pytest.raises(TraceError, match="time compression must be > 0"):
        rescale(trace, np.random.default_rng(0), time_compression=bad)


@pytest.mark.parametrize(("prompt", "output"), [([1], [1, 1]), ([1, 1], [1])])
def test_token_arrays_of_another_length_than_the_arrivals_are_an_error(
    prompt: list[int], output: list[int]
) -> None:
    with pytest.raises(TraceError, match="differ in length"):
        Trace("t", np.array([0.0, 1.0]), np.array(prompt), np.array(output))


@pytest.mark.parametrize(("prompt", "output"), [([-1, 1], [1, 1]), ([1, 1], [1, -1])])
def test_a_negative_prompt_or_output_count_is_an_error(
    prompt: list[int], output: list[int]
) -> None:
    with pytest.raises(TraceError, match="negative token counts"):
        build_trace("t", np.array([0.0, 1.0]), np.array(prompt), np.array(output))


def test_time_compression_shortens_the_trace() -> None:
    trace = read_azure(CONV)
    fast = rescale(trace, np.random.default_rng(0), time_compression=4.0)
    assert len(fast) == len(trace)
    assert fast.duration == pytest.approx(trace.duration / 4)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_rescale_rejects_non_positive_factors(bad: float) -> None:
    with pytest.raises(TraceError):
        rescale(read_azure(CONV), np.random.default_rng(0), rate_scale=bad)


def _servegen_windows() -> dict[float, float]:
    totals: dict[float, float] = {}
    for file in (SERVEGEN / "data" / "reason" / "deepseek-r1").glob("*.csv"):
        for row in csv.reader(file.open()):
            totals[float(row[0])] = totals.get(float(row[0]), 0.0) + float(row[1] or 0)
    return totals


def test_servegen_samples_the_stated_rate_per_window_with_lengths_from_a_trace() -> None:
    lengths = read_azure(CONV)
    end = 2 * 86_400.0
    trace = read_servegen(SERVEGEN, lengths, np.random.default_rng(0), end=end)
    windows = {w: r for w, r in _servegen_windows().items() if w < end}
    expected = sum(r * WINDOW_SECONDS for r in windows.values())
    assert len(trace) == pytest.approx(expected, rel=0.01, abs=5)
    # Idle windows stay idle (no arrivals inside any window whose total rate is 0).
    idle = [w for w, r in windows.items() if r == 0]
    assert idle
    slot = (trace.arrival // WINDOW_SECONDS) * WINDOW_SECONDS
    assert not set(slot.tolist()) & set(idle)
    pairs = set(zip(lengths.prompt_tokens.tolist(), lengths.output_tokens.tolist(), strict=True))
    drawn = zip(trace.prompt_tokens.tolist(), trace.output_tokens.tolist(), strict=True)
    assert all(pair in pairs for pair in drawn)


def test_servegen_is_seeded() -> None:
    lengths = read_azure(CONV)
    a = read_servegen(SERVEGEN, lengths, np.random.default_rng(4), end=86_400.0)
    b = read_servegen(SERVEGEN, lengths, np.random.default_rng(4), end=86_400.0)
    assert np.array_equal(a.arrival, b.arrival)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)


RATES = (100.0, 0.0, 2.5, 40.0, 333.3)  # req/s, one 600 s window each


def _rate_file(tmp_path: Path, dist: str) -> Path:
    params = {"Gamma": "4.07,Gamma,0.0604,103.65", "Weibull": "1.3,Weibull,0.7,2.0", "": ",,,"}
    rows = [f"{i * 600},{rate},{params[dist]}" for i, rate in enumerate(RATES)]
    file = tmp_path / "chunk-0-trace.csv"
    file.write_text("\n".join(rows) + "\n")
    return file


@pytest.mark.parametrize("dist", ["Gamma", "Weibull", ""])
@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.01, 2.5])
def test_servegen_rate_scale_scales_each_windows_count(
    tmp_path: Path, dist: str, fraction: float
) -> None:
    """Each 600 s window gets floor or ceil of ``n = rate * 600`` arrivals per whole
    unit of the scale, plus a binomial share for its fraction: within 5 standard
    deviations of ``n * scale``. The idle window (rate 0) stays empty at any scale."""
    trace = read_servegen(
        _rate_file(tmp_path, dist),
        read_azure(CONV),
        np.random.default_rng(0),
        rate_scale=fraction,
    )
    counts = np.bincount((trace.arrival // WINDOW_SECONDS).astype(np.int64), minlength=5)
    for window, rate in enumerate(RATES):
        n = rate * WINDOW_SECONDS
        part = fraction - np.floor(fraction)
        spread = 5 * np.sqrt(n * part * (1 - part)) + np.ceil(fraction)
        assert abs(counts[window] - n * fraction) <= spread, (window, counts)
        if rate == 0:
            assert counts[window] == 0


@pytest.mark.parametrize(
    ("dist", "p1", "p2"), [("Gamma", 0.0604, 103.65), ("Weibull", 0.5, 2.0), ("", 0.0, 0.0)]
)
def test_servegen_rate_scale_below_1_is_the_thinned_full_process(
    dist: str, p1: float, p2: float
) -> None:
    """Thinning while sampling gives the gaps of sampling every request and thinning
    afterwards. At Gamma shape 0.06 (CV 4), drawing ``n * fraction`` gaps from the fit
    instead would keep CV 4; a 0.5% share of the full process is nearly Poisson (CV 1)."""
    rng = np.random.default_rng(3)
    n, fraction = 200_000, 0.005
    full, thinned = [], []
    for _ in range(10):
        every = _window_positions(dist, p1, p2, n, 1.0, rng)
        full.append(np.diff(every[rng.random(n) < fraction]))
        thinned.append(np.diff(_window_positions(dist, p1, p2, n, fraction, rng)))
    a, b = np.concatenate(full), np.concatenate(thinned)
    assert b.std() / b.mean() == pytest.approx(a.std() / a.mean(), rel=0.1)
    for q in (25, 50, 90):
        assert np.percentile(b, q) == pytest.approx(np.percentile(a, q), rel=0.1)


def test_servegen_rate_scale_above_1_superposes_independent_draws() -> None:
    """x4 of a Gamma(0.06) window (CV 4) is four independent draws of it merged, as four
    such clients would send: its gaps are less bursty than one draw of 4n gaps from the
    fit (CV 3.4 against 4.1 here: each draw's bursts fall elsewhere)."""
    window = _Window(0.0, 600.0 * 20, "Gamma", 0.0604, 103.65)
    rng = np.random.default_rng(5)
    merged = np.sort(_window_arrivals(window, 4.0, 0.0, 600.0, rng))
    assert len(merged) == pytest.approx(4 * 12_000, abs=4)
    single = _window_positions("Gamma", 0.0604, 103.65, 48_000, 1.0, rng) * 600.0
    merged_gaps, single_gaps = np.diff(merged), np.diff(single)
    merged_cv = merged_gaps.std() / merged_gaps.mean()
    assert merged_cv < 0.9 * single_gaps.std() / single_gaps.mean()


def test_servegen_rate_scale_is_seeded() -> None:
    lengths = read_azure(CONV)
    a = read_servegen(SERVEGEN, lengths, np.random.default_rng(9), rate_scale=0.1)
    b = read_servegen(SERVEGEN, lengths, np.random.default_rng(9), rate_scale=0.1)
    assert np.array_equal(a.arrival, b.arrival)


def test_servegen_sampling_at_a_small_scale_stays_light(tmp_path: Path) -> None:
    """A client at 50,000 req/s for a day would be 4.3 billion arrivals (35 GB of
    float64) sampled at full rate; at fraction 1e-5 it is about 43,000."""
    rows = [f"{w * 600},50000,4.07,Gamma,0.0604,0.0003" for w in range(144)]
    file = tmp_path / "chunk-0-trace.csv"
    file.write_text("\n".join(rows) + "\n")
    tracemalloc.start()
    try:
        trace = read_servegen(file, read_azure(CONV), np.random.default_rng(0), rate_scale=1e-5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(trace) == pytest.approx(50_000 * 86_400 * 1e-5, rel=0.01)
    assert peak < 50e6


@pytest.mark.parametrize("bad", [0.0, -0.1, float("inf"), float("nan")])
def test_servegen_rate_scale_not_above_0_or_not_finite_is_an_error(bad: float) -> None:
    with pytest.raises(TraceError, match="rate scale must be > 0"):
        read_servegen(SERVEGEN, read_azure(CONV), np.random.default_rng(0), rate_scale=bad)


@pytest.mark.parametrize(("scale", "factor"), [(0.25, 0.25), (2.0, 2.0)])
def test_servegen_workload_applies_the_rate_scale(scale: float, factor: float) -> None:
    """The scale is applied while sampling (thinned below 1, drawn over again above):
    either way the request count follows it, and time compression still divides the
    arrival times."""
    base = WorkloadOptions(format="servegen", category="reason/deepseek-r1", duration=86_400.0)
    plain = load_workload(SERVEGEN, base)
    scaled = load_workload(SERVEGEN, replace(base, rate_scale=scale, time_compression=24.0))
    assert len(scaled) == pytest.approx(len(plain) * factor, rel=0.03)
    assert scaled.arrival[-1] <= 86_400.0 / 24.0


def test_servegen_unknown_category_is_a_clear_error() -> None:
    with pytest.raises(TraceError, match="no ServeGen client files"):
        read_servegen(SERVEGEN, read_azure(CONV), np.random.default_rng(0), category="x/y")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.csv", "azure"),
        ("t.jsonl", "mooncake"),
        ("x.tar.gz", "servegen"),
        ("chunk-3-trace.csv", "servegen"),
    ],
)
def test_format_detection(name: str, expected: str) -> None:
    assert detect_format(Path(name)) == expected


def test_a_servegen_file_with_a_header_row_is_read_as_servegen(tmp_path: Path) -> None:
    # Detected as Azure by its first line, it was reported as a bad Azure header; as
    # ServeGen, the reader names the row it cannot take.
    file = tmp_path / "chunk-7-trace.csv"
    file.write_text("window_start_s,rate_req_per_s,cv,dist,param1,param2\n0,1,1,Gamma,1,1\n")
    assert detect_format(file) == "servegen"
    with pytest.raises(TraceError, match=re.escape(f"{file}:1: ")):
        load_workload(file, WorkloadOptions())
    azure = tmp_path / "my-trace.csv"
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    assert detect_format(azure) == "azure"  # Azure's header wins over the name


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("0,nan,1,Gamma,1,1", ":2: rate and parameters must be finite"),
        ("0,inf,1,Gamma,1,1", ":2: rate and parameters must be finite"),
        ("0,5,1,Gamma,-0.5,1", ":2: Gamma shape and scale must be > 0"),
        ("0,5,1,Lognormal,1,1", ":2: unknown inter-arrival distribution 'Lognormal'"),
        ("0,five,1,Gamma,1,1", ":2: malformed ServeGen row"),
    ],
)
def test_a_bad_servegen_row_names_its_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    file = tmp_path / "chunk-7-trace.csv"
    file.write_text("600,1,1,Gamma,1,1\n" + row + "\n")
    with pytest.raises(TraceError, match=re.escape(f"{file}{message}")):
        read_servegen(file, read_azure(CONV), np.random.default_rng(0))


def test_servegen_refuses_a_replay_too_large_for_memory_and_says_what_fits(
    tmp_path: Path,
) -> None:
    """A day at 50,000 req/s is 4.3 billion requests: refused before anything is drawn,
    with the rate scale that would fit."""
    file = tmp_path / "chunk-0-trace.csv"
    file.write_text("\n".join(f"{w * 600},50000,4.07,Gamma,0.0604,0.0003" for w in range(144)))
    with pytest.raises(TraceError, match=r"about 4\.32e\+09 requests.*--rate-scale 0\.011 or less"):
        read_servegen(file, read_azure(CONV), np.random.default_rng(0))
    assert MAX_REQUESTS == 5e7


def test_zero_servegen_clients_is_an_error() -> None:
    with pytest.raises(TraceError, match="at least 1, got 0"):
        read_servegen(SERVEGEN, read_azure(CONV), np.random.default_rng(0), clients=0)


AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (",10,2\n", ":2: TIMESTAMP is empty"),
        ("2023-11-16 18:17:04.0,10,2\nNaT,1,1\n", ":3: TIMESTAMP is empty"),
        ("yesterday,10,2\n", ":2: TIMESTAMP 'yesterday' is not a time"),
        ("2023-11-16 18:17:04.0,ten,2\n", ":2: ContextTokens 'ten' is not a whole number"),
        ("2023-11-16 18:17:04.0,10\n", ":2: expected 3 fields, got 2"),
        # Was "negative token counts", with no line or field.
        (
            "2023-11-16 18:17:04.0,10,2\n2023-11-16 18:17:05.0,10,-2\n",
            ":3: GeneratedTokens -2 is negative",
        ),
        ("2023-11-16 18:17:04.0,10,2\n\n# end\n", ":4: expected 3 fields, got 1"),
        ("2023-11-16 18:17:04.0,10,99999999999999999999\n", ":2: GeneratedTokens"),
        ("2023-11-16 18:17:04.0,ten,2\n1,1,1\n", ":2: ContextTokens 'ten'"),  # first bad row
    ],
)
def test_a_bad_azure_row_names_its_line(tmp_path: Path, rows: str, message: str) -> None:
    """One empty time used to become NaT, and every request then arrived at t=0."""
    file = tmp_path / "trace.csv"
    file.write_text(AZURE_HEADER + rows)
    with pytest.raises(TraceError, match=re.escape(f"{file}{message}")):
        read_azure(file)


GOOD_STAMP = "2023-11-16 18:17:03.9799600"
SHAPE = "is not a time in the form YYYY-MM-DD hh:mm:ss[.fraction]"
RANGE = "is outside the years 1678-2261"


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        # numpy read a bare number as a year: "1" and "2" made a trace of one year.
        ("1", f"TIMESTAMP '1' {SHAPE}"),
        ("2023", f"TIMESTAMP '2023' {SHAPE}"),
        ("2023-11-16", SHAPE),
        ("2023-11-16 18:17", SHAPE),
        ("now", SHAPE),
        ("today", SHAPE),
        ("2023-11-16T18:17:04Z", SHAPE),  # a time zone
        ("2023-11-16 18:17:04+01:00", SHAPE),
        ("2023-11-16 18:17:04 ", SHAPE),
        (" 2023-11-16 18:17:04", SHAPE),
        ("+2023-11-16 18:17:04", SHAPE),
        ("2023-11-16 18:17:04.", SHAPE),
        ("2023-11-16  18:17:04", SHAPE),
        ("2023-1-16 18:17:04", SHAPE),
        ("\uff12023-11-16 18:17:04", SHAPE),  # a full-width digit
        ("\u0662023-11-16 18:17:04", SHAPE),  # an Arabic-Indic digit
        # ns times wrap outside 1677-09-21..2262-04-11: 2300 was read as 1715.
        ("2300-01-01 00:00:00", f"TIMESTAMP '2300-01-01 00:00:00' {RANGE}"),
        ("2262-04-12 00:00:00", RANGE),
        ("1677-09-20 00:00:00", RANGE),
        ("0001-01-01 00:00:00", RANGE),
        ("2023-13-16 18:17:04", "TIMESTAMP '2023-13-16 18:17:04' is not a time (Month out of"),
    ],
)
@pytest.mark.parametrize(
    "before",
    [[], [GOOD_STAMP] * 3, [GOOD_STAMP, "2023-11-16 18:17:04", "2023-11-16 18:17:04.5"]],
    ids=["alone", "after-rows-of-one-width", "after-rows-of-several-widths"],
)
def test_an_azure_time_not_in_the_traces_shape_names_its_line(
    tmp_path: Path, stamp: str, message: str, before: list[str]
) -> None:
    """Both paths of the vectorised check (rows of one width, of several) find it, and
    the row-by-row error names it: line 2 is the first data row."""
    file = tmp_path / "trace.csv"
    rows = [*before, stamp, GOOD_STAMP]
    file.write_text(AZURE_HEADER + "".join(f"{t},10,2\n" for t in rows), encoding="utf-8")
    with pytest.raises(TraceError, match=re.escape(f"{file}:{len(before) + 2}: ")) as error:
        read_azure(file)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("stamps", "seconds"),
    [
        (["2023-11-16 18:17:03.9799600", "2023-11-16 18:17:05.0000000"], [0.0, 1.02004]),
        (["2023-11-16 18:17:03", "2023-11-16T18:17:04.5"], [0.0, 1.5]),  # T, no fraction
        (["2023-11-16 18:17:03.123456789", "2023-11-16 18:17:04.1"], [0.0, 0.976543211]),
        (["1678-01-01 00:00:00", "1678-01-01 00:00:01"], [0.0, 1.0]),  # the first year
        (["2261-12-31 23:59:58", "2261-12-31 23:59:59.0"], [0.0, 1.0]),  # the last
    ],
)
def test_azure_times_in_the_traces_shape_are_read(
    tmp_path: Path, stamps: list[str], seconds: list[float]
) -> None:
    file = tmp_path / "trace.csv"
    file.write_text(AZURE_HEADER + "".join(f"{t},10,2\n" for t in stamps))
    assert read_azure(file).arrival.tolist() == pytest.approx(seconds, abs=1e-9)


def test_a_time_split_over_two_lines_is_refused(tmp_path: Path) -> None:
    """A quoted field holding a newline: joined with newlines, the column would read as
    two good times."""
    file = tmp_path / "trace.csv"
    rows = f'{GOOD_STAMP},1,1\n"{GOOD_STAMP}\n{GOOD_STAMP}",1,1\n'
    file.write_text(AZURE_HEADER + rows)
    with pytest.raises(TraceError, match=re.escape(f"{file}:4: TIMESTAMP '{GOOD_STAMP}\\n")):
        read_azure(file)


@pytest.mark.parametrize(
    "stamp",
    [
        GOOD_STAMP,
        "2023-11-16T18:17:04",
        "2023-11-16 18:17:04.5",
        "1",
        "",
        "2300-01-01 00:00:00",
        "1678-01-01 00:00:00",
        "1677-12-31 23:59:59",
        "2261-12-31 23:59:59",
        "2262-01-01 00:00:00",
        "2023-11-16 18:17:04\n",
        "\uff12023-11-16 18:17:04",
        "2023-11-16 18:17:04.x",
        # As wide as GOOD_STAMP: rows of one width take the vectorised path.
        "2023-11-16T18:17:03.9799600",
        "2023-11-16 18:17:03.979960x",
        "2300-11-16 18:17:03.9799600",
        "1677-11-16 18:17:03.9799600",
    ],
)
def test_the_vectorised_time_check_agrees_with_the_row_by_row_one(stamp: str) -> None:
    ok = stamp_problem(stamp) is None
    assert stamps_fit([stamp]) is ok
    assert stamps_fit([GOOD_STAMP, stamp, GOOD_STAMP]) is ok
    assert stamps_fit(["2023-11-16 18:17:04", stamp, GOOD_STAMP]) is ok
    assert stamps_fit([GOOD_STAMP, GOOD_STAMP, stamp]) is ok
    assert stamps_fit([stamp, GOOD_STAMP, GOOD_STAMP, GOOD_STAMP]) is ok


def test_readers_take_a_byte_order_mark_and_refuse_other_encodings(tmp_path: Path) -> None:
    azure = tmp_path / "bom.csv"
    azure.write_text("\ufeff" + AZURE_HEADER + "2023-11-16 18:17:04.0,10,2\n", encoding="utf-8")
    assert len(read_azure(azure)) == 1
    mooncake = tmp_path / "bom.jsonl"
    mooncake.write_text(
        '\ufeff{"timestamp": 0, "input_length": 5, "output_length": 1}\n', encoding="utf-8"
    )
    assert len(read_mooncake(mooncake, np.random.default_rng(0))) == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes(AZURE_HEADER.encode() + b"2023-11-16 18:17:04.0,10,2 \xe9t\xe9\n")
    with pytest.raises(TraceError, match="not UTF-8 text"):
        read_azure(latin)


@pytest.mark.parametrize(
    ("stamp", "message"),
    [
        ("1e400", "timestamp inf is not a whole number"),
        ("99999999999999999999999", "timestamp 99999999999999999999999 is negative or out of"),
        ("-5", "timestamp -5 is negative or out of range"),
        ("9007199254740992", "timestamp 9007199254740992 is negative or out of range"),
    ],
)
def test_a_mooncake_value_out_of_range_names_its_line_and_field(
    tmp_path: Path, stamp: str, message: str
) -> None:
    file = tmp_path / "t.jsonl"
    good = '{"timestamp": 0, "input_length": 5, "output_length": 1}\n'
    file.write_text(good + f'{{"timestamp": {stamp}, "input_length": 5, "output_length": 1}}\n')
    with pytest.raises(TraceError, match=re.escape(f"{file}:2: {message}")):
        read_mooncake(file, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        # Read as 7000 ms, 1 token and 5 tokens.
        ("timestamp", '"7000"', 'timestamp "7000" is not a number; write it as a JSON number'),
        ("input_length", "true", "input_length true is not a number"),
        ("output_length", "5.9", "output_length 5.9 is not a whole number"),
        ("output_length", "false", "output_length false is not a number"),
        ("timestamp", "null", "timestamp null is not a number"),
        ("timestamp", "[7000]", "timestamp [7000] is not a number"),
        ("timestamp", '{"ms": 7000}', 'timestamp {"ms": 7000} is not a number'),
        ("timestamp", "NaN", "timestamp nan is not a whole number"),
        ("timestamp", "-Infinity", "timestamp -inf is not a whole number"),
        ("input_length", "-1.0", "input_length -1 is negative or out of range"),
        ("output_length", "1e300", "output_length 10000000000000000525047602552044202487"),
        ("timestamp", '"' + "x" * 100 + '"', 'timestamp "' + "x" * 36 + "... is not a number"),
    ],
)
def test_a_mooncake_value_that_is_no_whole_json_number_names_its_line_and_field(
    tmp_path: Path, key: str, raw: str, message: str
) -> None:
    values = {"timestamp": "0", "input_length": "5", "output_length": "1"}
    good = "{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}"
    values[key] = raw
    bad = "{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}"
    file = tmp_path / "t.jsonl"
    file.write_text(f"{good}\n{bad}\n")
    with pytest.raises(TraceError, match=re.escape(f"{file}:2: {message}")):
        read_mooncake(file, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"timestamp": 0, "input_length": 5}', "output_length is missing; each line needs"),
        ("[0, 5, 1]", "expected a JSON object with timestamp, input_length, output_length, got"),
        ('{"timestamp": 0,', "not valid JSON (Expecting property name"),
        ("[" * 200_000, "JSON nested too deeply to read"),  # was a RecursionError
        ('{"timestamp": ' + "[" * 200_000, "JSON nested too deeply to read"),
    ],
)
def test_a_mooncake_line_that_is_no_request_names_its_line(
    tmp_path: Path, line: str, message: str
) -> None:
    file = tmp_path / "t.jsonl"
    file.write_text('{"timestamp": 0, "input_length": 5, "output_length": 1}\n' + line + "\n")
    with pytest.raises(TraceError, match=re.escape(f"{file}:2: {message}")) as error:
        read_mooncake(file, np.random.default_rng(0))
    assert len(str(error.value)) < 300


def test_mooncake_whole_floats_are_read(tmp_path: Path) -> None:
    file = tmp_path / "t.jsonl"
    lines = [
        '{"timestamp": 0, "input_length": 5, "output_length": 1}',
        '{"timestamp": 1000, "input_length": 5, "output_length": 1}',
        '{"timestamp": 7000.0, "input_length": 12.0, "output_length": 3e0}',
    ]
    file.write_text("\n".join(lines) + "\n")
    trace = read_mooncake(file, np.random.default_rng(0))
    assert trace.prompt_tokens.tolist() == [5, 5, 12]
    assert trace.output_tokens.tolist() == [1, 1, 3]
    assert 7.0 <= trace.arrival[2] < 8.0  # 7000 ms on a 1000 ms grid


@pytest.mark.parametrize(
    ("origin", "expected"), [(None, [0.0, 3.0, 5.0]), (90.0, [10.0, 13.0, 15.0])]
)
def test_a_trace_is_sorted_and_starts_at_its_origin(
    origin: float | None, expected: list[float]
) -> None:
    """Arrivals at 105, 100 and 103 s, read in that order: sorted, and shifted so the
    first (or the given origin) is 0."""
    trace = build_trace(
        "t", np.array([105.0, 100.0, 103.0]), np.array([1, 2, 3]), np.array([4, 5, 6]), origin
    )
    assert list(trace.arrival) == expected
    assert (list(trace.prompt_tokens), list(trace.output_tokens)) == ([2, 3, 1], [5, 6, 4])


def test_copies_outside_the_trace_fold_back_in_as_in_a_mirror() -> None:
    """4 s before the first request lands 4 s after it, 4 s after the last lands 4 s
    before it; a span shorter than the shift folds outside again and is clipped."""
    folded = _reflect(np.array([-4.0, 104.0, 50.0, 0.0, 100.0]), 0.0, 100.0)
    assert folded.tolist() == [4.0, 96.0, 50.0, 0.0, 100.0]
    assert _reflect(np.array([-30.0, 12.0]), 0.0, 10.0).tolist() == [0.0, 8.0]
    assert _reflect(np.array([95.0]), 100.0, 200.0).tolist() == [105.0]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_rate_scale_not_above_0_or_not_finite_is_an_error(bad: float) -> None:
    trace = Trace("t", np.array([0.0, 10.0]), np.array([1, 1]), np.array([1, 1]))
    with pytest.raises(TraceError, match="rate scale must be > 0"):
        rescale(trace, np.random.default_rng(0), rate_scale=bad)


def test_a_rate_scale_beyond_what_fits_in_memory_is_refused_before_sampling() -> None:
    """1,000 requests x 100,000 = 1e8, over the 5e7 that fit: refused, with the count."""
    trace = Trace("t", np.linspace(0.0, 100.0, 1000), np.ones(1000, int), np.ones(1000, int))
    with pytest.raises(TraceError, match=r"about 1e\+08 requests at rate scale 100000"):
        rescale(trace, np.random.default_rng(0), rate_scale=1e5)


def test_zero_tokens_are_a_count_and_an_empty_trace_spans_nothing() -> None:
    trace = build_trace("t", np.array([0.0, 1.0]), np.array([0, 5]), np.array([5, 0]))
    assert (list(trace.prompt_tokens), list(trace.output_tokens)) == ([0, 5], [5, 0])
    empty = np.empty(0)
    assert Trace("t", empty, empty.astype(int), empty.astype(int)).duration == 0.0
    three = Trace("t", np.array([10.0, 12.0, 15.0]), np.ones(3, int), np.ones(3, int))
    assert three.duration == 5.0


@pytest.mark.parametrize(("length", "shown"), [(80, "x" * 80), (81, "x" * 77 + "...")])
def test_a_first_line_is_shown_up_to_80_characters(length: int, shown: str) -> None:
    assert _shown_header(["x" * length]) == repr(shown)


def test_a_rate_scale_that_leaves_no_request_is_an_error_one_that_leaves_one_is_not() -> None:
    trace = Trace("t", np.array([5.0]), np.array([10]), np.array([10]))
    with pytest.raises(TraceError, match="left no requests"):
        rescale(trace, np.random.default_rng(0), rate_scale=1e-9)
    # Kept with probability 1 - 1e-9: one request.
    assert len(rescale(trace, np.random.default_rng(0), rate_scale=1 - 1e-9)) == 1


def test_an_unreadable_trace_says_why_in_words(tmp_path: Path) -> None:
    for read in (read_azure, lambda path: read_mooncake(path, np.random.default_rng(0))):
        with pytest.raises(TraceError) as caught:
            read(tmp_path / "none.csv")
        assert str(caught.value) == f"{tmp_path / 'none.csv'}: No such file or directory"


@pytest.mark.parametrize(
    ("stamps", "quantum"), [([0, 1000, 3000], 1000), ([0, 40, 277], 1), ([0, 0], 1), ([3000], 3000)]
)
def test_mooncake_stamps_sit_on_the_grid_of_their_common_divisor(
    stamps: list[int], quantum: int
) -> None:
    """Whole seconds are spread within their second; stamps all at 0 have no grid."""
    assert _quantum_ms(np.array(stamps, dtype=np.int64)) == quantum
