"""Run the HTTP service with uvicorn (``pkgflow serve``)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Iterator

import uvicorn

from pkgflow.errors import PkgflowError
from pkgflow.serve.app import ServeSettings, create_app
from pkgflow.serve.pipeline import Ingestor
from pkgflow.store import EventStore

log = logging.getLogger("pkgflow.serve")


class ServeConfigError(PkgflowError, ValueError):
    """The service was asked to run in an unsafe or impossible way."""


class _Server(uvicorn.Server):
    """uvicorn's server, but a SIGTERM/SIGINT after the graceful shutdown exits with
    status 0 instead of being re-raised (the events are flushed by then)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run_server(
    store: EventStore,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    wal_name: str | None = None,
    settings: ServeSettings | None = None,
    flush_interval: float = 1.0,
    max_wal_bytes: int = 1024 * 1024 * 1024,
) -> None:
    """Serve until SIGINT/SIGTERM; a clean stop flushes every acknowledged event.

    A token is required to bind anything but a loopback address.
    """
    token = token or os.environ.get("PKGFLOW_TOKEN") or None
    if not is_loopback(host) and not token:
        msg = (
            f"refusing to listen on {host} without a token: anyone could write events; "
            "pass --token (or PKGFLOW_TOKEN), or bind 127.0.0.1"
        )
        raise ServeConfigError(msg)
    settings = settings or ServeSettings()
    settings.token = token
    ingestor = Ingestor(
        store,
        wal_name or f"http-{port}",
        flush_interval=flush_interval,
        max_wal_bytes=max_wal_bytes,
    ).start()
    try:
        app = create_app(ingestor, settings)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            limit_concurrency=settings.max_inflight_requests * 4,
            timeout_graceful_shutdown=30,
            timeout_keep_alive=30,
            server_header=False,
        )
        server = _Server(config)
        print(f"pkgflow serve: listening on http://{host}:{port} (store {store.root})", flush=True)
        server.run()
    finally:
        ingestor.close()  # idempotent: the lifespan normally closed it already
