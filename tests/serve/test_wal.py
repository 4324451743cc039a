"""The write-ahead log and the ingestor's recovery (in-process, real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pkgflow.events import parse_lines
from pkgflow.serve.pipeline import Ingestor
from pkgflow.serve.wal import WalLockedError, WriteAheadLog, encode_record, scan_segment
from pkgflow.store import EventStore
from tests.serve.conftest import event


def test_records_round_trip_and_torn_tail_is_dropped(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "w")
    payloads = [f"record {i}".encode() * (i + 1) for i in range(5)]
    for payload in payloads:
        wal.append(payload)
    (segment,) = wal.seal()
    assert scan_segment(segment).records == payloads
    data = segment.read_bytes()
    for cut in range(len(data) - 1, len(data) - len(encode_record(payloads[-1])), -7):
        segment.write_bytes(data[:cut])
        scan = scan_segment(segment)
        assert scan.records == payloads[:-1] and scan.problem
    wal.close()


def test_corrupt_record_stops_reading(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "w")
    for i in range(3):
        wal.append(b"x" * 100 + bytes([i]))
    (segment,) = wal.seal()
    data = bytearray(segment.read_bytes())
    data[len(encode_record(b"x" * 101)) + 20] ^= 0xFF  # flip a bit in record 2
    segment.write_bytes(bytes(data))
    scan = scan_segment(segment)
    assert len(scan.records) == 1 and "CRC" in (scan.problem or "")
    segment.write_bytes(b"\0" * 64)  # zeroed blocks are not records
    assert scan_segment(segment).records == []
    wal.close()


def test_one_owner_per_wal_folder(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "w")
    with pytest.raises(WalLockedError, match="in use by another process"):
        WriteAheadLog(tmp_path / "w")
    wal.close()
    WriteAheadLog(tmp_path / "w").close()


def _frame(events: list[dict]) -> object:
    return parse_lines([json.dumps(e).encode() for e in events]).events


def test_recovery_replays_once_even_if_a_flush_is_repeated(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "store")
    events = [event(i) for i in range(30)]
    crashed = Ingestor(store, "t", parse_workers=0).start()
    crashed.commit(_frame(events[:20]))
    crashed.commit(_frame(events[10:]))  # overlapping: a client retry
    segments = list(crashed.wal_folder.glob("wal-*.log"))
    saved = {p: p.read_bytes() for p in segments}
    crashed.wal.close()  # "SIGKILL": no flush; the lock goes away with the process
    with Ingestor(store, "t", parse_workers=0) as recovered:
        assert recovered.metrics.recovered_segments == 1
    ids = store.scan().select("event_id").collect()["event_id"].to_list()
    assert sorted(ids) == sorted(e["event_id"] for e in events)
    for path, data in saved.items():  # a crash after append, before delete: replay again
        path.write_bytes(data)
    with Ingestor(store, "t", parse_workers=0) as again:
        assert again.metrics.stored == 0 and again.metrics.duplicates == 40
    assert store.scan().select("event_id").collect().height == 30


def test_orphaned_wal_of_another_name_is_adopted(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "store")
    dead = Ingestor(store, "dead-one", parse_workers=0).start()
    dead.commit(_frame([event(1), event(2)]))
    dead.wal.close()
    with Ingestor(store, "other", parse_workers=0):
        pass
    assert store.scan().collect().height == 2
    assert not list((store.root / "_wal" / "dead-one").glob("wal-*.log"))


def test_submit_groups_requests_and_numbers_lines_per_request(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "store")
    with Ingestor(store, "t") as ingestor:
        futures = [
            ingestor.submit([json.dumps(event(i)).encode(), b"nope"], f"req {i}") for i in range(20)
        ]
        outcomes = [f.result(timeout=30) for f in futures]
        assert all(o.accepted == 1 and [e.line for e in o.errors] == [2] for o in outcomes)
        assert ingestor.metrics.wal_records < 20  # group commit
    assert store.scan().collect().height == 20
