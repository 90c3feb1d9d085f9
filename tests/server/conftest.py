"""Fixtures that run the real server (uvicorn over TLS on 127.0.0.1, a free port) with an
in-memory metric source and a manual clock; tests drive control-loop cycles by hand."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.server.kube_reviews import Reviewer
from autoscaler.server.runner import ServerProcess, bound_port
from autoscaler.server.settings import ServeSettings
from autoscaler.snapshot import LwsKey
from tests.server.helpers import FunctionSource, ManualClock, constant, write_policy
from tests.support.certs import CertFiles, TestPki

LLAMA = LwsKey("inference", "llama-70b")
DEV = LwsKey("inference", "dev-8b")


@dataclass
class Running:
    process: ServerProcess
    url: str
    clock: ManualClock
    source: FunctionSource
    ca_file: Path | None

    def cycle(self) -> None:
        self.process.loop.run_cycle(self.clock.now())

    def client(self, cert: CertFiles | None = None, **kwargs: Any) -> httpx.Client:
        if self.ca_file is None:
            return httpx.Client(base_url=self.url, timeout=30, **kwargs)
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            context.load_cert_chain(cert.cert, cert.key)
        return httpx.Client(base_url=self.url, verify=context, timeout=30, **kwargs)


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return TestPki(tmp_path / "pki")


@pytest.fixture
def proxy_ca(tmp_path: Path) -> TestPki:
    """The front proxy's CA (the aggregator's client certificates)."""
    return TestPki(tmp_path / "front-proxy", name="front-proxy-ca")


@pytest.fixture
def user_ca(tmp_path: Path) -> TestPki:
    """A CA for ordinary client certificates (``--client-ca-file``)."""
    return TestPki(tmp_path / "users", name="client-ca")


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    write_policy(folder / "llama.yaml")
    write_policy(folder / "dev.yaml", name="dev-8b", target_per_group=10)
    return folder


Start = Callable[..., Any]


@pytest.fixture
def start_server(tmp_path: Path, policy_dir: Path) -> Start:
    """start_server(reviewer=None, **settings) -> context manager yielding Running."""

    @contextmanager
    def start(
        reviewer: Reviewer | None = None, trust: Path | None = None, **overrides: Any
    ) -> Iterator[Running]:
        values: dict[str, Any] = {
            "policies": (policy_dir,),
            "bind_address": "127.0.0.1",
            "secure_port": 0,
            "insecure_port": 0,
            "cert_dir": tmp_path / "certs",
            "cycle_seconds": 15.0,
        }
        values.update(overrides)
        settings = ServeSettings(**values)
        clock = ManualClock()
        source = FunctionSource({LLAMA: constant(64.0), DEV: constant(5.0)})
        process = ServerProcess(settings, source, clock, reviewer=reviewer)
        with process.background(start_loop=False) as server:
            scheme = settings.scheme
            ca = None
            if scheme == "https":
                ca = trust or settings.cert_dir / "apiserver.crt"
            url = f"{scheme}://127.0.0.1:{bound_port(server)}"
            yield Running(process, url, clock, source, ca)

    return start
