"""GET /v1/status and GET / (built on pkgflow.replay.status.status_data)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pkgflow.serve.app import status_unavailable
from pkgflow.store import EventStore


async def status_response(request: Request, store: EventStore, limit: int) -> Response:
    """The status as JSON."""
    return status_unavailable("status not available yet: pkgflow.replay has not landed")


async def status_page_response(request: Request, store: EventStore, limit: int) -> Response:
    """The live status page."""
    return status_unavailable("status not available yet: pkgflow.replay has not landed")
