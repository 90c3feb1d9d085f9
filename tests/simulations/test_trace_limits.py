"""Replays too large or too short are refused before anything is allocated, with a
valid value of the flag the user typed (``--rate-scale``, or ``tune --rate-factor``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from simulations.trace_limits import RateFlag
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
