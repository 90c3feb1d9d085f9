"""The benchmark over several seeds: how much of one run's verdict is the draw.

A seed draws the cold starts and where the copies of a rate-scaled request fall, so one
seed can put ours just over the SLO target and the next just under it (the default
trace: 99.11% on seed 0, 98.93% on seed 1). ``lws-autoscaler benchmark --seeds 0-4``
plays the whole benchmark once per seed, hindsight sweeps included (a tuned recipe is
re-tuned on every seed, as it would be on every trace), and this module turns the
per-seed figures into one row per seed and a verdict: on how many seeds ours reached
the target, and met each part of the goal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from autoscaler.errors import AutoscalerError
from simulations.report import attainment_cell

# ASCII digits only: str.isdigit() and \d also take "²" and "٣", which int() refuses
# or reads as 3.
_SEED = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)-([0-9]+)")
# More seeds than this is a typo, not a study: each one replays every sweep point.
MAX_SEEDS = 100


class SeedsError(AutoscalerError):
    """A ``--seeds`` list that cannot be read (an ``AutoscalerError``: the CLI reports it
    in one line wherever it surfaces, and the commands gather it with their other
    problems)."""


def _shown(part: str) -> str:
    """A part as the messages quote it, cut to 40 characters."""
    return repr(part if len(part) <= 40 else part[:37] + "...")


def _number(digits: str, part: str) -> int:
    try:
        return int(digits)
    except ValueError:  # more than the 4,300 digits int() reads
        raise SeedsError(
            f"{_shown(part)} is not a seed (too many digits; use e.g. 0-4 or 0,1,5)"
        ) from None


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"`` -> 0..4, ``"1,3,7"`` -> those three, ``"0-2,9"`` -> 0, 1, 2, 9.

    Order is kept, duplicates are dropped; an empty, negative, backwards or unreadable
    part (anything but ASCII digits) is an error naming that part."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        match = _RANGE.fullmatch(part)
        if match:
            first, last = _number(match.group(1), part), _number(match.group(2), part)
            if last < first:
                raise SeedsError(f"seed range {_shown(part)} runs backwards")
            # Counted before expanding: 0-10000000000 used to build a list of 10**10
            # ints (a MemoryError) only to be refused afterwards.
            if len(seeds) + last - first + 1 > MAX_SEEDS:
                raise SeedsError(
                    f"at most {MAX_SEEDS} seeds ({_shown(part)} alone is {last - first + 1})"
                )
            seeds.extend(range(first, last + 1))
        elif _SEED.fullmatch(part):
            seeds.append(_number(part, part))
        else:
            raise SeedsError(f"{_shown(part)} is not a seed (use e.g. 0-4 or 0,1,5)")
        if len(seeds) > MAX_SEEDS:
            raise SeedsError(f"at most {MAX_SEEDS} seeds")
    return tuple(dict.fromkeys(seeds))


def _short(figures: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("slo_attainment", "gpu_hours", "scale_events", "failed_requests")
    return {key: figures[key] for key in keys}


def seed_row(
    seed: int, figures: Mapping[str, dict[str, Any]], goal: Mapping[str, Any]
) -> dict[str, Any]:
    """One seed's row: ours, the oracle, static, the best tuned recipe (the one
    ``goal`` compared ours with) and the goal."""
    best_name = goal.get("best_tuned_recipe")
    best = None if best_name is None else figures[best_name]
    return {
        "seed": seed,
        "ours": _short(figures["ours"]),
        "oracle": {**_short(figures["oracle"]), "setting": figures["oracle"].get("setting")},
        "static": {**_short(figures["static"]), "setting": figures["static"].get("setting")},
        "best_tuned": None
        if best is None
        else {"name": best_name, "setting": best.get("setting"), **_short(best)},
        "goal": {k: v for k, v in goal.items() if not isinstance(v, dict)},
    }


_PARTS = (
    ("ours_reaches_target", "ours reaches the target"),
    ("within_1_15x_oracle", "within 1.15x of the oracle's GPU-hours"),
    ("at_least_20pct_fewer_than_best_tuned", ">= 20% fewer GPU-hours than the best tuned"),
    ("fewer_scale_events_than_best_tuned", "fewer scale events than the best tuned"),
)


def verdict(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """On how many seeds each part of the goal was met, and the spread of ours."""
    count = len(rows)
    met = {key: sum(bool(r["goal"].get(key)) for r in rows) for key, _ in _PARTS}
    attainment = [r["ours"]["slo_attainment"] for r in rows]
    ratio = [r["goal"]["ours_vs_oracle_gpu_hours"] for r in rows]
    return {
        "seeds": count,
        "met": met,
        "ours_slo_attainment_range": [min(attainment), max(attainment)] if rows else None,
        "ours_vs_oracle_range": [min(ratio), max(ratio)] if rows else None,
    }


def _cell(figures: Mapping[str, Any] | None, target: float) -> str:
    if figures is None:
        return "none reached the target"
    attainment = attainment_cell(figures["slo_attainment"], target)
    return f"{attainment} / {figures['gpu_hours']:.1f} / {figures['scale_events']}"


def _named(label: str, setting: float | None, cell: str) -> str:
    """``keda-tuned 9: cell``; the label alone when a run has no setting."""
    head = " ".join(part for part in (label, "" if setting is None else f"{setting:g}") if part)
    return f"{head}: {cell}" if head else cell


def seeds_markdown(rows: Sequence[Mapping[str, Any]], target: float) -> str:
    """The per-seed table (attainment / GPU-hours / scale events) and the verdict."""
    lines = [
        "| seed | ours | x oracle | best tuned | ours vs best tuned | static | oracle |",
        "|---:|---|---:|---|---:|---|---|",
    ]
    for row in rows:
        best, goal = row["best_tuned"], row["goal"]
        best_text = _cell(best, target)
        if best is not None:
            best_text = _named(best["name"], best["setting"], best_text)
        saving = goal.get("saving_vs_best_tuned_recipe")
        saving_text = "-" if saving is None else f"{-100 * saving:+.1f}%"
        static = _named("", row["static"]["setting"], _cell(row["static"], target))
        oracle = _named("", row["oracle"]["setting"], _cell(row["oracle"], target))
        lines.append(
            f"| {row['seed']} | {_cell(row['ours'], target)} | "
            f"{goal['ours_vs_oracle_gpu_hours']:.3f} | {best_text} | {saving_text} | "
            f"{static} | {oracle} |"
        )
    summary = verdict(rows)
    lines += ["", f"Over {summary['seeds']} seeds, cells: attainment / GPU-hours / scale events."]
    lines += [f"- {title}: {summary['met'][key]} of {summary['seeds']}" for key, title in _PARTS]
    return "\n".join(lines) + "\n"
