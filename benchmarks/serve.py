"""Benchmark of ``pkgflow serve``: throughput, ack latency, memory under a flood.

Each figure is printed beside a baseline measured in the same run: a bare Starlette
endpoint on the same uvicorn stack that reads the body and answers 202 without
validating or storing anything.

    .venv/bin/python benchmarks/serve.py [--seconds 10]

Targets (issue 5): >= 20k events/s in NDJSON batches of 500; p99 <= 50 ms for single
events at 200 requests/s; bounded memory during a flood.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _noop_server(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def post(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse({"accepted": body.count(b"\n")}, status_code=202)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/v1/events", post, methods=["POST"]), Route("/healthz", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _event(n: int, run: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"bench-{run}-{n}",
            "event_type": "test.finished",
            "schema_version": 2,
            "occurred_at": "2025-03-14T21:47:02Z",
            "source": "bench",
            "release": "plucky",
            "testsrc": f"pkg{n % 977}",
            "arch": "amd64",
            "triggers": ["glibc/2.41-1"],
            "exitcode": 0,
            "duration": 100 + n % 1000,
            "run_id": "20250314_214702_abcde@",
        }
    ).encode()


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: cheap enough that the
    load generator does not dominate a 2-core machine (httpx costs ~ms per request)."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.size = connections
        self.pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def __aenter__(self) -> RawClient:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def post(self, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await self.pool.get()
        try:
            writer.write(
                b"POST /v1/events HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                + content_type.encode()
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            payload = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            writer.close()
            self.pool.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
            raise
        self.pool.put_nowait((reader, writer))
        return status, headers, payload


class Target:
    def __init__(self, name: str, command: list[str], port: int) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{name} did not start")
        self.ps = psutil.Process(self.proc.pid)

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 1e6

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def throughput(target: Target, seconds: float, batch: int = 500, clients: int = 4) -> dict:
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**12))
    accepted = 0
    statuses: dict[int, int] = {}

    async def worker(client: RawClient) -> None:
        nonlocal accepted
        while time.monotonic() < end:
            body = b"\n".join(_event(next(counter), run) for _ in range(batch))
            status, answer, _ = await client.post(body, "application/x-ndjson")
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                accepted += batch
            elif status in (429, 503):
                await asyncio.sleep(float(answer.get("retry-after", "1")))

    async with RawClient(target.port, clients) as client:
        start = time.monotonic()
        end = start + seconds
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.monotonic() - start
    return {"events_per_s": accepted / elapsed, "statuses": statuses}


async def latency(target: Target, seconds: float, rate: float = 200) -> dict:
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    failures = 0

    async def one(client: RawClient, n: int) -> None:
        nonlocal failures
        body = _event(n, run)
        t0 = time.perf_counter()
        status, _, _ = await client.post(body, "application/json")
        if status == 202:
            latencies.append((time.perf_counter() - t0) * 1000)
        else:
            failures += 1

    async with RawClient(target.port, 32) as client:
        for n in range(10):  # warm the connection pool
            await one(client, -n - 1)
        latencies.clear()
        tasks = []
        start = time.monotonic()
        count = int(seconds * rate)
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, n)))
        await asyncio.gather(*tasks)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": latencies[-1], "failures": failures}


def flood(target: Target, seconds: float, clients: int = 48) -> dict:
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(target.rss_mb())
            time.sleep(0.2)

    before = target.rss_mb()
    sampler = threading.Thread(target=sample)
    sampler.start()
    statuses: dict[int, int] = {}

    async def go() -> None:
        run = uuid.uuid4().hex[:8]
        body = b"\n".join(_event(n, run) for n in range(2000))  # same body: duplicates after the first
        headers = {"content-type": "application/x-ndjson"}
        end = time.monotonic() + seconds

        async def worker(client: httpx.AsyncClient) -> None:
            while time.monotonic() < end:
                try:
                    response = await client.post(target.url + "/v1/events", content=body, headers=headers)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                except httpx.HTTPError:
                    statuses[0] = statuses.get(0, 0) + 1

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
            await asyncio.gather(*(worker(client) for _ in range(clients)))

    asyncio.run(go())
    done.set()
    sampler.join()
    return {"rss_before_mb": before, "rss_max_mb": max(samples), "rss_after_mb": target.rss_mb(), "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--noop-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_server:
        _noop_server(args.noop_server)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="pkgflow-bench-serve-"))
    port = _free_port()
    noop_port = _free_port()
    real = Target(
        "pkgflow serve",
        [sys.executable, "-m", "pkgflow.cli", "--store", str(workdir / "store"), "serve", "--port", str(port)],
        port,
    )
    noop = Target("no-op baseline", [sys.executable, __file__, "--noop-server", str(noop_port)], noop_port)
    try:
        print(f"benchmarks/serve.py: {os.cpu_count()} CPUs, {args.seconds:.0f} s per phase, store {workdir}")
        results = {}
        for target in (noop, real):
            results[target.name] = {
                "throughput": asyncio.run(throughput(target, args.seconds)),
                "latency": asyncio.run(latency(target, args.seconds)),
            }
        real_flood = flood(real, args.seconds)
        noop_flood = flood(noop, args.seconds)
        time.sleep(2)
        stored = real.rss_mb()
    finally:
        real.stop()
        noop.stop()
    from pkgflow.store import EventStore

    count = EventStore(workdir / "store").count()
    r, b = results["pkgflow serve"], results["no-op baseline"]
    print(f"{'':34}{'pkgflow serve':>16}{'no-op baseline':>16}")
    print(f"{'NDJSON x500 throughput (events/s)':34}{r['throughput']['events_per_s']:>16,.0f}{b['throughput']['events_per_s']:>16,.0f}   target >= 20,000")
    for key, label in (("p50_ms", "single event ack p50 (ms)"), ("p99_ms", "single event ack p99 (ms)"), ("max_ms", "single event ack max (ms)")):
        print(f"{label + ' @200/s':34}{r['latency'][key]:>16.1f}{b['latency'][key]:>16.1f}" + ("   target <= 50" if key == "p99_ms" else ""))
    print(f"{'flood: RSS before / max (MB)':34}{real_flood['rss_before_mb']:>7.0f} /{real_flood['rss_max_mb']:>6.0f}{noop_flood['rss_before_mb']:>9.0f} /{noop_flood['rss_max_mb']:>5.0f}")
    print(f"flood answers (48 clients x 2000-event batches): pkgflow {real_flood['statuses']}, no-op {noop_flood['statuses']}")
    print(f"throughput answers: pkgflow {r['throughput']['statuses']}; latency failures: {r['latency']['failures']}")
    print(f"stored after clean shutdown: {count:,} events (RSS at the end {stored:.0f} MB)")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
