"""Strict loading of policy files, reporting every problem as ``file:line: field: message``.

YAML is composed into nodes first so that every value keeps its line; pydantic's error
locations (a path of keys and indices) are then mapped back to the line of the deepest
node that exists. Loading never stops at the first problem: all errors of all files are
collected, including the ones that span files (two policies for the same LWS).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autoscaler.errors import PolicyError, PolicyIssue
from autoscaler.policy.model import ScalingPolicy
from autoscaler.snapshot import LwsKey

POLICY_SUFFIXES = (".yaml", ".yml")
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy and where it came from."""

    policy: ScalingPolicy
    file: str
    line: int

    @property
    def key(self) -> LwsKey:
        target = self.policy.spec.target
        return LwsKey(target.namespace, target.name)


class _LineIndex:
    """Maps a path of keys/indices inside one YAML document to a 1-based line."""

    def __init__(self, root: yaml.Node) -> None:
        self._lines: dict[Path_, int] = {}
        self._walk(root, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self._lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                self._walk(value_node, (*path, key))
                # A key's own line is the better answer for "unknown key" errors.
                self._lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line_of(self, path: Path_) -> int:
        for end in range(len(path), -1, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return 1


def _duplicate_keys(node: yaml.Node, path: Path_ = ()) -> Iterator[tuple[Path_, int]]:
    """YAML silently keeps the last of two equal keys; a policy must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield (*path, key), key_node.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index))


def _field_path(loc: Sequence[str | int]) -> Path_:
    # Discriminated unions add the tag ("queueDepth") to the location; it is not a key.
    parts: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in _UNION_TAGS):
            continue
        parts.append(part)
    return tuple(parts)


_UNION_TAGS = frozenset({"queueDepth", "kvCacheUtilization", "tokenThroughput", "ttft"})


def _render_path(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling; see `lws-autoscaler schema`)"
    if error["type"] == "missing":
        return "required field is missing"
    # pydantic prefixes messages of custom validators with "Value error, ".
    return msg.removeprefix("Value error, ")


def _validate_document(
    file: str, node: yaml.Node, loader_data: Any
) -> tuple[ScalingPolicy | None, list[PolicyIssue]]:
    index = _LineIndex(node)
    issues = [
        PolicyIssue(file, line, _render_path(path), "duplicate key: the same field is set twice")
        for path, line in _duplicate_keys(node)
    ]
    if not isinstance(loader_data, dict):
        issues.append(PolicyIssue(file, index.line_of(()), "", "a policy must be a mapping"))
        return None, issues
    try:
        policy = ScalingPolicy.model_validate(loader_data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _field_path(error["loc"])
            issues.append(
                PolicyIssue(file, index.line_of(path), _render_path(path), _message(error))
            )
        return None, issues
    return (None, issues) if issues else (policy, issues)


def _parse_file(path: Path) -> tuple[list[LoadedPolicy], list[PolicyIssue]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [PolicyIssue(file, 1, "", f"cannot read file: {exc}")]
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [PolicyIssue(file, line, "", f"invalid YAML: {problem}")]
    policies: list[LoadedPolicy] = []
    issues: list[PolicyIssue] = []
    documents = [(n, d) for n, d in zip(nodes, datas, strict=True) if n is not None]
    if not documents:
        return [], [PolicyIssue(file, 1, "", "file holds no policy document")]
    for node, data in documents:
        policy, doc_issues = _validate_document(file, node, data)
        issues.extend(doc_issues)
        if policy is not None:
            policies.append(LoadedPolicy(policy, file, node.start_mark.line + 1))
    return policies, issues


def _expand(paths: Iterable[Path | str]) -> tuple[list[Path], list[PolicyIssue]]:
    files: list[Path] = []
    issues: list[PolicyIssue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.suffix in POLICY_SUFFIXES and p.is_file()
            )
        elif path.is_file():
            files.append(path)
        else:
            issues.append(PolicyIssue(str(path), 1, "", "no such file or directory"))
    return files, issues


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
                    loaded.line,
                    "spec.target",
                    f"LWS {loaded.key} is already scaled by policy {earlier.policy.name!r} "
                    f"({earlier.file}:{earlier.line}); one policy per LWS",
                )
            )
        other = names.setdefault(loaded.policy.name, loaded)
        if other is not loaded:
            issues.append(
                PolicyIssue(
                    loaded.file,
                    loaded.line,
                    "metadata.name",
                    f"policy name {loaded.policy.name!r} is already used at "
                    f"{other.file}:{other.line}",
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
    files, issues = _expand(paths)
    policies: list[LoadedPolicy] = []
    for file in files:
        loaded, file_issues = _parse_file(file)
        policies.extend(loaded)
        issues.extend(file_issues)
    if not files and not issues:
        issues.append(PolicyIssue("<arguments>", 1, "", "no policy files (*.yaml, *.yml) found"))
    issues.extend(_duplicate_targets(policies))
    return policies, sorted(issues, key=lambda i: (i.file, i.line, i.field))


def load_policies(paths: Iterable[Path | str]) -> list[LoadedPolicy]:
    """Load files and folders strictly: PolicyError if any file has any issue."""
    policies, issues = collect_policies(paths)
    if issues:
        raise PolicyError(issues)
    return policies
