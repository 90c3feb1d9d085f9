"""How large a replay may get, checked before anything is allocated.

A rate scale multiplies a trace's requests, a time compression divides its span; both
come from the command line, so an absurd one used to end in numpy's OverflowError
(``--rate-scale 1e308``), an attempt to allocate 1.39 TiB (``--rate-scale 1e9`` on the
Azure conversation trace: 19,366 requests x 1e9 x 72 bytes), or a replay squeezed into
0 s that reported duration 0 and exit 0 (``--time-compression 1e300``). Each is now a
TraceError (raised by :mod:`simulations.traces` and :mod:`simulations.servegen` with
the message made here) saying what the run would be and a value that fits of the flag
the user typed (:class:`RateFlag`: ``benchmark --rate-scale``, ``tune --rate-factor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Requests a replay may hold: 50 million arrivals and their token counts take about
# 1.2 GB of arrays, and the closed loop's per-request ledger several times that.
MAX_REQUESTS = 5e7
# A compressed trace shorter than a second is no load shape (every policy decides
# every 15 s), and one longer than a year (ServeGen's 14 days uncompressed are 1.2
# million s; a year is 32 million) replays for days and overflows the oracle's
# per-minute plan at --time-compression 1e-300.
MIN_REPLAY_SECONDS = 1.0
MAX_REPLAY_SECONDS = 366 * 86_400.0


@dataclass(frozen=True)
class RateFlag:
    """The flag that set the rate scale, for the value an error suggests.

    ``per``: the rate scale one unit of the flag gives (``tune --rate-factor 1`` on
    ``servegen-day2`` is rate scale 0.0008); ``clients``: whether the command has
    ``--servegen-clients`` to suggest too."""

    name: str = "--rate-scale"
    per: float = 1.0
    clients: bool = True

    def suggest(self, rate_scale: float, fraction: float) -> str:
        """``--rate-scale 0.011 or less`` for ``fraction`` of ``rate_scale``: rounded
        down to 2 digits, so that the value shown fits too (0.01157 -> 0.011, not the
        0.012 of rounding, which is over the cap), and always a value the flag takes."""
        value = _two_digits_down(rate_scale / self.per * fraction)
        if value is None:
            return f"a far smaller {self.name}"
        return f"{self.name} {value:g} or less"


RATE_SCALE = RateFlag()  # benchmark's --rate-scale: the default of every reader


def _two_digits_down(value: float) -> float | None:
    """``value`` floored to 2 significant digits; None when not a usable number above
    0 (an infinite request count makes the fraction 0)."""
    if not math.isfinite(value) or value < 1e-300:
        return None
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    floored = math.floor(value / unit) * unit
    return floored if floored > 0 else None


def _two_digits_up(value: float) -> float:
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / unit) * unit


def request_count_problem(
    source: str, expected: float, rate_scale: float, flag: RateFlag, servegen: str = ""
) -> str | None:
    """What is wrong when ``expected`` requests (at ``rate_scale``) exceed MAX_REQUESTS;
    ``servegen``: the category, whose clients can be cut too."""
    if expected <= MAX_REQUESTS:  # also False for NaN: none is ever expected
        return None
    fraction = MAX_REQUESTS / expected
    holds = f"{servegen!r} holds " if servegen else ""
    also = ", fewer --servegen-clients" if flag.clients and servegen else ""
    return (
        f"{source}: {holds}about {expected:.3g} requests at rate scale {rate_scale:g}, more "
        f"than the {MAX_REQUESTS:.0e} that fit in memory; use "
        f"{flag.suggest(rate_scale, fraction)}{also}, or a shorter --duration"
    )


def compression_problem(source: str, span: float, time_compression: float) -> str | None:
    """What is wrong when ``span`` s of trace at ``time_compression`` replay in under
    MIN_REPLAY_SECONDS (of a trace at least that long) or over MAX_REPLAY_SECONDS."""
    replay = span / time_compression
    if time_compression > 1 and span >= MIN_REPLAY_SECONDS and replay < MIN_REPLAY_SECONDS:
        most = _two_digits_down(span / MIN_REPLAY_SECONDS) or 1.0
        return (
            f"{source}: --time-compression {time_compression:g} squeezes {span:.3g} s of "
            f"trace into {replay:.3g} s, under the {MIN_REPLAY_SECONDS:g} s a replay needs; "
            f"use --time-compression {most:g} or less"
        )
    if replay > MAX_REPLAY_SECONDS:
        least = _two_digits_up(span / MAX_REPLAY_SECONDS)
        return (
            f"{source}: --time-compression {time_compression:g} stretches {span:.3g} s of "
            f"trace to {replay:.3g} s, over the {MAX_REPLAY_SECONDS:.3g} s (a year) a "
            f"replay may last; use --time-compression {least:g} or more"
        )
    return None
