"""Property tests: the SQL projections agree with the pure-Python fold (the oracle)
on random histories written through a real store: duplicates, late and out-of-order
arrival, equal timestamps, missing events, retries, drops, superseded uploads, time
travel and windows."""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgflow.replay import connect
from pkgflow.store import EventStore
from tests.replay.helpers import rows
from tests.replay.oracle import Model, fold

#: appends fsync: a RAM-backed folder keeps 70 examples fast where there is one
FAST_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None
BASE = datetime(2025, 3, 1, 21, 0, tzinfo=UTC)  # histories cross midnight: two partitions
#: few distinct instants, so that many events share a timestamp
instants = st.integers(0, 14).map(lambda i: BASE + timedelta(minutes=20 * i))
releases = st.sampled_from(["plucky"] * 5 + ["questing"])
TRIGGER_SETS = [
    ["p/1"], ["p/1"], ["p/2"], ["p/1", "q/1"], ["q/1", "p/1"], ["migration-reference/0"],
    ["q/1", "r/1", "p/1"], ["p/1", "r/1", "q/1"],  # three: the key sorts them
]

test_events = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(
            ["test.requested", "test.started", "test.finished", "test.dropped",
             "results.published"]
        ),
        "release": releases,
        "testsrc": st.sampled_from(["a", "b"]),
        "arch": st.sampled_from(["amd64", "arm64"]),
        "triggers": st.sampled_from(TRIGGER_SETS),
        "occurred_at": instants,
        "queue": st.sampled_from(["ubuntu", "huge", None, "private-ctx"]),  # unlisted too
        "requester": st.sampled_from([None, "", "vorlon"]),
        "exitcode": st.sampled_from([0, 2, 4, 8, 16, 20]),
        "run_id": st.sampled_from(["r1", "r2", "r3", None]),
        "duration": st.sampled_from([None, 60, 1800]),
        "status": st.sampled_from(["PASS", "REGRESSION", "SOMETHING-NEW"]),
        "worker": st.sampled_from([None, "w1", "w2"]),
        "test_version": st.sampled_from([None, "1.0"]),
        "detail": st.sampled_from([None, "removed from the queue"]),
    }
)
upload_events = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(
            ["upload.accepted", "build.missing", "build.completed", "excuse.changed",
             "upload.migrated", "upload.superseded", "upload.removed"]
        ),
        "release": releases,
        "package": st.sampled_from(["p", "q"]),
        "version": st.sampled_from(["1", "2"]),
        "occurred_at": instants,
        "arches": st.sampled_from([[], ["amd64"], ["arm64"], ["amd64", "arm64"]]),
        "verdict": st.sampled_from(["PASS", "REJECTED_TEMPORARILY",
                                    "REJECTED_BLOCKED_BY_ANOTHER_ITEM"]),
    }
)

_FIELDS = {
    "test.requested": ("testsrc", "arch", "triggers", "queue", "requester"),
    "test.started": ("testsrc", "arch", "triggers", "worker"),
    "test.finished": ("testsrc", "arch", "triggers", "exitcode", "run_id", "duration",
                      "requester", "worker", "test_version"),
    "test.dropped": ("testsrc", "arch", "triggers", "detail"),
    "results.published": ("testsrc", "arch", "triggers", "run_id", "status"),
    "upload.accepted": ("package", "version"),
    "build.missing": ("package", "version", "arches"),
    "build.completed": ("package", "version", "arches"),
    "excuse.changed": ("package", "version", "verdict"),
    "upload.migrated": ("package", "version"),
    "upload.superseded": ("package", "version"),
    "upload.removed": ("package", "version"),
}


def _event(i: int, raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw["event_type"]
    event = {
        "event_id": f"e{i}",
        "event_type": kind,
        "schema_version": 2,
        "occurred_at": raw["occurred_at"],
        "source": "test",
        "release": raw["release"],
    }
    for name in _FIELDS[kind]:
        if raw.get(name) is not None:
            event[name] = raw[name]
    if kind == "results.published" and "run_id" not in event:
        event["run_id"] = "r1"
    return event


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], datetime | None, float | None]:
    """Append batches (shuffled, with duplicates), an optional as_of and window."""
    raw = draw(
        st.lists(st.one_of(test_events, test_events, upload_events), min_size=8, max_size=60)
    )
    events = [_event(i, r) for i, r in enumerate(raw)]
    duplicated = draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    arrival = draw(st.permutations(events + duplicated))
    cuts = sorted(draw(st.lists(st.integers(0, len(arrival)), max_size=2)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True)]
    as_of = draw(st.one_of(st.none(), instants.map(lambda t: t + timedelta(minutes=7))))
    days = draw(st.sampled_from([None, None, 0.1, 1.0]))
    return [b for b in batches if b], as_of, days


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-6)
    return a == b


def _assert_rows_equal(kind: str, key: Any, got: dict[str, Any], want: dict[str, Any]) -> None:
    diffs = {c: (got.get(c), v) for c, v in want.items() if not _close(got.get(c), v)}
    assert not diffs, f"{kind} {key}: (sql, oracle) differ in {diffs}"


def _check(store: EventStore, model: Model, as_of: datetime | None, days: float | None) -> None:
    con = connect(store, as_of=as_of, days=days, materialize=True)
    (clock,) = con.execute("SELECT as_of FROM replay_clock").fetchone()  # type: ignore[misc]
    assert clock == model.clock

    sql_runs = {
        (r["release"], r["arch"], r["testsrc"], tuple(r["triggers"]), r["attempt"]): r
        for r in rows(con, "SELECT * FROM test_runs")
    }
    want_runs = {
        (r.release, r.arch, r.testsrc, r.triggers, r.attempt): r.as_row() for r in model.runs
    }
    assert sql_runs.keys() == want_runs.keys()
    for key, want in want_runs.items():
        _assert_rows_equal("run", key, sql_runs[key], want)

    sql_uploads = {
        (r["release"], r["package"], r["version"]): r for r in rows(con, "SELECT * FROM uploads")
    }
    assert sql_uploads.keys() == model.uploads.keys()
    for key, want in model.uploads.items():
        _assert_rows_equal("upload", key, sql_uploads[key], want)

    flight = rows(con, "SELECT * FROM in_flight")
    sql_tests = {
        (r["release"], r["arch"], r["testsrc"], tuple(r["triggers"]), r["attempt"]): r
        for r in flight if r["kind"] == "test"
    }
    want_tests = {
        (r["release"], r["arch"], r["testsrc"], tuple(r["triggers"]), r["attempt"]): r
        for r in model.in_flight_tests
    }
    assert sql_tests.keys() == want_tests.keys()
    for key, want in want_tests.items():
        _assert_rows_equal("in-flight test", key, sql_tests[key], want)
    sql_ups = {
        (r["release"], r["package"], r["version"]): r for r in flight if r["kind"] == "upload"
    }
    assert sql_ups.keys() == model.in_flight_uploads.keys()
    for key, want in model.in_flight_uploads.items():
        _assert_rows_equal("in-flight upload", key, sql_ups[key], want)


@settings(
    max_examples=70,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories())
def test_views_agree_with_the_fold(
    history: tuple[list[list[dict[str, Any]]], datetime | None, float | None],
) -> None:
    batches, as_of, days = history
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        store = EventStore(Path(tmp) / "store")
        for batch in batches:
            store.append(batch)
        stored = store.scan().collect().to_dicts()
        # the store deduplicated: what the fold sees is what the views see
        assert len({e["event_id"] for e in stored}) == len(stored)
        _check(store, fold(stored, as_of=as_of, days=days), as_of, days)


@st.composite
def queues(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Only requests (many tests queued at once), arriving in a shuffled order."""
    raw = draw(
        st.lists(
            st.tuples(st.sampled_from("abcdefgh"), st.sampled_from(["amd64", "arm64"]),
                      st.sampled_from(["ubuntu", "huge"]), instants),
            min_size=3, max_size=25,
        )
    )
    events = [
        {"event_id": f"q{i}", "event_type": "test.requested", "schema_version": 2,
         "occurred_at": t, "source": "test", "release": "plucky", "testsrc": src,
         "arch": arch, "triggers": ["p/1"], "queue": queue}
        for i, (src, arch, queue, t) in enumerate(raw)
    ]
    return draw(st.permutations(events))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queues())
def test_queue_positions_follow_request_time_not_arrival(arrival: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        store = EventStore(Path(tmp) / "store")
        store.append(arrival)
        stored = store.scan().collect().to_dicts()
        _check(store, fold(stored), None, None)
