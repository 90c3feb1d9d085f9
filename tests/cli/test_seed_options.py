"""``--seed`` / ``--seeds``, as ``benchmark`` and ``tune`` read them (table-driven)."""

from __future__ import annotations

import argparse

import pytest

from autoscaler.cli.seed_options import add_seed_options, read_seeds, seed_of
from simulations.seeds import SeedsError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_seed_options(parser, "several seeds")
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "seeds", "seed"),
    [
        ((), None, 0),
        (("--seed", "7"), None, 7),
        (("--seed", "0"), None, 0),
        (("--seeds", "0-2"), (0, 1, 2), 0),
        (("--seeds", "4,1,4"), (4, 1), 0),
    ],
)
def test_read_seeds_and_seed_of(
    argv: tuple[str, ...], seeds: tuple[int, ...] | None, seed: int
) -> None:
    args = _args(*argv)
    assert read_seeds(args) == seeds
    assert seed_of(args) == seed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--seed", "1", "--seeds", "0-2"), "give --seed or --seeds, not both"),
        (("--seed", "-1"), "--seed must be >= 0"),
        (("--seeds", "2-0"), "--seeds: seed range '2-0' runs backwards"),
        (("--seeds", "a"), "--seeds: 'a' is not a seed"),
        # Counted before expanding: this built a list of 10**12 ints (MemoryError).
        (("--seeds", "0-1000000000000"), "--seeds: at most 100 seeds"),
    ],
)
def test_bad_seed_options_name_the_option(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(SeedsError, match=message):
        read_seeds(_args(*argv))
