"""Ingest JSON Lines files (plain, .gz, .xz or stdin) into the store, in batches.

A bad line never aborts the run and never loses its neighbours: it goes to the
store's quarantine with its file, line number and reason.
"""

from __future__ import annotations

import gzip
import lzma
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import polars as pl

from pkgflow.errors import IngestError
from pkgflow.events.parse import ParsedBatch, Rejection, parse_block
from pkgflow.store import EventStore

#: Bytes per batch (about 100,000 events): large enough for the columnar readers to
#: shine, small enough to bound memory.
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class IngestReport:
    """Totals of one ingest run."""

    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantine: Path | None = None
    seconds: float = 0.0
    first_rejections: list[tuple[str, Rejection]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Lines per second."""
        return self.lines / self.seconds if self.seconds else 0.0


@contextmanager
def open_lines(path: str | Path) -> Iterator[BinaryIO]:
    """Open a file for binary line reading; ``-`` is stdin; .gz and .xz are decompressed."""
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    path = Path(path)
    opener = {".gz": gzip.open, ".xz": lzma.open}.get(path.suffix, open)
    try:
        handle = opener(path, "rb")
    except FileNotFoundError as exc:
        msg = f"{path}: no such file; give a JSON Lines file (.jsonl, .jsonl.gz, .jsonl.xz) or -"
        raise IngestError(msg) from exc
    except OSError as exc:
        msg = f"{path}: cannot open ({exc.strerror})"
        raise IngestError(msg) from exc
    try:
        yield handle  # type: ignore[misc]
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile) as exc:
        msg = f"{path}: the compressed file is damaged ({exc}); lines before the damage were kept"
        raise IngestError(msg) from exc
    finally:
        handle.close()


def read_blocks(handle: BinaryIO, batch_bytes: int) -> Iterator[bytearray]:
    """Blocks of whole lines (a line is never cut), each about ``batch_bytes`` long.

    A block is read straight into its own buffer and completed to the end of its last
    line in place: copying 32 MB costs as much as reading it.
    """
    while True:
        block = bytearray(batch_bytes)
        count = handle.readinto(block)
        if not count:
            return
        del block[count:]
        if not block.endswith(b"\n"):
            block += handle.readline()
        yield block


@dataclass
class _Numbering:
    """Line numbers of one input file: blocks are parsed as if each began at line 1
    (several at once), and renumbered in input order when they are stored."""

    next_line: int = 1


def _store_batches(
    store: EventStore,
    batches: list[ParsedBatch],
    origin: str,
    numbering: _Numbering,
    report: IngestReport,
    started: float,
    progress: Callable[[IngestReport], None] | None,
) -> None:
    """Append consecutive parsed blocks of one file as one batch."""
    rejections: list[Rejection] = []
    for batch in batches:
        shift = numbering.next_line - 1
        numbering.next_line += batch.lines
        report.lines += batch.lines
        rejections += [replace(r, line_number=r.line_number + shift) for r in batch.rejections]
    result = store.append(pl.concat([batch.events for batch in batches]).drop("line_number"))
    report.accepted += result.accepted
    report.duplicates += result.duplicates
    report.rejected += len(rejections)
    report.quarantine = store.quarantine(rejections, origin, report.quarantine)
    room = 5 - len(report.first_rejections)
    report.first_rejections += [(origin, r) for r in rejections[:room]]
    report.seconds = time.perf_counter() - started
    if progress:
        progress(report)


#: Blocks parsed at once. Parsing costs about twice what storing does, so two parser
#: threads and one writer keep two cores busy (DuckDB, Polars and pyarrow release the GIL).
PARSERS = 2


def ingest_jsonl(
    store: EventStore,
    paths: Sequence[str | Path],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Append the events of JSON Lines files to ``store``; return the totals.

    ``progress`` is called after every append (one or more blocks) with the running totals.
    """
    report = IngestReport()
    started = time.perf_counter()
    parsed: deque[tuple[Future[ParsedBatch], str, _Numbering]] = deque()
    stored: Future[None] | None = None

    def store_oldest() -> None:
        # one writer appends the batches one at a time, in input order: sequence
        # numbers follow the input, and memory stays bounded (a few blocks)
        # (with the blocks of the same file parsed meanwhile: fewer, bigger appends when
        # the writer is the slower one, as at the end)
        nonlocal stored
        future, origin, numbering = parsed.popleft()
        batches = [future.result()]
        if stored is not None:
            stored.result()
        while parsed and parsed[0][2] is numbering and parsed[0][0].done():
            batches.append(parsed.popleft()[0].result())
        stored = writer.submit(
            _store_batches, store, batches, origin, numbering, report, started, progress
        )

    with (
        ThreadPoolExecutor(PARSERS, thread_name_prefix="pkgflow-parse") as parsers,
        ThreadPoolExecutor(1, thread_name_prefix="pkgflow-append") as writer,
    ):
        for path in paths:
            numbering = _Numbering()
            with open_lines(path) as handle:
                for block in read_blocks(handle, batch_bytes):
                    if len(parsed) == PARSERS:
                        store_oldest()
                    parsed.append((parsers.submit(parse_block, block), str(path), numbering))
        while parsed:
            store_oldest()
        if stored is not None:
            stored.result()
    report.seconds = time.perf_counter() - started
    return report
