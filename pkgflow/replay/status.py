"""The seed's UI: what is in flight, where, and the latest results in order.

:func:`status_data` builds a JSON-serialisable dict (shared by ``pkgflow status`` and
the HTTP status page); :func:`render_status` prints it with rich.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pkgflow.store import EventStore


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [
        {name: _jsonable(v) for name, v in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def _filters(release: str | None, source: str | None, kind: str) -> tuple[str, list[Any]]:
    """WHERE clause for a release and a source package (tests: the test package or a
    trigger of that source; uploads: the package)."""
    clauses, params = ["true"], []
    if release:
        clauses.append("release = ?")
        params.append(release)
    if source:
        if kind == "test":
            clauses.append(
                "(testsrc = ? OR len(list_filter(triggers, lambda t: starts_with(t, ?))) > 0)"
            )
            params.extend([source, source + "/"])
        else:
            clauses.append("package = ?")
            params.append(source)
    return " AND ".join(clauses), params


def status_data(
    con: duckdb.DuckDBPyConnection,
    release: str | None = None,
    source: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Everything the status view shows, as plain JSON-ready data.

    ``con`` comes from :func:`pkgflow.replay.connect` (materialised is faster).
    Keys: ``as_of``, ``window_start``, ``filters``, ``counts`` (uploads in flight,
    tests running/queued), ``queues`` (per release/arch/context: tests queued and
    running now, and the newest queue-depth sample; with ``source``, only the queues
    holding its tests), ``uploads`` (in flight, oldest
    first), ``running`` (longest first), ``queued`` (head of each queue first),
    ``recent_results`` (the last ``limit`` finished runs, oldest first: chronological).
    Times are ISO 8601 UTC text, durations seconds.
    """
    clock = con.execute("SELECT as_of, window_start FROM replay_clock").fetchone()
    as_of, window_start = clock if clock else (None, None)
    test_where, test_params = _filters(release, source, "test")
    upload_where, upload_params = _filters(release, source, "upload")
    queue_where, queue_params = _filters(release, None, "upload")

    counts = _records(
        con,
        f"""
        SELECT
            (SELECT count(*) FROM in_flight WHERE kind = 'upload' AND {upload_where})
                AS uploads_in_flight,
            (SELECT count(*) FROM in_flight WHERE kind = 'test' AND state = 'running'
                AND {test_where}) AS tests_running,
            (SELECT count(*) FROM in_flight WHERE kind = 'test' AND state = 'queued'
                AND {test_where}) AS tests_queued
        """,
        [*upload_params, *test_params, *test_params],
    )[0]
    uploads = _records(
        con,
        f"""
        SELECT release, package, version, state, since, elapsed_s, tests_total, tests_done,
               tests_running, tests_queued, waiting_for[1:10] AS waiting_for,
               len(waiting_for) AS waiting_for_count, missing_arches, verdict, blocked_by
        FROM in_flight
        WHERE kind = 'upload' AND {upload_where}
        ORDER BY since, package, version
        LIMIT ?
        """,
        [*upload_params, limit],
    )
    running = _records(
        con,
        f"""
        SELECT release, arch, queue, testsrc, triggers, requester, since, elapsed_s
        FROM in_flight
        WHERE kind = 'test' AND state = 'running' AND {test_where}
        ORDER BY since, testsrc, arch
        LIMIT ?
        """,
        [*test_params, limit],
    )
    queued = _records(
        con,
        f"""
        SELECT release, arch, queue, position, queue_size, testsrc, triggers, requester,
               since, elapsed_s
        FROM in_flight
        WHERE kind = 'test' AND state = 'queued' AND {test_where}
        ORDER BY position, release, arch, queue
        LIMIT ?
        """,
        [*test_params, limit],
    )
    recent = _records(
        con,
        f"""
        SELECT * FROM (
            SELECT finished_at, release, arch, testsrc, triggers, outcome, exitcode,
                   run_time_s, queue_wait_s, run_id, requester
            FROM test_runs
            WHERE state = 'finished' AND {test_where}
            ORDER BY finished_at DESC, opened_seq DESC
            LIMIT ?
        )
        ORDER BY finished_at, run_id
        """,
        [*test_params, limit],
    )
    queues = _records(
        con,
        f"""
        WITH now AS (
            SELECT release, arch, queue,
                   count(*) FILTER (state = 'queued') AS queued,
                   count(*) FILTER (state = 'running') AS running
            FROM in_flight WHERE kind = 'test' AND {test_where}
            GROUP BY ALL
        ), sampled AS (
            SELECT release, arch, queue, arg_max(size, observed_at) AS sampled_size,
                   max(observed_at) AS sampled_at
            FROM queue_depth WHERE {queue_where}
            GROUP BY ALL
        )
        SELECT release, arch, queue, coalesce(queued, 0) AS queued,
               coalesce(running, 0) AS running, sampled_size, sampled_at
        FROM now {"LEFT" if source else "FULL"} JOIN sampled USING (release, arch, queue)
        ORDER BY release, arch, queue NULLS FIRST
        """,
        [*test_params, *queue_params],
    )
    return {
        "as_of": _jsonable(as_of),
        "window_start": _jsonable(window_start),
        "filters": {"release": release, "source": source, "limit": limit},
        "counts": counts,
        "queues": queues,
        "uploads": uploads,
        "running": running,
        "queued": queued,
        "recent_results": recent,
    }


def store_status(
    store: EventStore | str | Path | None = None,
    release: str | None = None,
    source: str | None = None,
    as_of: str | None = None,
    days: float | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """:func:`status_data` of a store, projections materialised first (the status
    reads them several times: about 1 s instead of 10 s for a simulated month)."""
    from pkgflow.replay.connect import connect

    con = connect(store, as_of=as_of, days=days, materialize=True)
    try:
        return dict(status_data(con, release=release, source=source, limit=limit))
    finally:
        con.close()


def human_duration(seconds: float | None) -> str:
    """A duration for people: `28d 10h`, `2h 05m`, `4m 07s` (`-` when unknown)."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds % 60:02d}s"


def _time(text: str | None) -> str:
    return text.replace("T", " ")[:19] if text else "-"


def _triggers(triggers: list[str] | None) -> str:
    if not triggers:
        return "-"
    return " ".join(triggers[:2]) + (f" +{len(triggers) - 2}" if len(triggers) > 2 else "")


_OUTCOME_STYLE = {"pass": "green", "neutral": "cyan", "fail": "red", "tmpfail": "yellow",
                  "error": "magenta", "denylisted": "dim"}


def render_status(data: dict[str, Any], console: Console | None = None) -> None:
    """Print :func:`status_data` output as rich tables."""
    console = console or Console()
    counts = data["counts"]
    filters = ", ".join(f"{k} {v}" for k, v in data["filters"].items() if v and k != "limit")
    console.print(
        f"[bold]status as of {_time(data['as_of'])} UTC[/bold]"
        + (f" ({filters})" if filters else "")
        + f": {counts['uploads_in_flight']:,} uploads in flight, "
        f"{counts['tests_running']:,} tests running, {counts['tests_queued']:,} queued"
    )
    if data["queues"]:
        table = Table("release", "arch", "queue", "queued", "running", "last sample",
                      title="queues")
        for q in data["queues"]:
            sample = (
                f"{q['sampled_size']:,} at {_time(q['sampled_at'])[11:16]}"
                if q["sampled_size"] is not None else "-"
            )
            table.add_row(q["release"], q["arch"], q["queue"] or "-", f"{q['queued']:,}",
                          f"{q['running']:,}", sample)
        console.print(table)
    if data["uploads"]:
        table = Table("upload", "state", "in -proposed", "tests done", "running",
                      "queued", "waiting for / why", title="uploads in flight (oldest first)")
        for u in data["uploads"]:
            why = (
                " ".join(u["waiting_for"] or [])
                + (f" +{u['waiting_for_count'] - 10}" if (u["waiting_for_count"] or 0) > 10
                   else "")
            )
            if u["state"] == "building":
                why = "missing builds: " + " ".join(u["missing_arches"] or [])
            elif u["state"] == "blocked":
                why = (u["verdict"] or "") + (
                    f" by {' '.join(u['blocked_by'])}" if u["blocked_by"] else ""
                )
            table.add_row(
                f"{u['package']}/{u['version']} ({u['release']})", u["state"],
                human_duration(u["elapsed_s"]), f"{u['tests_done']}/{u['tests_total']}",
                str(u["tests_running"]), str(u["tests_queued"]), why or "-",
            )
        console.print(table)
    if data["running"]:
        table = Table("test", "arch", "release", "triggers", "running for",
                      title="running (longest first)")
        for r in data["running"]:
            table.add_row(r["testsrc"], r["arch"], r["release"], _triggers(r["triggers"]),
                          human_duration(r["elapsed_s"]))
        console.print(table)
    if data["queued"]:
        table = Table("position", "queue", "test", "triggers", "waiting for",
                      title="queued (head of each queue first)")
        for q in data["queued"]:
            queue = f"{q['release']}/{q['arch']}/{q['queue'] or '-'}"
            table.add_row(f"{q['position']}/{q['queue_size']}", queue, q["testsrc"],
                          _triggers(q["triggers"]), human_duration(q["elapsed_s"]))
        console.print(table)
    if data["recent_results"]:
        table = Table("finished", "test", "arch", "release", "triggers", "result",
                      "ran", "waited", title="latest results (chronological)")
        for r in data["recent_results"]:
            style = _OUTCOME_STYLE.get(r["outcome"] or "", "")
            result = f"[{style}]{r['outcome']}[/{style}]" if style else str(r["outcome"])
            table.add_row(_time(r["finished_at"]), r["testsrc"], r["arch"], r["release"],
                          _triggers(r["triggers"]), result, human_duration(r["run_time_s"]),
                          human_duration(r["queue_wait_s"]))
        console.print(table)
    if not any(data[k] for k in ("uploads", "running", "queued", "recent_results")):
        console.print("nothing to show" + (f" for {filters}" if filters else ""))
