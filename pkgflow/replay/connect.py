"""Open a DuckDB connection with the projections registered as views over a store."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pkgflow.errors import ReplayError
from pkgflow.events.keys import TEST_KEY, with_test_keys
from pkgflow.replay.sql import PUBLIC_VIEWS, VIEWS
from pkgflow.store import EventStore

#: What :func:`materialize` turns into tables by default: everything the status page
#: and the benchmark read, in dependency order.
DEFAULT_MATERIALIZED: tuple[str, ...] = (
    "_test_keys",
    "_run_skeletons",
    "test_runs",
    "_upload_events",
    "_upload_tests",
    "_uploads_core",
    "uploads",
    "in_flight",
)

#: DuckDB settings while building one table. test_runs: keep the hash join's build side
#: as written (the runs' numbers, not the finished events' texts): ~300 MB less.
BUILD_SETTINGS: dict[str, dict[str, str]] = {
    "test_runs": {"disabled_optimizers": "build_side_probe_side"},
}

#: Intermediate tables dropped (their views restored) once the table that consumes
#: them is built: keeps peak memory near the size of the projections themselves.
TRANSIENT: dict[str, str] = {
    "_test_keys": "_run_skeletons",
    "_run_skeletons": "test_runs",
    "_upload_tests": "uploads",
    "_uploads_core": "uploads",
}


@dataclass(frozen=True)
class Window:
    """What a connection shows: events with ``lower < occurred_at <= as_of``.

    ``as_of`` is the replay clock (elapsed times are measured to it); ``start`` and
    ``end`` are the partition dates read (partition pruning)."""

    as_of: datetime | None
    lower: datetime | None
    start: date | None
    end: date | None
    explicit_as_of: bool


def parse_instant(value: datetime | date | str | None) -> datetime | None:
    """A UTC datetime from a datetime (naive = UTC), a date (its end) or ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            if len(text) == 10:
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text)
        except ValueError as exc:
            msg = (
                f"not a time: {value!r}; use ISO 8601, e.g. 2025-03-14T21:47:02Z "
                "or 2025-03-14 (its end)"
            )
            raise ReplayError(msg) from exc
    if not isinstance(value, datetime):  # a date: the end of that day
        value = datetime.combine(value, datetime.max.time(), tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _latest_event(store: EventStore, con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest ``occurred_at`` in the store, reading only the newest partition."""
    files = store.files("events")
    if not files:
        return None
    newest = max(p.parent.name for p in files)
    listing = ", ".join(
        "'" + str(p).replace("'", "''") + "'" for p in files if p.parent.name == newest
    )
    [(latest,)] = con.execute(f"SELECT max(occurred_at) FROM read_parquet([{listing}])").fetchall()
    return latest


def _window(
    store: EventStore,
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | date | str | None,
    days: float | None,
) -> Window:
    if days is not None and not days > 0:
        msg = f"days must be a positive number (got {days})"
        raise ReplayError(msg)
    explicit = parse_instant(as_of)
    clock = explicit or _latest_event(store, con)
    lower = clock - timedelta(days=days) if days is not None and clock is not None else None
    return Window(
        as_of=clock,
        lower=lower,
        start=lower.date() if lower else None,
        end=explicit.date() if explicit else None,
        explicit_as_of=explicit is not None,
    )


def _literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"


def _has_test_keys(path: Path) -> bool:
    """Whether a stored file has the ``test_key`` column."""
    stat = path.stat()  # compaction may rewrite a file in place: its stat tells
    return _schema_has_test_keys(str(path), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _schema_has_test_keys(path: str, mtime_ns: int, size: int) -> bool:
    return TEST_KEY in pq.read_schema(path).names


#: The columns a test key is computed from (pkgflow/events/keys.py).
_KEY_INPUTS = ("event_type", "release", "arch", "testsrc", "triggers")


def _test_keys_udf(
    event_type: pa.Array, release: pa.Array, arch: pa.Array, testsrc: pa.Array, triggers: pa.Array
) -> pa.Array:
    """DuckDB function ``pkgflow_test_key(<_KEY_INPUTS>)``: the same keys the store
    writes, for rows of files written before it wrote them."""
    columns = (event_type, release, arch, testsrc, triggers)
    frame = pl.DataFrame([pl.Series(n, a) for n, a in zip(_KEY_INPUTS, columns, strict=True)])
    return with_test_keys(frame).get_column(TEST_KEY).to_arrow()


def _events_sql(store: EventStore, con: duckdb.DuckDBPyConnection, window: Window) -> str:
    """The stored events; files written before test keys were stored get their keys
    computed here (slower, same values; ``pkgflow compact`` stores them)."""
    keyed, legacy = [], []
    for path in store.files("events", window.start, window.end):
        (keyed if _has_test_keys(path) else legacy).append(path)
    if not legacy:
        return store.read_parquet_sql("events", paths=keyed)
    con.create_function(
        "pkgflow_test_key", _test_keys_udf,
        ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR[]"], "UBIGINT",
        type="arrow", side_effects=False,
    )
    return (
        f"{store.read_parquet_sql('events', paths=keyed)} UNION ALL BY NAME "
        f"SELECT * REPLACE (pkgflow_test_key({', '.join(_KEY_INPUTS)}) AS {TEST_KEY}) "
        f"FROM ({store.read_parquet_sql('events', paths=legacy)})"
    )


def _source_sql(base: str, time_column: str, window: Window) -> str:
    conditions = []
    if window.explicit_as_of and window.as_of is not None:
        conditions.append(f"{time_column} <= {_literal(window.as_of)}")
    if window.lower is not None:
        conditions.append(f"{time_column} > {_literal(window.lower)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM ({base}){where}"


def connect(
    store: EventStore | str | os.PathLike[str] | None = None,
    as_of: datetime | date | str | None = None,
    days: float | None = None,
    *,
    materialize: bool | Iterable[str] = False,
    threads: int | None = None,
    memory_limit: str | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the replay views registered over ``store``.

    Views: ``events``, ``test_runs``, ``uploads``, ``in_flight``, ``stage_intervals``,
    ``queue_depth`` (columns and rules: docs/queries.md) and ``replay_clock`` (one row:
    ``as_of``, the instant the projections describe).

    ``as_of``: time travel; only events with ``occurred_at <= as_of`` count, and only
    partitions up to that date are read. Without it the clock is the newest event's
    time. ``days``: only the ``days`` days before the clock, pushed down to partition
    pruning. ``materialize``: ``True`` builds :data:`DEFAULT_MATERIALIZED` as tables
    now (fast repeated queries), or give the view names; ``progress(view, seconds)``
    is called after each table. ``threads`` and ``memory_limit`` (e.g. ``"1GB"``,
    beyond which DuckDB spills to disk) tune DuckDB. The store's file list is taken
    now: reconnect to see newer appends.
    """
    if not isinstance(store, EventStore):
        store = EventStore(store)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    # materialising projections needs no particular row order (views still ORDER BY)
    con.execute("SET preserve_insertion_order = false")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute("SET memory_limit = ?", [memory_limit])
    window = _window(store, con, as_of, days)
    events = _events_sql(store, con, window)
    samples = store.read_parquet_sql("queue_depth", window.start, window.end)
    con.execute(f"CREATE VIEW _events AS {_source_sql(events, 'occurred_at', window)}")
    con.execute(f"CREATE VIEW _samples AS {_source_sql(samples, 'observed_at', window)}")
    clock = _literal(window.as_of) if window.as_of else "NULL::TIMESTAMPTZ"
    lower = _literal(window.lower) if window.lower else "NULL::TIMESTAMPTZ"
    con.execute(
        f"CREATE VIEW replay_clock AS SELECT {clock} AS as_of, {lower} AS window_start"
    )
    if materialize:
        names = DEFAULT_MATERIALIZED if materialize is True else tuple(materialize)
        _build_tables(con, names, progress)
    else:
        _build_tables(con, ())
    return con


def materialize(
    con: duckdb.DuckDBPyConnection,
    names: Iterable[str] = DEFAULT_MATERIALIZED,
    progress: Callable[[str, float], None] | None = None,
) -> None:
    """Compute the named views into tables, in dependency order; later views (and
    queries) then read the tables. Views not named stay lazy. Intermediate tables
    (:data:`TRANSIENT`) are dropped again once their consumer is built.
    ``progress(view, seconds)`` is called after each table."""
    _build_tables(con, names, progress)


def _table_name(view: str) -> str:
    return f"__{view.lstrip('_')}_table"


def _build_tables(
    con: duckdb.DuckDBPyConnection,
    names: Iterable[str],
    progress: Callable[[str, float], None] | None = None,
) -> None:
    """Create each view of :data:`VIEWS` in order, as a table when named in ``names``
    (views still missing are created on the way: binding a view over tables is cheaper
    than over the views they replace)."""
    wanted = set(names)
    bodies = dict(VIEWS)
    unknown = wanted - set(bodies)
    if unknown:
        msg = f"unknown views {sorted(unknown)}; known: {', '.join(bodies)}"
        raise ReplayError(msg)
    existing = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    for name, body in VIEWS:
        if name not in wanted:
            if name not in existing:
                con.execute(f"CREATE VIEW {name} AS {body}")
            continue
        started = time.perf_counter()
        settings = BUILD_SETTINGS.get(name, {})
        saved = {
            key: con.execute("SELECT current_setting(?)", [key]).fetchone()[0]  # type: ignore[index]
            for key in settings
        }
        for key, value in settings.items():
            con.execute(f"SET {key} = '{value}'")
        try:
            con.execute(f"CREATE OR REPLACE TABLE {_table_name(name)} AS {body}")
        finally:
            for key, value in saved.items():
                con.execute(f"SET {key} = '{value}'")
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {_table_name(name)}")
        for transient, consumer in TRANSIENT.items():
            if consumer == name and transient in wanted:
                con.execute(f"CREATE OR REPLACE VIEW {transient} AS {bodies[transient]}")
                con.execute(f"DROP TABLE {_table_name(transient)}")
        if progress is not None:
            progress(name, time.perf_counter() - started)


def frames(
    store: EventStore | str | os.PathLike[str] | None = None,
    as_of: datetime | date | str | None = None,
    days: float | None = None,
    *,
    materialize: bool | Iterable[str] = True,
) -> dict[str, pl.LazyFrame]:
    """The public projections as Polars LazyFrames (name -> frame).

    Each frame is DuckDB-backed (``relation.pl(lazy=True)``): Polars pushes its
    column selection and filters down to DuckDB when collected. The frames keep their
    connection open. Arguments as for :func:`connect`.
    """
    con = connect(store, as_of, days, materialize=materialize)
    return {name: con.sql(f"SELECT * FROM {name}").pl(lazy=True) for name in PUBLIC_VIEWS}
