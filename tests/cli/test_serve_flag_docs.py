"""The defaults docs/api.md and docs/security.md give for ``serve``'s flags are the ones
the command line applies: the docs are read, the parser is asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoscaler.cli.main import build_parser
from autoscaler.durations import parse_duration

DOCS = Path(__file__).resolve().parents[2] / "docs"
_ROW = re.compile(r"^\| (?P<flags>[^|]+) \| (?P<defaults>[^|]+) \|", re.MULTILINE)
_ONLY_VALUES = re.compile(r"`[^`]+`(, `[^`]+`)*")


def _documented() -> list[tuple[str, str]]:
    """(flag, default) for each flags-table row whose default cell is only values."""
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    pairs: list[tuple[str, str]] = []
    for row in _ROW.finditer(text):
        defaults = row["defaults"].strip()
        if not _ONLY_VALUES.fullmatch(defaults):
            continue
        flags = re.findall(r"`(--[a-z-]+)[^`]*`", row["flags"])
        values = re.findall(r"`([^`]+)`", defaults)
        if flags and len(flags) == len(values):
            pairs.extend(zip(flags, values, strict=True))
    return pairs


DOCUMENTED = _documented()


def _applied(flag: str) -> object:
    args = build_parser().parse_args(["serve"])
    return getattr(args, flag.removeprefix("--").replace("-", "_"))


def test_the_flags_table_is_read() -> None:
    # A table reshaped so that no row is read would make the next test pass vacuously.
    flags = {flag for flag, _ in DOCUMENTED}
    assert {"--cycle", "--max-connections", "--request-header-timeout"} <= flags
    assert len(DOCUMENTED) >= 8


@pytest.mark.parametrize(("flag", "documented"), DOCUMENTED, ids=[f for f, _ in DOCUMENTED])
def test_each_documented_default_is_applied(flag: str, documented: str) -> None:
    applied = _applied(flag)
    if isinstance(applied, bool) or not isinstance(applied, int | float):
        assert str(applied) == documented
    elif isinstance(applied, int) and documented.isdigit():
        assert applied == int(documented)
    else:
        assert applied == parse_duration(documented)


def test_the_auth_cache_time_in_security_md_is_applied() -> None:
    text = (DOCS / "security.md").read_text(encoding="utf-8")
    said = re.search(r"`--auth-cache-ttl` \(default (\d+) s\)", text)
    assert said is not None
    assert _applied("--auth-cache-ttl") == float(said[1])
