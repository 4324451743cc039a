"""connect(): time travel, windows and partition pruning, incomplete histories, old
event versions, Polars frames, status data, and the `status` / `sql` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pkgflow.cli import main
from pkgflow.errors import ReplayError
from pkgflow.ingest import ingest_jsonl
from pkgflow.replay import PUBLIC_VIEWS, connect, frames, materialize
from pkgflow.replay.query import lock_down, run_query, views_needed
from pkgflow.replay.status import render_status, status_data
from pkgflow.store import EventStore
from tests.conftest import CASES
from tests.replay.helpers import History, at, rows
from tests.replay.test_queries import reference_history


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    return reference_history().store(tmp_path_factory.mktemp("reference") / "store")


def _source_files(con: duckdb.DuckDBPyConnection) -> str:
    (sql,) = con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = '_events'"
    ).fetchone()  # type: ignore[misc]
    return str(sql)


# -- time travel and windows --------------------------------------------------------


def test_as_of_replays_the_past_and_reads_only_partitions_up_to_it(
    reference: EventStore,
) -> None:
    con = connect(reference, as_of=at(6))
    assert "date=2025-03-10" in _source_files(con)
    past = connect(reference, as_of="2025-03-09T23:00:00Z")
    assert "date=2025-03-10" not in _source_files(past)
    assert "date=2025-03-09" in _source_files(past)

    glibc = rows(con, "SELECT * FROM uploads WHERE package = 'glibc' AND release = 'plucky'")[0]
    assert (glibc["state"], glibc["tests_total"], glibc["tests_done"]) == ("testing", 4, 3)
    assert glibc["verdict"] == "REJECTED_TEMPORARILY" and glibc["migrated_at"] is None
    running = rows(con, "SELECT * FROM in_flight WHERE kind = 'test' AND state = 'running'")
    assert [(r["testsrc"], r["arch"], r["elapsed_s"]) for r in running] == [
        ("python3", "arm64", 0.0)
    ]
    # the same question now: glibc migrated, python3 retried and passed
    now = connect(reference)
    assert rows(now, "SELECT state FROM uploads WHERE package = 'glibc' AND release = 'plucky'") == [
        {"state": "migrated"}
    ]


def test_days_window_prunes_partitions_and_keeps_incomplete_runs(
    reference: EventStore,
) -> None:
    # the clock is at(12) = 2025-03-10 12:00; 14 hours back is 2025-03-09 22:00
    con = connect(reference, days=14 / 24)
    assert "date=2025-03-09" in _source_files(con)
    assert rows(con, "SELECT count(*) AS n FROM events WHERE occurred_at <= TIMESTAMPTZ "
                "'2025-03-09 22:00:00+00'") == [{"n": 0}]
    narrow = connect(reference, days=0.25)  # from 06:00 on the 10th
    assert "date=2025-03-09" not in _source_files(narrow)
    # python3 arm64 was requested at 02:30 and started at 06:00, both outside (the window
    # is open at its start); its finish at 07:00 opens the run, started = finish - duration
    run = rows(narrow, "SELECT * FROM test_runs WHERE testsrc = 'python3' AND arch = 'arm64' "
               "ORDER BY attempt")
    assert [(r["attempt"], r["requested_at"], r["started_at"], r["state"]) for r in run] == [
        (1, None, at(6), "finished"),
        (2, at(8), at(9), "finished"),
    ]
    assert run[0]["queue_wait_s"] is None and run[0]["run_time_s"] == 3600.0
    # uploads accepted before the window are first seen at their first event inside
    glibc = rows(narrow, "SELECT * FROM uploads WHERE package = 'glibc' AND release = 'plucky'")
    assert glibc[0]["accepted_at"] is None and glibc[0]["first_seen"] == at(7)


def test_bad_window_and_time_are_replay_errors(reference: EventStore) -> None:
    with pytest.raises(ReplayError, match="positive"):
        connect(reference, days=0)
    with pytest.raises(ReplayError, match="ISO 8601"):
        connect(reference, as_of="yesterday")
    with pytest.raises(ReplayError, match="unknown views"):
        materialize(connect(reference), ["uplods"])


def test_an_empty_store_gives_empty_views(tmp_path: Path) -> None:
    con = connect(tmp_path / "nothing", materialize=True)
    for name in PUBLIC_VIEWS:
        assert con.execute(f"SELECT count(*) FROM {name}").fetchone() == (0,)
    data = status_data(con)
    assert data["as_of"] is None and data["counts"]["tests_running"] == 0


# -- incomplete histories and old versions ------------------------------------------------


def test_incomplete_histories(tmp_path: Path) -> None:
    h = History()
    t = ["p/1"]
    h.start("a", "amd64", t, 1)  # history begins mid-run: no request
    h.finish("a", "amd64", t, 2, run_id="r1", duration=1800)
    h.finish("b", "amd64", t, 3, run_id="r2", duration=600)  # no request, no start
    h.publish("b", "amd64", t, 4, run_id="r-unknown")  # names no run: ignored
    h.request("c", "amd64", t, 1)
    h.request("c", "amd64", t, 2)  # a second request: the first run is abandoned
    h.start("c", "amd64", t, 3)
    h.drop("d", "amd64", t, 5)  # dropped, never seen queued
    con = connect(h.store(tmp_path / "store"), materialize=True)
    runs = {
        (r["testsrc"], r["attempt"]): r
        for r in rows(con, "SELECT * FROM test_runs ORDER BY testsrc, attempt")
    }
    a = runs[("a", 1)]
    assert (a["state"], a["requested_at"], a["started_at"], a["run_time_s"]) == (
        "finished", None, at(1), 3600.0
    )  # observed start and finish win over the reported duration
    b = runs[("b", 1)]
    assert (b["started_at"], b["run_time_s"], b["published_at"]) == (
        at(3) - timedelta(seconds=600), 600.0, None
    )
    assert runs[("c", 1)]["state"] == "abandoned" and runs[("c", 1)]["abandoned_at"] == at(2)
    assert runs[("c", 2)]["state"] == "running" and runs[("c", 2)]["attempts"] == 2
    assert runs[("d", 1)]["state"] == "dropped" and runs[("d", 1)]["requested_at"] is None
    upload = rows(con, "SELECT * FROM uploads")
    assert [(u["package"], u["version"], u["state"], u["accepted_at"]) for u in upload] == [
        ("p", "1", "testing", None)
    ]
    stages = rows(con, "SELECT stage, start_at, end_at FROM stage_intervals "
                  "WHERE entity_type = 'test' AND package = 'c' ORDER BY start_at, stage")
    assert stages == [
        {"stage": "queued", "start_at": at(1), "end_at": at(2)},
        {"stage": "queued", "start_at": at(2), "end_at": at(3)},
        {"stage": "running", "start_at": at(3), "end_at": None},
    ]


def test_version_1_events_still_replay(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "store")
    report = ingest_jsonl(store, [CASES / "events_v1.jsonl"])
    assert report.rejected == 0
    con = connect(store, materialize=True)
    runs = rows(con, "SELECT * FROM test_runs ORDER BY testsrc")
    autopilot, unity = runs
    assert (autopilot["state"], autopilot["outcome"], autopilot["queue_wait_s"]) == (
        "finished", "pass", 300.25
    )
    assert autopilot["pickup_delay_s"] == 6000.0
    assert (unity["state"], unity["triggers"]) == (
        "queued", ["glib2.0/2.84.0-1", "gtk+3.0/3.24.49-1"]
    )
    uploads = {u["package"]: u for u in rows(con, "SELECT * FROM uploads")}
    assert uploads["glib2.0"]["state"] == "migrated"
    assert uploads["glib2.0"]["tests_total"] == 2
    assert (uploads["gtk+3.0"]["state"], uploads["gtk+3.0"]["tests_queued"]) == ("testing", 1)


# -- Polars and status ------------------------------------------------------------------------


def test_frames_are_lazy_polars_views(reference: EventStore) -> None:
    lazy = frames(reference)
    assert set(lazy) == set(PUBLIC_VIEWS)
    assert all(isinstance(f, pl.LazyFrame) for f in lazy.values())
    passed = (
        lazy["test_runs"].filter(pl.col("outcome") == "pass").select("testsrc", "arch").collect()
    )
    assert passed.height == 5
    uploads = lazy["uploads"].collect()
    assert uploads.height == 8 and uploads.schema["first_seen"] == pl.Datetime("us", "UTC")


def test_status_data_is_json_and_in_order(reference: EventStore) -> None:
    con = connect(reference, materialize=True)
    data = status_data(con, limit=3)
    json.dumps(data)  # serialisable as is
    assert data["as_of"] == "2025-03-10T12:00:00+00:00"
    assert data["counts"] == {"uploads_in_flight": 5, "tests_running": 1, "tests_queued": 2}
    assert [(q["testsrc"], q["position"], q["queue_size"]) for q in data["queued"]] == [
        ("foo", 1, 2), ("bar", 2, 2)
    ]
    recent = [(r["testsrc"], r["finished_at"]) for r in data["recent_results"]]
    assert recent == [  # the last three, oldest first
        ("perl", "2025-03-10T06:00:00+00:00"),
        ("python3", "2025-03-10T07:00:00+00:00"),
        ("python3", "2025-03-10T10:00:00+00:00"),
    ]
    assert [u["package"] for u in data["uploads"]] == ["glibc", "perl", "sphinx"]
    foo_only = status_data(con, source="foo")
    assert foo_only["counts"] == {"uploads_in_flight": 1, "tests_running": 0, "tests_queued": 2}
    assert [(q["arch"], q["queue"], q["queued"]) for q in foo_only["queues"]] == [
        ("amd64", "ubuntu", 2)
    ]
    noble = status_data(con, release="noble")
    assert noble["counts"]["uploads_in_flight"] == 1 and noble["queued"] == []


def test_render_status_prints_every_section(reference: EventStore) -> None:
    from rich.console import Console

    console = Console(record=True, width=200)
    render_status(status_data(connect(reference, materialize=True)), console)
    text = console.export_text()
    for needle in ("uploads in flight", "running", "queued", "latest results", "perl/5.40-1",
                   "missing builds: amd64", "REJECTED_BLOCKED_BY_ANOTHER_ITEM by perl"):
        assert needle in text


# -- read-only SQL and the commands ----------------------------------------------------------


def test_sql_is_read_only(reference: EventStore, tmp_path: Path) -> None:
    con = connect(reference)
    lock_down(con)
    target = tmp_path / "leak.csv"
    for statement in (
        f"COPY (SELECT * FROM events) TO '{target}'",
        "CREATE TABLE x AS SELECT 1",
        "ATTACH 'x.db'",
        "SET threads = 1",
        "INSTALL httpfs",
        "SELECT 1; SELECT 2",
    ):
        with pytest.raises(ReplayError):
            run_query(con, statement)
    assert not target.exists()
    with pytest.raises(duckdb.Error):  # the configuration is locked
        con.execute("SET autoload_known_extensions = true")
    frame = run_query(con, "SELECT count(*) AS n FROM test_runs WHERE state = 'queued'")
    assert frame.to_dicts() == [{"n": 2}]
    assert run_query(con, "DESCRIBE uploads").height > 30


def test_sql_typo_lists_the_views(reference: EventStore) -> None:
    con = connect(reference)
    with pytest.raises(ReplayError) as error:
        run_query(con, "SELECT * FROM test_run")
    message = str(error.value)
    assert "test_runs" in message and "views:" in message
    assert "in_flight(kind, release, state" in message


def test_status_and_sql_commands(
    reference: EventStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", str(reference.root)]
    assert main([*store, "status", "--source", "perl"]) == 0
    shown = capsys.readouterr().out
    assert "perl/5.40-1" in shown and "1 tests running" in shown

    assert main([*store, "status", "--json", "--as-of", "2025-03-10T06:00:00Z"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["as_of"] == "2025-03-10T06:00:00+00:00"

    query = "SELECT arch, count(*) AS runs FROM test_runs GROUP BY arch ORDER BY arch"
    assert main([*store, "sql", query, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["arch,runs", "amd64,7", "arm64,6"]
    out = tmp_path / "runs.parquet"
    assert main([*store, "sql", query, "--format", "parquet", "--out", str(out)]) == 0
    assert pl.read_parquet(out).to_dicts() == [
        {"arch": "amd64", "runs": 7}, {"arch": "arm64", "runs": 6}
    ]
    assert main([*store, "sql", "SELECT * FROM nothing"]) == 1
    failure = capsys.readouterr().err
    assert "nothing" in failure and "views:" in failure and "Traceback" not in failure
    assert main([*store, "sql", "DROP VIEW events"]) == 1
    assert "read-only" in capsys.readouterr().err


def test_materialised_and_lazy_views_agree(reference: EventStore) -> None:
    lazy, built = connect(reference), connect(reference, materialize=True)
    for name in ("test_runs", "uploads", "in_flight", "stage_intervals"):
        order = "ALL"
        a = lazy.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()
        b = built.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall()
        assert a == b, name


def test_clock_without_as_of_reads_only_the_newest_partition(reference: EventStore) -> None:
    con = connect(reference)
    assert con.execute("SELECT as_of FROM replay_clock").fetchone() == (
        datetime(2025, 3, 10, 12, tzinfo=UTC),
    )


def test_sql_materialises_only_the_projections_a_query_names() -> None:
    assert views_needed("SELECT count(*) FROM events") == ()
    assert views_needed("select * from TEST_RUNS") == ("_test_keys", "_run_skeletons", "test_runs")
    needed = views_needed("SELECT * FROM in_flight JOIN queue_depth USING (arch)")
    assert needed[-3:] == ("_uploads_core", "uploads", "in_flight") and len(needed) == 8


def test_files_written_before_test_keys_were_stored_replay_the_same(
    reference: EventStore, tmp_path: Path
) -> None:
    import shutil

    import pyarrow.parquet as pq

    old = EventStore(tmp_path / "old")
    shutil.copytree(reference.root, old.root)
    files = old.files("events")
    for path in files[::2]:  # every other file as an earlier pkgflow wrote it: no test_key
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["test_key"]), path)
    with_keys = ["test_key" in pq.read_schema(p).names for p in files]
    assert True in with_keys and False in with_keys
    for name in ("test_runs", "uploads", "in_flight"):
        query = f"SELECT * FROM {name} ORDER BY ALL"
        assert connect(old).execute(query).fetchall() == connect(reference).execute(
            query
        ).fetchall(), name
