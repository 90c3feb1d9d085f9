"""The one error tree of lws-autoscaler.

Every error the package raises on purpose derives from :class:`AutoscalerError`, so a
caller (the CLI, the control loop, the API server) can catch one type and report it
without a traceback. Sub-trees follow the parts of the system: policies, metric sources,
recordings.
"""

from __future__ import annotations

from dataclasses import dataclass


class AutoscalerError(Exception):
    """Base of every error lws-autoscaler raises on purpose."""


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` with its whitespace collapsed, cut to ``limit`` characters (ending in
    ``...``) when given. For text from elsewhere that goes into a message: a proxy's HTML
    error page or PyYAML's caret diagram would spread over the log and the CLI's one
    line. E.g. ``one_line("<html>\\n<p>x</p>", 10)`` is ``"<html> ..."``."""
    flat = " ".join(text.split())
    return flat if limit is None or len(flat) <= limit else f"{flat[: limit - 3]}..."


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file, located precisely enough for an editor to jump to."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        field = self.field or "<document>"
        return f"{self.file}:{self.line}: {field}: {self.message}"


class PolicyError(AutoscalerError):
    """One or more policy files are invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.field))
        super().__init__("\n".join(str(i) for i in self.issues))


class SourceError(AutoscalerError):
    """A metric source could not produce data this cycle."""


class SourceUnavailableError(SourceError):
    """The backend (Prometheus, a leader pod, the API server) could not be reached."""


class QueryRejectedError(SourceError):
    """The backend answered, but refused the query (bad PromQL, limits exceeded)."""


class RecordingError(AutoscalerError):
    """A recording file is missing, malformed, or of an unsupported version."""
