"""SIGKILL during a large ingest or a compaction: the store stays readable by DuckDB
and Polars, no event is seen twice, and re-running completes it exactly once."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pkgflow.store import EventStore
from tests.conftest import finished_event

pytestmark = pytest.mark.slow

TOTAL = 120_000  # 7-minute steps: about 580 days of partitions


def _pkgflow(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pkgflow.cli", "--store", str(store), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _full_run_seconds(store: Path, args: list[str], scratch: Path) -> float:
    """How long the command takes to complete, timed on a copy of the store."""
    if store.exists():
        shutil.copytree(store, scratch)
    started = time.perf_counter()
    assert _pkgflow(scratch, *args).wait() == 0
    return time.perf_counter() - started


def _kill_at_random(
    store: Path, args: list[str], rng: random.Random, rounds: int, full_run: float
) -> tuple[int, list[int]]:
    """Start the command and SIGKILL it at a random moment of a full run's duration,
    ``rounds`` times; after every kill check what a reader sees. Returns how many runs
    were killed before they finished, and the event counts seen after each kill."""
    killed, seen = 0, []
    for _ in range(rounds):
        process = _pkgflow(store, *args)
        time.sleep(rng.uniform(0.3, 0.9) * full_run)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
        seen.append(_assert_readable_without_duplicates(store))
    return killed, seen


def _assert_readable_without_duplicates(store_dir: Path) -> int:
    store = EventStore(store_dir)
    frame = store.scan().select("event_id").collect()
    assert frame["event_id"].is_unique().all(), "an event is visible twice"
    con = duckdb.connect()
    [(count, distinct)] = store.relation(con).aggregate(
        "count(*), count(DISTINCT event_id)"
    ).fetchall()
    assert count == distinct == frame.height
    # a plain glob (what any user may run) must never hit a partial file
    if (store_dir / "events").exists() and store.files():
        glob = f"{store_dir}/events/*/*.parquet"
        con.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()
        pl.scan_parquet(glob).select(pl.len()).collect()
    return frame.height


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "big.jsonl"
    with open(path, "w") as handle:
        for i in range(TOTAL):
            handle.write(json.dumps(finished_event(i)) + "\n")
    return path


def test_sigkill_during_ingest_then_rerun_stores_every_event_once(
    tmp_path: Path, big_file: Path
) -> None:
    store = tmp_path / "store"
    args = ["ingest", str(big_file), "--batch-bytes", "1500000"]
    full_run = _full_run_seconds(store, args, tmp_path / "scratch")
    killed, seen = _kill_at_random(store, args, random.Random(1), rounds=4, full_run=full_run)
    assert killed >= 1, "no run was killed mid-way: the test proved nothing"
    assert any(0 < count < TOTAL for count in seen), f"no kill left a partial store: {seen}"

    finish = _pkgflow(store, *args)
    assert finish.wait() == 0, finish.stderr.read() if finish.stderr else ""
    assert _assert_readable_without_duplicates(store) == TOTAL


def test_sigkill_during_compaction_then_rerun_compacts_without_duplicates(
    tmp_path: Path, big_file: Path
) -> None:
    store = tmp_path / "store"
    ingest = _pkgflow(store, "ingest", str(big_file), "--batch-bytes", "1200000")
    assert ingest.wait() == 0
    files_before = len(EventStore(store).files())

    args = ["compact", "--before", "2100-01-01"]
    full_run = _full_run_seconds(store, args, tmp_path / "scratch")
    killed, seen = _kill_at_random(store, args, random.Random(2), rounds=3, full_run=full_run)
    assert seen == [TOTAL] * 3
    assert killed >= 1, "no compaction was killed mid-way: the test proved nothing"
    assert _assert_readable_without_duplicates(store) == TOTAL

    finish = _pkgflow(store, *args)
    assert finish.wait() == 0
    assert _assert_readable_without_duplicates(store) == TOTAL
    partitions = list((store / "events").iterdir())
    assert len(EventStore(store).files()) == len(partitions) < files_before
    # after the rerun even a plain glob sees every event exactly once
    glob = f"{store}/events/*/*.parquet"
    query = f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{glob}')"
    assert duckdb.sql(query).fetchall() == [(TOTAL, TOTAL)]
