"""``ServeSettings`` on its own: its defaults are the command line's, and its bounds
accept their edges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from autoscaler.cli.main import build_parser
from autoscaler.cli.serve import settings_from
from autoscaler.server.settings import ServeSettings


def test_the_models_defaults_are_the_command_lines(tmp_path: Path) -> None:
    # Code that builds settings without the command line (tests, an embedding) gets
    # what `serve` with no flags gets: two lists of defaults that must not drift apart.
    args = build_parser().parse_args(
        ["serve", "--source", "prometheus", "--policies", str(tmp_path)]
    )
    from_flags = settings_from(args)
    assert from_flags == ServeSettings(policies=(tmp_path,))


@pytest.mark.parametrize(
    ("values", "accepted"),
    [
        ({"secure_port": 65535, "insecure_port": 65535}, True),
        ({"secure_port": 0, "insecure_port": 0}, True),  # 0: any free port
        ({"secure_port": 65536}, False),
        ({"insecure_port": 65536}, False),
        ({"insecure_port": -1}, False),
        ({"scrape_concurrency": 1, "max_connections": 1}, True),
        ({"scrape_concurrency": 0}, False),
        ({"max_connections": 0}, False),
        # Any time above 0, below a second too, is a time.
        (
            {
                "prometheus_timeout": 0.5,
                "scrape_timeout": 0.5,
                "replay_speed": 0.5,
                "request_header_timeout": 0.5,
                "max_decision_age": 1.0,
                "cycle_seconds": 0.5,
                "cert_reload_interval": 0.5,
            },
            True,
        ),
        ({"prometheus_timeout": 0}, False),
        ({"scrape_timeout": 0}, False),
        ({"request_header_timeout": 0}, False),
        ({"cert_reload_interval": 0}, False),
        ({"auth_cache_ttl": 0, "hpa_audit_interval": 0}, True),  # 0: no cache, no audit
        ({"hpa_audit_interval": -1}, False),
        ({"auth_cache_ttl": -1}, False),
    ],
)
def test_each_bound_accepts_its_edge(values: dict[str, Any], accepted: bool) -> None:
    if accepted:
        settings = ServeSettings(**values)
        assert {name: getattr(settings, name) for name in values} == values
    else:
        with pytest.raises(ValidationError):
            ServeSettings(**values)


def test_settings_are_read_only() -> None:
    settings = ServeSettings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.cycle_seconds = 1.0  # type: ignore[misc]


def test_a_lease_lasts_at_least_two_cycles_and_three_unless_given() -> None:
    lease = {"leader_elect": True, "leader_elect_lease": "lws/lws-autoscaler"}
    assert ServeSettings(cycle_seconds=20.0, **lease).lease_seconds == 60.0
    at_two = ServeSettings(cycle_seconds=20.0, leader_elect_lease_duration=40.0, **lease)
    assert at_two.lease_seconds == 40.0
    with pytest.raises(ValidationError, match=r"\(39\.9s\) must be at least twice --cycle"):
        ServeSettings(cycle_seconds=20.0, leader_elect_lease_duration=39.9, **lease)


def test_a_max_decision_age_under_two_cycles_names_the_least_allowed() -> None:
    with pytest.raises(ValidationError, match=r"\(20s\), i\.e\. 40s or more"):
        ServeSettings(cycle_seconds=20.0, max_decision_age=39.0)


@pytest.mark.parametrize(
    ("length", "accepted"),
    [(253, True), (254, False)],  # RFC 1123's longest host name
)
def test_a_bind_host_name_is_at_most_253_characters(length: int, accepted: bool) -> None:
    labels = ["a" * 63] * 3 + ["b" * 61]  # 3 x 64 + 61 = 253 characters
    name = ".".join(labels)[:length] if length <= 253 else ".".join(labels) + "c"
    assert len(name) == length
    if accepted:
        assert ServeSettings(bind_address=name).bind_address == name
    else:
        with pytest.raises(ValidationError, match="is not an IP address or host name"):
            ServeSettings(bind_address=name)
