"""The published JSON Schema documents every field for editors: a description on every
property, and the default of every optional one (nested objects included), which must be
exactly what the loader uses when the field is left out."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from autoscaler.policy.loader import policy_from_document
from autoscaler.policy.schema import policy_json_schema, yaml_flow

SCHEMA = policy_json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]

MINIMAL: dict[str, Any] = {
    "apiVersion": "lws-autoscaler.io/v1alpha1",
    "kind": "ScalingPolicy",
    "metadata": {"name": "m"},
    "spec": {
        "target": {"namespace": "ns", "name": "lws"},
        "replicas": {"max": 4},
        "signals": [
            {"type": "queueDepth", "targetPerGroup": 8, "isolatedBurst": {"calmFor": 60}},
            {"type": "kvCacheUtilization", "target": 0.8},
            {"type": "tokenThroughput", "capacityPerGroup": 1000},
            {"type": "ttft", "targetSeconds": 2},
            {"type": "queueWait", "targetSeconds": 1},
        ],
    },
}


def _objects() -> list[tuple[str, dict[str, Any]]]:
    return [("<document>", SCHEMA), *DEFS.items()]


def _properties() -> list[tuple[str, str, dict[str, Any], bool]]:
    return [
        (owner, name, prop, name in obj.get("required", []))
        for owner, obj in _objects()
        for name, prop in obj.get("properties", {}).items()
    ]


@pytest.mark.parametrize(
    ("owner", "name", "prop"),
    [(o, n, p) for o, n, p, _ in _properties()],
    ids=[f"{o}.{n}" for o, n, _, _ in _properties()],
)
def test_every_property_has_a_description(owner: str, name: str, prop: dict[str, Any]) -> None:
    assert prop.get("description", "").strip(), f"{owner}.{name} has no description"


OPTIONAL = [(o, n, p) for o, n, p, required in _properties() if not required]


@pytest.mark.parametrize(
    ("owner", "name", "prop"), OPTIONAL, ids=[f"{o}.{n}" for o, n, _ in OPTIONAL]
)
def test_every_optional_property_has_a_default_its_own_schema_accepts(
    owner: str, name: str, prop: dict[str, Any]
) -> None:
    assert "default" in prop, f"{owner}.{name} has no default"
    schema = {"$defs": DEFS, **{k: v for k, v in prop.items() if k != "default"}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(prop["default"]))
    assert errors == [], f"{owner}.{name}: default {prop['default']!r}: {errors[0].message}"


def _def_of(owner: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The object schema of ``owner``'s property ``key``, through its ``$ref`` (or the
    ``$ref`` of a nullable one)."""
    prop = owner.get("properties", {}).get(key, {})
    for ref in [prop.get("$ref"), *(a.get("$ref") for a in prop.get("anyOf", []))]:
        if ref:
            return DEFS[ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    return None


def _written_out(node: Any, obj: dict[str, Any]) -> Any:
    """``node`` with every default of ``obj``'s schema written where the field is absent."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    for key, prop in obj.get("properties", {}).items():
        if key not in out and "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
    for key, value in out.items():
        if isinstance(value, list):
            out[key] = [_written_out(item, _item_def(key, item)) for item in value]
        elif isinstance(value, dict) and (sub := _def_of(obj, key)) is not None:
            out[key] = _written_out(value, sub)
    return out


def _item_def(key: str, item: Any) -> dict[str, Any]:
    """The schema of one list item: a signal's by its ``type``."""
    if key != "signals":
        return {}
    for branch in DEFS.values():
        kind = branch.get("properties", {}).get("type", {}).get("const")
        if kind is not None and isinstance(item, dict) and item.get("type") == kind:
            return dict(branch)
    raise AssertionError(f"no schema for signal {item!r}")


def test_the_published_defaults_are_the_ones_the_loader_uses() -> None:
    written = _written_out(MINIMAL, SCHEMA)
    # Every optional field of the spec and of each signal is now written out.
    assert set(written["spec"]) == set(DEFS["PolicySpec"]["properties"])
    assert written["spec"]["scaleUp"]["maxStep"] == {"groups": 4, "percent": 100.0, "period": 60.0}
    assert written["spec"]["signals"][0]["isolatedBurst"] == {"calmFor": 60, "maxGroups": 1}
    assert written["spec"]["signals"][2]["targetUtilization"] == 0.8
    assert policy_from_document(written) == policy_from_document(MINIMAL)


def test_a_changed_default_would_be_caught() -> None:
    """The comparison above sees a wrong published default (not a vacuous equality)."""
    written = _written_out(MINIMAL, SCHEMA)
    written["spec"]["scaleDown"]["maxStep"]["groups"] = 2
    assert policy_from_document(written) != policy_from_document(MINIMAL)


def _descriptions(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["description"]] if isinstance(node.get("description"), str) else []
        return own + [d for value in node.values() for d in _descriptions(value)]
    if isinstance(node, list):
        return [d for item in node for d in _descriptions(item)]
    return []


def test_descriptions_have_no_line_break_an_editor_would_make_a_paragraph() -> None:
    """The YAML language server renders each single line break as a paragraph break: a
    docstring's source wrapping would cut its sentences in two on hover."""
    texts = _descriptions(SCHEMA)
    assert len(texts) > 80
    assert [t for t in texts if "\n" in t.replace("\n\n", "")] == []


def test_each_description_ends_with_its_default_in_yaml() -> None:
    """Hover shows the description but not ``default``: the default is written into it."""
    scale_up = DEFS["ScaleUp"]["properties"]
    assert scale_up["maxStep"]["description"].endswith(
        "Default: {groups: 4, percent: 100, period: 60}."
    )
    assert DEFS["MetricsConfig"]["properties"]["modelName"]["description"].endswith(
        "Default: null."
    )
    for owner, name, prop in OPTIONAL:
        assert prop["description"].endswith(f"Default: {yaml_flow(prop['default'])}."), (
            f"{owner}.{name}"
        )
