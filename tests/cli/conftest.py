"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.cli import record as record_cli


@pytest.fixture
def no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """``record`` reaching Prometheus at all fails the test: its flags must be checked
    first (fast, where a span of 1e15 s used to hang)."""

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        pytest.fail("record() ran: the flags were not checked first")

    monkeypatch.setattr(record_cli, "record", refuse)
