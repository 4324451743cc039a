"""A fast, conservative pre-validator for small requests.

``parse_lines`` costs some 20 ms per call whatever the batch size (it builds and
runs a vectorised plan), which alone would exceed the latency budget of single-event
requests. This module accepts only lines that are *plainly* valid under the event
model and builds the very rows ``parse_lines`` would build for them; every line with
anything unusual (other time zones, numbers for text, whitespace, v1 shape, unknown
values, ...) is deferred to ``parse_lines``, which stays the one authority for
rejections and their reasons. ``tests/serve/test_fastpath.py`` checks, by property,
that every line accepted here gives exactly the row ``parse_lines`` gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl

from pkgflow.events.parse import (
    _INT_FIELDS,
    _LIST_FIELDS,
    _TEXT_FIELDS,
    PARSED_COLUMNS,
    derived_event_id,
)
from pkgflow.events.keys import TEST_KEYED_TYPES
from pkgflow.events.schema import EVENT_POLARS_SCHEMA
from pkgflow.events.types import (
    ARCHES,
    CURRENT_SCHEMA_VERSION,
    EVENT_TYPES,
    EXITCODE_OUTCOME,
    OUTCOMES,
    REQUIRED_FIELDS,
)

_TIME_RE: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:Z|\+00:00)$"
)
_TRIGGER_RE: Final = re.compile(r"^[!-.0-~]+/[!-~]+$")  # printable ASCII, one leading part
_SAFE_TEXT_RE: Final = re.compile(r"^[^\s\[{][^\x00-\x1f]*$")
_ENVELOPE: Final = ("event_type", "source", "release")
_ARCHES: Final = frozenset(ARCHES)
_OUTCOMES: Final = frozenset(OUTCOMES)
_EVENT_TYPES: Final = frozenset(EVENT_TYPES)
_TEST_TYPES: Final = frozenset(TEST_KEYED_TYPES)
_TEXT: Final = frozenset(_TEXT_FIELDS)
_FRAME_SCHEMA: Final = {
    **{c: EVENT_POLARS_SCHEMA[c] for c in PARSED_COLUMNS},
    "line_number": pl.Int64(),
}
_INT32_MAX: Final = 2**31 - 1


class _Defer(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Defer  # duplicate keys: let parse_lines decide
    return result


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Defer
    match = _TIME_RE.match(value)
    if not match:
        raise _Defer
    year, month, day, hour, minute, second, fraction = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
        )
    except ValueError as exc:
        raise _Defer from exc


def _row(line: bytes) -> dict[str, Any]:
    record = json.loads(line, object_pairs_hook=_pairs)
    if not isinstance(record, dict):
        raise _Defer
    row: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is None:
            row[name] = None
        elif isinstance(value, str) and value and _SAFE_TEXT_RE.match(value) and value == value.rstrip():
            row[name] = value
        else:
            raise _Defer
    event_type = row["event_type"]
    if event_type not in _EVENT_TYPES:
        raise _Defer
    for name in _ENVELOPE:
        if row[name] is None:
            raise _Defer
    for name in REQUIRED_FIELDS[event_type]:
        if name in _TEXT and row[name] is None:
            raise _Defer
    for name in _INT_FIELDS:
        value = record.get(name)
        if value is not None and (type(value) is not int):
            raise _Defer
        row[name] = value
    if row["schema_version"] != CURRENT_SCHEMA_VERSION:
        raise _Defer
    exitcode, duration = row["exitcode"], row["duration"]
    if exitcode is not None and not 0 <= exitcode <= 255:
        raise _Defer
    if duration is not None and not 0 <= duration <= _INT32_MAX:
        raise _Defer
    for name in _LIST_FIELDS:
        value = record.get(name)
        if value is not None and (
            type(value) is not list or not all(type(v) is str for v in value)
        ):
            raise _Defer
        row[name] = value
    for name in REQUIRED_FIELDS[event_type]:
        if name in _LIST_FIELDS or name in _INT_FIELDS:
            if row[name] is None:
                raise _Defer
    if event_type in _TEST_TYPES:
        triggers = row["triggers"]
        if not triggers or not all(_TRIGGER_RE.match(t) for t in triggers):
            raise _Defer
    if row["arch"] is not None and row["arch"] not in _ARCHES:
        raise _Defer
    if row["outcome"] is not None and row["outcome"] not in _OUTCOMES:
        raise _Defer
    occurred_at = _time(row["occurred_at"])
    occurred_after = _time(row["occurred_after"]) if row["occurred_after"] is not None else None
    if occurred_after is not None and occurred_after > occurred_at:
        raise _Defer
    row["occurred_at"] = occurred_at
    row["occurred_after"] = occurred_after
    if exitcode is not None and row["outcome"] is None:
        row["outcome"] = EXITCODE_OUTCOME.get(exitcode, "error")
    if row["event_id"] is None:
        row["event_id"] = derived_event_id("line", line)
    return row


def fast_parse(lines: Sequence[bytes], first_line_number: int = 0) -> tuple[pl.DataFrame, list[int]]:
    """Rows for the plainly valid lines (with ``line_number``), and the indexes of the
    lines deferred to ``parse_lines`` (blank lines are neither)."""
    rows = []
    deferred = []
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        try:
            row = _row(line)
        except (_Defer, ValueError, UnicodeDecodeError, RecursionError):
            deferred.append(index)
            continue
        row["line_number"] = first_line_number + index
        rows.append(row)
    frame = pl.DataFrame(rows, schema=_FRAME_SCHEMA, orient="row") if rows else pl.DataFrame(schema=_FRAME_SCHEMA)
    return frame, deferred
