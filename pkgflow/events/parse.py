"""Turn JSON Lines into validated, typed event rows (pure: no I/O).

The fast path parses a whole batch with Polars and validates it with column
expressions; only when a batch holds a line Polars cannot type (bad JSON, a
string where a number belongs, an old schema version) are the lines of that batch
parsed one by one, which gives each bad line its own precise reason. Either way
the same vectorised checks decide the final verdict, so there is one set of rules.

Leniency, decided once: numbers given for text fields are taken as their text;
unknown fields are ignored; ``recorded_at`` and ``seq`` are set by the store.
"""

from __future__ import annotations

import functools
import json
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb
import numpy as np
import polars as pl

from pkgflow.errors import SchemaError
from pkgflow.events.keys import TEST_KEYED_TYPES
from pkgflow.events.schema import EVENT_POLARS_SCHEMA, STORE_COLUMNS
from pkgflow.events.types import (
    ARCHES,
    CURRENT_SCHEMA_VERSION,
    EVENT_TYPES,
    EXITCODE_OUTCOME,
    OUTCOMES,
    REQUIRED_FIELDS,
)
from pkgflow.events.upcast import upcast

#: Namespace of derived event ids (uuid5 of a natural key or of the raw line).
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f1c55a0-6b8e-4d1e-9a51-2f0c3f7b9e42")

_TEXT_FIELDS: Final = (
    "event_id",
    "event_type",
    "occurred_at",
    "occurred_after",
    "source",
    "release",
    "package",
    "version",
    "old_version",
    "component",
    "maintainer",
    "testsrc",
    "arch",
    "queue",
    "requester",
    "run_id",
    "test_version",
    "outcome",
    "worker",
    "status",
    "verdict",
    "detail",
)
_INT_FIELDS: Final = ("schema_version", "exitcode", "duration")
_LIST_FIELDS: Final = ("arches", "triggers", "reasons", "blocked_by")

#: What a JSON line is read into, before validation. Integers are read as text and
#: parsed by the checks, so that 4.5 or true is rejected rather than rounded.
RAW_SCHEMA: Final[dict[str, pl.DataType]] = {
    **{name: pl.String() for name in (*_TEXT_FIELDS, *_INT_FIELDS)},
    **{name: pl.List(pl.String()) for name in _LIST_FIELDS},
}
_DUCKDB_COLUMNS: Final = {
    name: "VARCHAR[]" if isinstance(dtype, pl.List) else "VARCHAR"
    for name, dtype in RAW_SCHEMA.items()
}

#: Columns of a parsed batch: the stored columns minus what the store sets.
PARSED_COLUMNS: Final = [c for c in EVENT_POLARS_SCHEMA if c not in STORE_COLUMNS]


@dataclass(frozen=True)
class Rejection:
    """A line that could not become an event, and why."""

    line_number: int
    line: str
    reason: str


@dataclass
class ParsedBatch:
    """Valid events (typed, in line order, with ``line_number``) and rejected lines."""

    events: pl.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    #: lines read, blank ones included (set by :func:`parse_block`)
    lines: int = 0


def derived_event_id(*parts: str | bytes) -> str:
    """A deterministic event id: uuid5 of the natural key (or of the raw line)."""
    key = "\x1f".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p in parts)
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def parse_lines(lines: Sequence[bytes], first_line_number: int = 1) -> ParsedBatch:
    """Parse and validate JSON Lines; blank lines are skipped.

    Line ``i`` of ``lines`` is reported as line ``first_line_number + i``.
    """
    block = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    return parse_block(block, first_line_number)


def _count_newlines(block: bytes | bytearray) -> int:
    # numpy: twice as fast as bytes.count, and it lets the other threads run (no GIL)
    return int(np.count_nonzero(np.frombuffer(block, np.uint8) == ord("\n")))


def parse_block(block: bytes | bytearray, first_line_number: int = 1) -> ParsedBatch:
    """Parse and validate a block of whole JSON lines, as read from a file.

    Its first line is reported as line ``first_line_number``; blank lines are skipped.
    """
    rejections: list[Rejection] = []
    line_count = _count_newlines(block) + (0 if not block or block.endswith(b"\n") else 1)
    # common case first: no blank lines, every line typed in one go, no line split
    frame = _read_fast(block)
    if frame is not None and frame.height == line_count:
        numbered = _LazyLines(block, first_line_number)
        frame = frame.with_columns(
            pl.int_range(first_line_number, first_line_number + frame.height, dtype=pl.Int64)
            .alias("line_number")
        )
    else:
        numbered = _LazyLines(block, first_line_number, skip_blank=True)
        if not numbered.lines:
            return ParsedBatch(_empty_parsed(), lines=line_count)
        frame = _read_fast(b"\n".join(line for _, line in numbered.lines))
        if frame is not None and frame.height != len(numbered.lines):
            frame = None
        if frame is None:
            frame = _read_slow(numbered.lines, rejections)
        else:
            frame = frame.with_columns(
                pl.Series("line_number", [n for n, _ in numbered.lines], dtype=pl.Int64)
            )
    if frame.height:
        old = frame["schema_version"].is_not_null() & (
            frame["schema_version"] != str(CURRENT_SCHEMA_VERSION)
        )
        if old.any():
            numbers = frame.filter(old)["line_number"].to_list()
            redo = [(n, numbered.line(n)) for n in numbers]
            frame = pl.concat([frame.filter(~old), _read_slow(redo, rejections)])
    events, invalid = _validate(frame)
    for number, reason in invalid.iter_rows():
        rejections.append(Rejection(number, _text(numbered.line(number)), reason))
    if events["event_id"].null_count():
        events = _fill_event_ids(events, numbered)
    rejections.sort(key=lambda r: r.line_number)
    if not events["line_number"].is_sorted():  # lines redone one by one come last
        events = events.sort("line_number")
    return ParsedBatch(events, rejections, line_count)


def parse_records(records: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Validate event dicts (Python API); raise :class:`SchemaError` on the first bad one.

    ``datetime`` values are accepted for ``occurred_at`` / ``occurred_after``.
    """
    lines = [json.dumps(r, default=_json_default).encode() for r in records]
    batch = parse_lines(lines, first_line_number=0)
    if batch.rejections:
        first = batch.rejections[0]
        more = f" (and {len(batch.rejections) - 1} more)" if len(batch.rejections) > 1 else ""
        msg = f"event {first.line_number}: {first.reason}{more}"
        raise SchemaError(msg)
    return batch.events.drop("line_number")


def _json_default(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    msg = f"value {value!r} of type {type(value).__name__} is not JSON serialisable"
    raise SchemaError(msg)


class _LazyLines:
    """The (stripped) lines of a block by line number, split only when first needed."""

    def __init__(
        self, block: bytes | bytearray, first_line_number: int, skip_blank: bool = False
    ) -> None:
        self._block, self._first, self._skip_blank = block, first_line_number, skip_blank
        self._lines: list[tuple[int, bytes]] | None = None
        self._by_number: dict[int, bytes] | None = None

    @property
    def lines(self) -> list[tuple[int, bytes]]:
        if self._lines is None:
            split = bytes(self._block).split(b"\n")  # lines as bytes, also from a bytearray
            if self._block.endswith(b"\n"):
                split.pop()
            self._lines = [
                (self._first + i, line.strip())
                for i, line in enumerate(split)
                if not self._skip_blank or line.strip()
            ]
        return self._lines

    def line(self, number: int) -> bytes:
        if self._by_number is None:
            self._by_number = dict(self.lines)
        return self._by_number[number]


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _empty_parsed() -> pl.DataFrame:
    schema = {c: EVENT_POLARS_SCHEMA[c] for c in PARSED_COLUMNS}
    return pl.DataFrame(schema={**schema, "line_number": pl.Int64()})


_THREAD_STATE = threading.local()
_DATABASE: list[duckdb.DuckDBPyConnection] = []
_DATABASE_LOCK = threading.Lock()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for this thread: a cursor of one in-memory database per
    process (opening a database costs ~20 ms, a cursor ~20 µs, a read ~5 ms)."""
    if not hasattr(_THREAD_STATE, "duckdb"):
        with _DATABASE_LOCK:
            if not _DATABASE:
                _DATABASE.append(duckdb.connect())
            _THREAD_STATE.duckdb = _DATABASE[0].cursor()
    return _THREAD_STATE.duckdb


def _read_fast(data: bytes | bytearray) -> pl.DataFrame | None:
    """All lines at once with DuckDB's JSON reader (about 3x Polars' here); None when
    any line is not JSON or not typeable, which sends the batch to the careful path."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as handle:
        handle.write(data)
        handle.flush()
        try:
            relation = _duckdb().sql(
                f"SELECT * FROM read_json(?, format='newline_delimited', "
                f"columns={_DUCKDB_COLUMNS}, maximum_object_size=16777216)",
                params=[handle.name],
            )
            return relation.pl().cast(RAW_SCHEMA)  # type: ignore[arg-type]
        except duckdb.Error:
            return None


def _read_slow(numbered: list[tuple[int, bytes]], rejections: list[Rejection]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for number, line in numbered:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            reason = f"not valid JSON ({exc}); each line must be one JSON object"
            rejections.append(Rejection(number, _text(line), reason))
            continue
        try:
            if not isinstance(record, dict):
                kind = _JSON_KINDS.get(type(record), type(record).__name__)
                msg = f"a JSON {kind} is not an event; each line must be an object"
                raise SchemaError(msg)
            if isinstance(record.get("schema_version"), int) and not isinstance(
                record["schema_version"], bool
            ):
                record = upcast(record)
            row = _typed_row(record)
        except SchemaError as exc:
            rejections.append(Rejection(number, _text(line), str(exc)))
            continue
        row["line_number"] = number
        rows.append(row)
    schema = {**RAW_SCHEMA, "line_number": pl.Int64()}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _typed_row(record: dict[str, Any]) -> dict[str, Any]:
    """Check JSON types field by field (the careful path)."""
    row: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = record.get(name)
        if value is None or isinstance(value, str):
            row[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            row[name] = str(value)
        else:
            msg = f"field `{name}` must be text (got `{json.dumps(value)[:60]}`)"
            raise SchemaError(msg)
    for name in _INT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str | int | float):
            msg = f"field `{name}` must be an integer (got `{json.dumps(value)[:60]}`)"
            raise SchemaError(msg)
        # as text, like the fast path reads it: the checks parse it (and reject 4.5, true)
        row[name] = value if value is None or isinstance(value, str) else json.dumps(value)
    for name in _LIST_FIELDS:
        value = record.get(name)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            msg = f"field `{name}` must be a list of strings (got `{json.dumps(value)[:60]}`)"
            raise SchemaError(msg)
        row[name] = value
    return row


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%z"
_INT32_MAX: Final = 2**31 - 1
_JSON_KINDS: Final = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _to_utc(column: str) -> pl.Expr:
    """ISO 8601 text with a zone (``Z``, ``+00:00``; ``T`` or space) -> UTC datetime."""
    normalised = pl.col(column).str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    return normalised.str.to_datetime(
        format=_TIMESTAMP_FORMAT, strict=False, time_zone="UTC", time_unit="us"
    )


def _missing(name: str) -> pl.Expr:
    col = pl.col(name)
    if name in _INT_FIELDS or isinstance(RAW_SCHEMA[name], pl.List):
        return col.is_null()
    return col.is_null() | (col.str.strip_chars() == "")


@functools.cache
def _rules() -> tuple[pl.Expr, pl.Expr]:
    """(does a row fail any check, the reason of its first failing check): built once."""
    checks: list[tuple[pl.Expr, pl.Expr | str]] = []

    def fail(condition: pl.Expr, reason: pl.Expr | str) -> None:
        checks.append((condition, reason))

    quoted = lambda name: pl.lit("`") + pl.col(name).str.slice(0, 60) + pl.lit("`")  # noqa: E731
    for name in _INT_FIELDS:
        fail(
            pl.col(f"_raw_{name}").is_not_null() & pl.col(name).is_null(),
            pl.lit(f"field `{name}` must be an integer (got ")
            + quoted(f"_raw_{name}")
            + pl.lit(")"),
        )
    fail(_missing("event_type"), "missing field `event_type`")
    fail(
        ~pl.col("event_type").is_in(EVENT_TYPES),
        pl.lit("unknown event_type ")
        + quoted("event_type")
        + pl.lit("; known types: " + ", ".join(EVENT_TYPES)),
    )
    fail(
        _missing("schema_version"),
        f"missing field `schema_version` (current is {CURRENT_SCHEMA_VERSION})",
    )
    fail(
        pl.col("schema_version") != CURRENT_SCHEMA_VERSION,
        pl.lit("field `schema_version` is ")
        + pl.col("schema_version").cast(pl.String)
        + pl.lit(f"; supported: 1 to {CURRENT_SCHEMA_VERSION}"),
    )
    for name in ("occurred_at", "occurred_after"):
        required = name == "occurred_at"
        if required:
            fail(_missing(name), f"missing field `{name}`")
        fail(
            pl.col(name).is_not_null() & pl.col(f"_{name}").is_null(),
            pl.lit(f"field `{name}` is not an ISO 8601 timestamp with a time zone (got ")
            + quoted(name)
            + pl.lit("); send UTC with `Z` or an offset, e.g. 2025-03-14T21:47:02Z"),
        )
    fail(
        pl.col("_occurred_after") > pl.col("_occurred_at"),
        "field `occurred_after` is later than `occurred_at`; the bounds are (after, at]",
    )
    for name in ("source", "release"):
        fail(_missing(name), f"missing field `{name}`")
    for name in _TEXT_FIELDS:
        if name != "detail":  # free text may legitimately start with a bracket
            fail(
                pl.col(name).str.starts_with("[") | pl.col(name).str.starts_with("{"),
                f"field `{name}` must be text, not a list or an object",
            )
    # one check per field (not per type and field): a row names its first missing
    # field in its type's order, since every type lists its fields in this order
    order = list(dict.fromkeys(f for fields in REQUIRED_FIELDS.values() for f in fields))
    assert all(list(fs) == sorted(fs, key=order.index) for fs in REQUIRED_FIELDS.values())
    for name in order:
        fail(
            pl.col("event_type").is_in([t for t, fs in REQUIRED_FIELDS.items() if name in fs])
            & _missing(name),
            pl.lit(f"missing field `{name}` (required for ") + pl.col("event_type") + pl.lit(")"),
        )
    is_test = pl.col("event_type").is_in(TEST_KEYED_TYPES)
    fail(
        is_test & (pl.col("triggers").list.len() == 0),
        "field `triggers` is empty; a test needs at least one `source/version` trigger",
    )
    fail(
        is_test
        & ~pl.col("triggers")
        .list.eval(pl.element().str.contains(r"^[^/\s]+/\S+$").fill_null(False))  # null: bad
        .list.all(),
        pl.lit("field `triggers` must hold `source/version` strings (got ")
        + pl.col("triggers").list.join(" ").str.slice(0, 60)
        + pl.lit(")"),
    )
    fail(
        pl.col("arch").is_not_null() & ~pl.col("arch").is_in(ARCHES),
        pl.lit("unknown arch ") + quoted("arch") + pl.lit("; known: " + ", ".join(ARCHES)),
    )
    fail(
        ~pl.col("exitcode").is_between(0, 255),
        pl.lit("field `exitcode` is ")
        + pl.col("exitcode").cast(pl.String)
        + pl.lit("; autopkgtest exit codes are 0 to 255"),
    )
    fail(
        pl.col("outcome").is_not_null() & ~pl.col("outcome").is_in(OUTCOMES),
        pl.lit("unknown outcome ") + quoted("outcome") + pl.lit("; known: " + ", ".join(OUTCOMES)),
    )
    fail(
        pl.col("duration") > _INT32_MAX,
        pl.lit("field `duration` is too large (")
        + pl.col("duration").cast(pl.String)
        + pl.lit(" s); give seconds"),
    )
    fail(
        pl.col("duration") < 0,
        pl.lit("field `duration` is negative (")
        + pl.col("duration").cast(pl.String)
        + pl.lit(" s)"),
    )

    failing = pl.any_horizontal([condition.fill_null(False) for condition, _ in checks])
    # The first failing check (in the order above) gives the reason.
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for condition, text in reversed(checks):
        value = pl.lit(text) if isinstance(text, str) else text
        reason = pl.when(condition.fill_null(False)).then(value).otherwise(reason)
    return failing, reason


#: The rules are one wide expression; Polars' optimiser costs more than it saves on it.
_PLAIN: Final = {"optimizations": pl.QueryOptFlags.none()} if hasattr(pl, "QueryOptFlags") else {}

_OUTCOME_FROM_EXITCODE: Final = pl.col("exitcode").replace_strict(
    EXITCODE_OUTCOME, default="error", return_dtype=pl.String
)


def _validate(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows into (valid events, (line_number, reason) of invalid ones)."""
    failing, reason = _rules()
    checked = (
        frame.lazy()
        .with_columns(
            _to_utc("occurred_at").alias("_occurred_at"),
            _to_utc("occurred_after").alias("_occurred_after"),
            *[pl.col(name).alias(f"_raw_{name}") for name in _INT_FIELDS],
            *[pl.col(name).str.to_integer(strict=False) for name in _INT_FIELDS],
        )
        .with_columns(failing.alias("_failing"))
        .collect(**_PLAIN)
    )
    typed = (
        checked.lazy()
        .filter(~pl.col("_failing"))
        .with_columns(
            pl.col("_occurred_at").alias("occurred_at"),
            pl.col("_occurred_after").alias("occurred_after"),
            pl.when(pl.col("exitcode").is_not_null())
            .then(pl.coalesce("outcome", _OUTCOME_FROM_EXITCODE))
            .otherwise(pl.col("outcome"))
            .alias("outcome"),
        )
        .select(*[pl.col(c).cast(EVENT_POLARS_SCHEMA[c]) for c in PARSED_COLUMNS], "line_number")
        .collect(**_PLAIN)
    )
    # reasons are only worked out for the (usually no) failing rows
    if checked["_failing"].any():
        invalid = checked.filter(pl.col("_failing")).select("line_number", reason.alias("_reason"))
    else:
        invalid = pl.DataFrame(schema={"line_number": pl.Int64(), "_reason": pl.String()})
    return typed, invalid


def _fill_event_ids(events: pl.DataFrame, numbered: _LazyLines) -> pl.DataFrame:
    """Events sent without an id get uuid5 of their line: re-ingest stays idempotent."""
    ids = [
        event_id if event_id is not None else derived_event_id("line", numbered.line(number))
        for event_id, number in events.select("event_id", "line_number").iter_rows()
    ]
    return events.with_columns(pl.Series("event_id", ids, dtype=pl.String))
