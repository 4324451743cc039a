"""GET /v1/status and GET / on top of ``pkgflow.replay.status.store_status``.

The status is computed by the replay package over a fresh materialised connection
to the store (a connection lists the store's files when it is made), cached for a
couple of seconds so that many viewers cost one query. The page renders whatever
the dict holds (lists of records become tables), refreshes itself every 5 s and
loads nothing from the network.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from pkgflow.replay.status import human_duration, store_status
from pkgflow.store import EventStore

_CACHE_SECONDS = 2.0
_cache: dict[tuple[str, str | None, str | None, int], tuple[float, dict[str, Any]]] = {}


class _BadQuery(ValueError):
    pass


def _params(request: Request, default_limit: int) -> tuple[str | None, str | None, int]:
    release = request.query_params.get("release") or None
    source = request.query_params.get("source") or None
    text = request.query_params.get("limit")
    try:
        limit = int(text) if text else default_limit
    except ValueError as exc:
        raise _BadQuery(f"limit must be an integer from 1 to 1000 (got {text!r})") from exc
    if not 1 <= limit <= 1000:
        raise _BadQuery(f"limit must be from 1 to 1000 (got {limit})")
    return release, source, limit


async def _status(store: EventStore, release: str | None, source: str | None, limit: int) -> dict[str, Any]:
    key = (str(store.root), release, source, limit)
    cached = _cache.get(key)
    if cached and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]

    def compute() -> dict[str, Any]:
        return store_status(store, release=release, source=source, limit=limit)

    data = await asyncio.to_thread(compute)
    now = time.monotonic()
    # keyed by query parameters a client chooses: drop expired entries so it stays small
    for stale in [k for k, (at, _) in _cache.items() if now - at >= _CACHE_SECONDS]:
        del _cache[stale]
    _cache[key] = (now, data)
    return data


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


async def status_response(request: Request, store: EventStore, limit: int) -> Response:
    """The status as JSON."""
    try:
        release, source, count = _params(request, limit)
    except _BadQuery as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    data = await _status(store, release, source, count)
    return Response(json.dumps(data, default=_json_default), media_type="application/json")


async def status_page_response(request: Request, store: EventStore, limit: int) -> Response:
    """The live status page (self-refreshing HTML, no external assets)."""
    try:
        release, source, count = _params(request, limit)
    except _BadQuery as exc:
        return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", status_code=400)
    data = await _status(store, release, source, count)
    return HTMLResponse(render_page(data))


def _cell(value: Any, column: str = "") -> str:
    if column.endswith("_s") and isinstance(value, int | float):
        return html.escape(human_duration(value))
    if isinstance(value, list | tuple):
        return html.escape(" ".join(str(v) for v in value))
    if isinstance(value, datetime):
        return html.escape(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T" and value[:4].isdigit():
        return html.escape(value[:19].replace("T", " "))  # ISO timestamps, UTC
    return html.escape("" if value is None else str(value))


def _section(title: str, value: Any) -> str:
    heading = f"<h2>{html.escape(title.replace('_', ' '))}</h2>"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        head = "".join(f"<th>{html.escape(str(c).removesuffix('_s'))}</th>" for c in columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_cell(row.get(c), str(c))}</td>" for c in columns) + "</tr>"
            for row in value
        )
        return f"{heading}<table><tr>{head}</tr>{rows}</table>"
    if isinstance(value, list):
        return heading + ("<p>none</p>" if not value else f"<p>{_cell(value)}</p>")
    if isinstance(value, dict):
        items = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v, str(k))}</td></tr>"
            for k, v in value.items()
        )
        return f"{heading}<table>{items}</table>"
    return f"{heading}<p>{_cell(value, title)}</p>"


def render_page(data: dict[str, Any]) -> str:
    """HTML for a status dict: each key a section, lists of records as tables."""
    body = "".join(_section(str(k), v) for k, v in data.items() if v is not None)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='5'><title>pkgflow status</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;"
        "margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;"
        "text-align:left;white-space:nowrap}th{background:#f3f3f3}</style></head><body><h1>pkgflow: what is in "
        "flight</h1><p>refreshes every 5 s; JSON at <a href='/v1/status'>/v1/status</a></p>"
        f"{body}</body></html>"
    )
