"""`pkgflow import ...`: real formats into the store, idempotent, skips explained."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pkgflow.cli import main
from pkgflow.store import EventStore
from tests.conftest import CASES


def _events_by_type(store_dir: Path) -> dict[str, int]:
    frame = EventStore(store_dir).scan().group_by("event_type").len().collect()
    return dict(frame.iter_rows())


def test_import_excuses_snapshots_twice_adds_nothing(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "store")
    files = [str(CASES / f"excuses_{n}.yaml") for n in (2, 1, 3)]  # any order: sorted by date
    assert main(["--store", store, "import", "excuses", "--release", "plucky", *files]) == 0
    first = capsys.readouterr().out
    assert "stored" in first and "already stored" in first
    counts = _events_by_type(tmp_path / "store")
    assert counts["upload.accepted"] >= 1 and counts["test.finished"] >= 1
    assert main(["--store", store, "import", "excuses", "--release", "plucky", *files]) == 0
    assert "stored 0 new events" in capsys.readouterr().out
    assert _events_by_type(tmp_path / "store") == counts


def test_import_results_database_reports_skipped_rows(tmp_path: Path, capsys) -> None:
    database = tmp_path / "autopkgtest.db"
    with sqlite3.connect(database) as con:
        con.executescript((CASES / "autopkgtest_results.sql").read_text())
    assert main(["--store", str(tmp_path / "s"), "import", "autopkgtest-db", str(database)]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "bad run_id" in out
    stored = _events_by_type(tmp_path / "s")
    assert set(stored) == {"test.finished"}
    assert f"stored {stored['test.finished']} new events" in out


def test_import_queue_and_running_snapshots(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "s")
    at = "2025-03-14T21:47:00Z"
    assert main(["--store", store, "import", "queue-snapshot", str(CASES / "queued.json"), "--observed-at", at]) == 0
    assert "queue-depth samples" in capsys.readouterr().out
    assert main(["--store", store, "import", "running-snapshot", str(CASES / "running.json"), "--observed-at", at]) == 0
    counts = _events_by_type(tmp_path / "s")
    assert counts["test.requested"] >= 1 and counts["test.started"] >= 1
    assert EventStore(store).count("queue_depth") >= 1


def test_observed_at_without_zone_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--store", str(tmp_path), "import", "queue-snapshot", str(CASES / "queued.json"),
              "--observed-at", "2025-03-14T21:47:00"])
    assert "has no time zone" in capsys.readouterr().err


def test_missing_database_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["--store", str(tmp_path), "import", "autopkgtest-db", str(tmp_path / "no.db")]) == 1
    assert "no such file" in capsys.readouterr().err
