"""``spec.metrics``: where a policy's signals come from, and how a leader is scraped.

Metric names follow ``engine`` (policies never name metrics). ``scrape`` matters only to
the direct-scrape source (``serve --source scrape``): it says where each leader serves
its ``/metrics``. vLLM's OpenAI server listens on 8000 by default and SGLang's on 30000;
the default stays 8000 for both so that a policy written before the field existed keeps
scraping the port it did.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict, field_validator

from autoscaler.policy.fields import PositiveDuration
from autoscaler.policy.strict import StrictModel
from autoscaler.signals import ServingEngine, Signal

# A URL path without the parts a path must not carry: a query, a fragment, spaces
# or control characters would change which resource the request names.
_PATH_PATTERN = r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$"


class ScrapeEndpoint(StrictModel):
    """Where a leader pod serves its metrics: ``http://<pod IP>:port/path``.

    Plain HTTP only, as vLLM and SGLang serve by default: a leader's certificate would
    have to name its pod IP, which changes with every restart.
    """

    port: int = Field(default=8000, ge=1, le=65535)
    path: Annotated[str, Field(pattern=_PATH_PATTERN, max_length=1024)] = "/metrics"

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
    model_name: str | None = Field(
        default=None, description="Only series with this model_name label (shared Prometheus)."
    )
    rate_window: PositiveDuration = 60.0
    stale_after: PositiveDuration = Field(
        default=60.0, description="A sample older than this is stale: treated as missing."
    )
    overrides: dict[Annotated[Signal, Strict(False)], Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="PromQL per signal, replacing the engine's template for this policy.",
    )
    scrape: ScrapeEndpoint = Field(
        default_factory=ScrapeEndpoint,
        description="Where each leader serves its metrics (the scrape source only).",
    )
