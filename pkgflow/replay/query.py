"""Read-only ad-hoc SQL over the replay views (what ``pkgflow sql`` runs)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Final, Literal

import duckdb
import polars as pl

from pkgflow.errors import ReplayError
from pkgflow.replay.sql import PUBLIC_VIEWS

OutputFormat = Literal["table", "csv", "json", "parquet"]
OUTPUT_FORMATS: Final[tuple[str, ...]] = ("table", "csv", "json", "parquet")

#: Statement types a read-only query may use. DESCRIBE, SHOW, SUMMARIZE, VALUES, FROM
#: and WITH all parse as SELECT; COPY, EXPORT, ATTACH, SET, PRAGMA, CALL, INSTALL,
#: LOAD, CREATE, INSERT, UPDATE, DELETE ... do not.
_ALLOWED: Final = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


#: Materialised tables each projection needs (a lazy view recomputes its shared
#: steps for every reference, which is slow on big stores).
_NEEDS: Final[dict[str, tuple[str, ...]]] = {
    "test_runs": ("_test_keys", "_run_skeletons", "test_runs"),
    "uploads": ("_upload_events", "_upload_tests", "_uploads_core", "uploads"),
    "in_flight": ("in_flight",),
    "stage_intervals": (),
}
_IMPLIES: Final[dict[str, tuple[str, ...]]] = {
    "test_runs": ("test_runs",),
    "uploads": ("test_runs", "uploads"),
    "in_flight": ("test_runs", "uploads", "in_flight"),
    "stage_intervals": ("test_runs", "uploads"),
}


def views_needed(sql: str) -> tuple[str, ...]:
    """The tables to materialise before running ``sql``: the projections it names,
    with what they are built from, in build order (empty: only events/queue_depth)."""
    named = {m.lower() for m in re.findall(r"[A-Za-z_]+", sql)} & set(_IMPLIES)
    wanted = {step for name in named for view in _IMPLIES[name] for step in _NEEDS[view]}
    return tuple(step for view in _NEEDS for step in _NEEDS[view] if step in wanted)


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid what a query could use to reach beyond the store: no extension
    auto-install/auto-load (no network), and no later configuration changes."""
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def describe_views(con: duckdb.DuckDBPyConnection) -> str:
    """One line per public view: its name and columns (binds, does not run, the view)."""
    lines = []
    for name in (*PUBLIC_VIEWS, "replay_clock"):
        try:
            columns = [row[0] for row in con.execute(f"DESCRIBE {name}").fetchall()]
        except duckdb.Error:  # pragma: no cover - a broken view is a bug, not user input
            columns = ["?"]
        lines.append(f"  {name}({', '.join(columns)})")
    return "views:\n" + "\n".join(lines)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """Run one read-only statement on ``con`` and return its result.

    Anything but a query (``SELECT``/``WITH``/``FROM``/``VALUES``/``DESCRIBE``/``SHOW``/
    ``SUMMARIZE``/``EXPLAIN``) is refused; a DuckDB error becomes a
    :class:`~pkgflow.errors.ReplayError` carrying DuckDB's message and the views.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        msg = f"{exc}\n\n{describe_views(con)}"
        raise ReplayError(msg) from exc
    if len(statements) != 1:
        msg = f"give exactly one statement (got {len(statements)})"
        raise ReplayError(msg)
    kind = statements[0].type
    if kind not in _ALLOWED:
        msg = (
            f"read-only: {kind.name} statements are refused; use SELECT, "
            "WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"
        )
        raise ReplayError(msg)
    try:
        return con.sql(sql).pl()
    except duckdb.Error as exc:
        msg = f"{exc}\n\n{describe_views(con)}"
        raise ReplayError(msg) from exc


def check_output(fmt: OutputFormat, out: Path | None) -> None:
    """Refuse an output that cannot be written, before any query work is done."""
    if fmt not in OUTPUT_FORMATS:
        msg = f"unknown format {fmt!r}; known: {', '.join(OUTPUT_FORMATS)}"
        raise ReplayError(msg)
    if fmt == "parquet" and out is None:
        msg = "--format parquet needs --out FILE (Parquet is binary)"
        raise ReplayError(msg)
    if out is not None and not out.parent.is_dir():
        msg = f"cannot write {out}: folder {out.parent} does not exist; create it first"
        raise ReplayError(msg)


def write_result(
    frame: pl.DataFrame, fmt: OutputFormat, out: Path | None = None
) -> bytes | None:
    """Write ``frame`` as csv/json/parquet to ``out`` (or return the bytes when
    ``out`` is None; parquet needs ``out``). ``table`` is the CLI's job (rich)."""
    check_output(fmt, out)
    buffer = io.BytesIO()
    target: Path | io.BytesIO = out if out is not None else buffer
    writers = {"csv": frame.write_csv, "json": frame.write_json, "parquet": frame.write_parquet}
    try:
        writers[fmt](target)
    except OSError as exc:
        msg = f"cannot write {out}: {exc.strerror or exc}; check the path and its permissions"
        raise ReplayError(msg) from exc
    return buffer.getvalue() if out is None else None


def emit(data: bytes) -> None:
    """Write bytes to stdout (for pipes)."""
    sys.stdout.buffer.write(data)
    if not data.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
