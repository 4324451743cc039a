"""The HTTP service: a Starlette app over an :class:`~pkgflow.serve.pipeline.Ingestor`.

Checks on ``POST /v1/events``, in order: bearer token (401), content type (415),
declared size (413), capacity (503: shutting down / store behind), in-flight byte
budget (429), then the body is read with the size limit enforced while streaming
(413). The answer comes once the good lines are durable.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pkgflow.errors import PkgflowError, StorageError
from pkgflow.serve.openapi import openapi_document
from pkgflow.serve.pipeline import Ingestor, OverloadedError
from pkgflow.serve.status import status_page_response, status_response

log = logging.getLogger("pkgflow.serve")

#: Content types accepted by POST /v1/events (parameters such as charset are ignored).
JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
#: At most this many line errors are listed in one answer (the count is always exact).
MAX_LISTED_ERRORS = 1000


@dataclass
class ServeSettings:
    """Limits and auth of the HTTP service."""

    token: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    max_inflight_bytes: int = 128 * 1024 * 1024
    max_inflight_requests: int = 256
    status_limit: int = 20


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BodyTooLarge(Exception):
    pass


class _ConcurrencyLimit:
    """ASGI middleware: above ``limit`` concurrent requests, answer 503 + Retry-After."""

    def __init__(self, app: ASGIApp, limit: int, state: _State) -> None:
        self.app = app
        self.limit = limit
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.state.requests_in_flight >= self.limit:
            self.state.ingestor.metrics.count("overload_rejections", 503)
            response = _error(503, "too many concurrent requests", {"Retry-After": "1"})
            await response(scope, receive, send)
            return
        self.state.requests_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.requests_in_flight -= 1


@dataclass
class _State:
    ingestor: Ingestor
    settings: ServeSettings
    started: float
    inflight_bytes: int = 0
    requests_in_flight: int = 0


def create_app(ingestor: Ingestor, settings: ServeSettings | None = None) -> ASGIApp:
    """The ASGI app. The caller starts the ingestor; the app's lifespan closes it
    (a clean shutdown flushes everything to the store)."""
    settings = settings or ServeSettings()
    state = _State(ingestor, settings, time.time())

    async def post_events(request: Request) -> Response:
        response = await _post_events(request, state)
        ingestor.metrics.count("requests", response.status_code)
        return response

    async def healthz(request: Request) -> Response:
        body = {
            "status": "ok",
            "wal_bytes": ingestor.wal_bytes,
            "flush_lag_seconds": round(ingestor.flush_lag(), 3),
        }
        try:
            ingestor.check_capacity()
        except OverloadedError as exc:
            body["status"] = "degraded"
            body["reason"] = str(exc)
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            render_metrics(ingestor, state), media_type="text/plain; version=0.0.4"
        )

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(settings.token is not None))

    async def status_json(request: Request) -> Response:
        return await status_response(request, ingestor.store, settings.status_limit)

    async def status_page(request: Request) -> Response:
        return await status_page_response(request, ingestor.store, settings.status_limit)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ingestor.closing = True
            await asyncio.to_thread(ingestor.close)

    app = Starlette(
        routes=[
            Route("/v1/events", post_events, methods=["POST"]),
            Route("/v1/status", status_json, methods=["GET"]),
            Route("/", status_page, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return _ConcurrencyLimit(app, settings.max_inflight_requests, state)


async def _post_events(request: Request, state: _State) -> Response:
    settings = state.settings
    ingestor = state.ingestor
    if settings.token is not None:
        given = request.headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credentials.strip().encode(), settings.token.encode()
        ):
            return _error(
                401,
                "missing or wrong bearer token (send `Authorization: Bearer <token>`)",
                {"WWW-Authenticate": 'Bearer realm="pkgflow"'},
            )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES | NDJSON_TYPES:
        accepted = ", ".join(sorted(JSON_TYPES | NDJSON_TYPES))
        shown = content_type or "none"
        return _error(415, f"content type {shown!r} is not accepted; use one of: {accepted}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return _error(415, f"content encoding {encoding!r} is not supported; send it uncompressed")
    declared = request.headers.get("content-length")
    try:
        length = int(declared) if declared is not None else None
    except ValueError:
        return _error(400, f"bad Content-Length {declared!r}")
    if length is not None and length > settings.max_body_bytes:
        return _error(
            413,
            f"body of {length:,} bytes is above the limit of {settings.max_body_bytes:,}; "
            "split it into smaller batches",
        )
    try:
        ingestor.check_capacity()
    except OverloadedError as exc:
        ingestor.metrics.count("overload_rejections", 503)
        return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
    reserve = length if length is not None else settings.max_body_bytes
    if state.inflight_bytes + reserve > settings.max_inflight_bytes:
        ingestor.metrics.count("overload_rejections", 429)
        return _error(
            429,
            f"{state.inflight_bytes:,} bytes already in flight (limit "
            f"{settings.max_inflight_bytes:,}); retry later",
            {"Retry-After": "1"},
        )
    state.inflight_bytes += reserve
    try:
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _BodyTooLarge:
            return _error(
                413, f"body is above the limit of {settings.max_body_bytes:,} bytes; split it"
            )
        lines = await _split(body, content_type) if len(body) > 65536 else _split_now(body, content_type)
        if not any(line.strip() for line in lines):
            return _error(400, "the body holds no event")
        client = request.client.host if request.client else "unknown"
        origin = f"http POST /v1/events from {client} at {datetime.now(UTC).isoformat()}"
        try:
            future = ingestor.submit(lines, origin)
            outcome = await asyncio.wrap_future(future)
        except OverloadedError as exc:
            ingestor.metrics.count("overload_rejections", 503)
            return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
        except StorageError as exc:
            return _error(503, f"not stored, retry: {exc}", {"Retry-After": "5"})
        except PkgflowError as exc:
            return _error(400, str(exc))
    finally:
        state.inflight_bytes -= reserve
    errors = [{"line": e.line, "reason": e.reason} for e in outcome.errors[:MAX_LISTED_ERRORS]]
    result: dict[str, Any] = {
        "accepted": outcome.accepted,
        "rejected": len(outcome.errors),
        "event_ids": outcome.event_ids,
        "errors": errors,
    }
    if len(outcome.errors) > MAX_LISTED_ERRORS:
        result["errors_truncated"] = True
    status = 202 if outcome.accepted or not outcome.errors else 422
    return JSONResponse(result, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _BodyTooLarge
    return bytes(chunks)


async def _split(body: bytes, content_type: str) -> list[bytes]:
    return await asyncio.to_thread(_split_now, body, content_type)


def _split_now(body: bytes, content_type: str) -> list[bytes]:
    """Body -> JSON lines. NDJSON splits on newlines; a JSON object is one line, a
    JSON array one line per element (re-serialised compactly)."""
    if content_type in NDJSON_TYPES:
        return body.split(b"\n")
    stripped = body.strip()
    if stripped.startswith(b"{") and b"\n" not in stripped:
        return [stripped]
    try:
        document = json.loads(stripped)
    except (ValueError, UnicodeDecodeError):
        return [stripped.replace(b"\r", b" ").replace(b"\n", b" ")]  # rejected as bad JSON
    if isinstance(document, list):
        return [json.dumps(item, ensure_ascii=False).encode() for item in document]
    return [json.dumps(document, ensure_ascii=False).encode()]


def render_metrics(ingestor: Ingestor, state: Any = None) -> str:
    """Prometheus text exposition of the ingestion counters."""
    m = ingestor.metrics
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float, labels: str = "") -> None:
        if not any(line.startswith(f"# HELP {name} ") for line in lines):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{labels} {value}")

    metric("pkgflow_events_accepted_total", "counter", "Events acknowledged (durable in the WAL).", m.accepted)
    metric("pkgflow_events_rejected_total", "counter", "Lines rejected and quarantined.", m.rejected)
    metric("pkgflow_events_stored_total", "counter", "Events newly written to the store.", m.stored)
    metric(
        "pkgflow_events_duplicates_total",
        "counter",
        "Events the store already held (retries, redeliveries, WAL replays).",
        m.duplicates,
    )
    metric("pkgflow_flushes_total", "counter", "WAL flushes to the store.", m.flushes)
    metric("pkgflow_flush_errors_total", "counter", "Failed WAL flushes.", m.flush_errors)
    metric(
        "pkgflow_flush_lag_seconds",
        "gauge",
        "Age of the oldest acknowledged event not yet in the store.",
        round(ingestor.flush_lag(), 3),
    )
    metric("pkgflow_wal_bytes", "gauge", "Bytes in this process's WAL segments.", ingestor.wal_bytes)
    metric("pkgflow_wal_records_total", "counter", "WAL records written (group commits).", m.wal_records)
    metric(
        "pkgflow_wal_recovered_segments_total",
        "counter",
        "Segments replayed after a crash.",
        m.recovered_segments,
    )
    with m.lock:
        overload = dict(m.overload_rejections)
        requests = dict(m.requests)
    for code, value in sorted(overload.items()):
        metric(
            "pkgflow_overload_rejections_total",
            "counter",
            "Requests turned away for lack of capacity.",
            value,
            f'{{code="{code}"}}',
        )
    for code, value in sorted(requests.items()):
        metric(
            "pkgflow_http_requests_total",
            "counter",
            "POST /v1/events answers by status.",
            value,
            f'{{code="{code}"}}',
        )
    if state is not None:
        metric("pkgflow_inflight_bytes", "gauge", "Request bytes being processed.", state.inflight_bytes)
    return "\n".join(lines) + "\n"

