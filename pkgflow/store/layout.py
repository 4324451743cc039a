"""Where things live inside a store, and how data file names encode their content.

::

    <root>/events/date=YYYY-MM-DD/part-<first seq>-<last seq>.parquet
    <root>/events/date=YYYY-MM-DD/compact-<first seq>-<last seq>.parquet
    <root>/queue_depth/date=YYYY-MM-DD/...      (same layout, queue-depth samples)
    <root>/_staging/     files being written (readers never look here)
    <root>/_quarantine/  rejected input lines with their reasons (JSON Lines)
    <root>/_meta/        the writer lock and the sequence counter

A file's name carries the sequence range of its rows. A ``compact-`` file replaces
every file of its partition whose range lies inside its own; until the compactor
has deleted those, readers skip them (:func:`live_files`), so a crash between the
two steps never shows an event twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, Literal

Table = Literal["events", "queue_depth"]
TABLES: Final[tuple[Table, ...]] = ("events", "queue_depth")

_FILE_RE: Final = re.compile(r"^(part|compact)-(\d{12})-(\d{12})\.parquet$")
_PARTITION_RE: Final = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True, order=True)
class DataFile:
    """A live or covered Parquet file of one partition."""

    first_seq: int
    last_seq: int
    kind: str
    path: Path

    @property
    def is_compacted(self) -> bool:
        return self.kind == "compact"


def file_name(kind: Literal["part", "compact"], first_seq: int, last_seq: int) -> str:
    """Deterministic name: writing the same rows again replaces instead of duplicating."""
    return f"{kind}-{first_seq:012d}-{last_seq:012d}.parquet"


def partition_name(day: date) -> str:
    return f"date={day.isoformat()}"


def partition_date(path: Path) -> date | None:
    """The date of a ``date=YYYY-MM-DD`` folder, or None for anything else."""
    match = _PARTITION_RE.match(path.name)
    return date.fromisoformat(match.group(1)) if match else None


def partitions(table_dir: Path) -> list[tuple[date, Path]]:
    """The partition folders of a table, oldest first."""
    if not table_dir.is_dir():
        return []
    found = []
    for child in table_dir.iterdir():
        day = partition_date(child)
        if day is not None and child.is_dir():
            found.append((day, child))
    return sorted(found)


def data_files(partition: Path) -> list[DataFile]:
    """Every pkgflow data file of a partition (live and covered), by sequence."""
    files = []
    for child in partition.iterdir():
        match = _FILE_RE.match(child.name)
        if match:
            kind, first, last = match.groups()
            files.append(DataFile(int(first), int(last), kind, child))
    return sorted(files)


def covered_files(files: list[DataFile]) -> list[DataFile]:
    """Files whose rows a (different) compacted file of the same partition already holds."""
    compacted = [f for f in files if f.is_compacted]
    return [
        f
        for f in files
        if any(
            c is not f and c.first_seq <= f.first_seq and f.last_seq <= c.last_seq
            for c in compacted
        )
    ]


def live_files(partition: Path, files: list[DataFile] | None = None) -> list[DataFile]:
    """The files a reader must read: all data files (``files``, default: those of
    ``partition`` now) minus covered ones."""
    files = data_files(partition) if files is None else files
    covered = set(covered_files(files))
    return [f for f in files if f not in covered]
