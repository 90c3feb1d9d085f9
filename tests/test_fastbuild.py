"""``fast_constructor`` builds the same frozen instances as the class, and refuses classes
whose ``__post_init__`` it would silently skip."""

from __future__ import annotations

import dataclasses

import pytest

from autoscaler.engine.decision import Reason, ReasonCode
from autoscaler.fastbuild import fast_constructor
from autoscaler.snapshot import LwsKey, LwsSnapshot


def test_builds_an_equal_frozen_instance() -> None:
    built = fast_constructor(Reason)(ReasonCode.HOLD, "held")
    assert built == Reason(ReasonCode.HOLD, "held")
    assert hash(built) == hash(Reason(ReasonCode.HOLD, "held"))
    assert repr(built) == repr(Reason(ReasonCode.HOLD, "held"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.message = "changed"  # type: ignore[misc]


def test_wrong_number_of_fields_is_an_error() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        fast_constructor(Reason)(ReasonCode.HOLD)


def test_post_init_is_not_skipped_by_accident() -> None:
    with pytest.raises(TypeError, match="__post_init__"):
        fast_constructor(LwsSnapshot)
    assert (
        fast_constructor(LwsSnapshot, skip_post_init=True)(
            LwsKey("ns", "x"), 0.0, 1, 1, 1, (), {}, {}, None
        ).spec_replicas
        == 1
    )


def test_refuses_non_dataclasses() -> None:
    with pytest.raises(TypeError, match="not a dict-backed dataclass"):
        fast_constructor(int)
