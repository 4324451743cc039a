"""Upcasting: old event shapes become the current one before anything else sees them.

Each step is a small pure ``dict -> dict`` function from version N to N+1;
:func:`upcast` applies the chain. Version 1 is the shape the first services
emitted (the 2015 proposal): ``type`` names like ``test_request``, an epoch
``timestamp``, an ``emitter``, the test package in ``package`` and the
triggers as one space-separated ``trigger`` string.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pkgflow.errors import SchemaError
from pkgflow.events.types import CURRENT_SCHEMA_VERSION, OLDEST_SCHEMA_VERSION

Event = dict[str, Any]

#: v1 ``type`` -> v2 ``event_type``.
V1_TYPES = {
    "upload": "upload.accepted",
    "test_request": "test.requested",
    "test_start": "test.started",
    "test_result": "test.finished",
    "publish": "results.published",
    "migrated": "upload.migrated",
}
_V1_TEST_TYPES = {"test_request", "test_start", "test_result", "publish"}


def upcast_v1_to_v2(event: Event) -> Event:
    """v1 -> v2: rename the envelope, split triggers, name the test package ``testsrc``."""
    out = dict(event)
    v1_type = out.pop("type", None)
    if v1_type not in V1_TYPES:
        known = ", ".join(sorted(V1_TYPES))
        msg = f"field `type` of a v1 event is {v1_type!r}; v1 types are: {known}"
        raise SchemaError(msg)
    out["event_type"] = V1_TYPES[v1_type]
    timestamp = out.pop("timestamp", None)
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        msg = f"field `timestamp` of a v1 event must be epoch seconds (got {timestamp!r})"
        raise SchemaError(msg)
    out["occurred_at"] = datetime.fromtimestamp(timestamp, UTC).isoformat()
    if "emitter" in out:
        out["source"] = out.pop("emitter")
    if v1_type in _V1_TEST_TYPES:
        if "package" in out:
            out["testsrc"] = out.pop("package")
        trigger = out.pop("trigger", None)
        if isinstance(trigger, str):
            out["triggers"] = trigger.split()
        if "result" in out:
            out["exitcode"] = out.pop("result")
    elif "pkg_version" in out:
        out["version"] = out.pop("pkg_version")
    out["schema_version"] = 2
    return out


#: from-version -> step to the next version.
UPCASTERS: dict[int, Callable[[Event], Event]] = {1: upcast_v1_to_v2}


def upcast(event: Event) -> Event:
    """Bring ``event`` to :data:`CURRENT_SCHEMA_VERSION`; raise :class:`SchemaError`
    naming the field, the value and the supported range when that is impossible."""
    version = event.get("schema_version")
    supported = f"supported: {OLDEST_SCHEMA_VERSION} to {CURRENT_SCHEMA_VERSION}"
    if version is None:
        msg = f"missing field `schema_version` ({supported}; current is {CURRENT_SCHEMA_VERSION})"
        raise SchemaError(msg)
    if not isinstance(version, int) or isinstance(version, bool):
        msg = f"field `schema_version` must be an integer (got {version!r}; {supported})"
        raise SchemaError(msg)
    if version > CURRENT_SCHEMA_VERSION or version < OLDEST_SCHEMA_VERSION:
        msg = (
            f"field `schema_version` is {version}, {supported}; "
            "upgrade pkgflow to read newer events"
            if version > CURRENT_SCHEMA_VERSION
            else f"field `schema_version` is {version}, {supported}"
        )
        raise SchemaError(msg)
    while version < CURRENT_SCHEMA_VERSION:
        event = UPCASTERS[version](event)
        version = event["schema_version"]
    return event
