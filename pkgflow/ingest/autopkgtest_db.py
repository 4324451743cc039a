"""Import the public autopkgtest results database (SQLite) as ``test.finished`` events.

The database has one row per finished run::

    test(id, release, arch, package)
    result(test_id, run_id, version, triggers, duration, exitcode, requester, env)

Each row becomes one ``test.finished``: ``occurred_at`` is the finish time encoded
in ``run_id`` (``YYYYMMDD_HHMMSS[_<hex>]@``, UTC, exact); ``duration`` is kept, so
the start time is derivable as ``occurred_at - duration``; ``triggers`` are split on
whitespace; an empty ``requester`` (britney's runs) becomes null; ``version`` is the
``test_version``. ``env`` is not part of the event model and is not imported.

Rows are read with ``fetchmany`` in batches and each batch is turned into one
Polars frame with column expressions, so memory stays bounded however big the
database is (the real one holds tens of millions of rows). A malformed row is
skipped and counted in the :class:`ImportReport`, never aborting the import.

This module also holds what the importers share: :class:`ImportReport`, run-id
parsing and the natural keys of ``test.finished`` / ``test.requested`` (the excuses
importer and this one give the same run the same ``event_id``).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from pkgflow.errors import IngestError
from pkgflow.events.parse import PARSED_COLUMNS, derived_event_id
from pkgflow.events.schema import EVENT_POLARS_SCHEMA, SAMPLE_POLARS_SCHEMA
from pkgflow.events.types import ARCHES, CURRENT_SCHEMA_VERSION, EXITCODE_OUTCOME

SOURCE: Final = "import:autopkgtest-db"

#: Columns and dtypes of every frame an importer yields.
EVENT_FRAME_SCHEMA: Final[dict[str, pl.DataType]] = {
    c: EVENT_POLARS_SCHEMA[c] for c in PARSED_COLUMNS
}
#: Columns and dtypes of queue-depth sample frames (the store sets seq, recorded_at).
SAMPLE_FRAME_SCHEMA: Final[dict[str, pl.DataType]] = {
    c: t for c, t in SAMPLE_POLARS_SCHEMA.items() if c not in ("seq", "recorded_at")
}

#: ``YYYYMMDD_HHMMSS_<hex>@`` (current) or ``YYYYMMDD_HHMMSS@`` (older rows).
RUN_ID_PATTERN: Final = r"^\d{8}_\d{6}(?:_[0-9a-f]{1,16})?@$"
_RUN_ID_RE: Final = re.compile(RUN_ID_PATTERN)
#: A trigger is ``source/version`` (the event model's rule, see parse.py).
TRIGGER_PATTERN: Final = r"^[^/\s]+/\S+$"

#: How many records each skip reason keeps as examples.
_EXAMPLES_PER_REASON: Final = 5


@dataclass
class ImportReport:
    """What an importer read, emitted and skipped (and why), for the CLI to print.

    ``read`` counts source records (excuses: items and per-arch results; results
    DB: rows; queued.json: requests; running.json: running jobs). ``emitted``
    counts events per event type (and ``sample`` for queue-depth samples).
    ``skipped`` counts records left out, by reason; ``examples`` names the first
    few records of each reason.
    """

    source: str = ""
    read: int = 0
    emitted: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, record: str) -> None:
        """Count one skipped record under ``reason``, keeping its name as an example."""
        self.skipped[reason] += 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < _EXAMPLES_PER_REASON:
            kept.append(record)

    def count(self, frame: pl.DataFrame) -> None:
        """Add a yielded event frame to ``emitted``."""
        if frame.height:
            self.emitted.update(dict(frame["event_type"].value_counts().iter_rows()))

    @property
    def total_emitted(self) -> int:
        return sum(self.emitted.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def lines(self) -> list[str]:
        """A human-readable summary, one line per fact."""
        out = [
            f"{self.source or 'import'}: read {self.read:,} records, "
            f"emitted {self.total_emitted:,}, skipped {self.total_skipped:,}"
        ]
        out += [f"  emitted {n:,} {kind}" for kind, n in sorted(self.emitted.items())]
        for reason, n in self.skipped.most_common():
            names = ", ".join(self.examples.get(reason, []))
            out.append(f"  skipped {n:,}: {reason} (e.g. {names})")
        return out


def run_finish_time(run_id: str) -> datetime | None:
    """The UTC finish time encoded in a run id, or None if it is not a run id."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        return None
    try:
        return datetime.strptime(run_id[:15], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    except ValueError:  # e.g. month 13
        return None


def finished_event_id(release: str, arch: str, testsrc: str, run_id: str) -> str:
    """The event id of a finished run: the same in every importer."""
    return derived_event_id("test.finished", release, arch, testsrc, run_id)


def requested_event_id(
    release: str, arch: str, testsrc: str, triggers: Iterable[str], submit_time: datetime | None
) -> str:
    """The event id of a test request (queued.json, running.json): one per submission."""
    when = submit_time.astimezone(UTC).isoformat() if submit_time is not None else ""
    return derived_event_id(
        "test.requested", release, arch, testsrc, " ".join(sorted(triggers)), when
    )


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken as UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_SEPARATOR: Final = "\x1f"


def events_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Event dicts (any subset of the columns) -> a typed frame of PARSED_COLUMNS.

    Built column by column: Polars converts Python datetimes and small lists
    slowly, so timestamps go in as epoch microseconds and lists as joined text.
    List items must not be empty strings (they are dropped).
    """
    columns: list[pl.Series] = []
    for name, dtype in EVENT_FRAME_SCHEMA.items():
        values = [row.get(name) for row in rows]
        if isinstance(dtype, pl.Datetime):
            micros = [None if v is None else (utc(v) - _EPOCH) // _MICROSECOND for v in values]
            series = (
                pl.Series(name, micros, dtype=pl.Int64)
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC")
            )
        elif isinstance(dtype, pl.List):
            joined = [None if v is None else _SEPARATOR.join(v) for v in values]
            series = (
                pl.Series(name, joined, dtype=pl.String)
                .str.split(_SEPARATOR)
                .list.eval(pl.element().filter(pl.element() != ""))
            )
        else:
            series = pl.Series(name, values, dtype=dtype)
        columns.append(series.cast(dtype))
    return pl.DataFrame(columns)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the missing event columns as typed nulls; cast and order all of them."""
    return frame.select(
        [
            pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in EVENT_FRAME_SCHEMA.items()
        ]
    )


# --------------------------------------------------------------------------------------
# the results database

_COLUMNS: Final[dict[str, pl.DataType]] = {
    "test_id": pl.String(),
    "release": pl.String(),
    "arch": pl.String(),
    "package": pl.String(),
    "run_id": pl.String(),
    "version": pl.String(),
    "triggers": pl.String(),
    "duration": pl.Float64(),
    "exitcode": pl.Int64(),
    "requester": pl.String(),
}
_QUERY: Final = (
    "SELECT r.test_id, t.release, t.arch, t.package, r.run_id, r.version, r.triggers,"
    " r.duration, r.exitcode, r.requester"
    " FROM result AS r LEFT JOIN test AS t ON t.id = r.test_id"
)


def count_results(path: Path) -> int:
    """How many result rows the database holds (a total for a progress bar)."""
    with _connect(Path(path)) as con:
        return int(con.execute("SELECT count(*) FROM result").fetchone()[0])


def autopkgtest_db_events(
    path: Path,
    batch_size: int = 50_000,
    progress: Callable[[int], None] | None = None,
    *,
    report: ImportReport | None = None,
    releases: Sequence[str] | None = None,
    since: datetime | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield one frame of ``test.finished`` events per batch of result rows.

    ``progress(n)`` is called after each batch with the number of rows just read.
    ``releases`` keeps only those releases; ``since`` keeps runs finished at or
    after that moment (compared on the run id, so the filter runs in SQLite).
    Raises :class:`IngestError` when the file is not a readable results database.
    """
    path = Path(path)
    report = report if report is not None else ImportReport()
    report.source = report.source or SOURCE
    if batch_size < 1:
        msg = f"batch_size must be at least 1 (got {batch_size})"
        raise ValueError(msg)
    query, params = _QUERY, []
    where: list[str] = []
    if releases:
        where.append(f"t.release IN ({', '.join('?' for _ in releases)})")
        params += list(releases)
    if since is not None:
        where.append("r.run_id >= ?")
        params.append(utc(since).strftime("%Y%m%d_%H%M%S"))
    if where:
        query += " WHERE " + " AND ".join(where)
    con = _connect(path)
    try:
        try:
            cursor = con.execute(query, params)
        except sqlite3.DatabaseError as exc:
            raise _unreadable(path, exc) from exc
        while True:
            try:
                rows = cursor.fetchmany(batch_size)
            except sqlite3.DatabaseError as exc:
                raise _unreadable(path, exc) from exc
            if not rows:
                break
            report.read += len(rows)
            frame = _batch_events(rows, report)
            report.count(frame)
            if progress is not None:
                progress(len(rows))
            if frame.height:
                yield frame
    finally:
        con.close()


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        msg = (
            f"{path}: no such file; give the autopkgtest results database "
            "(SQLite autopkgtest.db, with tables test and result)"
        )
        raise IngestError(msg)
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {
            name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc
    missing = {"test", "result"} - tables
    if missing:
        con.close()
        msg = (
            f"{path}: not an autopkgtest results database (no table "
            f"{', '.join(sorted(missing))}); expected test(id, release, arch, package) and "
            "result(test_id, run_id, version, triggers, duration, exitcode, requester, env)"
        )
        raise IngestError(msg)
    return con


def _unreadable(path: Path, exc: Exception) -> IngestError:
    return IngestError(
        f"{path}: cannot read as SQLite ({exc}); give the autopkgtest results database "
        "(autopkgtest.db), uncompressed"
    )


def _batch_events(rows: list[tuple[Any, ...]], report: ImportReport) -> pl.DataFrame:
    """Validate and convert one batch of rows (vectorised); count the bad ones."""
    columns = list(zip(*rows, strict=True))
    frame = pl.DataFrame(
        [
            pl.Series(name, values, dtype=dtype, strict=False)
            for (name, dtype), values in zip(_COLUMNS.items(), columns, strict=True)
        ]
    )
    frame = frame.with_columns(
        pl.col("run_id").str.strip_chars(),
        pl.col("triggers").fill_null("").str.extract_all(r"\S+").alias("triggers"),
        pl.col("requester").str.strip_chars(),
        pl.col("version").str.strip_chars(),
        pl.col("run_id")
        .str.strip_chars()
        .str.slice(0, 15)
        .str.strptime(pl.Datetime("us"), "%Y%m%d_%H%M%S", strict=False)
        .dt.replace_time_zone("UTC")
        .alias("occurred_at"),
    )
    empty = lambda name: pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")  # noqa: E731
    checks: list[tuple[pl.Expr, pl.Expr]] = [
        (
            pl.col("release").is_null(),
            pl.lit("result row whose test_id has no row in table test"),
        ),
        (empty("release") | empty("package"), pl.lit("test row without release or package")),
        (
            ~pl.col("arch").is_in(ARCHES).fill_null(False),
            pl.lit("unknown arch `") + pl.col("arch").fill_null("null") + pl.lit("`"),
        ),
        (
            ~pl.col("run_id").str.contains(RUN_ID_PATTERN).fill_null(False)
            | pl.col("occurred_at").is_null(),
            pl.lit("bad run_id (want YYYYMMDD_HHMMSS[_hex]@)"),
        ),
        (
            ~pl.col("exitcode").is_between(0, 255).fill_null(False),
            pl.lit("exitcode missing or not an integer 0-255"),
        ),
        (pl.col("triggers").list.len() == 0, pl.lit("no triggers")),
        (
            ~pl.col("triggers").list.eval(pl.element().str.contains(TRIGGER_PATTERN)).list.all(),
            pl.lit("trigger not of the form source/version"),
        ),
        (pl.col("duration") < 0, pl.lit("negative duration")),
    ]
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for condition, text in reversed(checks):
        reason = pl.when(condition.fill_null(False)).then(text).otherwise(reason)
    frame = frame.with_columns(reason.alias("_reason"))
    bad = frame.filter(pl.col("_reason").is_not_null())
    if bad.height:
        for test_id, release, arch, package, run_id, why in bad.select(
            "test_id", "release", "arch", "package", "run_id", "_reason"
        ).iter_rows():
            report.skip(why, f"test_id {test_id}: {release}/{arch}/{package} {run_id}")
        frame = frame.filter(pl.col("_reason").is_null())
    if not frame.height:
        return events_frame([])
    ids = [
        finished_event_id(*key)
        for key in frame.select("release", "arch", "package", "run_id").iter_rows()
    ]
    out = frame.select(
        pl.Series("event_id", ids, dtype=pl.String),
        pl.lit("test.finished").alias("event_type"),
        pl.lit(CURRENT_SCHEMA_VERSION).alias("schema_version"),
        "occurred_at",
        pl.lit(SOURCE).alias("source"),
        "release",
        pl.col("package").alias("testsrc"),
        "arch",
        "triggers",
        pl.when(pl.col("requester") == "").then(None).otherwise("requester").alias("requester"),
        "run_id",
        pl.when(pl.col("version") == "").then(None).otherwise("version").alias("test_version"),
        "exitcode",
        pl.col("exitcode")
        .replace_strict(EXITCODE_OUTCOME, default="error", return_dtype=pl.String)
        .alias("outcome"),
        pl.col("duration").round(0).cast(pl.Int64).alias("duration"),
    )
    return conform(out)
