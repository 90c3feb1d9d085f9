"""``lws-autoscaler serve`` with no source and no policies: the built-in demo, run as a
real subprocess (only the port and the replay speed differ from the bare command). The
printed kubectl line works as pasted, and the recommendations move. Where in the
recording the demo clock starts is checked as a function."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from autoscaler.server.demo import demo_start
from autoscaler.sources.recording import default_recording_path
from tests.support.prometheus import free_port


@pytest.mark.slow
@pytest.mark.skipif(not default_recording_path().exists(), reason="no built-in recording")
def test_demo_serves_changing_recommendations(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "autoscaler.cli.main",
        "serve",
        "--insecure-port",
        str(port),
        "--replay-speed",
        "120",
        # 10 minutes of recording is 5 s of wall time at x120: the default 45 s (0.375 s
        # of wall time) answered 503 whenever the loop stalled that long on a loaded
        # machine. Recommendations moving is what this test is about, not staleness.
        "--max-decision-age",
        "10m",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        lines: list[str] = []
        assert process.stderr is not None
        while not any(line.lstrip().startswith("lws-autoscaler explain") for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        assert "AUTHENTICATION OFF" in text
        kubectl = next(line.strip() for line in lines if line.lstrip().startswith("kubectl "))
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "demo never became ready"
                time.sleep(0.2)
        # Read every 0.5 s (a minute of recording at 120x) until time has moved on and
        # the recommendation with it. Waited for, not a fixed 12 reads: a loaded
        # machine slows the loop and each kubectl call, not what the recording does.
        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + 60
        while len({t for t, _ in seen}) <= 6 or len({v for _, v in seen}) <= 1:
            assert time.monotonic() < deadline, f"time or the recommendation stood: {seen}"
            done = subprocess.run(
                shlex.split(kubectl), capture_output=True, text=True, timeout=30, check=True
            )
            (item,) = json.loads(done.stdout)["items"]
            seen.append((item["timestamp"], item["value"]))
            time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()


def test_sigterm_stops_the_loop_and_closes_the_source_before_exiting(tmp_path: Path) -> None:
    # uvicorn re-raises the signal once it has shut down; with Python's default SIGTERM
    # handler that killed the process before the control loop was stopped (SIGINT went
    # through the clean-up, SIGTERM, which Kubernetes sends, did not).
    port = free_port()
    command = [sys.executable, "-m", "autoscaler.cli.main", "serve", "--insecure-port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/livez").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server never came up"
                time.sleep(0.2)
        process.terminate()  # SIGTERM
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert "control loop stopped, metric source closed" in err
    assert process.returncode == 143


@pytest.mark.parametrize(
    ("end", "warm", "start"),
    [
        (3600.0, 600.0, 600.0),  # one policy horizon into an hour's recording
        # A recording shorter than twice the horizon starts half-way, so that the
        # demo still has recorded load ahead of it.
        (900.0, 600.0, 450.0),
    ],
)
def test_the_demo_starts_warm_but_well_before_the_recordings_end(
    end: float, warm: float, start: float
) -> None:
    assert demo_start(0.0, end, warm) == start
