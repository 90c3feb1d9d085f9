"""The published JSON Schema of ScalingPolicy, for editors (yaml-language-server) and CI.

Every field carries its description (the field's docstring) and, where it has one, its
default, nested objects included, which pydantic alone leaves out for a default built by
a factory. The YAML language server's hover shows the description but never ``default``,
and it turns each single line break into a paragraph, so each description is one
paragraph per blank-line-separated block, ending with the default in YAML:
``scaleUp.maxStep`` reads "... null: unlimited. Default: {groups: 4, percent: 100,
period: 60}."
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from autoscaler.policy.model import API_VERSION, ScalingPolicy

SCHEMA_ID = "https://lws-autoscaler.io/schemas/scalingpolicy-v1alpha1.json"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Publishes the value a default factory builds, as pydantic does a plain default."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return schema.get("default", NoDefault)


def yaml_flow(value: Any) -> str:
    """``value`` as YAML flow text: ``{groups: 1, percent: null, period: 120}``; whole
    floats without their ``.0`` (durations are seconds: ``600``)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(yaml_flow(v) for v in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _one_paragraph_per_block(text: str) -> str:
    blocks = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(block.split()) for block in blocks)


def _document(node: Any) -> None:
    """Descriptions unwrapped, and each property's default appended to its description."""
    if isinstance(node, list):
        for item in node:
            _document(item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("description"), str):
        node["description"] = _one_paragraph_per_block(node["description"])
    for prop in node.get("properties", {}).values():
        if "default" in prop and isinstance(prop.get("description"), str):
            text = _one_paragraph_per_block(prop["description"]).rstrip(".")
            prop["description"] = f"{text}. Default: {yaml_flow(prop['default'])}."
    for value in node.values():
        _document(value)


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one policy document, field names as in YAML."""
    schema = ScalingPolicy.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults
    )
    _document(schema)
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"ScalingPolicy ({API_VERSION})",
    }


def policy_json_schema_text() -> str:
    """The schema as the text committed at ``policies/schema/scalingpolicy-v1alpha1.json``."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
