"""Serving profiles: what one LWS group of a model on given hardware can do.

A profile (``simulations/profiles/<name>.yaml``) holds the parameters of the serving
model in :mod:`simulations.serving` and where each figure comes from. The decode step
time is linear in the batch and in the tokens held in the KV cache::

    step = base + perSequence * running + perKvToken * kv_tokens

e.g. Llama-70B on 8 H100s: 11.5 ms + 0.025 ms * 256 + 1.6e-8 s * 358,400 = 23.7 ms, so
256 sequences of 1,400 tokens decode at 256 / 0.0237 = 10,800 tokens/s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from autoscaler.errors import AutoscalerError
from simulations.yaml_file import load_yaml_model

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "llama-70b-h100"

Positive = Annotated[float, Field(gt=0)]
MIN_PREFILL_TOKENS_PER_SECOND = 100.0


class ProfileError(AutoscalerError):
    """A serving profile is missing or invalid."""


class _Strict(BaseModel):
    # As a policy: unknown keys, coercion ("20000" for a number) and .inf/.nan refused.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DecodeModel(_Strict):
    base_seconds: Positive
    per_sequence_seconds: Annotated[float, Field(ge=0)]
    per_kv_token_seconds: Annotated[float, Field(ge=0)]

    def step_seconds(self, running: float, kv_tokens: float) -> float:
        return (
            self.base_seconds
            + self.per_sequence_seconds * running
            + self.per_kv_token_seconds * kv_tokens
        )


# The largest cold-start spread (sigma of the log): at 2 the slowest 1% of starts take
# e^(2 x 2.33) = 105 times the median. Also the bound of simulate's --cold-start-spread.
MAX_COLD_START_SPREAD = 2.0


class ColdStartModel(_Strict):
    """Creation to ready: lognormal with this median; ``spread`` is sigma of the log."""

    median_seconds: Positive = 300.0
    spread: Annotated[float, Field(ge=0, le=MAX_COLD_START_SPREAD)] = 0.2


class ServingProfile(_Strict):
    name: str
    model: str
    hardware: str
    gpus_per_group: Annotated[int, Field(ge=1)]
    max_context_tokens: Annotated[int, Field(ge=1)] = 131072
    max_num_seqs: Annotated[int, Field(ge=1)] = 256
    max_num_batched_tokens: Annotated[int, Field(ge=1)] = 8192
    kv_cache_tokens: Annotated[int, Field(ge=1)]
    # A group prefills thousands of tokens a second (the shipped profiles: 11,000 and
    # 20,000); at 1e-9 one prompt took 10**11 s and a benchmark ran for ages.
    prefill_tokens_per_second: Annotated[float, Field(ge=MIN_PREFILL_TOKENS_PER_SECOND)]
    decode: DecodeModel
    cold_start: ColdStartModel = Field(default_factory=ColdStartModel)
    drain_seconds: Annotated[float, Field(ge=0)] = 0.0
    policy: str = Field(description="The example policy 'ours' runs, relative to the repo.")
    sources: list[str] = Field(default_factory=list)

    @field_validator("kv_cache_tokens")
    @classmethod
    def _context_fits_the_cache(cls, value: int, info: ValidationInfo) -> int:
        # vLLM refuses to start when one max-length sequence cannot fit in the KV cache.
        # A field validator, so the error names kv_cache_tokens and its line.
        context = info.data.get("max_context_tokens")
        if context is not None and context > value:
            raise ValueError(f"max_context_tokens ({context}) exceeds kv_cache_tokens ({value})")
        return value

    def with_cold_start(self, median_seconds: float | None) -> ServingProfile:
        if median_seconds is None:
            return self
        cold = self.cold_start.model_copy(update={"median_seconds": median_seconds})
        return self.model_copy(update={"cold_start": cold})


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> ServingProfile:
    """A profile by name (``llama-70b-h100``) or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if path.exists() and not path.is_file():
        raise ProfileError(f"{path}: not a file")
    if not path.is_file():
        known = ", ".join(available_profiles())
        raise ProfileError(f"no serving profile {name_or_path!r} (known: {known})")
    return load_yaml_model(path, ServingProfile, ProfileError)
