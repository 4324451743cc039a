"""Every question of domain.md section 7, as written in docs/queries.md, on a small
hand-made history whose answers were worked out by hand (comments give the sums)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from pkgflow.replay import connect
from tests.replay.helpers import History, at

DOCS = Path(__file__).resolve().parents[2] / "docs" / "queries.md"
H = 3600.0


def reference_history() -> History:
    """Two days of plucky (and a little noble); the clock ends at at(12)."""
    h = History()
    # the day before: bash migrates; glibc's own test passes on arm64 with it
    h.upload("bash", "5.2-1", -10)
    h.run("glibc", "arm64", "bash/5.2-1", -9, -8.5, -8, exitcode=0, published=-7)
    h.migrated("bash", "5.2-1", -5)
    # glibc: builds on two arches, four tests, one tmpfail retried by hand, migrates
    h.upload("glibc", "2.41-1", 0)
    h.missing("glibc", "2.41-1", 0, ["amd64", "arm64"])
    h.built("glibc", "2.41-1", 1, ["amd64"])
    h.built("glibc", "2.41-1", 2, ["arm64"])
    h.run("glibc", "amd64", "glibc/2.41-1", 2.5, 3, 4, exitcode=0, published=5)
    h.run("glibc", "arm64", "glibc/2.41-1", 2.5, 3.5, 5.5, exitcode=4, published=6)
    h.run("python3", "amd64", "glibc/2.41-1", 2.5, 4, 4.5, exitcode=0, published=5)
    h.run("python3", "arm64", "glibc/2.41-1", 2.5, 6, 7, exitcode=16, published=8)
    h.excuse("glibc", "2.41-1", 6, "REJECTED_TEMPORARILY", ["autopkgtest"])
    h.run("python3", "arm64", "glibc/2.41-1", 8, 9, 10, exitcode=0, published=11,
          requester="vorlon")
    h.excuse("glibc", "2.41-1", 12, "PASS", [])
    h.migrated("glibc", "2.41-1", 12)
    # perl: no build events; fails on amd64, still running on arm64; a huge-queue
    # request of python3 was dropped
    h.upload("perl", "5.40-1", 1)
    h.run("perl", "amd64", "perl/5.40-1", 3, 5, 6, exitcode=4, published=7)
    h.request("perl", "arm64", ["perl/5.40-1"], 3)
    h.request("python3", "amd64", ["perl/5.40-1"], 3, queue="huge")
    h.drop("python3", "amd64", ["perl/5.40-1"], 4)
    h.excuse("perl", "5.40-1", 7, "REJECTED_TEMPORARILY", ["autopkgtest"])
    h.start("perl", "arm64", ["perl/5.40-1"], 11.5)
    # sphinx never builds on amd64; systemd waits for perl
    h.upload("sphinx", "8.1-1", 4)
    h.missing("sphinx", "8.1-1", 4, ["amd64"])
    h.upload("systemd", "257-1", 5)
    h.excuse("systemd", "257-1", 6, "REJECTED_BLOCKED_BY_ANOTHER_ITEM", ["depends"],
             blocked_by=["perl"])
    # foo 1.0-1 is superseded by 1.0-2, whose two tests are queued
    h.upload("foo", "1.0-1", 2)
    h.superseded("foo", "1.0-1", 9, by="1.0-2")
    h.upload("foo", "1.0-2", 9)
    h.request("foo", "amd64", ["foo/1.0-2"], 9.5)
    h.request("bar", "amd64", ["foo/1.0-2"], 9.75, requester="vorlon")
    # noble: an SRU of glibc, passing on amd64, erroring on arm64
    h.release = "noble"
    h.upload("glibc", "2.39-0ubuntu8.4", 0.5)
    h.run("glibc", "amd64", "glibc/2.39-0ubuntu8.4", 1, 1.5, 2, exitcode=0, published=3)
    h.run("glibc", "arm64", "glibc/2.39-0ubuntu8.4", 1, 2, 3, exitcode=20)
    return h


def _samples() -> pl.DataFrame:
    rows = [(9.0, "amd64", "ubuntu", 0), (10.0, "amd64", "ubuntu", 2),
            (10.5, "amd64", "ubuntu", 1), (10.0, "arm64", "huge", 5)]
    return pl.DataFrame(
        {
            "sample_id": [f"s{i}" for i in range(len(rows))],
            "observed_at": [at(r[0]) for r in rows],
            "source": ["test"] * len(rows),
            "release": ["plucky"] * len(rows),
            "arch": [r[1] for r in rows],
            "queue": [r[2] for r in rows],
            "size": [r[3] for r in rows],
        }
    )


def doc_queries() -> dict[str, str]:
    """The SQL blocks of docs/queries.md, by their ``-- Qn`` label."""
    blocks = re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    found = {}
    for block in blocks:
        label = re.match(r"-- (Q\d+[ab]?)\n", block)
        assert label, f"a SQL block in docs/queries.md has no '-- Qn' label: {block[:60]}"
        found[label.group(1)] = block
    return found


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    store = reference_history().store(tmp_path_factory.mktemp("replay") / "store")
    store.append_samples(_samples())
    return connect(store, materialize=True)


def answer(con: duckdb.DuckDBPyConnection, label: str) -> list[tuple[Any, ...]]:
    """The rows of query ``label`` (floats rounded to 6 decimals: sums and quantiles)."""
    rows = con.execute(doc_queries()[label]).fetchall()
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def test_every_question_has_a_query() -> None:
    labels = set(doc_queries())
    for n in range(1, 14):
        assert labels & {f"Q{n}", f"Q{n}a"}, f"question {n} has no query in docs/queries.md"


def test_clock_is_the_newest_event(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT as_of FROM replay_clock").fetchone() == (at(12),)


def test_q1_average_run_time_of_passing_tests(con: duckdb.DuckDBPyConnection) -> None:
    # amd64: glibc 1 h, python3 0.5 h, noble glibc 0.5 h -> 2400 s; arm64: glibc(bash)
    # 0.5 h, python3 retry 1 h -> 2700 s
    assert answer(con, "Q1") == [("amd64", 2400.0, 3), ("arm64", 2700.0, 2)]


def test_q2_hours_running_per_arch(con: duckdb.DuckDBPyConnection) -> None:
    # plucky amd64: 1 + 0.5 + 1 (perl) = 2.5 h; arm64: 0.5 + 2 + 1 + 1 = 4.5 h
    # (perl arm64 still runs, python3 was dropped from the queue: no run time)
    assert answer(con, "Q2") == [("amd64", 2.5), ("arm64", 4.5)]


def test_q3_longest_runs_and_cumulative_time(con: duckdb.DuckDBPyConnection) -> None:
    top = [(r[0], r[1], r[2], r[4]) for r in answer(con, "Q3a")]
    assert top == [
        ("plucky", "glibc", "arm64", 2 * H),
        ("plucky", "glibc", "amd64", H),
        ("noble", "glibc", "arm64", H),
    ]
    # glibc: 1 + 2 + 0.5 (plucky) + 0.5 + 1 (noble) = 5 h over 5 runs
    assert answer(con, "Q3b") == [("glibc", 5.0, 5), ("python3", 2.5, 3), ("perl", 1.0, 1)]


def test_q4_packages_with_tests_and_never_passed(con: duckdb.DuckDBPyConnection) -> None:
    # plucky amd64: glibc, python3, perl, foo, bar; arm64: glibc, python3, perl
    assert answer(con, "Q4a") == [("amd64", 5), ("arm64", 3)]
    # perl failed on amd64; noble glibc only errored on arm64; perl arm64 never finished
    assert answer(con, "Q4b") == [("noble", "arm64", "glibc"), ("plucky", "amd64", "perl")]


def test_q5_latest_pass_and_run_counts(con: duckdb.DuckDBPyConnection) -> None:
    assert answer(con, "Q5") == [
        ("noble", "amd64", 1, 1, 1, 0),
        ("noble", "arm64", 0, 1, 0, 0),  # an error is neither pass nor fail
        ("plucky", "amd64", 2, 3, 2, 1),  # glibc, python3 pass; perl fails
        ("plucky", "arm64", 1, 2, 2, 1),  # glibc now fails; python3 passed on retry
    ]


def test_q6_flips(con: duckdb.DuckDBPyConnection) -> None:
    # glibc arm64 passed with bash (day before), failed with glibc 2.41-1 at 05:30;
    # python3 arm64 went tmpfail -> pass, which is no flip
    assert answer(con, "Q6") == [("plucky", "glibc", "arm64", "pass -> fail", at(5.5))]


def test_q7_queued_and_running_for_a_package_trigger_requester(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert answer(con, "Q7") == [
        ("queued", "plucky", "amd64", "ubuntu", 1, 2, "foo", ["foo/1.0-2"], None, 2.5 * H),
        ("queued", "plucky", "amd64", "ubuntu", 2, 2, "bar", ["foo/1.0-2"], "vorlon", 2.25 * H),
    ]


def test_q8_queue_wait_percentiles_and_depth(con: duckdb.DuckDBPyConnection) -> None:
    got = answer(con, "Q8a")
    # amd64 waits 0.5, 0.5, 1.5, 2 h: p50 = 1 h, p95 = 1.5 h + 0.85 * 0.5 h
    # arm64 (10th) waits 1, 1, 1, 3.5, 8.5 h: p50 = 1 h, p95 = 3.5 h + 0.8 * 5 h
    assert got == [
        ("amd64", "ubuntu", date(2025, 3, 10), 3600.0, 6930.0, 4),
        ("arm64", "ubuntu", date(2025, 3, 9), 1800.0, 1800.0, 1),
        ("arm64", "ubuntu", date(2025, 3, 10), 3600.0, 27000.0, 5),
    ]
    assert answer(con, "Q8b") == [
        (at(9), "plucky", "amd64", "ubuntu", 0),
        (at(10), "plucky", "amd64", "ubuntu", 2),
        (at(10), "plucky", "arm64", "huge", 5),
    ]


def test_q9_progress_and_eta_of_one_upload(con: duckdb.DuckDBPyConnection) -> None:
    # perl: amd64 failed (done), arm64 running for 0.5 h, python3 dropped; no finished
    # perl arm64 run yet, so the plucky arm64 median (0.5, 1, 1, 2 h -> 1 h) is the
    # typical run time: 0.5 h left
    assert answer(con, "Q9") == [("perl", "5.40-1", 3, 1, 1, 0, 1, 1800.0)]


def test_q10_time_to_result_and_phases(con: duckdb.DuckDBPyConnection) -> None:
    # bash: seen -10, result -8, migrated -5: build 0, test 2 h, pick-up 3 h (of 5)
    # glibc: built 2, last result 10, britney 12 = migration: 2/8/2/0 h of 12;
    # its runs waited 0.5+1+1.5+3.5+1 = 7.5 h and ran 1+2+0.5+1+1 = 5.5 h -> 58 %
    assert answer(con, "Q10") == [
        ("bash", "5.2-1", 2.0, 5.0, 0.0, 40.0, 60.0, 0.0, 50.0),
        ("glibc", "2.41-1", 10.0, 12.0, 17.0, 67.0, 17.0, 0.0, 58.0),
    ]


def test_q11_stuck_items_and_blockers(con: duckdb.DuckDBPyConnection) -> None:
    assert answer(con, "Q11a") == [
        ("noble", "glibc", "2.39-0ubuntu8.4", "ready", 11.5, None),
        ("plucky", "perl", "5.40-1", "testing", 11.0, "REJECTED_TEMPORARILY"),
        ("plucky", "sphinx", "8.1-1", "building", 8.0, None),
        ("plucky", "systemd", "257-1", "blocked", 7.0, "REJECTED_BLOCKED_BY_ANOTHER_ITEM"),
        ("plucky", "foo", "1.0-2", "testing", 3.0, None),
    ]
    assert answer(con, "Q11b") == [("perl", 1)]


def test_q12_entered_and_migrated_per_day(con: duckdb.DuckDBPyConnection) -> None:
    assert answer(con, "Q12") == [(date(2025, 3, 9), 1, 1), (date(2025, 3, 10), 7, 1)]


def test_q13_tmpfail_and_error_rates(con: duckdb.DuckDBPyConnection) -> None:
    # 10th, arm64: glibc fail, python3 tmpfail, python3 pass, noble glibc error
    assert answer(con, "Q13") == [
        (date(2025, 3, 9), "arm64", 1, 0.0, 0.0),
        (date(2025, 3, 10), "amd64", 4, 0.0, 0.0),
        (date(2025, 3, 10), "arm64", 4, 0.25, 0.25),
    ]
