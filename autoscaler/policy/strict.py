"""The base of every ScalingPolicy model: strict, frozen, camelCase in YAML.

Every model forbids unknown keys, refuses type coercion (``"3"`` is not an int) and
non-finite numbers (``.inf`` as a target would switch a signal off).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StrictModel(BaseModel):
    """Strict, frozen, camelCase aliases (see the module docstring)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        # Both, so code can build models by Python name; YAML documents are validated
        # by alias only (``loader.policy_from_document``).
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        # A field's docstring is its description in the published JSON Schema, which
        # editors show on hover.
        use_attribute_docstrings=True,
    )
