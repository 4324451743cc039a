"""The ingestion pipeline shared by the HTTP service and the AMQP consumer.

``lines -> parse_lines (batched across concurrent requests) -> one WAL record per
batch (fsync) -> acknowledge -> flusher -> EventStore.append -> delete segment``.

* **Group commit.** ``parse_lines`` has a fixed cost of some 20 ms whatever the batch
  size, so parse workers take *every* pending request at once, parse them in one
  call, write the good events of all of them as one WAL record (one fsync) and then
  resolve each request's future with its own line numbers.
* **Flush.** A flusher thread seals the current segment by age (``flush_interval``)
  or size (``flush_bytes``), appends each sealed segment's events to the store and
  deletes the segment. ``EventStore.append`` skips event ids already stored, so a
  crash between the append and the delete only causes a harmless replay.
* **Recovery.** On start the WAL's leftover segments are flushed before anything
  else, and so are the segments of WAL folders no live process holds (a process that
  died and was not restarted under the same name).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from bisect import bisect_right
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from pkgflow.errors import PkgflowError, SchemaError
from pkgflow.events.parse import ParsedBatch, Rejection, parse_lines
from pkgflow.serve.fastpath import fast_parse
from pkgflow.serve.wal import (
    WalLockedError,
    WriteAheadLog,
    iter_wal_folders,
    scan_segment,
    wal_root,
)
from pkgflow.store import EventStore

log = logging.getLogger("pkgflow.serve")

#: First byte of a WAL payload: what follows.
PAYLOAD_ARROW_IPC: Final = b"\x01"


class OverloadedError(PkgflowError):
    """The service cannot take more now; retry after ``retry_after`` seconds."""

    transient = True

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LineError:
    """A rejected line of one request (1-based line number within that request)."""

    line: int
    reason: str


@dataclass
class BatchOutcome:
    """What happened to the lines of one request once they are durable."""

    event_ids: list[str]
    errors: list[LineError]
    lines: int

    @property
    def accepted(self) -> int:
        return len(self.event_ids)


@dataclass
class Metrics:
    """Counters exported at ``/metrics`` (monotonic unless noted)."""

    accepted: int = 0  # events made durable in the WAL (acknowledged)
    rejected: int = 0  # lines rejected (sent to the quarantine)
    stored: int = 0  # events newly written to the store by the flusher
    duplicates: int = 0  # events the store already had (retries, redeliveries, replays)
    flushes: int = 0
    flush_errors: int = 0
    wal_records: int = 0
    parse_batches: int = 0
    recovered_segments: int = 0
    torn_records: int = 0
    overload_rejections: dict[int, int] = field(default_factory=dict)
    requests: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def count(self, table: str, code: int) -> None:
        with self.lock:
            counter: dict[int, int] = getattr(self, table)
            counter[code] = counter.get(code, 0) + 1


def encode_frame(frame: pl.DataFrame) -> bytes:
    """A WAL payload for parsed events (Arrow IPC, lz4)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="lz4")
    return PAYLOAD_ARROW_IPC + buffer.getvalue()


def decode_payload(payload: bytes) -> pl.DataFrame:
    """The events of one WAL payload."""
    if payload[:1] != PAYLOAD_ARROW_IPC:
        msg = f"unknown WAL payload kind {payload[:1]!r}"
        raise SchemaError(msg)
    return pl.read_ipc(io.BytesIO(payload[1:]))


@dataclass
class _Pending:
    lines: Sequence[bytes]
    origin: str
    future: Future[BatchOutcome]


class Ingestor:
    """Durable ingestion into one store through a per-process WAL.

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        store: EventStore,
        name: str,
        *,
        flush_interval: float = 1.0,
        flush_bytes: int = 32 * 1024 * 1024,
        max_wal_bytes: int = 1024 * 1024 * 1024,
        segment_bytes: int = 64 * 1024 * 1024,
        parse_workers: int = 2,
        max_batch_lines: int = 20_000,
        max_queue: int = 1024,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            msg = f"invalid WAL name {name!r}: use letters, digits, '-' or '_'"
            raise SchemaError(msg)
        self.store = store
        self.name = name
        self.flush_interval = flush_interval
        self.flush_bytes = flush_bytes
        self.max_wal_bytes = max_wal_bytes
        self.segment_bytes = segment_bytes
        self.parse_workers = parse_workers
        self.max_batch_lines = max_batch_lines
        self.metrics = Metrics()
        self.wal: WriteAheadLog | None = None
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queue)
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake_flusher = threading.Event()
        self._flush_lock = threading.Lock()
        self._quarantine_lock = threading.Lock()
        self._quarantine_file: Path | None = None
        self._wal_bytes = 0
        self._bytes_lock = threading.Lock()
        self._sealed_since: float | None = None
        self._consecutive_flush_errors = 0
        self.last_flush_error: str | None = None
        self.closing = False

    # -- lifecycle ---------------------------------------------------------------

    @property
    def wal_folder(self) -> Path:
        return wal_root(self.store.root) / self.name

    def start(self) -> Ingestor:
        """Open (lock) the WAL, recover leftovers, start the parse workers and flusher."""
        self.wal = WriteAheadLog(self.wal_folder, segment_bytes=self.segment_bytes, wait=10.0)
        self._wal_bytes = self.wal.size_bytes()
        self.flush(recovering=True)  # whatever a previous (killed) run acknowledged
        self.adopt_orphans()
        for i in range(self.parse_workers):
            thread = threading.Thread(target=self._parse_loop, name=f"pkgflow-parse-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        flusher = threading.Thread(target=self._flush_loop, name="pkgflow-flush", daemon=True)
        flusher.start()
        self._threads.append(flusher)
        return self

    def close(self) -> None:
        """Finish queued requests, flush everything to the store, release the WAL."""
        if self.wal is None:
            return
        self.closing = True
        for _ in range(self.parse_workers):
            self._queue.put(None)
        self._stop.set()
        self._wake_flusher.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads.clear()
        try:
            self.flush()
        finally:
            self.wal.close()
            self.wal = None

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def adopt_orphans(self) -> int:
        """Flush the WAL folders of processes that died and were not restarted."""
        adopted = 0
        for folder in iter_wal_folders(self.store.root):
            if folder == self.wal_folder:
                continue
            try:
                orphan = WriteAheadLog(folder, segment_bytes=self.segment_bytes)
            except WalLockedError:
                continue  # alive: its owner flushes it
            try:
                for segment in orphan.seal():
                    self._flush_segment(orphan, segment, recovering=True)
                    adopted += 1
            finally:
                orphan.close()
        if adopted:
            log.warning("flushed %d segment(s) left by other, dead processes", adopted)
        return adopted

    # -- state ----------------------------------------------------------------------

    @property
    def wal_bytes(self) -> int:
        """Bytes in this process's WAL segments (acknowledged, not yet deleted)."""
        return self._wal_bytes

    def flush_lag(self) -> float:
        """Seconds the oldest acknowledged-but-unflushed event has waited (0 if none)."""
        oldest = [t for t in (self._sealed_since, self.wal and self.wal.oldest_unflushed) if t]
        return max(0.0, time.monotonic() - min(oldest)) if oldest else 0.0

    def check_capacity(self) -> None:
        """Raise :class:`OverloadedError` when new input must wait (bounded resources)."""
        if self.closing or self.wal is None:
            msg = "the service is shutting down"
            raise OverloadedError(msg, retry_after=5)
        if self._wal_bytes > self.max_wal_bytes:
            msg = (
                f"{self._wal_bytes:,} bytes acknowledged but not yet in the store "
                f"(limit {self.max_wal_bytes:,}); the store is behind"
            )
            raise OverloadedError(msg, retry_after=max(1, int(self.flush_interval) + 1))
        if self._consecutive_flush_errors >= 3:
            msg = f"the store cannot be written: {self.last_flush_error}"
            raise OverloadedError(msg, retry_after=10)

    # -- ingestion ---------------------------------------------------------------------

    def submit(self, lines: Sequence[bytes], origin: str) -> Future[BatchOutcome]:
        """Queue JSON lines; the future resolves once the good ones are durable."""
        self.check_capacity()
        future: Future[BatchOutcome] = Future()
        try:
            self._queue.put_nowait(_Pending(lines, origin, future))
        except queue.Full as exc:
            msg = "too many requests waiting for validation"
            raise OverloadedError(msg) from exc
        return future

    def parse(self, lines: Sequence[bytes]) -> ParsedBatch:
        """Validate lines (numbered from 0) without storing them."""
        return _safe_parse(lines)

    def commit(self, frame: pl.DataFrame) -> None:
        """Make parsed events durable in the WAL (returns after fsync)."""
        if frame.height == 0:
            return
        assert self.wal is not None, "Ingestor not started"
        if "line_number" in frame.columns:
            frame = frame.drop("line_number")
        payload = encode_frame(frame)
        written = self.wal.append(payload)
        with self._bytes_lock:
            self._wal_bytes += written
        self.metrics.add(accepted=frame.height, wal_records=1)
        if self.wal.oldest_unflushed is not None and self._unsealed_bytes() >= self.flush_bytes:
            self._wake_flusher.set()

    def quarantine(self, rejections: Sequence[Rejection], origin: str) -> None:
        """Keep rejected lines with their reasons in the store's quarantine (fsynced)."""
        if not rejections:
            return
        with self._quarantine_lock:
            self._quarantine_file = self.store.quarantine(
                rejections, origin, into=self._quarantine_file
            )
        self.metrics.add(rejected=len(rejections))

    def quarantine_message(self, body: bytes, queue: str, reason: str) -> None:
        """Keep a dead-lettered AMQP message in the store's quarantine too."""
        text = body.decode("utf-8", "replace")
        self.quarantine([Rejection(1, text, reason)], f"amqp queue {queue}")

    def _unsealed_bytes(self) -> int:
        return self.wal._current_size if self.wal is not None else 0

    def _parse_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            count = len(item.lines)
            stop = False
            while count < self.max_batch_lines:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                count += len(more.lines)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[_Pending]) -> None:
        lines: list[bytes] = []
        offsets: list[int] = []
        for pending in batch:
            offsets.append(len(lines))
            lines.extend(pending.lines)
        try:
            parsed = _safe_parse(lines)
            self.metrics.add(parse_batches=1)
            self.commit(parsed.events)
            by_request: list[list[Rejection]] = [[] for _ in batch]
            for rejection in parsed.rejections:
                index = bisect_right(offsets, rejection.line_number) - 1
                local = rejection.line_number - offsets[index] + 1
                by_request[index].append(Rejection(local, rejection.line, rejection.reason))
            for pending, rejections in zip(batch, by_request, strict=True):
                self.quarantine(rejections, pending.origin)
        except Exception as exc:  # StorageError mostly: nothing acknowledged
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            if not isinstance(exc, PkgflowError):
                log.exception("ingestion failed")
            return
        ids: list[list[str]] = [[] for _ in batch]
        for number, event_id in parsed.events.select("line_number", "event_id").iter_rows():
            ids[bisect_right(offsets, number) - 1].append(event_id)
        for index, pending in enumerate(batch):
            errors = [LineError(r.line_number, r.reason) for r in by_request[index]]
            pending.future.set_result(BatchOutcome(ids[index], errors, len(pending.lines)))

    # -- flushing ------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        tick = min(0.1, self.flush_interval / 2)
        while not self._stop.is_set():
            self._wake_flusher.wait(timeout=tick)
            self._wake_flusher.clear()
            if self._stop.is_set():
                return
            wal = self.wal
            if wal is None:
                return
            oldest = wal.oldest_unflushed
            due = oldest is not None and (
                time.monotonic() - oldest >= self.flush_interval
                or self._unsealed_bytes() >= self.flush_bytes
            )
            if due or self._consecutive_flush_errors:
                try:
                    self.flush()
                except Exception:  # logged and counted in flush(); retried next tick
                    time.sleep(min(5.0, 0.2 * 2**self._consecutive_flush_errors))

    def flush(self, recovering: bool = False) -> int:
        """Move every acknowledged event from the WAL to the store; return events stored."""
        assert self.wal is not None
        with self._flush_lock:
            oldest = self.wal.oldest_unflushed
            segments = self.wal.seal()
            if oldest is not None and (self._sealed_since is None or oldest < self._sealed_since):
                self._sealed_since = oldest
            stored = 0
            try:
                for segment in segments:
                    stored += self._flush_segment(self.wal, segment, recovering)
            except Exception as exc:
                self._consecutive_flush_errors += 1
                self.last_flush_error = str(exc)
                self.metrics.add(flush_errors=1)
                log.error("flush failed (will retry): %s", exc)
                raise
            self._consecutive_flush_errors = 0
            self.last_flush_error = None
            self._sealed_since = None
            if segments:
                self.metrics.add(flushes=1)
            return stored

    def _flush_segment(self, wal: WriteAheadLog, segment: Path, recovering: bool = False) -> int:
        scan = scan_segment(segment)
        if scan.problem:
            self.metrics.add(torn_records=1)
            log.warning(
                "%s: %s; %d trailing bytes were never acknowledged and are dropped",
                segment,
                scan.problem,
                scan.total_bytes - scan.valid_bytes,
            )
        stored = 0
        if scan.records:
            try:
                frames = [decode_payload(p) for p in scan.records]
                frame = pl.concat(frames, how="diagonal_relaxed")
                result = self.store.append(frame)
            except SchemaError as exc:
                kept = wal.set_aside(segment, str(exc))
                log.error("the store refused %s (%s); kept as %s", segment, exc, kept)
                self._after_delete(wal, scan.total_bytes)
                return 0
            stored = result.accepted
            self.metrics.add(stored=result.accepted, duplicates=result.duplicates)
        if recovering or wal is not self.wal:
            self.metrics.add(recovered_segments=1)
        wal.delete(segment)
        self._after_delete(wal, scan.total_bytes)
        return stored

    def _after_delete(self, wal: WriteAheadLog, size: int) -> None:
        if wal is self.wal:
            with self._bytes_lock:
                self._wal_bytes = max(0, self._wal_bytes - size)


#: Batches up to this many lines try the fast pre-validator first.
FAST_PATH_MAX_LINES: Final = 256


def _safe_parse(lines: Sequence[bytes]) -> ParsedBatch:
    """Validate lines numbered from 0. Small batches go through the fast
    pre-validator; whatever it defers (and every big batch) goes through
    ``parse_lines``, the authority on rejections. Never raises."""
    if len(lines) > FAST_PATH_MAX_LINES:
        return _parse_lines_safely(lines)
    fast, deferred = fast_parse(lines)
    if not deferred:
        return ParsedBatch(fast)
    slow = _parse_lines_safely([lines[i] for i in deferred])
    renumber = pl.Series(deferred, dtype=pl.Int64)
    slow_events = slow.events.with_columns(
        renumber.gather(slow.events["line_number"]).alias("line_number")
    )
    rejections = [Rejection(deferred[r.line_number], r.line, r.reason) for r in slow.rejections]
    events = pl.concat([fast, slow_events]).sort("line_number") if fast.height else slow_events
    return ParsedBatch(events, rejections)


def _parse_lines_safely(lines: Sequence[bytes]) -> ParsedBatch:
    """``parse_lines`` that never raises: a line it chokes on becomes a rejection."""
    try:
        return parse_lines(lines, first_line_number=0)
    except Exception:
        log.exception("parse_lines raised; validating line by line")
    batches = []
    rejections: list[Rejection] = []
    for number, line in enumerate(lines):
        try:
            one = parse_lines([line], first_line_number=number)
        except Exception as exc:
            text = line.decode("utf-8", "replace")
            rejections.append(Rejection(number, text, f"cannot be validated: {exc}"))
            continue
        batches.append(one.events)
        rejections.extend(one.rejections)
    events = pl.concat(batches) if batches else parse_lines([]).events
    return ParsedBatch(events, rejections)
