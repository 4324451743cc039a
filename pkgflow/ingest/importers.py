"""Run an importer of real data into a store: one call per ``pkgflow import`` command.

Each importer yields event frames (and queue samples) in bounded memory; this module
appends them and totals what was stored, what was already there, and what the
importer skipped and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pkgflow.ingest.autopkgtest_db import ImportReport, autopkgtest_db_events, count_results
from pkgflow.ingest.excuses import excuses_events
from pkgflow.ingest.snapshots import queue_snapshot_events, running_snapshot_events
from pkgflow.store import AppendResult, EventStore

#: progress(units done, total units or None)
Progress = Callable[[int, int | None], None]


@dataclass
class ImportResult:
    """What an import read and skipped (``report``) and what the store took (``stored``)."""

    report: ImportReport
    stored: AppendResult = field(default_factory=AppendResult)
    samples: AppendResult = field(default_factory=AppendResult)


def import_excuses(
    store: EventStore,
    paths: Sequence[Path],
    in_flight: bool = True,
    release: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import britney ``update_excuses.yaml`` snapshots (plain or .xz), in time order.

    ``in_flight=False`` leaves out requests of tests britney shows as running (use it
    when queued.json history covers the same period). ``release`` overrides the
    release read from log URLs or the file name."""
    result = ImportResult(ImportReport())
    done = 0

    def tick(files: int) -> None:
        nonlocal done
        done += files
        if progress:
            progress(done, len(paths))

    for frame in excuses_events(
        paths, tick, report=result.report, in_flight=in_flight, release=release
    ):
        result.stored += store.append(frame)
    return result


def import_autopkgtest_db(
    store: EventStore, path: Path, progress: Progress | None = None
) -> ImportResult:
    """Import the autopkgtest results database (SQLite) as ``test.finished`` events."""
    result = ImportResult(ImportReport())
    total = count_results(path)
    done = 0

    def tick(rows: int) -> None:
        nonlocal done
        done += rows
        if progress:
            progress(done, total)

    for frame in autopkgtest_db_events(path, progress=tick, report=result.report):
        result.stored += store.append(frame)
    return result


def import_queue_snapshot(store: EventStore, path: Path, observed_at: datetime) -> ImportResult:
    """Import one ``queued.json``: requests as first sightings, plus queue-depth samples."""
    result = ImportResult(ImportReport())
    events, samples = queue_snapshot_events(path, observed_at, report=result.report)
    result.stored = store.append(events)
    result.samples = store.append_samples(samples)
    return result


def import_running_snapshot(store: EventStore, path: Path, observed_at: datetime) -> ImportResult:
    """Import one ``running.json``: running tests as ``test.started`` at observed - elapsed."""
    result = ImportResult(ImportReport())
    result.stored = store.append(running_snapshot_events(path, observed_at, report=result.report))
    return result
