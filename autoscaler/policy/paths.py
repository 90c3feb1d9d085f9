"""pydantic's error locations as the paths and messages a policy author reads.

pydantic locates an error by a tuple of keys and indices, in Python field names where a
field was defaulted (``fallback_replicas``), with the tag of a discriminated union
(``kvCacheUtilization``) and ``[key]`` markers mixed in. ``field_path`` walks that tuple
along the models, so only real model fields are translated to their YAML names: keys of
free-form maps (``metadata.labels``) and unknown keys (``scale_down``, which is not
``scaleDown``) keep their spelling, and with it their line.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from autoscaler.policy.model import ScalingPolicy, SignalSpec
from autoscaler.policy.yaml_nodes import FieldPath


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a type: ``X | None`` gives both, ``Annotated`` is unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


SIGNAL_MODELS: dict[str, type[BaseModel]] = {
    get_args(model.model_fields["type"].annotation)[0]: model for model in _models(SignalSpec)
}
"""Signal type (the discriminator tag) -> its model."""


def _item(annotation: Any) -> Any:
    for member in _members(annotation):
        if get_origin(member) is list:
            return get_args(member)[0]
    return None


def _key(annotation: Any, key: str) -> tuple[str, Any]:
    """The YAML name of ``key`` below ``annotation``, and the type found there."""
    for model in _models(annotation):
        for name, info in model.model_fields.items():
            if key in (name, info.alias):
                return info.alias or name, info.annotation
    for member in _members(annotation):
        if get_origin(member) is dict:
            return key, get_args(member)[1]  # a free-form key: kept as written
    return key, None


def field_path(error: Any) -> FieldPath:
    """The path of one pydantic error in YAML names, e.g. ``("spec", "signals", 1, "type")``."""
    parts: list[str | int] = []
    node: Any = ScalingPolicy
    loc = error["loc"]
    for position, part in enumerate(loc):
        if error["type"] == "extra_forbidden" and position == len(loc) - 1:
            # An unknown key, as written: ``scale_down`` is not ``scaleDown``'s line.
            parts.append(part)
        elif isinstance(part, int):
            parts.append(part)
            node = _item(node)
        elif "[" in part:
            continue  # "[key]" of a dict key error: the key itself is already in the path
        elif parts and isinstance(parts[-1], int) and part in SIGNAL_MODELS:
            node = SIGNAL_MODELS[part]  # the discriminated union's tag: not a key
        else:
            name, node = _key(node, part)
            parts.append(name)
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append("type")
    ctx = error.get("ctx") or {}
    parts.extend(ctx.get("path", ()))
    return tuple(parts)


def _key_text(key: str) -> str:
    r"""A key as written; double-quoted with YAML's escapes if it is empty (``spec.""``,
    not ``spec.``) or holds a character that is not printable (a line break, a tab, a
    control character): a problem is one line, and ``"a\nb": 1`` in a file would
    otherwise split its problem in two (or, with ``\r``, make a terminal overwrite the
    file name)."""
    if key and key.isprintable():
        return key
    # repr's escapes of the characters that are not printable (\n, \x85, \u2028) are
    # YAML's too.
    escaped = "".join(
        ("\\" + c if c in '"\\' else c) if c.isprintable() else repr(c)[1:-1] for c in key
    )
    return f'"{escaped}"'


def render_path(path: FieldPath) -> str:
    """``("spec", "signals", 1, "type")`` -> ``spec.signals[1].type``; a key that is not
    printable is quoted (``spec."a\\nb"``)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{_key_text(part)}" if text else _key_text(part)
    return text


def message(error: Any) -> str:
    """The message of one pydantic error, worded for a policy author."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see `lws-autoscaler schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_not_found":
        return f"required field is missing: the signal type, one of {_tag_list()}"
    if kind == "union_tag_invalid":
        return f"unknown signal type {error['ctx']['tag']!r}; expected one of {_tag_list()}"
    # pydantic prefixes messages of custom validators with "Value error, ".
    return str(error["msg"]).removeprefix("Value error, ")


def _tag_list() -> str:
    return ", ".join(sorted(SIGNAL_MODELS))
