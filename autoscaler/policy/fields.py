"""Field types shared by the policy models: durations, Kubernetes names, fractions, and
the error that lets a model-level check point at one field.

Durations accept seconds (``300``) or units (``"5m"``) and are always held as float
seconds. Names are DNS labels (at most 63 characters: they end up in label values and
Service names). The JSON Schema of both is written by hand because pydantic cannot derive
a pattern from a validator function.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from autoscaler.durations import parse_duration

_DURATION_PATTERN = r"(?:([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+|[0-9]+(\.[0-9]+)?)$"
_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": f"^{_DURATION_PATTERN}"},
        {"type": "number", "minimum": 0},
    ],
    "description": "A duration: seconds as a number, or a string such as '30s', '5m', '1h30m'.",
}

Duration = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA, mode="validation")
]
"""A window or delay, always held in seconds."""


_LABEL_MAX = 63
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"


def _label_schema(pattern: str, description: str) -> WithJsonSchema:
    schema = {
        "type": "string",
        "minLength": 1,
        "maxLength": _LABEL_MAX,
        "pattern": f"^{pattern}$",
        "description": description,
    }
    return WithJsonSchema(schema, mode="validation")


def _label_check(pattern: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > _LABEL_MAX or not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not a valid Kubernetes name: {rule}")
        return value

    return AfterValidator(check)


_DNS1123_RULE = (
    "at most 63 lower-case letters, digits and '-', starting and ending with a letter or "
    "digit (RFC 1123 label)"
)
_DNS1035_RULE = (
    "at most 63 lower-case letters, digits and '-', starting with a letter and ending with "
    "a letter or digit (RFC 1035 label)"
)

DnsLabel = Annotated[
    str,
    _label_check(_DNS1123_LABEL, _DNS1123_RULE),
    _label_schema(_DNS1123_LABEL, f"A Kubernetes name: {_DNS1123_RULE}."),
]
"""A namespace, or a name used as a label value (the policy's name): an RFC 1123 label."""

LwsName = Annotated[
    str,
    _label_check(_DNS1035_LABEL, _DNS1035_RULE),
    _label_schema(_DNS1035_LABEL, f"A LeaderWorkerSet name: {_DNS1035_RULE}."),
]
"""A LeaderWorkerSet's name. LWS requires an RFC 1035 label: it names the headless Service."""

MIN_TARGET = 1e-6
"""The smallest target a signal divides by. Demand is a measured value over a target
(queue over ``targetPerGroup``, tokens/s over ``capacityPerGroup``), so a target near
zero (``1.0e-320``) turns any load into an infinite number of groups, which no integer
holds; a millionth is far below any meaningful target and keeps the quotient finite."""

Target = Annotated[float, Field(ge=MIN_TARGET)]
"""A positive number a measured value is divided by: a per-group target or capacity."""

Fraction = Annotated[float, Field(ge=MIN_TARGET, le=1)]
"""A share in (0, 1] that is also divided by (a KV-cache or utilisation target)."""

MAX_GROUPS = 2**31 - 1
"""Most groups a count may name: an LWS's ``replicas`` (and an HPA's) is an int32."""
PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema(
        {
            **_DURATION_SCHEMA,
            "anyOf": [
                # As above, with a digit 1-9 somewhere: "0s", "0" and "0.0ms" are zero.
                {"type": "string", "pattern": rf"^(?=[^1-9]*[1-9]){_DURATION_PATTERN}"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
        },
        mode="validation",
    ),
]
"""A duration that must be longer than zero (periods, staleness, rate windows)."""

MAX_WINDOW_SECONDS = 86_400.0
"""Longest window over past decisions (stabilisation windows, step periods,
``sustainedFor``, the forecast's ``lookback``): the engine keeps every decision inside
it for each LWS and scans them at each decision. One day is 5,760 decisions at the
usual 15 s; an unbounded ``1e30s`` would keep every decision for as long as the server
runs. (The HPA itself bounds its windows to 1 h and its periods to 30 min.)"""
WindowDuration = Annotated[Duration, Field(le=MAX_WINDOW_SECONDS)]
"""A window over past decisions, 0 s to one day."""
PositiveWindowDuration = Annotated[PositiveDuration, Field(le=MAX_WINDOW_SECONDS)]
"""A period over past decisions, longer than 0 s, at most one day."""


def cross_field_error(message: str, *path: str | int) -> PydanticCustomError:
    """An error raised by a model-level check that belongs to one field below it.

    pydantic locates model validators at the model itself; the loader appends ``path``
    (YAML names) so the error points at the line of the field that is wrong.
    """
    return PydanticCustomError("cross_field", "{message}", {"message": message, "path": path})
