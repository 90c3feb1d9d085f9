"""Field types shared by the policy models: durations, Kubernetes names, fractions, and
the error that lets a model-level check point at one field.

Durations accept seconds (``300``) or units (``"5m"``) and are always held as float
seconds; their JSON Schema is written by hand because pydantic cannot derive a pattern
from a validator function.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from autoscaler.durations import parse_duration

_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$|^[0-9]+(\.[0-9]+)?$"},
        {"type": "number", "minimum": 0},
    ],
    "description": "A duration: seconds as a number, or a string such as '30s', '5m', '1h30m'.",
}

Duration = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA, mode="validation")
]
"""A window or delay, always held in seconds."""


def _dns_label(value: str) -> str:
    # RFC 1123 subdomain, as Kubernetes requires for namespaces and most names.
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", value) or len(value) > 253:
        raise ValueError(
            f"{value!r} is not a valid Kubernetes name (lower-case letters, digits, '-', '.')"
        )
    return value


KubeName = Annotated[str, AfterValidator(_dns_label)]
Fraction = Annotated[float, Field(gt=0, le=1)]
PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema(
        {
            **_DURATION_SCHEMA,
            "anyOf": [_DURATION_SCHEMA["anyOf"][0], {"type": "number", "exclusiveMinimum": 0}],
        },
        mode="validation",
    ),
]
"""A duration that must be longer than zero (periods, staleness, rate windows)."""


def cross_field_error(message: str, *path: str | int) -> PydanticCustomError:
    """An error raised by a model-level check that belongs to one field below it.

    pydantic locates model validators at the model itself; the loader appends ``path``
    (YAML names) so the error points at the line of the field that is wrong.
    """
    return PydanticCustomError("cross_field", "{message}", {"message": message, "path": path})
