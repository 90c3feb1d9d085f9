"""Strict loading of policy files, reporting every problem as ``file:line: field: message``.

YAML is composed into nodes first so that every value keeps its line; pydantic's error
locations (a path of keys and indices) are then mapped back to the line of the deepest
node that exists. Loading never stops at the first problem: all errors of all files are
collected, including the ones that span files (two policies for the same LWS).

YAML itself (YAML 1.2 booleans and numbers, duplicate keys, the bound on alias
expansion) is ``yaml_nodes``' job, lines (an alias's own, for a field reached through
it) ``yaml_lines``'; error paths and messages are ``paths``'; cross-field
rules that pydantic skips because another field of the same object failed are checked
again by ``cross_checks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autoscaler.errors import PolicyError, PolicyIssue
from autoscaler.policy.construct import build_document
from autoscaler.policy.cross_checks import cross_field_issues
from autoscaler.policy.files import expand
from autoscaler.policy.model import ScalingPolicy
from autoscaler.policy.paths import field_path, message, render_path
from autoscaler.policy.yaml_lines import AliasSites, LineIndex
from autoscaler.policy.yaml_nodes import (
    FieldPath,
    check_expansion,
    duplicate_keys,
    is_empty_document,
    open_loader,
)
from autoscaler.snapshot import LwsKey


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and where it came from.

    ``line`` is the first line of the document; ``field_lines`` the lines of the fields
    that cross-file checks point at (``spec.target``, ``metadata.name``).
    """

    policy: ScalingPolicy
    file: str
    line: int
    field_lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, field_path: str) -> int:
        return self.field_lines.get(field_path, self.line)

    @property
    def key(self) -> LwsKey:
        target = self.policy.spec.target
        return LwsKey(target.namespace, target.name)


def policy_from_document(data: Any) -> ScalingPolicy:
    """Validate one policy document as written in YAML: by camelCase names only.

    The models also accept Python names (``ScaleDown(stabilization_window=0)``) for code
    that builds policies; a document must not, or ``scale_down: {...}`` would validate
    although the docs and the JSON Schema (``additionalProperties: false``) reject it.
    """
    return ScalingPolicy.model_validate(data, by_alias=True, by_name=False)


def describe_validation_error(exc: ValidationError) -> list[tuple[str, str]]:
    """(field path as written in YAML, message) for each error of a policy's validation,
    for policies that do not come from a file (``lws-autoscaler tune`` variants)."""
    return [(render_path(field_path(e)), message(e)) for e in exc.errors()]


_CROSS_FILE_FIELDS = {"spec.target": ("spec", "target"), "metadata.name": ("metadata", "name")}


def _yaml_issue(file: str, exc: Exception, default_line: int) -> PolicyIssue:
    """A YAML problem as an issue at its own line where YAML knows it.

    Besides syntax, that covers aliases that expand too far or contain themselves
    (``check_expansion``), and nesting too deep to walk (10,000 ``[``), which Python
    reports as a ``RecursionError``. A syntax error keeps PyYAML's context and is
    reported at the context's line: an unclosed quote on line 4 is found only at the
    end of the file, and line 4 is where to look.
    """
    if isinstance(exc, RecursionError):
        return PolicyIssue(file, default_line, "", "invalid YAML: nested too deeply")
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else default_line
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context:
        if context_mark is not None and context_mark.line + 1 != line:
            problem = f"{problem} (line {line})"
            line = context_mark.line + 1
        problem = f"{context}: {problem}"
    return PolicyIssue(file, line, "", f"invalid YAML: {problem}")


def _under(path: FieldPath, unbuilt: list[FieldPath]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in unbuilt)


def _validate_document(
    file: str, node: yaml.Node, aliases: AliasSites
) -> tuple[LoadedPolicy | None, list[PolicyIssue]]:
    try:
        # First, before anything walks the document or pydantic its expansion.
        check_expansion(node)
        index = LineIndex(node, aliases)
        duplicates = list(duplicate_keys(node, aliases))
        data, unbuildable = build_document(node)
    except (yaml.YAMLError, RecursionError) as exc:
        return None, [_yaml_issue(file, exc, node.start_mark.line + 1)]
    issues = [
        PolicyIssue(file, line, render_path(path), "duplicate key: the same field is set twice")
        for path, line in duplicates
    ]
    issues += [PolicyIssue(file, u.line, render_path(u.path), u.message) for u in unbuildable]
    # Errors at or below a value YAML could not build only say it is a placeholder.
    unbuilt = [u.path for u in unbuildable if u.hides]
    if () in unbuilt:
        return None, issues
    if not isinstance(data, dict):
        issues.append(PolicyIssue(file, index.line_of(()), "", "a policy must be a mapping"))
        return None, issues
    try:
        policy = policy_from_document(data)
    except ValidationError as exc:
        found = [
            (field_path(e), message(e))
            for e in exc.errors()
            if e["type"] == "extra_forbidden" or not _under(field_path(e), unbuilt)
        ]
        # Cross-field rules pydantic skipped because another field of their model failed.
        found += [
            f for f in cross_field_issues(data) if f not in found and not _under(f[0], unbuilt)
        ]
        # A field reached through an alias is at the alias's line, its message naming
        # the anchor the value comes from (``yaml_lines``).
        located = [(p, m, index.locate(p)) for p, m in found]
        issues += [PolicyIssue(file, at.line, render_path(p), m + at.note) for p, m, at in located]
        return None, issues
    if issues:
        return None, issues
    lines = {name: index.line_of(path) for name, path in _CROSS_FILE_FIELDS.items()}
    return LoadedPolicy(policy, file, node.start_mark.line + 1, lines), issues


def _newlines(text: str) -> str:
    """CRLF and CR line ends as LF, as reading in text mode does."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_file(path: Path) -> tuple[list[LoadedPolicy], list[PolicyIssue]]:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [PolicyIssue(file, 1, "", f"cannot read file: {exc.strerror}")]
    try:
        text = _newlines(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        # The text before the bad byte decodes: count its lines as YAML will.
        line = _newlines(raw[: exc.start].decode("utf-8")).count("\n") + 1
        message = (
            f"file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded (save it as UTF-8)"
        )
        return [], [PolicyIssue(file, line, "", message)]
    policies: list[LoadedPolicy] = []
    issues: list[PolicyIssue] = []
    documents, next_line = 0, 1
    # Document by document, each validated as it comes: a syntax error in a later
    # document ends the stream but must not hide the problems of the earlier ones.
    try:
        loader = open_loader(text)
    except yaml.YAMLError as exc:
        return [], [_yaml_issue(file, exc, 1)]
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None or is_empty_document(node):
                continue
            next_line = node.end_mark.line + 1
            documents += 1
            loaded, doc_issues = _validate_document(file, node, loader.alias_sites)
            issues.extend(doc_issues)
            if loaded is not None:
                policies.append(loaded)
    except (yaml.YAMLError, RecursionError) as exc:
        issues.append(_yaml_issue(file, exc, next_line))
    finally:
        loader.dispose()
    if not documents and not issues:
        issues.append(PolicyIssue(file, 1, "", "file holds no policy document"))
    return policies, issues


def _duplicate_targets(policies: list[LoadedPolicy]) -> list[PolicyIssue]:
    first: dict[LwsKey, LoadedPolicy] = {}
    names: dict[str, LoadedPolicy] = {}
    issues: list[PolicyIssue] = []
    for loaded in policies:
        earlier = first.setdefault(loaded.key, loaded)
        if earlier is not loaded:
            issues.append(
                PolicyIssue(
                    loaded.file,
                    loaded.line_of("spec.target"),
                    "spec.target",
                    f"LWS {loaded.key} is already scaled by policy {earlier.policy.name!r} "
                    f"({earlier.file}:{earlier.line_of('spec.target')}); one policy per LWS",
                )
            )
        other = names.setdefault(loaded.policy.name, loaded)
        if other is not loaded:
            issues.append(
                PolicyIssue(
                    loaded.file,
                    loaded.line_of("metadata.name"),
                    "metadata.name",
                    f"policy name {loaded.policy.name!r} is already used at "
                    f"{other.file}:{other.line_of('metadata.name')}",
                )
            )
    return issues


def load_policy_file(path: Path | str) -> list[LoadedPolicy]:
    """Load one file (which may hold several documents); PolicyError lists every issue."""
    policies, issues = _parse_file(Path(path))
    issues.extend(_duplicate_targets(policies))
    if issues:
        raise PolicyError(issues)
    return policies


def collect_policies(paths: Iterable[Path | str]) -> tuple[list[LoadedPolicy], list[PolicyIssue]]:
    """Load files and folders; return the valid policies and every issue, without raising."""
    files, issues = expand(paths)
    policies: list[LoadedPolicy] = []
    for file in files:
        loaded, file_issues = _parse_file(file)
        policies.extend(loaded)
        issues.extend(file_issues)
    issues.extend(_duplicate_targets(policies))
    return policies, sorted(issues, key=lambda i: (i.file, i.line, i.field))


def load_policies(paths: Iterable[Path | str]) -> list[LoadedPolicy]:
    """Load files and folders strictly: PolicyError if any file has any issue."""
    policies, issues = collect_policies(paths)
    if issues:
        raise PolicyError(issues)
    return policies
