"""Named tuning traces: the set-up each name stands for, and the errors for bad names."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.traces import read_azure
from simulations.tune.traces import DAY, SERVEGEN_FILE, resolve
from simulations.tune.variants import TuningError
from simulations.workload import CONV_EXCERPT, detect_format, load_workload


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # resolve() only checks that the files exist; loading them is the workload's job.
    for name in (SERVEGEN_FILE, "AzureLLMInferenceTrace_code.csv", "synthetic_trace.jsonl"):
        (tmp_path / name).write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "start", "duration"),
    [
        ("servegen-day0", 0.0, DAY),
        ("servegen-day4", 4 * DAY, DAY),
        ("servegen-day7-9", 7 * DAY, 3 * DAY),
        ("servegen-day13", 13 * DAY, DAY),
    ],
)
def test_servegen_days_are_windows_of_the_archive(
    folder: Path, name: str, start: float, duration: float
) -> None:
    trace = resolve(name, folder)
    assert trace.path == folder / SERVEGEN_FILE
    options = trace.options
    assert (options.format, options.category) == ("servegen", "language/m-mid")
    assert (options.start, options.duration) == (start, duration)
    assert (options.rate_scale, options.time_compression) == (0.0008, 24.0)


@pytest.mark.parametrize(
    ("name", "file", "rate"),
    [
        ("azure-code", "AzureLLMInferenceTrace_code.csv", 4.0),
        ("mooncake", "synthetic_trace.jsonl", 1.0),
    ],
)
def test_request_level_traces(folder: Path, name: str, file: str, rate: float) -> None:
    trace = resolve(name, folder, seed=7)
    assert trace.path == folder / file
    assert (trace.options.rate_scale, trace.options.seed) == (rate, 7)


def test_conversation_trace_falls_back_to_the_shipped_excerpt(folder: Path) -> None:
    assert resolve("azure-conv", folder).path == CONV_EXCERPT


def test_seconds_limit_the_replay_not_the_trace_time(folder: Path) -> None:
    # 600 s of replay at 24x compression is 14,400 s of the ServeGen day.
    assert resolve("servegen-day2", folder, seconds=600).options.duration == 14_400
    assert resolve("azure-code", folder, seconds=600).options.duration == 600
    # Never longer than the named window itself.
    assert resolve("servegen-day2", folder, seconds=7200).options.duration == DAY


@pytest.mark.parametrize(
    ("name", "rate"),
    [("servegen-day2", 0.0004), ("azure-code", 2.0), ("mooncake", 0.5)],
)
def test_the_rate_factor_scales_each_set_up_rate(folder: Path, name: str, rate: float) -> None:
    trace = resolve(name, folder, rate_factor=0.5)
    assert trace.options.rate_scale == pytest.approx(rate)
    # Only the rate: the window and compression stay the set-up's.
    plain = resolve(name, folder)
    assert (trace.options.start, trace.options.duration, trace.options.time_compression) == (
        plain.options.start,
        plain.options.duration,
        plain.options.time_compression,
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("servegen-day14", "days must be within 0-13"),
        ("servegen-day5-3", "first <= last"),
        ("azure", "unknown trace 'azure'"),
        ("servegen-dayX", "unknown trace"),
    ],
)
def test_bad_names_are_rejected(folder: Path, name: str, message: str) -> None:
    with pytest.raises(TuningError, match=message):
        resolve(name, folder)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TuningError, match=r"'azure-code' needs .*AzureLLMInferenceTrace_code\.csv"):
        resolve("azure-code", tmp_path)


def test_a_trace_file_of_your_own_replays_at_its_own_rate(tmp_path: Path) -> None:
    own = tmp_path / "ours.csv"
    own.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n")
    trace = resolve(str(own), tmp_path, seed=3)
    assert trace.path == own
    assert (trace.options.format, trace.options.rate_scale, trace.options.seed) == (None, 1.0, 3)
    with pytest.raises(TuningError, match=r"missing\.csv.: no such file"):
        resolve(str(tmp_path / "missing.csv"), tmp_path)


def test_a_trace_file_name_that_does_not_exist_is_no_such_file() -> None:
    """'missing.csv' used to be an 'unknown trace', as if .csv names were not taken."""
    with pytest.raises(TuningError, match=r"^trace 'missing\.csv': no such file$"):
        resolve("missing.csv", Path("/nonexistent"))


def test_a_trace_file_suffix_in_any_case_is_a_trace_file(tmp_path: Path) -> None:
    """conv.CSV was an 'unknown trace' to tune while benchmark --trace read it."""
    path = tmp_path / "conv.CSV"
    path.write_bytes(CONV_EXCERPT.read_bytes())
    trace = resolve(str(path), Path("/nonexistent"))
    assert trace.path == path
    assert len(load_workload(trace.path, trace.options)) == len(read_azure(CONV_EXCERPT))


def test_an_azure_trace_named_like_servegen_is_read_as_azure(tmp_path: Path) -> None:
    """my-trace.csv was guessed to be ServeGen from its name ('malformed ServeGen row')."""
    path = tmp_path / "my-trace.csv"
    path.write_bytes(CONV_EXCERPT.read_bytes())
    assert detect_format(path) == "azure"
    trace = resolve(str(path), Path("/nonexistent"))
    assert len(load_workload(trace.path, trace.options)) == len(read_azure(CONV_EXCERPT))
    client = tmp_path / "clients.csv"  # ServeGen rows in a file of any name
    client.write_text("0,1,1,Gamma,1,1\n")
    assert detect_format(client) == "servegen"


def test_a_servegen_day_of_thousands_of_digits_is_an_unknown_trace(folder: Path) -> None:
    with pytest.raises(TuningError, match="unknown trace"):
        resolve("servegen-day" + "9" * 5000, folder)


def test_servegen_token_lengths_come_from_the_same_folder(folder: Path) -> None:
    """The lengths followed ../shared/traces whatever --traces-dir said: the same
    command sampled other requests on another machine."""
    assert resolve("servegen-day2", folder).options.lengths == CONV_EXCERPT
    own = folder / "AzureLLMInferenceTrace_conv.csv"
    own.write_text("")
    assert resolve("servegen-day2", folder).options.lengths == own
