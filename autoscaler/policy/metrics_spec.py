"""``spec.metrics``: where a policy's signals come from, and how a leader is scraped.

Metric names follow ``engine`` (policies never name metrics). ``scrape`` matters only to
the direct-scrape source (``serve --source scrape``): it says where each leader serves
its ``/metrics``. vLLM's OpenAI server listens on 8000 by default and SGLang's on 30000;
the default stays 8000 for both so that a policy written before the field existed keeps
scraping the port it did.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, PlainValidator, Strict, WithJsonSchema, field_validator

from autoscaler.policy.fields import PositiveDuration
from autoscaler.policy.strict import StrictModel
from autoscaler.signals import ServingEngine, Signal

# A URL path without the parts a path must not carry: a query, a fragment, spaces
# or control characters would change which resource the request names.
_PATH_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"
# The schema's copy also refuses "." and ".." segments, which the model checks in code.
_PATH_SCHEMA_PATTERN = r"^(?!.*/\.\.?(/|$))/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"


# A container port name is an IANA_SVC_NAME, as Kubernetes validates it: at most 15
# characters, lowercase letters, digits and '-', at least one letter, no '--', and no
# '-' at either end.
_PORT_NAME_PATTERN = r"[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?"
_PORT_NAME = re.compile(_PORT_NAME_PATTERN)
# The schema's copy also says "a letter somewhere" and "no --", which ``_port`` checks.
_PORT_NAME_SCHEMA_PATTERN = rf"^(?=[a-z0-9-]*[a-z])(?!.*--){_PORT_NAME_PATTERN}$"


def _port(value: object) -> int | str:
    """A port number or a container port name, one error for either (a union would
    report one error per branch: 'not an int' and 'not a str' for the same line)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is not in 1-65535")
        return value
    if isinstance(value, str):
        named = _PORT_NAME.fullmatch(value) and "--" not in value
        if not named or not any(c.isalpha() for c in value):
            raise ValueError(
                f"{value!r} is not a port name (lowercase letters, digits and '-', at most "
                "15, at least one letter); a number is written without quotes"
            )
        return value
    raise ValueError("a port is a number (1-65535) or a container port name")


Port = Annotated[
    int | str,
    PlainValidator(_port),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": _PORT_NAME_SCHEMA_PATTERN},
            ],
            "description": "A port number, or the name of a container port of the leader "
            "pod (as a Service's targetPort may be).",
        }
    ),
]


class ScrapeEndpoint(StrictModel):
    """Where a leader pod serves its metrics: ``http://<pod IP>:port/path``, where a named
    port is looked up in the leader pod's containers.

    Plain HTTP only, as vLLM and SGLang serve by default: a leader's certificate would
    have to name its pod IP, which changes with every restart.
    """

    port: Port = 8000
    """The port each leader serves its metrics on (plain HTTP); vLLM's default is 8000,
    SGLang's 30000."""
    path: Annotated[
        str,
        Field(pattern=_PATH_PATTERN, max_length=1024),
        WithJsonSchema(
            {"type": "string", "pattern": _PATH_SCHEMA_PATTERN, "maxLength": 1024},
            mode="validation",
        ),
    ] = "/metrics"
    """The metrics path; no query, fragment, spaces, or '.'/'..' segments."""

    @field_validator("path")
    @classmethod
    def _no_dot_segments(cls, value: str) -> str:
        if any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"path {value!r} has a '.' or '..' segment")
        return value


class MetricsConfig(StrictModel):
    """Where the signals come from. Metric names follow ``engine`` unless overridden."""

    # Enums read from YAML arrive as strings; only they are exempt from strict mode.
    engine: Annotated[ServingEngine, Strict(False)] = ServingEngine.VLLM
    """Which serving engine exports the metrics; metric names follow from it."""
    model_name: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"\S",
        description="Only series with this model_name label (shared Prometheus).",
    )
    # At least a second: PromQL ranges are whole milliseconds, and "0.1ms" became "[0ms]",
    # which Prometheus refuses. At most a day: a longer rate is no current load.
    rate_window: Annotated[PositiveDuration, Field(ge=1.0, le=86400.0)] = 60.0
    """Window of rate() for token counters and of the latency quantiles (1 s to 1 day)."""
    stale_after: PositiveDuration = Field(
        default=60.0, description="A sample older than this is stale: treated as missing."
    )
    overrides: dict[
        Annotated[Signal, Strict(False)], Annotated[str, Field(min_length=1, pattern=r"\S")]
    ] = Field(
        default_factory=dict,
        description="PromQL per signal, replacing the engine's template for this policy.",
    )
    scrape: ScrapeEndpoint = Field(
        default_factory=ScrapeEndpoint,
        description="Where each leader serves its metrics (the scrape source only).",
    )
