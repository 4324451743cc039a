"""The results-database importer, on a small SQLite database in the real shape."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pkgflow.errors import IngestError
from pkgflow.ingest.autopkgtest_db import (
    ImportReport,
    autopkgtest_db_events,
    count_results,
    finished_event_id,
    run_finish_time,
)
from pkgflow.ingest.excuses import excuses_events
from tests.ingest.helpers import assert_valid
from tests.conftest import CASES


@pytest.fixture
def results_db(tmp_path: Path) -> Path:
    path = tmp_path / "autopkgtest.db"
    with sqlite3.connect(path) as con:
        con.executescript((CASES / "autopkgtest_results.sql").read_text())
    return path


def load(path: Path, **kwargs: object) -> tuple[pl.DataFrame, ImportReport, list[pl.DataFrame]]:
    report = ImportReport()
    frames = list(autopkgtest_db_events(path, report=report, **kwargs))  # type: ignore[arg-type]
    return pl.concat(frames) if frames else pl.DataFrame(), report, frames


def test_rows_become_test_finished_events(results_db: Path) -> None:
    events, report, _ = load(results_db)
    assert_valid(events)
    assert set(events["event_type"]) == {"test.finished"}
    assert set(events["source"]) == {"import:autopkgtest-db"}
    by_run = {row["run_id"]: row for row in events.iter_rows(named=True)}
    assert set(by_run) == {
        "20250310_090000_bbbbb@",
        "20250310_140000_eeeee@",
        "20231105_101010@",
        "20240101_000000_12345@",
        "20250312_235959_f00d1@",
        "20250311_000000_0a0b0@",
    }
    bar = by_run["20250310_090000_bbbbb@"]
    assert bar["occurred_at"] == datetime(2025, 3, 10, 9, 0, 0, tzinfo=UTC)
    assert (bar["release"], bar["arch"], bar["testsrc"], bar["test_version"]) == (
        "plucky",
        "amd64",
        "bar",
        "2.0",
    )
    assert bar["triggers"] == ["foo/1.0-1", "libx/5-1"]
    assert (bar["exitcode"], bar["outcome"], bar["duration"], bar["requester"]) == (
        4,
        "fail",
        300,
        None,
    )
    old = by_run["20231105_101010@"]
    assert old["occurred_at"] == datetime(2023, 11, 5, 10, 10, 10, tzinfo=UTC)
    assert (old["outcome"], old["requester"]) == ("pass", "someone")
    assert by_run["20240101_000000_12345@"]["outcome"] == "tmpfail"
    linux = by_run["20250312_235959_f00d1@"]
    assert linux["triggers"] == ["linux/6.14.0-10.10", "linux-meta/6.14.0.10.10"]
    assert (linux["outcome"], linux["duration"]) == ("denylisted", 0)
    odd = by_run["20250311_000000_0a0b0@"]
    assert (odd["exitcode"], odd["outcome"], odd["test_version"]) == (1, "error", None)
    assert report.read == 16
    assert report.emitted == Counter({"test.finished": 6})


def test_malformed_rows_are_skipped_with_reasons(results_db: Path) -> None:
    _, report, _ = load(results_db)
    assert report.skipped == Counter(
        {
            "bad run_id (want YYYYMMDD_HHMMSS[_hex]@)": 2,
            "exitcode missing or not an integer 0-255": 3,
            "no triggers": 1,
            "trigger not of the form source/version": 1,
            "negative duration": 1,
            "unknown arch `sparc`": 1,
            "result row whose test_id has no row in table test": 1,
        }
    )
    assert report.examples["bad run_id (want YYYYMMDD_HHMMSS[_hex]@)"] == [
        "test_id 1: plucky/amd64/bar garbage",
        "test_id 1: plucky/amd64/bar 20251399_000000_abcde@",
    ]
    assert any("skipped 3: exitcode missing" in line for line in report.lines())


def test_streams_in_batches_with_the_same_result(results_db: Path) -> None:
    whole, _, frames = load(results_db, batch_size=50_000)
    calls: list[int] = []
    small, report, small_frames = load(results_db, batch_size=3, progress=calls.append)
    assert len(frames) == 1
    assert len(small_frames) > 1
    assert all(frame.height <= 3 for frame in small_frames)
    assert calls == [3, 3, 3, 3, 3, 1]
    assert sum(calls) == count_results(results_db) == report.read
    assert small.sort("event_id").equals(whole.sort("event_id"))


def test_reimport_is_idempotent(results_db: Path) -> None:
    first, _, _ = load(results_db)
    second, _, _ = load(results_db)
    assert first["event_id"].to_list() == second["event_id"].to_list()
    assert first["event_id"].is_unique().all()


def test_filters_by_release_and_finish_time(results_db: Path) -> None:
    noble, _, _ = load(results_db, releases=["noble"])
    assert noble["run_id"].to_list() == ["20240101_000000_12345@"]
    recent, _, _ = load(results_db, since=datetime(2025, 3, 11, tzinfo=UTC))
    assert sorted(recent["run_id"]) == ["20250311_000000_0a0b0@", "20250312_235959_f00d1@"]


def test_same_run_same_id_as_the_excuses_importer(results_db: Path) -> None:
    db, _, _ = load(results_db)
    excuses = pl.concat(list(excuses_events([CASES / "excuses_1.yaml", CASES / "excuses_2.yaml"])))
    from_excuses = excuses.filter(pl.col("event_type") == "test.finished")
    shared = set(db["event_id"]) & set(from_excuses["event_id"])
    expected = {
        finished_event_id("plucky", "amd64", "bar", "20250310_090000_bbbbb@"),
        finished_event_id("plucky", "arm64", "foo", "20250310_140000_eeeee@"),
        finished_event_id("plucky", "amd64", "zed", "20231105_101010@"),
    }
    assert shared == expected


@pytest.mark.parametrize(
    ("run_id", "finish"),
    [
        ("20250314_200258_c71a4@", datetime(2025, 3, 14, 20, 2, 58, tzinfo=UTC)),
        ("20231105_101010@", datetime(2023, 11, 5, 10, 10, 10, tzinfo=UTC)),
        ("20251399_000000_abcde@", None),
        ("20250314_200258_c71a4", None),
        ("latest", None),
    ],
)
def test_run_finish_time(run_id: str, finish: datetime | None) -> None:
    assert run_finish_time(run_id) == finish


def test_unreadable_databases_raise_ingest_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.db"
    with pytest.raises(IngestError, match="no such file") as caught:
        list(autopkgtest_db_events(missing))
    assert str(missing) in str(caught.value)

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(IngestError, match="cannot read as SQLite") as caught:
        list(autopkgtest_db_events(garbage))
    assert str(garbage) in str(caught.value)

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE test (id INTEGER)")
    with pytest.raises(IngestError, match=r"not an autopkgtest results database.*result"):
        list(autopkgtest_db_events(other))
