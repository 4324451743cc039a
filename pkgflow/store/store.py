"""The event store: hive-partitioned Parquet with atomic, idempotent appends.

Writers take an exclusive lock on ``_meta/lock`` for one commit (dedupe, sequence
allocation, write, rename), so several processes may append to one store. Readers
take no lock: they only ever see whole files, because a file is written under
``_staging/``, fsynced, and renamed into its partition.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pkgflow.config import store_path
from pkgflow.errors import SchemaError, StorageError
from pkgflow.events.keys import TEST_KEY, with_test_keys
from pkgflow.events.parse import Rejection, parse_records
from pkgflow.events.schema import (
    EVENT_DICTIONARY_COLUMNS,
    EVENT_POLARS_SCHEMA,
    EVENT_SCHEMA,
    SAMPLE_DICTIONARY_COLUMNS,
    SAMPLE_POLARS_SCHEMA,
    SAMPLE_SCHEMA,
)
from pkgflow.store.layout import (
    TABLES,
    DataFile,
    Table,
    covered_files,
    data_files,
    file_name,
    live_files,
    partition_name,
    partitions,
)


@dataclass(frozen=True)
class _TableSpec:
    schema: pa.Schema
    polars_schema: dict[str, pl.DataType]
    id_column: str
    time_column: str
    dictionary_columns: list[str]


_SPECS: dict[Table, _TableSpec] = {
    "events": _TableSpec(
        EVENT_SCHEMA, EVENT_POLARS_SCHEMA, "event_id", "occurred_at", EVENT_DICTIONARY_COLUMNS
    ),
    "queue_depth": _TableSpec(
        SAMPLE_SCHEMA, SAMPLE_POLARS_SCHEMA, "sample_id", "observed_at", SAMPLE_DICTIONARY_COLUMNS
    ),
}


#: How compaction orders a closed partition (before time and seq): events by type,
#: so that each row group holds one or two types and a reader asking for some types
#: (replay reads finished tests, upload events, ...) skips the other row groups by
#: their statistics instead of decoding them. Within a type, time order keeps
#: time-range pruning.
COMPACT_ORDER: dict[Table, tuple[str, ...]] = {"events": ("event_type",), "queue_depth": ()}
#: Rows per row group in compacted files: small enough for that skipping to pay.
COMPACT_ROW_GROUP_ROWS = 64 * 1024


@dataclass
class AppendResult:
    """What one append did."""

    accepted: int = 0
    duplicates: int = 0
    files: list[Path] = field(default_factory=list)

    def __iadd__(self, other: AppendResult) -> AppendResult:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.files.extend(other.files)
        return self


@dataclass
class CompactResult:
    """What one compaction did, per partition."""

    partitions: list[str] = field(default_factory=list)
    files_before: int = 0
    files_after: int = 0
    duplicates_dropped: int = 0


@dataclass
class _KnownIds:
    """Ids already stored in one partition, by the live file they were read from (a
    file that compaction covered or retention removed drops out)."""

    by_file: dict[str, pl.Series] = field(default_factory=dict)
    merged: pl.Series | None = None  # all of them, rebuilt when a file comes or goes


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (fsync of the folder itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EventStore:
    """An event store rooted at a folder (created on first write).

    >>> store = EventStore("data")            # doctest: +SKIP
    >>> store.append([{...}, ...])            # doctest: +SKIP
    >>> store.scan().filter(...).collect()    # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = store_path(root)
        self._known: dict[tuple[Table, str], _KnownIds] = {}

    def __repr__(self) -> str:
        return f"EventStore({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------

    def table_dir(self, table: Table = "events") -> Path:
        return self.root / table

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "_quarantine"

    @property
    def _staging(self) -> Path:
        return self.root / "_staging"

    @property
    def _meta(self) -> Path:
        return self.root / "_meta"

    def _ensure_dirs(self) -> None:
        try:
            for path in (self._staging, self._meta, *(self.table_dir(t) for t in TABLES)):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the store at {self.root}: {exc.strerror}; choose a writable --store"
            raise StorageError(msg) from exc

    @contextmanager
    def _lock(self, name: str = "lock") -> Iterator[None]:
        """Exclusive lock between processes (released by the kernel if we die)."""
        self._ensure_dirs()
        with open(self._meta / name, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- writing ------------------------------------------------------------

    def append(self, events: pl.DataFrame | Sequence[dict[str, Any]]) -> AppendResult:
        """Append events durably; those whose ``event_id`` is stored already are skipped.

        ``events`` is either event dicts (validated; a bad one raises
        :class:`~pkgflow.errors.SchemaError` naming it) or a frame with the parsed
        columns (``pkgflow.events.parse.PARSED_COLUMNS``), e.g. from
        :func:`~pkgflow.events.parse_lines`. Returns once the data is on disk.
        """
        frame = parse_records(events) if not isinstance(events, pl.DataFrame) else events
        return self._append("events", frame)

    def append_samples(self, samples: pl.DataFrame) -> AppendResult:
        """Append queue-depth samples (``sample_id, observed_at, source, release, arch,
        queue, size``); a ``sample_id`` stored already is skipped."""
        return self._append("queue_depth", samples)

    def _conform(self, table: Table, frame: pl.DataFrame) -> pl.DataFrame:
        spec = _SPECS[table]
        wanted = [c for c in spec.polars_schema if c not in ("seq", "recorded_at")]
        missing = [c for c in wanted if c not in frame.columns]
        required = [f.name for f in spec.schema if not f.nullable]
        if any(c in required for c in missing):
            msg = f"cannot append to {table}: missing columns {missing}"
            raise SchemaError(msg)
        frame = frame.with_columns(
            pl.lit(None, dtype=spec.polars_schema[c]).alias(c) for c in missing
        )
        try:
            frame = frame.select(pl.col(c).cast(spec.polars_schema[c]) for c in wanted)
        except pl.exceptions.PolarsError as exc:
            msg = f"cannot append to {table}: {exc}"
            raise SchemaError(msg) from exc
        if table != "events":
            return frame
        # the store derives keys itself: a key sent along is not trusted
        return with_test_keys(frame.with_columns(pl.lit(None, pl.UInt64).alias(TEST_KEY)))

    def _append(self, table: Table, frame: pl.DataFrame) -> AppendResult:
        spec = _SPECS[table]
        if frame.height == 0:
            return AppendResult()
        frame = self._conform(table, frame)
        nulls = [f.name for f in spec.schema if not f.nullable and f.name in frame.columns]
        bad = frame.select(pl.any_horizontal(pl.col(nulls).is_null())).to_series()
        if bad.any():
            msg = f"cannot append to {table}: a required column is null in row {bad.arg_true()[0]}"
            raise SchemaError(msg)
        ids = frame[spec.id_column]
        # a batch rarely repeats an id: counting distinct ids is much cheaper than unique()
        unique = (
            frame
            if ids.n_unique() == frame.height
            else frame.unique(subset=spec.id_column, keep="first", maintain_order=True)
        )
        result = AppendResult(duplicates=frame.height - unique.height)
        unique = unique.with_columns(pl.col(spec.time_column).dt.date().alias("_date"))
        with self._lock():
            self._clear_stale_staging("part-")
            stored = [
                known.to_frame().with_columns(pl.lit(day).alias("_date"))
                for day in unique["_date"].unique(maintain_order=True)
                if (known := self._known_ids(table, day)).len()
            ]
            # drop ids stored in their day's partition; the rest keep input order, so
            # sequence numbers follow it (ties in time keep the sender's order)
            new = (
                unique.join(
                    pl.concat(stored),
                    on=["_date", spec.id_column],
                    how="anti",
                    maintain_order="left",
                )
                if stored
                else unique
            )
            result.duplicates += unique.height - new.height
            if new.height == 0:
                return result
            first = self._allocate(new.height)
            now = datetime.now(UTC)
            new = new.with_columns(
                pl.int_range(first, first + new.height, dtype=pl.Int64).alias("seq"),
                pl.lit(now).dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias(
                    "recorded_at"
                ),
            )
            parts = new.partition_by("_date", maintain_order=True)
            days = [part["_date"][0] for part in parts]
            # one file per partition, written side by side (pyarrow releases the GIL)
            with ThreadPoolExecutor(min(len(parts), os.cpu_count() or 1)) as pool:
                paths = list(
                    pool.map(
                        lambda day, part: self._write_partition(table, day, part.drop("_date")),
                        days,
                        parts,
                    )
                )
            for day, part, path in zip(days, parts, paths, strict=True):
                result.files.append(path)
                cache = self._known[(table, str(day))]
                cache.by_file[path.name] = part[spec.id_column]
                cache.merged = None
            result.accepted = new.height
        return result

    def _known_ids(self, table: Table, day: date) -> pl.Series:
        """Ids stored in a partition, reading only files not seen before."""
        spec = _SPECS[table]
        cache = self._known.setdefault((table, str(day)), _KnownIds())
        folder = self.table_dir(table) / partition_name(day)
        live = {f.path.name: f.path for f in live_files(folder)} if folder.is_dir() else {}
        for name in set(cache.by_file) - set(live):
            del cache.by_file[name]
            cache.merged = None
        for name in set(live) - set(cache.by_file):
            ids = pq.read_table(live[name], columns=[spec.id_column]).column(0)
            cache.by_file[name] = pl.Series(spec.id_column, ids.combine_chunks())
            cache.merged = None
        if cache.merged is None:
            # an anti-join does not need them distinct: concatenating is enough
            cache.merged = pl.concat(
                [pl.Series(spec.id_column, [], dtype=pl.String), *cache.by_file.values()]
            )
        return cache.merged

    def _allocate(self, count: int) -> int:
        """Reserve ``count`` sequence numbers (call with the lock held)."""
        counter = self._meta / "sequence"
        try:
            first = int(counter.read_text())
        except FileNotFoundError:
            first = self._max_stored_seq() + 1
        except ValueError:  # torn counter cannot happen (atomic replace), but recover anyway
            first = self._max_stored_seq() + 1
        self._write_atomic(counter, str(first + count).encode())
        return first

    def _max_stored_seq(self) -> int:
        last = 0
        for table in TABLES:
            for _, folder in partitions(self.table_dir(table)):
                for data_file in data_files(folder):
                    last = max(last, data_file.last_seq)
        return last

    def _write_atomic(self, target: Path, payload: bytes) -> None:
        tmp = self._staging / f".{target.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def _write_partition(
        self,
        table: Table,
        day: date,
        frame: pl.DataFrame,
        kind: Literal["part", "compact"] = "part",
        seq_range: tuple[int, int] | None = None,
        row_group_rows: int = 256 * 1024,
    ) -> Path:
        """Write ``frame`` as one file of a partition: staged, fsynced, renamed in.

        The name carries ``seq_range`` (default: the rows' own range); a compacted file
        is named by its inputs' full range so it covers all of them, even when the
        first or last input row was a dropped duplicate.
        """
        spec = _SPECS[table]
        arrow = frame.to_arrow().select(spec.schema.names).cast(spec.schema)
        if seq_range is None:
            seq_range = (int(frame["seq"].min()), int(frame["seq"].max()))  # type: ignore[arg-type]
        name = file_name(kind, *seq_range)
        folder = self.table_dir(table) / partition_name(day)
        tmp = self._staging / f"{kind}-{table}-{day}-{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as handle:
                pq.write_table(
                    arrow,
                    handle,
                    compression="zstd",
                    use_dictionary=spec.dictionary_columns,
                    row_group_size=row_group_rows,
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, folder / name)
            fsync_dir(folder)
        except OSError as exc:
            msg = f"cannot write {folder / name}: {exc.strerror}; check space and permissions"
            raise StorageError(msg) from exc
        return folder / name

    def _clear_stale_staging(self, prefix: str) -> None:
        """Remove temp files a killed writer left (call with the matching lock held)."""
        for leftover in self._staging.glob(f"{prefix}*.tmp"):
            leftover.unlink(missing_ok=True)

    def quarantine(
        self, rejections: Sequence[Rejection], origin: str, into: Path | None = None
    ) -> Path | None:
        """Keep rejected lines, with file, line number and reason, for inspection.

        Appends to ``into`` when given (one file per run), else starts a new file.
        """
        if not rejections:
            return into
        self._ensure_dirs()
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = into or self.quarantine_dir / f"rejected-{stamp}-{os.getpid()}.jsonl"
        with open(path, "a", encoding="utf-8") as handle:
            for r in rejections:
                record = {"file": origin, "line_number": r.line_number, "reason": r.reason}
                handle.write(json.dumps({**record, "line": r.line}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path

    # -- reading ------------------------------------------------------------

    def files(
        self, table: Table = "events", start: date | None = None, end: date | None = None
    ) -> list[Path]:
        """Live data files of ``table`` whose partition date is in ``[start, end]``."""
        found = []
        for day, folder in partitions(self.table_dir(table)):
            if (start is None or day >= start) and (end is None or day <= end):
                found.extend(f.path for f in live_files(folder))
        return found

    def scan(
        self, table: Table = "events", start: date | None = None, end: date | None = None
    ) -> pl.LazyFrame:
        """A Polars LazyFrame over the store (old files missing columns read as null)."""
        return self._read_files(table, self.files(table, start, end))

    def _read_files(self, table: Table, paths: Sequence[Path]) -> pl.LazyFrame:
        """Data files as the current schema (columns an old file lacks read as null)."""
        schema = _SPECS[table].polars_schema
        if not paths:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(
            [str(p) for p in paths],
            schema=schema,
            missing_columns="insert",
            extra_columns="ignore",
            hive_partitioning=False,
        )

    def relation(
        self,
        con: duckdb.DuckDBPyConnection | None = None,
        table: Table = "events",
        start: date | None = None,
        end: date | None = None,
    ) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over the store (``union_by_name`` keeps old files readable)."""
        con = con if con is not None else duckdb.connect()
        return con.sql(self.read_parquet_sql(table, start, end))

    def read_parquet_sql(
        self,
        table: Table = "events",
        start: date | None = None,
        end: date | None = None,
        paths: Sequence[Path] | None = None,
    ) -> str:
        """A ``SELECT`` over the live files (or the given ``paths``), typed like the
        current schema: columns an old file lacks read as NULL."""
        spec = _SPECS[table]
        paths = self.files(table, start, end) if paths is None else paths
        columns = ", ".join(
            f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in spec.schema
        )
        if not paths:
            return f"SELECT {columns} WHERE false"
        listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
        # an empty typed row unioned by name gives every column its current type,
        # even when only old files (without newer columns) are present.
        return (
            f"SELECT * FROM (SELECT {columns} WHERE false) "
            f"UNION ALL BY NAME SELECT * FROM read_parquet([{listing}], union_by_name=true, hive_partitioning=false)"
        )

    def count(self, table: Table = "events") -> int:
        """Number of stored rows (from Parquet metadata: cheap)."""
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.files(table))

    # -- maintenance --------------------------------------------------------

    def compact(
        self,
        before: date | None = None,
        table: Table | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CompactResult:
        """Merge each closed partition (date < ``before``, default today UTC) into one
        file, dropping duplicate ids. Safe against readers and against a crash: the
        merged file is renamed in before the files it covers are deleted, and readers
        skip covered files. ``progress(done, total)`` is called per partition."""
        before = before or datetime.now(UTC).date()
        result = CompactResult()
        with self._lock("compact.lock"):
            self._clear_stale_staging("compact-")
            closed = [
                (name, day, folder)
                for name in ((table,) if table else TABLES)
                for day, folder in partitions(self.table_dir(name))
                if day < before
            ]
            for done, (name, day, folder) in enumerate(closed, start=1):
                self._compact_partition(name, day, folder, result)
                if progress:
                    progress(done, len(closed))
        return result

    def _compact_partition(
        self, table: Table, day: date, folder: Path, result: CompactResult
    ) -> None:
        spec = _SPECS[table]
        with self._lock():  # appends commit whole files under this lock: list a stable set
            files = data_files(folder)
        covered = covered_files(files)
        inputs = live_files(folder, files)
        # a lone file is rewritten too unless it already has the read layout (compacted
        # by this version: events sorted by type, test keys stored)
        if len(inputs) > 1 or any(self._needs_rewrite(table, f) for f in inputs):
            frame = self._read_files(table, [f.path for f in inputs]).collect()
            merged = frame.sort("seq").unique(spec.id_column, keep="first", maintain_order=True)
            result.duplicates_dropped += frame.height - merged.height
            seq_range = (inputs[0].first_seq, max(f.last_seq for f in inputs))
            merged = merged.sort(*COMPACT_ORDER[table], spec.time_column, "seq")
            if table == "events":  # files written before keys were stored get them now
                merged = with_test_keys(merged)
            written = self._write_partition(
                table, day, merged, "compact", seq_range, row_group_rows=COMPACT_ROW_GROUP_ROWS
            )
            # a lone compacted file rewritten in place has the new file's name: keep it
            covered = [f for f in inputs if f.path != written]
            result.files_before += len(inputs)
            result.files_after += 1
            result.partitions.append(folder.name)
        for data_file in covered:
            data_file.path.unlink(missing_ok=True)
        if covered:
            fsync_dir(folder)

    @staticmethod
    def _needs_rewrite(table: Table, data_file: DataFile) -> bool:
        if not data_file.is_compacted:
            return True
        # compacted by a pkgflow that did not store test keys yet (nor sort by type)
        return table == "events" and TEST_KEY not in pq.read_schema(data_file.path).names

    def retention_candidates(self, keep_days: int, today: date | None = None) -> list[Path]:
        """Partition folders older than ``keep_days`` days (judged by the folder's date)."""
        if keep_days < 0:
            msg = f"--keep-days must be 0 or more (got {keep_days})"
            raise SchemaError(msg)
        cutoff = (today or datetime.now(UTC).date()) - timedelta(days=keep_days)
        return [
            folder
            for table in TABLES
            for day, folder in partitions(self.table_dir(table))
            if day < cutoff
        ]

    def drop_partitions(self, folders: Sequence[Path]) -> None:
        """Delete whole partitions: each disappears at once (renamed away, then removed)."""
        trash = []
        with self._lock("compact.lock"), self._lock():
            for folder in folders:
                target = self._staging / f"trash-{folder.parent.name}-{folder.name}-{time.time_ns()}"
                os.replace(folder, target)
                fsync_dir(folder.parent)
                trash.append(target)
        for target in trash:
            shutil.rmtree(target)
        self._known.clear()


def _duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ"
    if pa.types.is_list(arrow_type):
        return "VARCHAR[]"
    return {
        pa.string(): "VARCHAR",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint64(): "UBIGINT",
    }[arrow_type]
