"""The one error tree (``autoscaler.errors``): every exception class the package and the
simulator define derives from ``AutoscalerError``, so the CLI, the control loop and the
API server can report any of them without a traceback.

The exceptions exempted below never leave the module that raises them: each is caught
there and re-raised as, or reported through, an error of the tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import autoscaler
import simulations
from autoscaler.errors import AutoscalerError, SourceUnavailableError, one_line

# Control flow inside one module, each caught where it is raised (see the docstring).
INTERNAL = {
    "autoscaler.server.cordon.PodGoneError",  # a 404 on the pod: nothing to relabel
    "simulations.hpa.calculator.MetricComputeError",  # the Go controller's error values
    "simulations.hpa.controller._MetricFailedError",
}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (autoscaler, simulations):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return sorted(found.values(), key=lambda c: f"{c.__module__}.{c.__qualname__}")


CLASSES = _exception_classes()


def test_the_walk_finds_the_errors() -> None:
    names = {c.__qualname__ for c in CLASSES}
    assert {"PolicyError", "ApiError", "ReadDeadlineError", "CaseError", "TraceError"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_error_is_in_the_tree(cls: type[BaseException]) -> None:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if name in INTERNAL:
        assert not issubclass(cls, AutoscalerError), f"{name} joined the tree: drop it here"
        return
    assert issubclass(cls, AutoscalerError), f"{name} is outside autoscaler.errors' tree"


def test_a_body_read_that_escapes_still_reads_as_an_unavailable_source() -> None:
    from autoscaler.sources.bounded_read import ReadCapError, ReadDeadlineError

    assert issubclass(ReadDeadlineError, SourceUnavailableError)
    assert issubclass(ReadCapError, SourceUnavailableError)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a  b\n\tc ", None, "a b c"),  # whitespace collapsed, never cut without a limit
        ("x" * 500, None, "x" * 500),
        ("abcdefghij", 10, "abcdefghij"),  # exactly the limit: whole
        ("abcdefghijk", 10, "abcdefg..."),  # one more: cut to the limit, "..." included
        ("<html>\n<p>x</p>", 10, "<html> ..."),  # the docstring's example
    ],
)
def test_one_line_collapses_and_cuts_to_the_limit(
    text: str, limit: int | None, expected: str
) -> None:
    assert one_line(text, limit) == expected
