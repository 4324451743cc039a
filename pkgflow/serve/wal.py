"""A write-ahead log: append-only segments of checksummed records, fsynced on append.

Layout (one WAL per process, under the store)::

    <store>/_wal/<name>/LOCK                    flock held by the owning process
    <store>/_wal/<name>/wal-000000000001.log    segments, oldest first
    <store>/_wal/<name>/failed/                 segments the store refused (kept, never deleted)

A record is ``MAGIC (4 bytes) | length (u32 LE) | crc32 (u32 LE) | payload``; the CRC
covers the length and the payload. :meth:`WriteAheadLog.append` writes one record and
calls ``fdatasync`` before returning, so a caller may acknowledge as soon as it
returns: the record survives SIGKILL (and power loss) from then on. Reading stops at
the first torn or corrupt record of a segment: everything after it was never
acknowledged (a record is acknowledged only after its own fsync, and records are
written strictly in order).
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pkgflow.errors import StorageError
from pkgflow.store.store import fsync_dir

MAGIC: Final = b"PFW1"
_HEADER: Final = struct.Struct("<4sII")
#: Largest payload accepted in one record (a sanity bound for reading, too).
MAX_RECORD_BYTES: Final = 256 * 1024 * 1024
_SEGMENT_PREFIX: Final = "wal-"
_SEGMENT_SUFFIX: Final = ".log"


class WalLockedError(StorageError):
    """Another process owns this WAL directory."""

    transient = False


def wal_root(store_root: Path) -> Path:
    """The folder holding every process's WAL under a store."""
    return Path(store_root) / "_wal"


def _segment_name(number: int) -> str:
    return f"{_SEGMENT_PREFIX}{number:012d}{_SEGMENT_SUFFIX}"


def _segment_number(path: Path) -> int | None:
    name = path.name
    if not (name.startswith(_SEGMENT_PREFIX) and name.endswith(_SEGMENT_SUFFIX)):
        return None
    digits = name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def encode_record(payload: bytes) -> bytes:
    """One framed record: magic, length, CRC32 of (length + payload), payload."""
    if len(payload) > MAX_RECORD_BYTES:
        msg = f"WAL record of {len(payload):,} bytes exceeds {MAX_RECORD_BYTES:,}"
        raise StorageError(msg)
    length = struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(length))
    return _HEADER.pack(MAGIC, len(payload), crc) + payload


@dataclass
class SegmentScan:
    """The valid records of one segment, and whether it ended cleanly."""

    path: Path
    records: list[bytes]
    valid_bytes: int
    total_bytes: int
    problem: str | None = None  # why reading stopped early (torn tail, bad CRC)


def scan_segment(path: Path) -> SegmentScan:
    """Read the valid records of a segment, stopping at the first torn/corrupt one."""
    data = path.read_bytes()
    records: list[bytes] = []
    offset = 0
    problem = None
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            problem = f"torn record header at byte {offset}"
            break
        magic, length, crc = _HEADER.unpack_from(data, offset)
        if magic != MAGIC:
            problem = f"bad record magic at byte {offset}"
            break
        if length > MAX_RECORD_BYTES:
            problem = f"implausible record length {length} at byte {offset}"
            break
        start = offset + _HEADER.size
        if start + length > len(data):
            problem = f"torn record at byte {offset} ({length} bytes announced)"
            break
        payload = data[start : start + length]
        if zlib.crc32(payload, zlib.crc32(struct.pack("<I", length))) != crc:
            problem = f"CRC mismatch in record at byte {offset}"
            break
        records.append(payload)
        offset = start + length
    return SegmentScan(path, records, offset, len(data), problem)


class WriteAheadLog:
    """An exclusive, append-only, checksummed log in one folder.

    Opening takes a non-blocking ``flock`` on ``LOCK``: a second process opening the
    same folder gets :class:`WalLockedError` (give each process its own name). The
    kernel drops the lock when the owner dies, so a restart after SIGKILL reopens it.
    """

    def __init__(
        self, folder: Path, segment_bytes: int = 64 * 1024 * 1024, wait: float = 0.0
    ) -> None:
        self.folder = Path(folder)
        self.wait = wait
        self.segment_bytes = segment_bytes
        self._mutex = threading.Lock()
        self._lock_handle: int | None = None
        self._fd: int | None = None
        self._current: Path | None = None
        self._current_size = 0
        self._next_number = 1
        self.appended_records = 0
        self.appended_bytes = 0
        #: monotonic time of the oldest record not yet sealed-and-flushed, if any
        self.oldest_unflushed: float | None = None
        self._open()

    # -- lifecycle -----------------------------------------------------------

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = f"cannot open the WAL at {self.folder}: {exc.strerror}"
            raise StorageError(msg) from exc
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                # another process may be adopting this (orphaned) WAL right now: it
                # holds the lock only for that flush, so wait a little
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                error = exc
            os.close(fd)
            msg = (
                f"the WAL at {self.folder} is in use by another process; "
                "give this one its own --wal-name"
            )
            raise WalLockedError(msg) from error
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_handle = fd
        numbers = [n for p in self.segments() if (n := _segment_number(p)) is not None]
        self._next_number = max(numbers, default=0) + 1

    def close(self) -> None:
        """Close the current segment and release the lock (records stay on disk)."""
        with self._mutex:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
                self._current = None
            if self._lock_handle is not None:
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
                os.close(self._lock_handle)
                self._lock_handle = None

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Write one record and make it durable (write + fdatasync) before returning;
        return the bytes the record takes on disk."""
        record = encode_record(payload)
        with self._mutex:
            if self._lock_handle is None:
                msg = f"the WAL at {self.folder} is closed"
                raise StorageError(msg)
            if self._fd is None or self._current_size + len(record) > self.segment_bytes:
                self._rotate_locked()
            assert self._fd is not None
            try:
                written = os.write(self._fd, record)
                while written < len(record):  # regular files: only on ENOSPC-like trouble
                    written += os.write(self._fd, record[written:])
                os.fdatasync(self._fd)
            except OSError as exc:
                # the segment may now end in a partial record: never append after it
                self._seal_locked()
                msg = f"cannot write the WAL at {self.folder}: {exc.strerror}"
                raise StorageError(msg) from exc
            self._current_size += len(record)
            self.appended_records += 1
            self.appended_bytes += len(record)
            if self.oldest_unflushed is None:
                self.oldest_unflushed = time.monotonic()
            return len(record)

    def _rotate_locked(self) -> None:
        self._seal_locked()
        path = self.folder / _segment_name(self._next_number)
        self._next_number += 1
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
            fsync_dir(self.folder)  # the new name must be durable before any ack
        except OSError as exc:
            self._fd = None
            msg = f"cannot create a WAL segment in {self.folder}: {exc.strerror}"
            raise StorageError(msg) from exc
        self._current = path
        self._current_size = 0

    def _seal_locked(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._current = None
        self._current_size = 0

    def seal(self) -> list[Path]:
        """Close the current segment (new appends start a new one); return every
        sealed segment, oldest first: these may be flushed and deleted."""
        with self._mutex:
            self._seal_locked()
            self.oldest_unflushed = None
            return self.segments()

    # -- reading / housekeeping -------------------------------------------------

    def segments(self) -> list[Path]:
        """Segment files, oldest first (excluding the one being written)."""
        found = sorted(
            (p for p in self.folder.iterdir() if _segment_number(p) is not None),
            key=lambda p: _segment_number(p) or 0,
        )
        return [p for p in found if p != self._current]

    def size_bytes(self) -> int:
        """Bytes on disk in every segment (sealed and current)."""
        total = 0
        for path in self.folder.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def delete(self, segment: Path) -> None:
        """Remove a flushed segment (durably)."""
        segment.unlink(missing_ok=True)
        fsync_dir(self.folder)

    def set_aside(self, segment: Path, reason: str) -> Path:
        """Move a segment the store refused to ``failed/`` with a note; never deleted."""
        failed = self.folder / "failed"
        failed.mkdir(exist_ok=True)
        target = failed / f"{segment.name}.{time.time_ns()}"
        os.replace(segment, target)
        target.with_suffix(target.suffix + ".reason").write_text(reason + "\n")
        fsync_dir(self.folder)
        return target


def iter_wal_folders(store_root: Path) -> Iterator[Path]:
    """Every per-process WAL folder under a store."""
    root = wal_root(store_root)
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir():
                yield child
