"""Trace readers on the shipped excerpts of the real traces (simulations/data/)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from simulations.servegen import WINDOW_SECONDS, read_servegen
from simulations.traces import TraceError, detect_format, read_azure, read_mooncake, rescale

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
    with pytest.raises(TraceError, match="expected header"):
        read_azure(bad)


def test_mooncake_reader_spreads_stamps_within_their_millisecond() -> None:
    trace = read_mooncake(MOONCAKE, np.random.default_rng(1))
    stamps = sorted(json.loads(line)["timestamp"] for line in MOONCAKE.read_text().splitlines())
    assert len(trace) == 200
    # Every arrival lies in the 1 ms slot of an original stamp (times are re-based to 0,
    # and the first stamp of the file is 0).
    floors = np.floor(trace.arrival * 1000 + 1e-9).astype(int)
    assert sorted(floors.tolist()) == stamps
    assert not np.all(trace.arrival * 1000 == np.round(trace.arrival * 1000))


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
