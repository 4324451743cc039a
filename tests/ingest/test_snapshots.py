"""queued.json and running.json importers, on hand-made files in the real shapes."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pkgflow.errors import IngestError
from pkgflow.events.schema import SAMPLE_POLARS_SCHEMA
from pkgflow.ingest.autopkgtest_db import EVENT_FRAME_SCHEMA, ImportReport
from pkgflow.ingest.snapshots import (
    parse_submit_time,
    queue_snapshot_events,
    running_snapshot_events,
)
from tests.ingest.helpers import assert_valid
from tests.conftest import CASES

OBSERVED = datetime(2025, 3, 10, 11, 10, tzinfo=UTC)


def by_testsrc(frame: pl.DataFrame) -> dict[str, dict]:
    return {row["testsrc"]: row for row in frame.iter_rows(named=True)}


def test_queued_requests_become_test_requested() -> None:
    report = ImportReport()
    events, _ = queue_snapshot_events(CASES / "queued.json", OBSERVED, report=report)
    assert_valid(events)
    assert set(events["event_type"]) == {"test.requested"}
    assert set(events["source"]) == {"import:queued"}
    rows = by_testsrc(events)
    assert set(rows) == {"bar", "baz", "qux", "foo"}
    bar = rows["bar"]
    assert (bar["release"], bar["arch"], bar["queue"], bar["requester"]) == (
        "plucky",
        "amd64",
        "ubuntu",
        None,
    )
    assert bar["occurred_at"] == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    baz = rows["baz"]
    assert baz["triggers"] == ["foo/1.0-1", "libx/5-1"]  # sorted
    assert (baz["requester"], baz["occurred_at"]) == (
        "someone",
        datetime(2025, 3, 10, 11, 5, tzinfo=UTC),
    )
    assert rows["qux"]["queue"] == "huge"
    ppa = rows["foo"]
    assert (ppa["release"], ppa["queue"]) == ("noble", "ppa")
    assert ppa["occurred_at"] == OBSERVED  # no submit-time: the observation bounds it
    assert report.read == 8
    assert report.skipped == Counter(
        {
            "private job (no details published)": 1,
            "unparsable params JSON": 1,
            "unknown arch": 1,
            "bad submit-time (want YYYY-MM-DD HH:MM:SS[ +0000])": 1,
            "no triggers in params": 1,
        }
    )
    assert report.examples["unparsable params JSON"][0].startswith("ubuntu/plucky/amd64 #3 broken")
    assert report.emitted == Counter({"test.requested": 4, "sample": 5})


def test_queue_depth_samples() -> None:
    _, samples = queue_snapshot_events(CASES / "queued.json", OBSERVED)
    expected_schema = {
        c: t for c, t in SAMPLE_POLARS_SCHEMA.items() if c not in ("seq", "recorded_at")
    }
    assert dict(samples.schema) == expected_schema
    assert set(samples.select("queue", "release", "arch", "size").iter_rows()) == {
        ("ubuntu", "plucky", "amd64", 4),
        ("ubuntu", "plucky", "arm64", 0),
        ("huge", "plucky", "arm64", 2),
        ("ppa", "noble", "amd64", 1),
        ("upstream", "plucky", "s390x", 1),
    }
    assert set(samples["observed_at"]) == {OBSERVED}
    assert set(samples["source"]) == {"import:queued"}
    assert samples["sample_id"].is_unique().all()
    # another observation gives other samples; the same one, the same ids
    _, later = queue_snapshot_events(CASES / "queued.json", OBSERVED + timedelta(seconds=20))
    _, again = queue_snapshot_events(CASES / "queued.json", OBSERVED)
    assert not set(later["sample_id"]) & set(samples["sample_id"])
    assert again.equals(samples)


def test_a_request_seen_in_many_snapshots_is_one_event() -> None:
    first, _ = queue_snapshot_events(CASES / "queued.json", OBSERVED)
    # 20 s later bar still waits; its submit-time is now written with " +0000"
    later, _ = queue_snapshot_events(CASES / "queued_later.json", OBSERVED + timedelta(seconds=20))
    bar_ids = {by_testsrc(first)["bar"]["event_id"], by_testsrc(later)["bar"]["event_id"]}
    assert len(bar_ids) == 1
    assert set(later["event_id"]) <= set(first["event_id"]) | bar_ids


def test_running_jobs_become_test_started() -> None:
    report = ImportReport()
    observed = datetime(2025, 3, 10, 11, 10, 45, tzinfo=UTC)
    events = running_snapshot_events(CASES / "running.json", observed, report=report)
    assert_valid(events)
    assert set(events["source"]) == {"import:running"}
    started = events.filter(pl.col("event_type") == "test.started")
    rows = by_testsrc(started)
    assert set(rows) == {"baz", "systemd"}
    assert rows["baz"]["occurred_at"] == observed - timedelta(seconds=125)
    assert rows["baz"]["triggers"] == ["foo/1.0-1", "libx/5-1"]
    assert rows["systemd"]["occurred_at"] == observed - timedelta(seconds=3600.5)
    assert rows["systemd"]["arch"] == "arm64"
    # the params carry submit-time: the request, with the id the queue importer gives it
    requested = events.filter(pl.col("event_type") == "test.requested")
    queued, _ = queue_snapshot_events(CASES / "queued.json", OBSERVED)
    assert requested["event_id"].to_list() == [by_testsrc(queued)["baz"]["event_id"]]
    assert requested["occurred_at"].to_list() == [datetime(2025, 3, 10, 11, 5, tzinfo=UTC)]
    assert report.skipped == Counter(
        {"unparsable params JSON": 1, "elapsed seconds missing or negative": 1}
    )
    assert report.read == 4
    # the same job in a later snapshot keeps its id
    later = running_snapshot_events(CASES / "running.json", observed + timedelta(seconds=20))
    assert later["event_id"].to_list() == events["event_id"].to_list()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-10 11:00:00", datetime(2025, 3, 10, 11, 0, tzinfo=UTC)),
        ("2025-03-10 11:00:00+0000", datetime(2025, 3, 10, 11, 0, tzinfo=UTC)),
        ("2025-03-10 11:00:00 +0000", datetime(2025, 3, 10, 11, 0, tzinfo=UTC)),
        ("2025-03-10 13:00:00 +0200", datetime(2025, 3, 10, 11, 0, tzinfo=UTC)),
    ],
)
def test_submit_time_formats(text: str, expected: datetime) -> None:
    assert parse_submit_time(text) == expected


@pytest.mark.parametrize("bad", ["yesterday", "2025-03-10", "10/03/2025 11:00:00"])
def test_bad_submit_time(bad: str) -> None:
    with pytest.raises(ValueError, match="submit-time"):
        parse_submit_time(bad)


@pytest.mark.parametrize(
    ("importer", "content", "message"),
    [
        ("queued", None, "no such file"),
        ("queued", b"{not json", "not valid JSON"),
        ("queued", b'{"releases": []}', "not a queued.json"),
        ("running", None, "no such file"),
        ("running", b"[1, 2]", "not a running.json"),
    ],
)
def test_unreadable_snapshots_raise_ingest_error(
    tmp_path: Path, importer: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / f"{importer}.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IngestError, match=message) as caught:
        if importer == "queued":
            queue_snapshot_events(path, OBSERVED)
        else:
            running_snapshot_events(path, OBSERVED)
    assert str(path) in str(caught.value)


def test_empty_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "queued.json"
    path.write_text(json.dumps({"releases": [], "arches": [], "queues": {}}))
    events, samples = queue_snapshot_events(path, OBSERVED)
    assert events.height == samples.height == 0
    assert dict(events.schema) == EVENT_FRAME_SCHEMA
    running = tmp_path / "running.json"
    running.write_text("{}")
    assert running_snapshot_events(running, OBSERVED).height == 0
