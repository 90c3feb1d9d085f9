"""``--seed N`` and ``--seeds LIST``: the seed options ``benchmark`` and ``tune`` share.

A seed draws the arrivals (where a rate-scaled request's copies fall, which ServeGen
requests are sampled) and the cold starts; ``--seeds`` asks for several runs, one per
seed (``0-4``, ``0,3,7``), and the two options exclude each other.
"""

from __future__ import annotations

import argparse

from simulations.seeds import SeedsError, parse_seeds


def add_seed_options(parser: argparse.ArgumentParser, seeds_help: str) -> None:
    parser.add_argument(
        "--seed", type=int, default=None, help="arrivals and cold starts (default 0)"
    )
    parser.add_argument("--seeds", default=None, metavar="LIST", help=seeds_help)


def read_seeds(args: argparse.Namespace) -> tuple[int, ...] | None:
    """The seeds of ``--seeds``, or None when it was not given (then ``seed_of`` applies).

    SeedsError, with the option named, for both options at once, a negative ``--seed``
    or a ``--seeds`` list that cannot be read."""
    if args.seed is not None and args.seeds is not None:
        raise SeedsError("give --seed or --seeds, not both")
    if args.seed is not None and args.seed < 0:
        raise SeedsError("--seed must be >= 0")
    if args.seeds is None:
        return None
    try:
        return parse_seeds(args.seeds)
    except SeedsError as err:
        raise SeedsError(f"--seeds: {err}") from None


def seed_of(args: argparse.Namespace) -> int:
    """The one seed of a run without ``--seeds``: ``--seed``, or 0."""
    return int(args.seed or 0)
