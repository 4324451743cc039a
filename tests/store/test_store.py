"""The Parquet event store: round trips through DuckDB and Polars, idempotence,
ordering, old files, compaction and retention. Real files, read back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgflow.errors import SchemaError
from pkgflow.store import EventStore
from pkgflow.store.layout import data_files
from tests.conftest import finished_event


def test_append_then_read_back_with_polars_duckdb_and_a_plain_glob(store: EventStore) -> None:
    events = [finished_event(i) for i in range(500)]  # 7-minute steps: 3 days
    result = store.append(events)
    assert (result.accepted, result.duplicates) == (500, 0)

    frame = store.scan().sort("seq").collect()
    assert frame["event_id"].to_list() == [e["event_id"] for e in events]
    assert frame["seq"].to_list() == list(range(1, 501))
    assert frame.schema["occurred_at"] == pl.Datetime("us", "UTC")

    con = duckdb.connect()
    assert store.relation(con).aggregate("count(*)").fetchall() == [(500,)]
    # any DuckDB user can read the layout directly, with the hive partition column
    glob = f"{store.root}/events/date=*/*.parquet"
    rows = con.sql(
        f"SELECT date, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "GROUP BY date ORDER BY date"
    ).fetchall()
    assert [count for _, count in rows] == [206, 206, 88]
    assert [str(day) for day, _ in rows] == ["2025-03-01", "2025-03-02", "2025-03-03"]


def test_parquet_files_are_zstd_with_dictionary_strings(store: EventStore) -> None:
    store.append([finished_event(i) for i in range(10)])
    meta = pq.ParquetFile(store.files()[0]).metadata
    column = meta.row_group(0).column(meta.schema.names.index("arch"))
    assert column.compression == "ZSTD"
    assert "RLE_DICTIONARY" in column.encodings


def test_appending_the_same_events_again_stores_nothing(store: EventStore) -> None:
    events = [finished_event(i) for i in range(300)]
    store.append(events)
    again = store.append(events)
    assert (again.accepted, again.duplicates) == (0, 300)
    # a fresh handle (another process) sees the stored ids too
    third = EventStore(store.root).append(events[:10] + [finished_event(300)])
    assert (third.accepted, third.duplicates) == (1, 10)
    assert store.count() == 301


def test_duplicates_inside_one_batch_are_dropped(store: EventStore) -> None:
    result = store.append([finished_event(1), finished_event(1), finished_event(2)])
    assert (result.accepted, result.duplicates) == (2, 1)


def test_equal_timestamps_keep_the_senders_order_through_seq(store: EventStore) -> None:
    moment = "2025-03-14T12:00:00Z"
    events = [finished_event(i, occurred_at=moment) for i in (5, 3, 9, 1)]
    store.append(events)
    ordered = store.scan().sort("occurred_at", "seq").collect()["event_id"].to_list()
    assert ordered == ["evt-5", "evt-3", "evt-9", "evt-1"]


def test_an_invalid_record_raises_and_stores_nothing(store: EventStore) -> None:
    with pytest.raises(SchemaError, match="unknown arch"):
        store.append([finished_event(0), finished_event(1, arch="vax")])
    assert store.count() == 0


def test_old_files_with_fewer_columns_stay_readable(store: EventStore) -> None:
    store.append([finished_event(0)])
    # a file written by an older pkgflow: no worker/detail/occurred_after columns
    old = pa.table(
        {
            "event_id": ["old-1"],
            "event_type": ["test.finished"],
            "schema_version": pa.array([2], pa.int16()),
            "occurred_at": pa.array([datetime(2025, 3, 1, 5, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "recorded_at": pa.array([datetime(2025, 3, 1, 6, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "seq": pa.array([1000], pa.int64()),
            "source": ["old"],
            "release": ["plucky"],
            "testsrc": ["ancient"],
            "arch": ["amd64"],
            "triggers": [["x/1"]],
            "exitcode": pa.array([0], pa.int16()),
        }
    )
    pq.write_table(old, store.root / "events/date=2025-03-01/part-000000001000-000000001000.parquet")
    frame = store.scan().sort("seq").collect()
    assert frame["event_id"].to_list() == ["evt-0", "old-1"]
    assert frame["worker"].to_list() == [None, None]
    con = duckdb.connect()
    rows = store.relation(con).filter("event_id = 'old-1'").select("testsrc, detail").fetchall()
    assert rows == [("ancient", None)]
    # compaction merges old and new files into the current schema
    assert store.compact(before=date(2025, 3, 2)).files_after == 1
    compacted = store.scan().sort("seq").collect()
    assert compacted["event_id"].to_list() == ["evt-0", "old-1"]
    assert compacted["testsrc"].to_list() == ["pkg0", "ancient"]
    # and stores the test key the old file lacked, as an append would have
    assert frame["test_key"][1] is None
    fresh = EventStore(store.root.parent / "fresh")
    fresh.append(frame.filter(pl.col("event_id") == "old-1").drop("test_key"))
    assert compacted["test_key"][1] == fresh.scan().collect()["test_key"][0] is not None


def test_compaction_merges_closed_partitions_and_drops_duplicates(store: EventStore) -> None:
    for start in range(0, 400, 50):  # 8 appends -> several files per day
        store.append([finished_event(i) for i in range(start, start + 50)])
    day = store.root / "events/date=2025-03-01"
    before = {p.name for p in day.iterdir()}
    assert len(before) > 1
    expected = store.scan().sort("event_id").collect()

    result = store.compact(before=date(2025, 3, 2))  # 03-01 is closed
    assert result.partitions == ["date=2025-03-01"]
    assert len(list(day.iterdir())) == 1
    assert len(list((store.root / "events/date=2025-03-02").iterdir())) > 1  # open: untouched
    after = store.scan().sort("event_id").collect()
    assert after.equals(expected)
    # compacting again changes nothing
    assert store.compact(before=date(2025, 3, 2)).partitions == []


def test_readers_skip_files_a_crashed_compaction_left_behind(store: EventStore) -> None:
    store.append([finished_event(i) for i in range(0, 20)])
    store.append([finished_event(i) for i in range(20, 40)])
    folder = store.root / "events/date=2025-03-01"
    inputs = [f.path for f in data_files(folder)]
    # simulate the crash window: merged file renamed in, inputs not yet deleted
    merged = pl.concat([pl.read_parquet(p) for p in inputs])
    first, last = merged["seq"].min(), merged["seq"].max()
    merged.write_parquet(folder / f"compact-{first:012d}-{last:012d}.parquet")
    assert store.scan().collect().height == 40  # no event seen twice
    store.compact(before=date(2025, 3, 2))  # the next run finishes the job
    assert [p.name for p in folder.iterdir()] == [f"compact-{first:012d}-{last:012d}.parquet"]
    assert store.scan().collect().height == 40


def test_appends_after_compaction_are_not_hidden(store: EventStore) -> None:
    store.append([finished_event(i) for i in range(0, 10)])
    store.append([finished_event(i) for i in range(10, 20)])
    store.compact(before=date(2025, 3, 2))
    store.append([finished_event(i, occurred_at="2025-03-01T23:00:00Z") for i in range(100, 105)])
    assert store.scan().collect().height == 25


def test_retention_is_a_dry_run_until_applied(store: EventStore) -> None:
    store.append([finished_event(i) for i in range(500)])
    candidates = store.retention_candidates(keep_days=1, today=date(2025, 3, 3))
    assert [p.name for p in candidates] == ["date=2025-03-01"]
    assert store.count() == 500  # nothing dropped yet
    store.drop_partitions(candidates)
    days = store.scan().select(pl.col("occurred_at").dt.date().unique()).collect()
    assert sorted(days.to_series().to_list()) == [date(2025, 3, 2), date(2025, 3, 3)]


def test_negative_keep_days_is_a_user_error(store: EventStore) -> None:
    with pytest.raises(SchemaError, match="--keep-days must be 0 or more"):
        store.retention_candidates(keep_days=-1)


def test_queue_depth_samples_have_their_own_table(store: EventStore) -> None:
    samples = pl.DataFrame(
        {
            "sample_id": ["s1", "s2", "s1"],
            "observed_at": [datetime(2025, 3, 1, h, tzinfo=UTC) for h in (1, 2, 1)],
            "source": ["test"] * 3,
            "release": ["plucky"] * 3,
            "arch": ["amd64"] * 3,
            "queue": ["huge"] * 3,
            "size": [100, 120, 100],
        }
    )
    result = store.append_samples(samples)
    assert (result.accepted, result.duplicates) == (2, 1)
    read = store.scan("queue_depth").sort("observed_at").collect()
    assert read["size"].to_list() == [100, 120]
    assert store.files("events") == []


# -- properties ------------------------------------------------------------------

_event_ids = st.integers(min_value=0, max_value=60)
_batches = st.lists(st.lists(_event_ids, max_size=25), min_size=1, max_size=6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches, minutes=st.integers(min_value=1, max_value=600))
def test_property_round_trip_idempotence_and_order(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[int]], minutes: int
) -> None:
    """Whatever batches (with repeats) are appended, the store holds each id once,
    and seq orders events as they were appended."""
    store = EventStore(tmp_path_factory.mktemp("prop"))
    start = datetime(2025, 3, 1, tzinfo=UTC)
    appended: list[str] = []
    first_versions: dict[str, dict] = {}
    for batch in batches:
        # the step size decides how many events share a timestamp or a day
        events = [
            finished_event(i, occurred_at=(start + timedelta(minutes=minutes * (i % 9))).isoformat())
            for i in batch
        ]
        store.append(events)
        for event in events:
            if event["event_id"] not in first_versions:
                first_versions[event["event_id"]] = event
                appended.append(event["event_id"])
    frame = store.scan().sort("seq").collect()
    assert frame["event_id"].to_list() == appended  # once each, in first-append order
    assert frame["seq"].is_unique().all()
    again = store.append(list(first_versions.values()))
    assert again.accepted == 0
    by_time = store.scan().sort("occurred_at", "seq").collect()
    assert by_time["occurred_at"].is_sorted()


def test_store_path_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    from pkgflow.errors import StorageError

    with pytest.raises(StorageError, match="cannot create the store"):
        EventStore(blocker / "store").append([finished_event(0)])


def test_compaction_upgrades_a_partition_an_older_pkgflow_compacted(store: EventStore) -> None:
    events = [finished_event(i) for i in range(150)]  # 2025-03-01 and -02
    events[3]["event_type"] = "test.dropped"  # two types: the new layout sorts by type
    store.append(events[:100])
    store.append(events[100:])
    store.compact(before=date(2025, 3, 2))
    folder = store.root / "events/date=2025-03-01"
    [only] = data_files(folder)
    # as an older pkgflow left it: no test keys, rows by time (not by type)
    old = pq.read_table(only.path).drop_columns(["test_key"]).sort_by("seq")
    pq.write_table(old, only.path)
    expected = store.scan().sort("seq").drop("test_key").collect()

    result = store.compact(before=date(2025, 3, 2))
    assert result.partitions == ["date=2025-03-01"]
    [rewritten] = data_files(folder)
    assert rewritten.path.name == only.path.name  # rewritten in place, not deleted
    table = pq.read_table(rewritten.path)
    assert table["test_key"].null_count == 0
    assert table["event_type"].to_pylist() == sorted(table["event_type"].to_pylist())
    assert store.scan().sort("seq").drop("test_key").collect().equals(expected)
    assert store.compact(before=date(2025, 3, 2)).partitions == []  # now up to date


def test_known_ids_forget_files_compaction_replaced(store: EventStore) -> None:
    store.append([finished_event(i) for i in range(100)])
    for round_ in range(3):  # a late event for a closed day, then the nightly compaction
        store.append([finished_event(1000 + round_, occurred_at="2025-03-01T05:00:00+00:00")])
        store.compact(before=date(2025, 3, 2))
        known = store._known_ids("events", date(2025, 3, 1))
        stored = store.scan().filter(pl.col("occurred_at").dt.date() == date(2025, 3, 1))
        assert known.len() == stored.collect().height  # not one copy per compaction
    assert store.append([finished_event(1000, occurred_at="2025-03-01T05:00:00+00:00")]).duplicates == 1


def test_a_test_key_sent_along_is_not_trusted(store: EventStore, tmp_path: Path) -> None:
    from pkgflow.events.parse import parse_records

    frame = parse_records([finished_event(0)])
    store.append(frame.with_columns(pl.lit(7, pl.UInt64).alias("test_key")))
    other = EventStore(tmp_path / "other")
    other.append(frame)
    assert store.scan().collect()["test_key"].to_list() == other.scan().collect()[
        "test_key"
    ].to_list() != [7]
