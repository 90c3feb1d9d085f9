"""The published JSON Schema of ScalingPolicy, for editors (yaml-language-server) and CI.

Every field carries its description (the field's docstring) and, where it has one, its
default, nested objects included: an editor shows ``scaleUp.maxStep``'s default
``{groups: 4, percent: 100, period: 60}`` on hover, which pydantic alone leaves out for a
default built by a factory.
"""

from __future__ import annotations

import json
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


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one policy document, field names as in YAML."""
    schema = ScalingPolicy.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults
    )
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"ScalingPolicy ({API_VERSION})",
    }


def policy_json_schema_text() -> str:
    """The schema as the text committed at ``policies/schema/scalingpolicy-v1alpha1.json``."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
