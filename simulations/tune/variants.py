"""Policy variants from ``--set NAME:PATH=VALUE`` arguments, validated all at once.

A path is relative to the policy's ``spec`` (a leading ``spec.`` is accepted too), with
dots between keys: ``scaleDown.stabilizationWindow=2m``. A list is indexed by position
(``signals.2.capacityPerGroup``) or, for ``signals``, by the signal's ``type``
(``signals.tokenThroughput.capacityPerGroup``). The value is read as YAML, so
``12000`` is a number, ``2m`` a string, ``{groups: 1, period: 1m}`` a mapping, and
``null`` removes the field (its default applies). Every variant is validated with the
policy schema before anything runs, and every problem of every argument is reported in
one error.

``--grid PATH=[V1, V2, ...]`` sweeps a path: the grid axes multiply into one variant per
combination of their values.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autoscaler.errors import AutoscalerError, one_line
from autoscaler.policy.loader import (
    describe_validation_error,
    load_policy_file,
    policy_from_document,
)
from autoscaler.policy.model import ScalingPolicy
from autoscaler.policy.yaml_nodes import StrictYamlLoader, is_empty_document

BASELINE = "shipped"
"""The name of the unchanged policy, which every tuning run includes."""


class TuningError(AutoscalerError):
    """Bad ``--set``/``--grid`` arguments, options or trace names; the message lists
    every problem, one a line."""


@dataclass(frozen=True)
class Override:
    """One change: ``argument`` is the flag as given (``--set 'dw2:...'``), for errors."""

    argument: str
    path: tuple[str, ...]
    value: Any


@dataclass(frozen=True)
class Variant:
    """A named set of overrides, the policy document they give and that document
    validated (the policy the runs use)."""

    name: str
    overrides: tuple[Override, ...]
    document: Mapping[str, Any] = field(repr=False)
    policy: ScalingPolicy = field(repr=False)

    @property
    def changes(self) -> dict[str, Any]:
        return {".".join(o.path): o.value for o in self.overrides}


def load_base(path: Path) -> dict[str, Any]:
    """The policy document of ``path``, which must hold exactly one valid policy
    (PolicyError, with file, line and field, if it does not validate)."""
    loaded = load_policy_file(path)
    if len(loaded) != 1:
        raise TuningError(f"{path}: holds {len(loaded)} policies; tune takes one")
    text = path.read_text(encoding="utf-8")
    node = next(
        n for n in yaml.compose_all(text, Loader=StrictYamlLoader) if not is_empty_document(n)
    )
    document: dict[str, Any] = StrictYamlLoader("").construct_document(node)
    return document


def _path_value(text: str, source: str, form: str) -> tuple[tuple[str, ...], Any]:
    """``PATH=VALUE`` -> (keys below spec, YAML value); ``source`` names the argument."""
    path, equals, raw = text.partition("=")
    if not equals or not path.strip():
        raise TuningError(f"{source}: expected {form}")
    parts = tuple(path.strip().split("."))
    if parts[0] == "spec":
        parts = parts[1:]
    if not parts or any(not p for p in parts):
        raise TuningError(f"{source}: empty key in path {path!r}")
    try:
        # As policy files read it: YAML 1.2 (010 is 10, `yes` and 1:30 are text).
        value = yaml.load(raw, Loader=StrictYamlLoader) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise TuningError(
            f"{source}: the value {raw!r} is not valid YAML: {_yaml_problem(exc)}"
        ) from None
    return parts, value


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line: its str() is 7 lines (context, the text, a caret)."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem is None:
        return one_line(str(exc))
    mark = exc.problem_mark
    where = "" if mark is None else f" (column {mark.column + 1})"
    if mark is not None and mark.line:
        where = f" (line {mark.line + 1}, column {mark.column + 1})"
    return f"{exc.problem}{where}"


def parse_set(argument: str) -> tuple[str, Override]:
    """``NAME:PATH=VALUE`` -> (name, override); TuningError on a malformed argument."""
    source, form = f"--set {argument!r}", "NAME:PATH=VALUE"
    name, colon, rest = argument.partition(":")
    if not colon or not name.strip():
        raise TuningError(f"{source}: expected {form}")
    path, value = _path_value(rest, source, form)
    return name.strip(), Override(source, path, value)


def _is_index(key: str) -> bool:
    # ASCII digits only: str.isdigit() takes "²", which int() refuses. At most 9, as no
    # policy list is longer, and int() of thousands of digits is refused too.
    return re.fullmatch(r"[0-9]{1,9}", key) is not None


def _list_index(items: list[Any], key: str, where: str) -> int:
    if _is_index(key):
        if int(key) >= len(items):
            raise TuningError(f"{where}: index {key} is out of range ({len(items)} entries)")
        return int(key)
    typed = [
        i for i, item in enumerate(items) if isinstance(item, dict) and item.get("type") == key
    ]
    if len(typed) != 1:
        found = "no entry" if not typed else f"{len(typed)} entries"
        raise TuningError(f"{where}: {found} of type {key!r}; use the list index instead")
    return typed[0]


def apply_override(spec: dict[str, Any], override: Override) -> None:
    """Set (or with None, remove) ``override.path`` in ``spec``, in place. On a list, None
    removes the item (``signals.ttft=null``) and the index just past the end appends one
    (``signals.3={type: ttft, targetSeconds: 1}`` on a policy with three signals)."""
    node: Any = spec
    walked = "spec"
    for key in override.path[:-1]:
        where = f"{override.argument}: {walked}"
        if isinstance(node, list):
            node = node[_list_index(node, key, where)]
        elif isinstance(node, dict):
            if override.value is None and key not in node:
                return  # removing below a field that is not written: nothing to remove
            node = node.setdefault(key, {})
        else:
            raise TuningError(f"{where} is a value, not a mapping or list")
        walked += f".{key}"
    last, where = override.path[-1], f"{override.argument}: {walked}"
    if isinstance(node, list):
        if _is_index(last) and int(last) == len(node) and override.value is not None:
            node.append(override.value)
            return
        index = _list_index(node, last, where)
        if override.value is None:
            del node[index]
        else:
            node[index] = override.value
    elif not isinstance(node, dict):
        raise TuningError(f"{where} is a value, not a mapping or list")
    elif override.value is None:
        node.pop(last, None)
    else:
        node[last] = override.value


def _label(value: Any) -> str:
    # default=repr: a value YAML builds but JSON cannot hold (!!binary, !!set) is named
    # here and refused by the schema with the other problems, not a TypeError.
    return (
        value
        if isinstance(value, str)
        else json.dumps(value, separators=(", ", ": "), default=repr)
    )


def grid_overrides(arguments: Sequence[str]) -> list[tuple[str, Override]]:
    """``--grid PATH=[V1, V2, ...]`` axes -> (name, override) for every combination.

    Two axes of 3 and 2 values give 6 variants, named by the last key of each path:
    ``targetPerGroup=10, minGroupAge=1m``.
    """
    axes: list[list[Override]] = []
    problems: list[str] = []
    axis_of: dict[tuple[str, ...], str] = {}
    for argument in arguments:
        source, form = f"--grid {argument!r}", "PATH=[V1, V2, ...]"
        try:
            path, values = _path_value(argument, source, form)
        except TuningError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(values, list) or not values:
            problems.append(f"{source}: expected {form}, a non-empty YAML list")
            continue
        if path in axis_of:
            # The later axis would override the earlier in every variant, under names
            # that still show the earlier one's values.
            problems.append(f"{source}: {'.'.join(path)} is already an axis ({axis_of[path]})")
            continue
        axis_of[path] = source
        axes.append([Override(source, path, v) for v in values])
    if problems:
        raise TuningError("\n".join(problems))
    out: list[tuple[str, Override]] = []
    named: set[str] = set()
    for combination in itertools.product(*axes):
        name = ", ".join(f"{o.path[-1]}={_label(o.value)}" for o in combination)
        if name in named:  # two values with one label, e.g. 1 and 1.0
            raise TuningError(f"--grid: two combinations are both named {name!r}")
        named.add(name)
        out.extend((name, o) for o in combination)
    return out


def _applied(
    base: Mapping[str, Any], overrides: Sequence[Override], label: str
) -> tuple[dict[str, Any], ScalingPolicy | None, list[str]]:
    """A copy of ``base`` with ``overrides`` applied in order, the policy it validates to
    (None on any problem), and the problems, schema errors prefixed with ``label``."""
    document = copy.deepcopy(dict(base))
    try:
        for override in overrides:
            apply_override(document.setdefault("spec", {}), override)
        return document, policy_from_document(document), []
    except TuningError as exc:
        return document, None, [str(exc)]
    except ValidationError as exc:
        errors = describe_validation_error(exc)
        return document, None, [f"{label}: {path}: {message}" for path, message in errors]


def changed_policy(base: Mapping[str, Any], arguments: Sequence[str]) -> ScalingPolicy:
    """``base`` with every ``PATH=VALUE`` of ``arguments`` applied in order: the one
    policy ``benchmark --set`` runs as ours. TuningError lists every problem."""
    overrides: list[Override] = []
    problems: list[str] = []
    for argument in arguments:
        source = f"--set {argument!r}"
        try:
            path, value = _path_value(argument, source, "PATH=VALUE")
        except TuningError as exc:
            problems.append(str(exc))
            continue
        overrides.append(Override(source, path, value))
    if not problems:
        _, policy, problems = _applied(base, overrides, "--set")
        if policy is not None:
            return policy
    raise TuningError("\n".join(problems))


def build_variants(
    base: Mapping[str, Any], arguments: Iterable[str], grids: Sequence[str] = ()
) -> list[Variant]:
    """The baseline, one variant per ``--set`` NAME (in order of first mention), then
    one per combination of the ``--grid`` axes.

    Raises TuningError listing every malformed argument, bad path and schema error.
    """
    grouped: dict[str, list[Override]] = {}
    problems: list[str] = []
    for argument in arguments:
        try:
            name, override = parse_set(argument)
        except TuningError as exc:
            problems.append(str(exc))
            continue
        if name == BASELINE:
            problems.append(f"--set {argument!r}: {BASELINE!r} names the unchanged policy")
            continue
        grouped.setdefault(name, []).append(override)
    set_names = set(grouped)
    try:
        for name, override in grid_overrides(grids):
            if name in set_names:
                # It would merge into the --set variant of that name, silently.
                problems.append(f"--set {name!r}: also the name of a --grid combination")
                set_names.discard(name)
                continue
            grouped.setdefault(name, []).append(override)
    except TuningError as exc:
        problems.append(str(exc))
    for name, overrides in grouped.items():
        keys = [o.path for o in overrides]
        for twice in dict.fromkeys(k for k in keys if keys.count(k) > 1):
            problems.append(f"variant {name!r} sets {'.'.join(twice)} twice")
    variants = [Variant(BASELINE, (), base, policy_from_document(base))]
    for name, overrides in grouped.items():
        document, policy, found = _applied(base, overrides, f"variant {name!r}")
        problems.extend(found)
        if policy is not None:
            variants.append(Variant(name, tuple(overrides), document, policy))
    if problems:
        raise TuningError("\n".join(problems))
    return variants
