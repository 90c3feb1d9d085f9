"""Serving profiles load as strictly as a policy: a bad figure names its file, line
and field, every problem at once, and a profile that would not start vLLM is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.profile import (
    PROFILE_DIR,
    ProfileError,
    available_profiles,
    load_profile,
)


def _edited(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = (PROFILE_DIR / "llama-70b-h100.yaml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "edited.yaml"
    path.write_text(text)
    return path


def _line_of(path: Path, start: str) -> int:
    return next(
        n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start)
    )


def test_shipped_profiles_load_by_name_and_by_path() -> None:
    assert available_profiles() == ["llama-405b-fp8-h100", "llama-70b-h100"]
    for name in available_profiles():
        assert load_profile(name) == load_profile(str(PROFILE_DIR / f"{name}.yaml"))
    with pytest.raises(ProfileError, match=r"no serving profile 'nope' \(known: llama-405b"):
        load_profile("nope")


def test_a_folder_given_as_a_profile_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "profile.yaml"
    folder.mkdir()
    with pytest.raises(ProfileError, match=r"profile\.yaml: not a file"):
        load_profile(str(folder))


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        # YAML would hand pydantic a string; lax mode would have read it as 20,000.
        (
            "prefill_tokens_per_second: 20000",
            "prefill_tokens_per_second: '20000'",
            "prefill_tokens_per_second",
            "Input should be a valid number",
        ),
        # .inf tokens/s would make every group infinitely fast.
        (
            "prefill_tokens_per_second: 20000",
            "prefill_tokens_per_second: .inf",
            "prefill_tokens_per_second",
            "Input should be a finite number",
        ),
        # 1e-9 tokens/s was accepted, and a benchmark then ran for ages.
        (
            "prefill_tokens_per_second: 20000",
            "prefill_tokens_per_second: 1.0e-9",
            "prefill_tokens_per_second",
            "Input should be greater than or equal to 100",
        ),
        (
            "  base_seconds: 0.0115",
            "  base_seconds: 0",
            "decode.base_seconds",
            "Input should be greater than 0",
        ),
        ("  spread: 0.2", "  sprad: 0.2", "cold_start.sprad", "unknown field"),
        (
            "max_num_seqs: 256",
            "max_num_seqs: 256.5",
            "max_num_seqs",
            "Input should be a valid integer",
        ),
    ],
)
def test_a_bad_figure_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    path = _edited(tmp_path, (old, new))
    with pytest.raises(ProfileError) as exc:
        load_profile(str(path))
    line = _line_of(path, new)
    assert str(exc.value).startswith(f"{path}:{line}: {field}: {message}")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _edited(
        tmp_path,
        ("gpus_per_group: 8", "gpus_per_group: 0"),
        ("kv_cache_tokens: 1220000", "kv_cache_tokens: many"),
        ("drain_seconds: 0 ", "drain_seconds: -1"),
    )
    with pytest.raises(ProfileError) as exc:
        load_profile(str(path))
    fields = [line.split(": ")[1] for line in str(exc.value).splitlines()]
    assert fields == ["gpus_per_group", "kv_cache_tokens", "drain_seconds"]


def test_a_cache_holding_exactly_one_longest_context_is_enough(tmp_path: Path) -> None:
    path = _edited(tmp_path, ("kv_cache_tokens: 1220000", "kv_cache_tokens: 131072"))
    assert load_profile(str(path)).kv_cache_tokens == 131072


def test_a_context_longer_than_the_cache_is_refused(tmp_path: Path) -> None:
    # vLLM refuses to start when one max-length sequence cannot fit in the KV cache.
    path = _edited(tmp_path, ("kv_cache_tokens: 1220000", "kv_cache_tokens: 1000"))
    with pytest.raises(ProfileError) as exc:
        load_profile(str(path))
    line = _line_of(path, "kv_cache_tokens: 1000")
    assert str(exc.value) == (
        f"{path}:{line}: kv_cache_tokens: "
        "max_context_tokens (131072) exceeds kv_cache_tokens (1000)"
    )


MINIMAL = """\
name: minimal
model: a model
hardware: one node
gpus_per_group: 8
kv_cache_tokens: 1000000
prefill_tokens_per_second: 10000
decode: {base_seconds: 0.01, per_sequence_seconds: 0.00002, per_kv_token_seconds: 1.0e-8}
policy: policies/llama-70b.yaml
"""


def test_a_profile_leaving_figures_out_gets_the_issues_defaults(tmp_path: Path) -> None:
    """A five-minute median cold start (spread 0.2), contexts up to 128k tokens, vLLM's
    256 sequences and 8,192 batched tokens a step, no drain."""
    path = tmp_path / "minimal.yaml"
    path.write_text(MINIMAL)
    profile = load_profile(str(path))
    assert (profile.cold_start.median_seconds, profile.cold_start.spread) == (300.0, 0.2)
    assert profile.max_context_tokens == 128 * 1024
    assert (profile.max_num_seqs, profile.max_num_batched_tokens) == (256, 8192)
    assert profile.drain_seconds == 0.0
    assert profile.sources == []


def test_a_cold_start_median_given_on_the_command_line_replaces_the_profiles() -> None:
    profile = load_profile("llama-70b-h100")
    assert profile.with_cold_start(None) is profile
    faster = profile.with_cold_start(120.0)
    assert (faster.cold_start.median_seconds, faster.cold_start.spread) == (120.0, 0.2)
    assert faster.model_copy(update={"cold_start": profile.cold_start}) == profile


@pytest.mark.parametrize(("spread", "fits"), [(2.0, True), (2.01, False)])
def test_the_cold_start_spread_is_at_most_2(tmp_path: Path, spread: float, fits: bool) -> None:
    """At sigma 2 the slowest 1% of starts take 105 times the median already."""
    path = tmp_path / "spread.yaml"
    path.write_text(MINIMAL + f"cold_start: {{median_seconds: 300, spread: {spread}}}\n")
    if fits:
        assert load_profile(str(path)).cold_start.spread == spread
    else:
        with pytest.raises(ProfileError, match=r"cold_start\.spread"):
            load_profile(str(path))
