"""Ingest JSON Lines files (plain, .gz, .xz or stdin) into the store, in batches.

A bad line never aborts the run and never loses its neighbours: it goes to the
store's quarantine with its file, line number and reason.
"""

from __future__ import annotations

import gzip
import lzma
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

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


def read_blocks(handle: BinaryIO, batch_bytes: int) -> Iterator[bytes]:
    """Blocks of whole lines, each about ``batch_bytes`` long (a line is never cut)."""
    carry = b""
    while chunk := handle.read(batch_bytes):
        cut = chunk.rfind(b"\n")
        if cut < 0:
            carry += chunk
            continue
        yield carry + chunk[: cut + 1]
        carry = chunk[cut + 1 :]
    if carry:
        yield carry


def _store_batch(
    store: EventStore,
    batch: ParsedBatch,
    origin: str,
    report: IngestReport,
    started: float,
    progress: Callable[[IngestReport], None] | None,
) -> None:
    result = store.append(batch.events.drop("line_number"))
    report.lines += batch.lines
    report.accepted += result.accepted
    report.duplicates += result.duplicates
    report.rejected += len(batch.rejections)
    report.quarantine = store.quarantine(batch.rejections, origin, report.quarantine)
    room = 5 - len(report.first_rejections)
    report.first_rejections += [(origin, r) for r in batch.rejections[:room]]
    report.seconds = time.perf_counter() - started
    if progress:
        progress(report)


def ingest_jsonl(
    store: EventStore,
    paths: Sequence[str | Path],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Append the events of JSON Lines files to ``store``; return the totals.

    ``progress`` is called after every batch with the running totals.
    """
    report = IngestReport()
    started = time.perf_counter()
    # Parsing the next block overlaps with writing this one (both release the GIL);
    # one writer thread keeps appends, and so sequence numbers, in input order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pkgflow-append") as writer:
        pending: Future[None] | None = None
        for path in paths:
            origin = str(path)
            with open_lines(path) as handle:
                line_number = 1
                for block in read_blocks(handle, batch_bytes):
                    batch = parse_block(block, first_line_number=line_number)
                    line_number += batch.lines
                    if pending is not None:
                        pending.result()  # at most one batch in flight: bounded memory
                    pending = writer.submit(
                        _store_batch, store, batch, origin, report, started, progress
                    )
        if pending is not None:
            pending.result()
    report.seconds = time.perf_counter() - started
    return report
