"""ServeGen's inter-arrival fits drawn as their distributions say: a window's gaps, and the
sums of many gaps at once that a thinned window is placed with (moments over 200,000
seeded draws; each tolerance is many standard errors wide, so the tests are not flaky,
yet a wrong shape or scale misses by far more)."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.servegen_fits import gap_sums, weibull_moments, window_gaps

DRAWS = 200_000


@pytest.mark.parametrize(
    ("dist", "p1", "p2", "count", "mean", "var"),
    [
        # Gamma(shape 0.5, scale 2): a gap has mean 1 and variance 2; four of them 4 and 8.
        ("Gamma", 0.5, 2.0, 4, 4.0, 8.0),
        ("Gamma", 0.5, 2.0, 1, 1.0, 2.0),
        # Exponential gaps of mean 1 (the fits without parameters): c gaps, mean and var c.
        ("Exponential", 0.0, 0.0, 3, 3.0, 3.0),
        ("", 0.0, 0.0, 1, 1.0, 1.0),
    ],
    ids=["gamma-4", "gamma-1", "exponential-3", "unnamed-1"],
)
def test_sums_of_gaps_have_the_sums_mean_and_variance(
    dist: str, p1: float, p2: float, count: int, mean: float, var: float
) -> None:
    sums = gap_sums(dist, p1, p2, np.full(DRAWS, count), np.random.default_rng(0))
    assert sums.mean() == pytest.approx(mean, rel=0.03)
    assert sums.var() == pytest.approx(var, rel=0.05)


@pytest.mark.parametrize("count", [1, 4])
def test_sums_of_weibull_gaps_match_its_moments(count: int) -> None:
    """Weibull(shape 1.5, scale 2): a gap's mean is 2 G(1 + 1/1.5) = 1.805 and its
    variance 4 (G(1 + 2/1.5) - G(1 + 1/1.5)^2) = 1.503; c gaps sum to c times both. One
    gap is drawn from the Weibull itself, more from the Gamma with those moments."""
    mean, var = weibull_moments(1.5, 2.0)
    assert (mean, var) == pytest.approx((1.8054, 1.5028), rel=1e-3)
    sums = gap_sums("Weibull", 1.5, 2.0, np.full(DRAWS, count), np.random.default_rng(1))
    assert sums.mean() == pytest.approx(count * mean, rel=0.03)
    assert sums.var() == pytest.approx(count * var, rel=0.05)
    if count == 1:
        # The Weibull's own skewness, 1.072 at shape 1.5; the Gamma with its mean and
        # variance (shape 2.17) would have 2 / sqrt(2.17) = 1.358.
        skew = float(((sums - sums.mean()) ** 3).mean() / sums.std() ** 3)
        assert skew == pytest.approx(1.072, abs=0.06)


def test_a_count_of_zero_sums_to_zero_gaps() -> None:
    counts = np.array([0, 2, 0])
    for dist in ("Gamma", "Weibull", "Exponential"):
        sums = gap_sums(dist, 1.5, 2.0, counts, np.random.default_rng(2))
        assert sums[0] == sums[2] == 0.0
        assert sums[1] > 0.0


def test_a_windows_gaps_are_shares_of_it_drawn_from_the_fit() -> None:
    """Normalised to sum to 1 (the window's length is applied by the caller), in the
    proportions of the draws: Gamma(0.5) gaps are far more uneven than exponential ones
    (squared coefficient of variation 2 against 1)."""
    rng = np.random.default_rng(3)
    for dist, p1, cv2 in (("Gamma", 0.5, 2.0), ("Exponential", 0.0, 1.0)):
        gaps = window_gaps(dist, p1, 0.001, DRAWS, rng)
        assert gaps.sum() == pytest.approx(1.0)
        assert gaps.var() / gaps.mean() ** 2 == pytest.approx(cv2, rel=0.05)


def test_draws_that_all_underflow_are_spaced_evenly() -> None:
    """A Gamma shape of 1e-300 draws every gap as 0.0 (their sum 0): not 0/0, but the
    window's requests evenly spaced, as without thinning."""
    gaps = window_gaps("Gamma", 1e-300, 1.0, 4, np.random.default_rng(4))
    assert gaps.tolist() == [0.25, 0.25, 0.25, 0.25]
    # Gaps that sum to little (a scale of 1e-6) are still shares of their own draws.
    small = window_gaps("Gamma", 0.5, 1e-6, 10, np.random.default_rng(4))
    assert small.sum() == pytest.approx(1.0)
    assert len(set(small.tolist())) == 10
