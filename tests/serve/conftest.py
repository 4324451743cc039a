"""Fixtures of the live-ingestion tests: a real server process, the real RabbitMQ."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pytest

REPO = Path(__file__).resolve().parents[2]
AMQP_URL = os.environ.get("PKGFLOW_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event(n: int, **fields: object) -> dict[str, object]:
    """A valid test.requested event with a unique id."""
    base: dict[str, object] = {
        "event_id": f"test-{n}-{uuid.uuid4()}",
        "event_type": "test.requested",
        "schema_version": 2,
        "occurred_at": "2025-03-14T21:47:02Z",
        "source": "pytest",
        "release": "plucky",
        "testsrc": f"pkg{n % 17}",
        "arch": "amd64",
        "triggers": ["glibc/2.41-1"],
    }
    base.update(fields)
    return base


def ndjson(events: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


class Server:
    """``pkgflow serve`` in a subprocess on a free loopback port."""

    def __init__(self, store: Path, *args: str, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store.parent / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Server:
        command = [
            sys.executable, "-m", "pkgflow.cli", "--store", str(self.store),
            "serve", "--port", str(self.port), *self.args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not come up:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (clean shutdown) and wait; return the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def server_factory(store_dir: Path) -> Iterator[type]:
    started: list[Server] = []

    def make(*args: str, port: int | None = None, path: Path | None = None) -> Server:
        server = Server(path or store_dir, *args, port=port)
        started.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in started:
        server.kill()


@pytest.fixture
def server(server_factory: type) -> Server:
    return server_factory("--flush-interval", "0.2").start()  # type: ignore[call-arg]


@pytest.fixture
def amqp() -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A channel on the real RabbitMQ; fails (never skips) when it is unreachable."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPConnectionError as exc:
        pytest.fail(
            f"RabbitMQ is not reachable at {AMQP_URL} ({exc!r}); the AMQP tests need it "
            "(start it with `rabbitmq-server -detached`; .ci/run does)"
        )
    channel = connection.channel()
    yield channel
    if connection.is_open:
        connection.close()


@pytest.fixture
def queue_names(amqp: pika.adapters.blocking_connection.BlockingChannel) -> Iterator[type]:
    """Unique queue names, deleted after the test."""
    made: list[str] = []

    def make(prefix: str = "debci-plucky-amd64") -> str:
        name = f"{prefix}.pytest-{uuid.uuid4().hex[:10]}"
        made.append(name)
        return name

    yield make  # type: ignore[misc]
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for name in made:
        channel.queue_delete(name)
    connection.close()


def stored_ids(store: Path) -> list[str]:
    """Every stored event id (with repeats, if any) read with Polars."""
    from pkgflow.store import EventStore

    return EventStore(store).scan().select("event_id").collect()["event_id"].to_list()
