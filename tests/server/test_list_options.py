"""The list options of a metric read, checked as kube-apiserver's parameter codec checks
them (``check_list_options`` alone; tests/server/test_api.py sends them over HTTP)."""

from __future__ import annotations

import pytest

from autoscaler.server.list_options import check_list_options, first_value
from autoscaler.server.status import ApiError


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "+5",  # ParseInt takes a sign
        "-1",
        "9223372036854775807",  # MaxInt64
        "-9223372036854775808",  # MinInt64 parses too
    ],
)
@pytest.mark.parametrize("name", ["limit", "timeoutSeconds"])
def test_int64_values_are_accepted(name: str, value: str) -> None:
    check_list_options({name: [value]})


@pytest.mark.parametrize(
    "value", ["9223372036854775808", "-9223372036854775809", "1.5", "", "0x10", "1e3"]
)
@pytest.mark.parametrize("name", ["limit", "timeoutSeconds"])
def test_values_beyond_int64_or_not_integers_are_bad_requests(name: str, value: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_list_options({name: [value]})
    assert caught.value.code == 400
    assert f"{name}: {value!r} is not an integer" in caught.value.message


@pytest.mark.parametrize(
    ("selector", "label"),
    [
        ("spec.nodeName=a", "spec.nodeName"),
        ("metadata.name=x,status.phase!=Running", "status.phase"),
    ],
)
def test_an_unsupported_field_label_is_named(selector: str, label: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_list_options({"fieldSelector": [selector]})
    assert caught.value.code == 400
    assert caught.value.message == f'field label not supported: "{label}"'


def test_the_first_of_a_repeated_parameter_counts() -> None:
    assert first_value({"limit": ["1", "x"]}, "limit") == "1"
    check_list_options({"limit": ["1", "x"]})  # Go reads the first: a valid integer
    assert first_value({}, "limit") is None
    assert first_value({"limit": []}, "limit") is None
