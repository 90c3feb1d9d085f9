"""Suite-wide hooks.

``LWS_AUTOSCALER_NO_SKIPS=1`` (set by ``.ci/run``) turns every skipped test into a
failure that keeps the skip's reason. Tests skip where a real part is missing on a
developer's machine (the ``prometheus`` and ``promtool`` binaries, ``../shared``); in
CI those parts are installed on purpose, and a silent skip there would pass a run that
tested none of them.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from hypothesis import settings

NO_SKIPS = "LWS_AUTOSCALER_NO_SKIPS"

# No per-example deadline for property tests: their bodies take milliseconds, and one
# garbage collection or preemption of 200 ms on a loaded 2-core CI machine would fail a
# test with "Unreliable test timings", a timing verdict, not a behaviour one.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if os.environ.get(NO_SKIPS) == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and {NO_SKIPS}=1 forbids skips: {reason}"
