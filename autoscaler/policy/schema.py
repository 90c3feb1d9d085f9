"""The published JSON Schema of ScalingPolicy, for editors (yaml-language-server) and CI."""

from __future__ import annotations

import json
from typing import Any

from autoscaler.policy.model import API_VERSION, ScalingPolicy

SCHEMA_ID = "https://lws-autoscaler.io/schemas/scalingpolicy-v1alpha1.json"


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one policy document, field names as in YAML."""
    schema = ScalingPolicy.model_json_schema(by_alias=True, mode="validation")
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"ScalingPolicy ({API_VERSION})",
    }


def policy_json_schema_text() -> str:
    """The schema as the text committed at ``policies/schema/scalingpolicy-v1alpha1.json``."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"
