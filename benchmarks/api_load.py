"""Load test of the metric read: requests/s and p50/p99 latency on 127.0.0.1.

    .venv/bin/python benchmarks/api_load.py [--rate 1000] [--seconds 10] [--connections 16]
                                            [--lws 100] [--tls] [--server-cpu 0]

The server runs in a child process pinned to one CPU (``--server-cpu``), serving 100
LWS from an in-memory source with auth off (the auth caches make authenticated reads
cost the same after the first request). The load generator is a small asyncio HTTP/1.1
keep-alive client in this process: first closed-loop (``--connections`` clients as fast
as they can: the maximum throughput), then open-loop at ``--rate`` requests/s (latency at
a fixed arrival rate, measured from each request's scheduled start so queueing counts).
Goal: p99 under 10 ms at 1,000 requests/s on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PATH = (
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/team-3/lws_recommended_replicas"
    "?labelSelector=leaderworkerset%3Dmodel-3"
)


def serve(port: int, lws: int, tls: bool, folder: str, cpu: int) -> None:
    """Child process: the real server (uvicorn) over an in-memory source."""
    os.sched_setaffinity(0, {cpu})
    sys.path.insert(0, str(Path(__file__).parent))
    import yaml
    from loop_cycle import InMemorySource, _Clock, _policy

    from autoscaler.server.runner import ServerProcess
    from autoscaler.server.settings import ServeSettings

    for i in range(lws):
        Path(folder, f"model-{i}.yaml").write_text(yaml.safe_dump(_policy(i)))
    settings = ServeSettings(
        policies=(Path(folder),),
        bind_address="127.0.0.1",
        insecure=not tls,
        insecure_port=port,
        secure_port=port,
        disable_auth=True,
        cert_dir=Path(folder, "certs"),
        max_decision_age=1e9,
    )
    clock = _Clock()
    process = ServerProcess(settings, InMemorySource(), clock)
    process.loop.run_cycle(clock.now())
    with process.background(start_loop=False):
        while True:
            time.sleep(3600)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    async def get(self) -> int:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status


async def _connect(port: int, tls: bool) -> Connection:
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    return Connection(reader, writer)


async def closed_loop(port: int, tls: bool, connections: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        conn = await _connect(port, tls)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            assert await conn.get() == 200
            latencies.append(time.perf_counter() - started)
        conn.writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return latencies


async def open_loop(port: int, tls: bool, rate: float, seconds: float, pool: int) -> list[float]:
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await _connect(port, tls))
    latencies: list[float] = []
    start = time.perf_counter()
    total = int(rate * seconds)

    async def one(scheduled: float) -> None:
        conn = await free.get()
        try:
            assert await conn.get() == 200
        finally:
            free.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies


def _report(label: str, latencies: list[float], seconds: float) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"{label:<28} {len(ordered) / seconds:>9.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--lws", type=int, default=100)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--port", type=int, default=18443)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.lws, args.tls, args.folder, args.server_cpu)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable,
            __file__,
            "--serve",
            "--port",
            str(args.port),
            "--lws",
            str(args.lws),
            "--folder",
            folder,
        ] + (["--tls"] if args.tls else [])
        child = subprocess.Popen([*command, "--server-cpu", str(args.server_cpu)])
        try:
            scheme = "https" if args.tls else "http"
            context = ssl._create_unverified_context()  # a throw-away self-signed cert
            for _ in range(200):
                try:
                    with urllib.request.urlopen(
                        f"{scheme}://127.0.0.1:{args.port}/livez", timeout=1, context=context
                    ):
                        break
                except OSError:
                    time.sleep(0.1)
            client_cpus = set(os.sched_getaffinity(0)) - {args.server_cpu}
            if client_cpus:
                os.sched_setaffinity(0, client_cpus)
            print(
                f"server pinned to CPU {args.server_cpu}; {scheme.upper()}; {args.lws} LWS; "
                f"metric read of one LWS"
            )
            asyncio.run(closed_loop(args.port, args.tls, args.connections, 1.0))  # warm-up
            lat = asyncio.run(closed_loop(args.port, args.tls, args.connections, args.seconds))
            _report(f"closed loop, {args.connections} clients", lat, args.seconds)
            lat = asyncio.run(open_loop(args.port, args.tls, args.rate, args.seconds, 64))
            _report(f"open loop at {args.rate:.0f} req/s", lat, args.seconds)
            p99 = sorted(lat)[int(len(lat) * 0.99) - 1] * 1000
            print(
                f"goal: p99 < 10 ms at {args.rate:.0f} req/s: {'meets' if p99 < 10 else 'MISSES'}"
            )
        finally:
            child.terminate()
            child.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
