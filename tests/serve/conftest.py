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


class TcpProxy:
    """A loopback TCP proxy to RabbitMQ that can drop every connection (a broker
    "restart" as the consumer sees it) and refuse new ones for a while."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        import threading

        self.target = target
        self.port = free_port()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(16)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.refusing = threading.Event()
        self.connections = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            self._sockets.clear()

    def close(self) -> None:
        self._closed = True
        self.drop_all()
        self._listener.close()


class Consumer:
    """``pkgflow consume`` in a subprocess."""

    def __init__(self, store: Path, url: str, *args: str) -> None:
        self.store = store
        self.command = [
            sys.executable, "-m", "pkgflow.cli", "--store", str(store), "consume", url,
            "--flush-interval", "0.2", *args,
        ]  # fmt: skip
        self.log = store.parent / f"consume-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Consumer:
        self.proc = subprocess.Popen(
            self.command, cwd=REPO, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def wait_ready(self, timeout: float = 30) -> Consumer:
        """Wait until it consumes (its signal handlers are installed by then)."""
        if not wait_for(lambda: "pkgflow.consume consuming" in self.output(), timeout):
            raise RuntimeError(f"consumer not ready:\n{self.output()}")
        return self

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    started: list[Consumer] = []
    yield started
    for consumer in started:
        consumer.kill()


def wait_for(predicate: object, timeout: float = 20, interval: float = 0.1) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]
