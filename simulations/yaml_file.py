"""Loading a simulator input file (a serving profile, an HPA) as strictly as a policy.

The YAML is read with the policy loader's rules (YAML 1.2 booleans and numbers,
duplicate keys refused, bounded alias expansion), and every problem of the file is
reported at once, one per line, as ``file:line: field: message``: what an editor jumps
to. A model's own errors are located through the YAML nodes, so a wrong type three
levels down names its own line, not the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from autoscaler.errors import AutoscalerError, PolicyIssue
from autoscaler.policy.paths import render_path
from autoscaler.policy.yaml_nodes import (
    FieldPath,
    LineIndex,
    check_expansion,
    duplicate_keys,
    is_empty_document,
    open_loader,
)

ModelT = TypeVar("ModelT", bound=BaseModel)

Unwrap = Callable[[Any], tuple[Any, FieldPath]]
"""Picks the part of the document the model validates (an HPA manifest's ``spec``) and
returns it with its path in the document, or raises :class:`WrongShapeError`."""


class WrongShapeError(AutoscalerError, ValueError):
    """Raised by an ``Unwrap``: the part at ``path`` is not what the model reads."""

    def __init__(self, message: str, path: FieldPath = ()) -> None:
        super().__init__(message)
        self.path = path


def _whole(data: Any) -> tuple[Any, FieldPath]:
    return data, ()


def _one_document(text: str) -> tuple[Any, Any, list[tuple[FieldPath, int]]]:
    """(node, data, duplicate keys) of the one document of ``text``; (None, None, [])
    when it holds none. Empty documents (a trailing ``---``) are skipped, as the policy
    loader skips them; a second document with content is an error at its line."""
    loader = open_loader(text)
    try:
        found: Any = None
        while loader.check_node():
            node = loader.get_node()
            if node is None or is_empty_document(node):
                continue
            if found is not None:
                raise yaml.MarkedYAMLError(
                    problem="a second document; this file holds one", problem_mark=node.start_mark
                )
            found = node
        if found is None:
            return None, None, []
        check_expansion(found)
        duplicates = list(duplicate_keys(found))
        return found, loader.construct_document(found), duplicates
    finally:
        loader.dispose()


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling)"
    if error["type"] == "missing":
        return "required field is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _loc(error: Any) -> FieldPath:
    # pydantic adds markers such as ``function-after[...]`` to some locations; they are
    # not keys of the document.
    return tuple(p for p in error["loc"] if isinstance(p, int) or "[" not in str(p))


def load_yaml_model(
    path: Path | str,
    model: type[ModelT],
    error: Callable[[str], AutoscalerError],
    unwrap: Unwrap = _whole,
) -> ModelT:
    """``model`` validated (by its aliases) from the YAML file at ``path``.

    Raises ``error(text)``, ``text`` holding one ``file:line: field: message`` line per
    problem, for an unreadable file, bad YAML, duplicate keys or an invalid model.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        node, data, duplicates = _one_document(text)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        if isinstance(exc, RecursionError):
            problem = "nested too deeply"
        else:
            problem = getattr(exc, "problem", None) or str(exc)
        raise error(f"{file}:{line}: <document>: invalid YAML: {problem}") from None
    if node is None:
        raise error(f"{file}:1: <document>: the file is empty")
    lines = LineIndex(node)
    issues = [
        PolicyIssue(file, line, render_path(p), "duplicate key: the same field is set twice")
        for p, line in duplicates
    ]
    try:
        part, prefix = unwrap(data)
    except WrongShapeError as exc:
        shape = PolicyIssue(file, lines.line_of(exc.path), render_path(exc.path), str(exc))
        issues.append(shape)
        raise error(_joined(issues)) from None
    try:
        loaded = model.model_validate(part, by_alias=True, by_name=False)
    except ValidationError as exc:
        for e in exc.errors():
            at = (*prefix, *_loc(e))
            issues.append(PolicyIssue(file, lines.line_of(at), render_path(at), _message(e)))
        raise error(_joined(issues)) from None
    if issues:
        raise error(_joined(issues))
    return loaded


def _joined(issues: list[PolicyIssue]) -> str:
    return "\n".join(str(i) for i in sorted(issues, key=lambda i: (i.line, i.field)))
