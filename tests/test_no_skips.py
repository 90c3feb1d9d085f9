"""The ``LWS_AUTOSCALER_NO_SKIPS`` hook of ``tests/conftest.py``, in a pytest run of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
SKIPPING = """
import pytest

def test_needs_a_tool():
    pytest.skip("the prometheus binary is not installed")

@pytest.mark.xfail(reason="known")
def test_known_failure():
    assert False
"""


@pytest.mark.parametrize(("setting", "failed", "skipped"), [("1", 1, 0), ("", 0, 1)])
def test_a_skip_fails_only_when_skips_are_forbidden(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    failed: int,
    skipped: int,
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(SKIPPING)
    monkeypatch.setenv("LWS_AUTOSCALER_NO_SKIPS", setting)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=failed, skipped=skipped, xfailed=1)
    if failed:
        result.stdout.fnmatch_lines(["*forbids skips: *prometheus binary is not installed*"])
