"""The hand-written OpenAPI 3.1 document of ``pkgflow serve`` (served at /openapi.json)."""

from __future__ import annotations

from typing import Any, Final

_ERROR_BODY: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_RETRY_AFTER: Final = {
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
}
_INGEST_RESULT: Final = {
    "type": "object",
    "required": ["accepted", "rejected", "event_ids", "errors"],
    "properties": {
        "accepted": {"type": "integer", "description": "events now durable (acknowledged)"},
        "rejected": {"type": "integer", "description": "lines rejected and quarantined"},
        "event_ids": {
            "type": "array",
            "items": {"type": "string"},
            "description": "ids of the accepted events, in line order (derived when not sent)",
        },
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["line", "reason"],
                "properties": {
                    "line": {"type": "integer", "description": "1-based line of the request body"},
                    "reason": {"type": "string"},
                },
            },
        },
        "errors_truncated": {"type": "boolean"},
    },
}
_EVENT: Final = {
    "type": "object",
    "description": "one event (docs/events.md); `event_id` is derived from the line when absent",
    "required": ["event_type", "schema_version", "occurred_at", "source", "release"],
    "properties": {
        "event_id": {"type": "string"},
        "event_type": {"type": "string"},
        "schema_version": {"type": "integer"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "occurred_after": {"type": "string", "format": "date-time"},
        "source": {"type": "string"},
        "release": {"type": "string"},
    },
    "additionalProperties": True,
}


def openapi_document(token_required: bool) -> dict[str, Any]:
    """The OpenAPI document; ``token_required`` adds bearer security to the POST."""
    post: dict[str, Any] = {
        "summary": "Append events (one JSON event, a JSON array, or NDJSON lines)",
        "description": (
            "Answers 202 only once the accepted events are durable (fsynced to the "
            "write-ahead log). Good lines of a batch are stored; bad lines are reported "
            "with their line numbers and kept in the store's quarantine. If no line is "
            "good the answer is 422."
        ),
        "operationId": "postEvents",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_EVENT, {"type": "array", "items": _EVENT}]}
                },
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "202": {
                "description": "accepted events are durable",
                "content": {"application/json": {"schema": _INGEST_RESULT}},
            },
            "400": _error("empty body or no event in it"),
            "401": _error("missing or wrong bearer token"),
            "413": _error("body above the size limit"),
            "415": _error("content type not JSON / NDJSON, or a content encoding"),
            "422": {
                "description": "every line was rejected",
                "content": {"application/json": {"schema": _INGEST_RESULT}},
            },
            "429": _error("too much data in flight; retry later", _RETRY_AFTER),
            "503": _error("shutting down or the store is behind; retry later", _RETRY_AFTER),
        },
    }
    if token_required:
        post["security"] = [{"bearer": []}]
    text = {"text/plain": {"schema": {"type": "string"}}}
    json_object = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pkgflow ingestion service",
            "version": "1",
            "description": "Durable event ingestion for pkgflow (docs/serve.md).",
        },
        "paths": {
            "/v1/events": {"post": post},
            "/v1/status": {
                "get": {
                    "summary": "In-flight uploads and tests, latest results (JSON)",
                    "operationId": "getStatus",
                    "parameters": [
                        {"name": "release", "in": "query", "schema": {"type": "string"}},
                        {"name": "source", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                    "responses": {
                        "200": {"description": "status", "content": json_object},
                        "400": _error("bad query parameter"),
                        "503": _error("status unavailable"),
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "Live status page (HTML, refreshes itself)",
                    "operationId": "getStatusPage",
                    "responses": {
                        "200": {
                            "description": "page",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and flush health",
                    "operationId": "getHealth",
                    "responses": {
                        "200": {"description": "healthy", "content": json_object},
                        "503": {"description": "degraded", "content": json_object},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "getMetrics",
                    "responses": {"200": {"description": "metrics", "content": text}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "getOpenapi",
                    "responses": {"200": {"description": "OpenAPI", "content": json_object}},
                }
            },
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_BODY}},
    }
    if headers:
        response["headers"] = headers
    return response
