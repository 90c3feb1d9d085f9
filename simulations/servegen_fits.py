"""The inter-arrival fits of ServeGen's rate files: drawing a window's gaps from its
Gamma, Weibull or exponential fit, sums of many gaps at once (for a thinned window), and
which fits cannot be sampled at all (gaps of no finite mean and variance, from a shape
no real file holds: 0.15-7.9 in the archive)."""

from __future__ import annotations

import math

import numpy as np

from simulations.traces import FloatArray, IntArray, TraceError

DISTRIBUTIONS = ("Gamma", "Weibull", "", "Exponential", "Poisson")


def window_gaps(
    dist: str, p1: float, p2: float, count: int, rng: np.random.Generator
) -> FloatArray:
    if dist == "Gamma":
        gaps = rng.gamma(p1, p2, size=count)
    elif dist == "Weibull":
        gaps = p2 * rng.weibull(p1, size=count)
    elif dist in ("", "Exponential", "Poisson"):
        gaps = rng.exponential(1.0, size=count)
    else:
        raise TraceError(f"unknown ServeGen inter-arrival distribution {dist!r}")
    # A fit with a tiny shape can underflow every draw to 0: fall back to even spacing.
    total = float(gaps.sum())
    return gaps / total if total > 0 else np.full(count, 1.0 / count)


def weibull_moments(shape: float, scale: float) -> tuple[float, float]:
    """Mean and variance of a Weibull(shape, scale) gap: s*G(1+1/k) and
    s^2*(G(1+2/k) - G(1+1/k)^2); infinite where they overflow (a shape of 0.001)."""
    try:
        mean = scale * math.gamma(1.0 + 1.0 / shape)
    except OverflowError:
        mean = math.inf
    try:
        square = scale * scale * math.gamma(1.0 + 2.0 / shape)
    except OverflowError:
        square = math.inf
    return mean, square - mean * mean if math.isfinite(square) else math.inf


def gap_sums(
    dist: str, p1: float, p2: float, counts: IntArray, rng: np.random.Generator
) -> FloatArray:
    """Sums of ``counts[i]`` consecutive gaps each (0 for a count of 0)."""
    shape_per_gap, scale = (p1, p2) if dist == "Gamma" else (1.0, 1.0)
    if dist != "Weibull":
        return rng.gamma(shape_per_gap * counts, scale)
    # A sum of c Weibull gaps gets the Gamma with c times their mean and variance:
    # shape c*mean^2/var, scale var/mean (both finite and > 0: fit_problem).
    mean, var = weibull_moments(p1, p2)
    sums = rng.gamma(counts * (mean * mean / var), var / mean)
    single = counts == 1
    sums[single] = p2 * rng.weibull(p1, size=int(single.sum()))
    return sums


def fit_problem(dist: str, p1: float, p2: float) -> str | None:
    """Why a Gamma or Weibull fit cannot be sampled, or None: its gaps' mean and
    variance must be finite and > 0. A Weibull shape of 0.001 overflowed math.gamma,
    one of 1e308 made the variance 0 (a division by zero), both mid-replay."""
    if dist == "Gamma":
        mean, var = p1 * p2, p1 * p2 * p2
    elif dist == "Weibull":
        mean, var = weibull_moments(p1, p2)
    else:
        return None
    if all(math.isfinite(v) and v > 0 for v in (mean, var)):
        return None
    return (
        f"{dist} shape {p1:g}, scale {p2:g} give inter-arrival gaps of mean {mean:g} and "
        f"variance {var:g}, not finite and > 0; the fit cannot be sampled, check param1 "
        "and param2"
    )
