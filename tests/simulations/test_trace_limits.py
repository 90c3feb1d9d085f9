"""Replays too large or too short are refused before anything is allocated, with a
valid value of the flag the user typed (``--rate-scale``, or ``tune --rate-factor``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from simulations.trace_limits import (
    MAX_REPLAY_SECONDS,
    RATE_SCALE,
    RateFlag,
    _two_digits_down,
    _two_digits_up,
    compression_problem,
    request_count_problem,
)
from simulations.traces import TraceError, read_azure, rescale
from simulations.tune.traces import resolve
from simulations.tune.variants import TuningError
from simulations.workload import CONV_EXCERPT, WorkloadOptions, load_workload

CONV = read_azure(CONV_EXCERPT)


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        # np.full(n, floor(1e308)) overflowed; inf requests leave no finite value to offer.
        (1e308, r"about inf requests at rate scale 1e\+308, .* use a far smaller --rate-scale"),
        # 1e9 went on to allocate terabytes.
        (1e9, r"about [0-9.]+e\+1[0-9] requests at rate scale 1e\+09, more than the 5e\+07 "),
    ],
)
def test_a_rate_scale_too_large_is_refused_before_allocating(scale: float, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        rescale(CONV, np.random.default_rng(0), rate_scale=scale)


def test_the_suggested_rate_scale_fits() -> None:
    with pytest.raises(TraceError) as error:
        rescale(CONV, np.random.default_rng(0), rate_scale=1e6)
    found = re.search(r"use --rate-scale (\S+) or less, or a shorter --duration$", str(error.value))
    assert found
    assert len(CONV) * float(found.group(1)) <= 5e7


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        # Squeezed into 0 s: reported duration 0 and exit 0.
        (1e300, r"--time-compression 1e\+300 squeezes .* use --time-compression \S+ or less"),
        # Stretched to 1e303 s: an OverflowError in the oracle's plan.
        (1e-300, r"--time-compression 1e-300 stretches .* use --time-compression \S+ or more"),
    ],
)
def test_a_time_compression_out_of_reason_is_refused(compression: float, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        rescale(CONV, np.random.default_rng(0), time_compression=compression)


def test_tune_suggests_a_rate_factor_not_a_rate_scale() -> None:
    trace = resolve("azure-conv", Path("/nonexistent"), rate_factor=1e9)
    with pytest.raises(TraceError, match=r"use --rate-factor 4300 or less, or a shorter"):
        load_workload(trace.path, trace.options)


def test_tune_refuses_a_rate_factor_that_makes_an_infinite_rate() -> None:
    """4 x 1e308 used to reach rescale as 'rate scale must be > 0, got inf'."""
    with pytest.raises(TuningError, match=r"--rate-factor 1e\+308: .* use a far smaller"):
        resolve("azure-conv", Path("/nonexistent"), rate_factor=1e308)


def test_servegen_suggests_a_valid_value_of_the_flag(tmp_path: Path) -> None:
    """'use --rate-scale 0 or less' was offered at 1e308, a value the flag refuses."""
    file = tmp_path / "chunk-0-trace.csv"
    file.write_text("0,1,1,Gamma,1,1\n")
    options = WorkloadOptions(format="servegen", rate_scale=1e308, lengths=CONV_EXCERPT)
    with pytest.raises(TraceError, match=r"use a far smaller --rate-scale, fewer --servegen"):
        load_workload(file, options)
    flag = RateFlag("--rate-factor", per=0.0008, clients=False)
    factor = WorkloadOptions(
        format="servegen", rate_scale=1e5, lengths=CONV_EXCERPT, rate_flag=flag
    )
    with pytest.raises(TraceError) as error:
        load_workload(file, factor)
    assert str(error.value).endswith("use --rate-factor 1e+08 or less, or a shorter --duration")


@pytest.mark.parametrize(
    ("value", "down", "up"),
    [
        (0.01157, 0.011, 0.012),  # the unit is 0.001: 11.57 units, floored 11, ceiled 12
        (1234.0, 1200.0, 1300.0),
        (12.0, 12.0, 12.0),  # two digits already: itself either way
        (0.0456, 0.045, 0.046),
    ],
)
def test_suggested_values_keep_two_digits_rounded_toward_the_limit(
    value: float, down: float, up: float
) -> None:
    assert _two_digits_down(value) == pytest.approx(down, rel=1e-12)
    assert _two_digits_up(value) == pytest.approx(up, rel=1e-12)


@pytest.mark.parametrize("value", [1e-301, 0.0, float("inf"), float("nan")])
def test_no_usable_value_below_1e_300_or_not_finite(value: float) -> None:
    """The caller then says "a far smaller ..."; 1e-300 itself is still a value."""
    assert _two_digits_down(value) is None
    assert _two_digits_down(1e-300) == pytest.approx(1e-300)


def test_the_request_cap_is_inclusive() -> None:
    """5e7 requests fit; one more is refused, with a rate scale that fits: 5e7 / (5e7 + 1)
    of 1 is 0.99999998, floored to two digits, 0.99."""
    assert request_count_problem("t", 5e7, 1.0, RATE_SCALE) is None
    assert request_count_problem("t", 5e7 + 1, 1.0, RATE_SCALE) == (
        "t: about 5e+07 requests at rate scale 1, more than the 5e+07 that fit in memory; "
        "use --rate-scale 0.99 or less, or a shorter --duration"
    )


@pytest.mark.parametrize(
    ("span", "compression", "problem"),
    [
        (100.0, 100.0, None),  # replayed in exactly 1 s: enough
        (
            100.0,
            101.0,
            "t: --time-compression 101 squeezes 100 s of trace into 0.99 s, under the 1 s "
            "a replay needs; use --time-compression 100 or less",
        ),
        (
            1.0,
            2.0,
            "t: --time-compression 2 squeezes 1 s of trace into 0.5 s, under the 1 s a "
            "replay needs; use --time-compression 1 or less",
        ),
        (0.99, 2.0, None),  # a trace under 1 s is no shape to squeeze: left alone
        (MAX_REPLAY_SECONDS, 1.0, None),  # a year exactly
        (
            100.0,
            1e-6,
            "t: --time-compression 1e-06 stretches 100 s of trace to 1e+08 s, over the "
            "3.16e+07 s (a year) a replay may last; use --time-compression 3.2e-06 or more",
        ),
    ],
    ids=["one-second", "under", "one-second-trace", "short-trace", "a-year", "over"],
)
def test_a_replay_lasts_from_1_s_to_a_year(
    span: float, compression: float, problem: str | None
) -> None:
    assert compression_problem("t", span, compression) == problem
