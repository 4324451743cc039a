"""The one explicit Arrow schema of stored events (and of queue-depth samples).

The event log is a single wide table: envelope columns plus nullable
type-specific columns. Low-cardinality strings are dictionary-encoded in
Parquet; timestamps are UTC microseconds.
"""

from __future__ import annotations

from typing import Final

import polars as pl
import pyarrow as pa

UTC_US = pa.timestamp("us", tz="UTC")

#: Stored event columns, in file order.
EVENT_SCHEMA: Final = pa.schema(
    [
        # envelope
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("occurred_at", UTC_US, nullable=False),
        # set when the source only brackets the time (snapshot diffs):
        # the change happened in (occurred_after, occurred_at]
        pa.field("occurred_after", UTC_US),
        pa.field("recorded_at", UTC_US, nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("release", pa.string(), nullable=False),
        # uploads
        pa.field("package", pa.string()),
        pa.field("version", pa.string()),
        pa.field("old_version", pa.string()),
        pa.field("component", pa.string()),
        pa.field("maintainer", pa.string()),
        pa.field("arches", pa.list_(pa.string())),
        # test runs
        pa.field("testsrc", pa.string()),
        pa.field("arch", pa.string()),
        pa.field("triggers", pa.list_(pa.string())),
        # derived when written: a stable hash naming the test (pkgflow/events/keys.py)
        pa.field("test_key", pa.uint64()),
        pa.field("queue", pa.string()),
        pa.field("requester", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("test_version", pa.string()),
        pa.field("exitcode", pa.int16()),
        pa.field("outcome", pa.string()),
        pa.field("duration", pa.int32()),
        pa.field("worker", pa.string()),
        # britney
        pa.field("status", pa.string()),
        pa.field("verdict", pa.string()),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("blocked_by", pa.list_(pa.string())),
        # free text: why a test was dropped, which version superseded an upload, ...
        pa.field("detail", pa.string()),
    ]
)

#: Columns the store fills in when it writes an event (never parsed from input).
STORE_COLUMNS: Final = ("seq", "recorded_at", "test_key")

#: Columns written as Parquet dictionaries (few distinct values).
EVENT_DICTIONARY_COLUMNS: Final = [
    "event_type",
    "source",
    "release",
    "component",
    "arch",
    "queue",
    "outcome",
    "status",
    "verdict",
    "requester",
    "worker",
]

#: Queue depth samples: measurements, kept in their own table.
SAMPLE_SCHEMA: Final = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("observed_at", UTC_US, nullable=False),
        pa.field("recorded_at", UTC_US, nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("release", pa.string(), nullable=False),
        pa.field("arch", pa.string(), nullable=False),
        pa.field("queue", pa.string(), nullable=False),
        pa.field("size", pa.int32(), nullable=False),
    ]
)
SAMPLE_DICTIONARY_COLUMNS: Final = ["source", "release", "arch", "queue"]


def polars_schema(schema: pa.Schema) -> dict[str, pl.DataType]:
    """The Polars dtypes of an Arrow schema, column by column."""
    empty = pl.from_arrow(schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    return dict(empty.schema)


EVENT_POLARS_SCHEMA: Final = polars_schema(EVENT_SCHEMA)
SAMPLE_POLARS_SCHEMA: Final = polars_schema(SAMPLE_SCHEMA)
