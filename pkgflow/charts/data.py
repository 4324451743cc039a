"""Chart data: small Polars frames computed in DuckDB from the replay views.

Every function takes a connection from :func:`pkgflow.replay.connect` and a time window
``[start, end)`` (UTC datetimes) and returns a *small*, already aggregated frame: a
chart never receives raw events or runs, only a few hundred to a few thousand rows.
Durations come out in hours or minutes (the unit is in the column name).

Window helpers (:func:`iso_week`, :func:`last_complete_week`) live here too, so that
notebooks, the report and the charts agree on what "the week" is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from pkgflow.errors import ReplayError

Connection = duckdb.DuckDBPyConnection

#: Display names of the stages in ``stage_intervals`` (entity_type, stage) -> label,
#: in pipeline order. Test runs and uploads are counted in their own units.
STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("test", "queued", "queued", "test runs"),
    ("test", "running", "running", "test runs"),
    ("upload", "building", "building", "uploads"),
    ("upload", "testing", "waiting for tests", "uploads"),
    ("upload", "pickup", "waiting for britney", "uploads"),
    ("upload", "blocked", "blocked", "uploads"),
)
STAGE_ORDER: tuple[str, ...] = tuple(s[2] for s in STAGES)

#: Upload milestones of the stage-to-stage matrix: (label, uploads column), in order.
MILESTONES: tuple[tuple[str, str], ...] = (
    ("accepted", "first_seen"),
    ("built", "built_at"),
    ("tests requested", "first_test_requested_at"),
    ("tests done", "tests_done_at"),
    ("britney saw results", "britney_seen_at"),
    ("migrated", "migrated_at"),
)
MILESTONE_ORDER: tuple[str, ...] = tuple(m[0] for m in MILESTONES)

#: Bins (hours) of the upload -> migration histogram.
MIGRATION_BINS_H: tuple[float, ...] = (0, 2, 4, 8, 12, 24, 48, 72, 120, 168, 336, 672)

#: Outcomes that point at the infrastructure rather than the package.
INFRA_OUTCOMES: tuple[str, ...] = ("tmpfail", "error")
_INFRA_LIST = ", ".join(f"'{o}'" for o in INFRA_OUTCOMES)

_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)


# -- windows -----------------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    """One ISO week: ``start`` (Monday 00:00 UTC) inclusive, ``end`` exclusive."""

    label: str
    start: datetime
    end: datetime

    @property
    def previous(self) -> Week:
        return week_of(self.start - timedelta(days=1))

    @property
    def days(self) -> list[date]:
        return [(self.start + timedelta(days=i)).date() for i in range(7)]


def week_of(moment: datetime | date) -> Week:
    """The ISO week containing ``moment``."""
    day = moment.date() if isinstance(moment, datetime) else moment
    year, number, _ = day.isocalendar()
    return iso_week(f"{year}-W{number:02d}")


def iso_week(label: str) -> Week:
    """Parse ``2025-W11`` (also ``2025W11``) into its :class:`Week`."""
    match = _WEEK.match(label.strip())
    if not match:
        msg = f"not an ISO week: {label!r}; use YYYY-Www, e.g. 2025-W11"
        raise ReplayError(msg)
    year, number = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError as exc:
        msg = f"{label!r}: {year} has no ISO week {number}"
        raise ReplayError(msg) from exc
    start = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
    return Week(f"{year}-W{number:02d}", start, start + timedelta(days=7))


def data_range(con: Connection) -> tuple[datetime, datetime] | None:
    """First and last ``occurred_at`` the connection sees (``None`` when empty)."""
    row = con.sql("SELECT min(occurred_at), max(occurred_at) FROM _events").fetchall()[0]
    if row[0] is None:
        return None
    return row[0].astimezone(UTC), row[1].astimezone(UTC)


def last_complete_week(con: Connection) -> tuple[Week, bool]:
    """The last ISO week whose Sunday the data reaches, and whether it is complete.

    When the data does not cover any whole week, the week of the newest event is
    returned with ``False``."""
    found = data_range(con)
    if found is None:
        msg = "the store holds no events; try `pkgflow simulate --days 30`"
        raise ReplayError(msg)
    first, last = found
    week = week_of(last)
    if last.date() < week.days[-1]:  # the newest week is not over yet
        week = week.previous
    if week.start.date() < first.date():  # not a single whole week of data
        return week_of(last), False
    return week, True


def _p(start: datetime, end: datetime, **more: Any) -> dict[str, Any]:
    return {"start": start, "end": end, **more}


def _bucket_hours(start: datetime, end: datetime, points: int = 200) -> int:
    """A bucket size (hours, from a fixed ladder) giving at most ~``points`` buckets."""
    span = (end - start).total_seconds() / 3600
    for hours in (1, 2, 3, 4, 6, 12, 24, 48, 168):
        if span / hours <= points:
            return hours
    return 168


def _sql(con: Connection, query: str, params: dict[str, Any]) -> pl.DataFrame:
    return con.sql(query, params=params).pl()


# -- work in progress, queues --------------------------------------------------------


def wip_over_time(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """How many test runs / uploads sit in each stage, sampled on a regular grid.

    Columns: ``ts``, ``unit`` (test runs | uploads), ``stage``, ``count``."""
    hours = _bucket_hours(start, end)
    labels = ", ".join(
        f"('{e}', '{s}', '{label}', '{unit}', {i})" for i, (e, s, label, unit) in enumerate(STAGES)
    )
    query = f"""
    WITH names(entity_type, stage, label, unit, ord) AS (VALUES {labels}),
    grid AS (
        SELECT unnest(range($start::TIMESTAMPTZ, $end::TIMESTAMPTZ,
                            INTERVAL {hours} HOUR)) AS ts
    ),
    iv AS (
        SELECT n.label, n.unit, n.ord, s.start_at,
               coalesce(s.end_at, (SELECT as_of FROM replay_clock)) AS end_at
        FROM stage_intervals AS s JOIN names AS n USING (entity_type, stage)
        WHERE s.start_at < $end::TIMESTAMPTZ
          AND coalesce(s.end_at, 'infinity'::TIMESTAMPTZ) > $start::TIMESTAMPTZ
    ),
    counts AS (
        SELECT g.ts, iv.label, count(*) AS count
        FROM grid AS g JOIN iv ON iv.start_at <= g.ts AND iv.end_at > g.ts
        GROUP BY ALL
    )
    SELECT g.ts, n.unit, n.label AS stage, coalesce(c.count, 0) AS count
    FROM grid AS g CROSS JOIN names AS n
    LEFT JOIN counts AS c ON c.ts = g.ts AND c.label = n.label
    WHERE g.ts <= (SELECT as_of FROM replay_clock)
    ORDER BY g.ts, n.ord
    """
    return _sql(con, query, _p(start, end))


def queue_depth_over_time(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Queue depth per arch and context (mean and max per bucket).

    Columns: ``ts``, ``arch``, ``queue``, ``mean_size``, ``max_size``, ``bucket_h``."""
    hours = _bucket_hours(start, end, points=150)
    query = f"""
    SELECT time_bucket(INTERVAL {hours} HOUR, observed_at) AS ts, arch, queue,
           round(avg(size), 1) AS mean_size, max(size) AS max_size, {hours} AS bucket_h
    FROM queue_depth
    WHERE observed_at >= $start::TIMESTAMPTZ AND observed_at < $end::TIMESTAMPTZ
    GROUP BY ALL ORDER BY ts, queue, arch
    """
    return _sql(con, query, _p(start, end))


def wait_and_run_quantiles(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Quantiles of queue wait and run time per arch and ISO week (minutes).

    Waits count runs that *started* in the window, run times runs that *finished* in
    it. Columns: ``week``, ``arch``, ``metric``, ``n``, ``p10 p25 p50 p75 p90`` (min)."""
    query = """
    WITH m AS (
        SELECT 'queue wait' AS metric, arch, started_at AS ts, queue_wait_s AS s
        FROM test_runs
        WHERE started_at >= $start::TIMESTAMPTZ AND started_at < $end::TIMESTAMPTZ
          AND queue_wait_s IS NOT NULL
        UNION ALL
        SELECT 'run time', arch, finished_at, run_time_s
        FROM test_runs
        WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ
          AND run_time_s IS NOT NULL
    )
    SELECT strftime(date_trunc('week', ts), '%G-W%V') AS week, arch, metric,
           count(*) AS n,
           round(quantile_cont(s, 0.10) / 60, 1) AS p10,
           round(quantile_cont(s, 0.25) / 60, 1) AS p25,
           round(quantile_cont(s, 0.50) / 60, 1) AS p50,
           round(quantile_cont(s, 0.75) / 60, 1) AS p75,
           round(quantile_cont(s, 0.90) / 60, 1) AS p90
    FROM m GROUP BY ALL ORDER BY week, metric, arch
    """
    return _sql(con, query, _p(start, end))


# -- throughput ------------------------------------------------------------------------


def runs_per_day(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Test runs finished (or dropped) per day and outcome.

    Columns: ``day``, ``outcome``, ``runs``."""
    query = """
    SELECT date_trunc('day', coalesce(finished_at, dropped_at)) AS day,
           CASE WHEN finished_at IS NULL THEN 'dropped' ELSE coalesce(outcome, 'unknown') END
               AS outcome,
           count(*) AS runs
    FROM test_runs
    WHERE coalesce(finished_at, dropped_at) >= $start::TIMESTAMPTZ
      AND coalesce(finished_at, dropped_at) < $end::TIMESTAMPTZ
    GROUP BY ALL ORDER BY day, outcome
    """
    return _sql(con, query, _p(start, end))


def uploads_per_day(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Uploads entering -proposed and leaving it (migrated, superseded, removed) per day.

    Columns: ``day``, ``flow`` (entered | migrated | superseded | removed), ``uploads``."""
    query = """
    WITH f AS (
        SELECT first_seen AS ts, 'entered' AS flow FROM uploads
        UNION ALL SELECT migrated_at, 'migrated' FROM uploads WHERE migrated_at IS NOT NULL
        UNION ALL SELECT superseded_at, 'superseded' FROM uploads
            WHERE superseded_at IS NOT NULL
        UNION ALL SELECT removed_at, 'removed' FROM uploads WHERE removed_at IS NOT NULL
    )
    SELECT date_trunc('day', ts) AS day, flow, count(*) AS uploads
    FROM f WHERE ts >= $start::TIMESTAMPTZ AND ts < $end::TIMESTAMPTZ
    GROUP BY ALL ORDER BY day, flow
    """
    return _sql(con, query, _p(start, end))


# -- one upload -----------------------------------------------------------------------


def upload_runs(
    con: Connection, package: str, version: str, release: str | None = None, limit: int = 60
) -> pl.DataFrame:
    """The test runs of one upload, as Gantt segments (queued, running).

    The *critical* run is the one that ended last: the upload's tests were done only
    when it was. With more than ``limit`` runs, the ``limit`` that ended last are kept
    (the critical one always is). Columns: ``label``, ``arch``, ``testsrc``,
    ``attempt``, ``segment``, ``start``, ``end``, ``outcome``, ``critical``,
    ``minutes``, ``runs_total``."""
    query = """
    WITH r AS (
        SELECT arch, testsrc, attempt::INTEGER AS attempt, requested_at, started_at, state,
               coalesce(outcome, state) AS outcome,
               coalesce(finished_at, dropped_at, abandoned_at,
                        (SELECT as_of FROM replay_clock)) AS end_at
        FROM test_runs
        WHERE list_contains(triggers, $trigger) AND ($release IS NULL OR release = $release)
    ), ranked AS (
        SELECT *, row_number() OVER (ORDER BY end_at DESC, arch, testsrc, attempt) AS rank,
               count(*) OVER () AS runs_total
        FROM r
    ), kept AS (
        SELECT *, rank = 1 AS critical,
               testsrc || CASE WHEN attempt > 1 THEN ' (try ' || attempt || ')' ELSE '' END
                   AS label
        FROM ranked WHERE rank <= $limit
    ), seg AS (
        SELECT label, arch, testsrc, attempt, 'queued' AS segment, requested_at AS start,
               coalesce(started_at, end_at) AS "end", outcome, critical, runs_total
        FROM kept WHERE requested_at IS NOT NULL
        UNION ALL
        SELECT label, arch, testsrc, attempt, 'running', started_at, end_at, outcome,
               critical, runs_total
        FROM kept WHERE started_at IS NOT NULL
    )
    SELECT *, round(epoch("end" - start) / 60, 1) AS minutes
    FROM seg ORDER BY arch, start, label
    """
    params = {
        "trigger": f"{package}/{version}",
        "release": release,
        "limit": limit,
    }
    return _sql(con, query, params)


def slowest_uploads(
    con: Connection, start: datetime, end: datetime, n: int = 10, *, include_open: bool = True
) -> pl.DataFrame:
    """Uploads that left -proposed in the window (or, with ``include_open``, were still
    there at its end), longest first, with where their time went (hours).

    Columns: ``package``, ``version``, ``state``, ``days``, ``building_h``,
    ``testing_h``, ``britney_h``, ``blocked_h``, ``tests``, ``last_test``, ``release``."""
    query = """
    SELECT package, version,
           CASE WHEN ended_at IS NULL OR ended_at >= $end::TIMESTAMPTZ THEN 'still in proposed'
                ELSE state END AS state,
           round(epoch(least(coalesce(ended_at, $end::TIMESTAMPTZ), $end::TIMESTAMPTZ)
                       - first_seen) / 86400, 1) AS days,
           round(building_s / 3600, 1) AS building_h,
           round(testing_s / 3600, 1) AS testing_h,
           round(pickup_s / 3600, 1) AS britney_h,
           round(blocked_s / 3600, 1) AS blocked_h,
           tests_total AS tests, last_result_test AS last_test, release
    FROM uploads
    WHERE first_seen < $end::TIMESTAMPTZ
      AND ((ended_at >= $start::TIMESTAMPTZ AND ended_at < $end::TIMESTAMPTZ)
           OR ($open AND (ended_at IS NULL OR ended_at >= $end::TIMESTAMPTZ)))
    ORDER BY days DESC, package, version
    LIMIT $n
    """
    return _sql(con, query, _p(start, end, n=n, open=include_open))


# -- where the time goes -------------------------------------------------------------


def stage_matrix(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """p50/p90 hours from each upload milestone to each later one, over the uploads
    that migrated in the window.

    Columns: ``from``, ``to``, ``p50_h``, ``p90_h``, ``n``."""
    pairs = [
        (i, j, a, b, ca, cb)
        for i, (a, ca) in enumerate(MILESTONES)
        for j, (b, cb) in enumerate(MILESTONES)
        if j > i
    ]
    values = ",\n".join(
        f"('{a}', '{b}', {i}, {j}, epoch({cb} - {ca}))" for i, j, a, b, ca, cb in pairs
    )
    query = f"""
    WITH u AS (
        SELECT * FROM uploads
        WHERE migrated_at >= $start::TIMESTAMPTZ AND migrated_at < $end::TIMESTAMPTZ
    ), d AS (
        SELECT p.* FROM u, (VALUES {values}) AS p("from", "to", i, j, s)
    )
    SELECT "from", "to",
           round(quantile_cont(s, 0.5) / 3600, 1) AS p50_h,
           round(quantile_cont(s, 0.9) / 3600, 1) AS p90_h,
           count(s) AS n
    FROM d WHERE s IS NOT NULL AND s >= 0
    GROUP BY "from", "to", i, j ORDER BY i, j
    """
    return _sql(con, query, _p(start, end))


def migration_times(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Histogram of upload -> migration time for uploads migrated in the window.

    Columns: ``bin`` (label), ``lo_h``, ``hi_h``, ``uploads``, ``share``."""
    edges = list(MIGRATION_BINS_H)
    rows = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        label = _hours_label(lo) + ("+" if hi is None else f"-{_hours_label(hi)}")
        rows.append(f"({i}, '{label}', {lo}, {hi if hi is not None else 'NULL'})")
    query = f"""
    WITH b(i, bin, lo_h, hi_h) AS (VALUES {", ".join(rows)}),
    u AS (
        SELECT epoch(migrated_at - first_seen) / 3600 AS h FROM uploads
        WHERE migrated_at >= $start::TIMESTAMPTZ AND migrated_at < $end::TIMESTAMPTZ
    ), c AS (
        SELECT b.i, b.bin, b.lo_h, b.hi_h, count(u.h) AS uploads
        FROM b LEFT JOIN u ON u.h >= b.lo_h AND (b.hi_h IS NULL OR u.h < b.hi_h)
        GROUP BY ALL
    )
    SELECT bin, lo_h, hi_h, uploads,
           round(uploads / greatest(sum(uploads) OVER (), 1), 3) AS share
    FROM c ORDER BY i
    """
    return _sql(con, query, _p(start, end))


def _hours_label(hours: float) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)}d"
    return f"{int(hours)}h"


def migration_trend(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Per day of migration: p50/p90 upload -> migration time (hours) and count.

    Columns: ``day``, ``p50_h``, ``p90_h``, ``migrated``."""
    query = """
    SELECT date_trunc('day', migrated_at) AS day,
           round(quantile_cont(epoch(migrated_at - first_seen), 0.5) / 3600, 1) AS p50_h,
           round(quantile_cont(epoch(migrated_at - first_seen), 0.9) / 3600, 1) AS p90_h,
           count(*) AS migrated
    FROM uploads
    WHERE migrated_at >= $start::TIMESTAMPTZ AND migrated_at < $end::TIMESTAMPTZ
    GROUP BY ALL ORDER BY day
    """
    return _sql(con, query, _p(start, end))


def infra_failure_rates(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """tmpfail and error rates per arch and day (infrastructure health).

    Columns: ``day``, ``arch``, ``outcome`` (tmpfail | error), ``failures``, ``runs``,
    ``rate`` (0-1)."""
    query = f"""
    WITH r AS (
        SELECT date_trunc('day', finished_at) AS day, arch, outcome
        FROM test_runs
        WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ
    ), tot AS (SELECT day, arch, count(*) AS runs FROM r GROUP BY ALL),
    kinds(outcome) AS (VALUES {", ".join(f"('{o}')" for o in INFRA_OUTCOMES)})
    SELECT t.day, t.arch, k.outcome,
           count(r.outcome) AS failures, t.runs,
           round(count(r.outcome) / t.runs, 4) AS rate
    FROM tot AS t CROSS JOIN kinds AS k
    LEFT JOIN r ON r.day = t.day AND r.arch = t.arch AND r.outcome = k.outcome
    GROUP BY t.day, t.arch, k.outcome, t.runs ORDER BY t.day, t.arch, k.outcome
    """
    return _sql(con, query, _p(start, end))


def load_by_hour(con: Connection, start: datetime, end: datetime) -> pl.DataFrame:
    """Test runs requested and finished by hour of day x day of week (UTC).

    Columns: ``dow`` (1 = Monday), ``day`` (Mon..Sun), ``hour``, ``requested``,
    ``finished``."""
    query = """
    WITH grid AS (
        SELECT d AS dow, h AS hour FROM range(1, 8) AS a(d), range(0, 24) AS b(h)
    ), req AS (
        SELECT isodow(requested_at) AS dow, hour(requested_at) AS hour, count(*) AS n
        FROM test_runs
        WHERE requested_at >= $start::TIMESTAMPTZ AND requested_at < $end::TIMESTAMPTZ
        GROUP BY ALL
    ), fin AS (
        SELECT isodow(finished_at) AS dow, hour(finished_at) AS hour, count(*) AS n
        FROM test_runs
        WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ
        GROUP BY ALL
    )
    SELECT g.dow::INTEGER AS dow,
           ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][g.dow] AS day,
           g.hour::INTEGER AS hour,
           coalesce(req.n, 0) AS requested, coalesce(fin.n, 0) AS finished
    FROM grid AS g
    LEFT JOIN req USING (dow, hour) LEFT JOIN fin USING (dow, hour)
    ORDER BY g.dow, g.hour
    """
    return _sql(con, query, _p(start, end))


# -- tables for people ---------------------------------------------------------------


def longest_queue_waits(
    con: Connection, start: datetime, end: datetime, n: int = 10
) -> pl.DataFrame:
    """Runs that started in the window after the longest waits in a queue.

    Columns: ``testsrc``, ``arch``, ``queue``, ``triggers``, ``requested_at``,
    ``started_at``, ``wait_h``, ``outcome``."""
    query = """
    SELECT testsrc, arch, queue, array_to_string(triggers, ' ') AS triggers,
           requested_at, started_at, round(queue_wait_s / 3600, 1) AS wait_h, outcome
    FROM test_runs
    WHERE started_at >= $start::TIMESTAMPTZ AND started_at < $end::TIMESTAMPTZ
      AND queue_wait_s IS NOT NULL
    ORDER BY queue_wait_s DESC, testsrc, arch
    LIMIT $n
    """
    return _sql(con, query, _p(start, end, n=n))


def flaky_tests(con: Connection, start: datetime, end: datetime, n: int = 10) -> pl.DataFrame:
    """Tests retried with different outcomes for the same trigger: flaky or broken
    infrastructure. Counted over runs finished in the window.

    Columns: ``testsrc``, ``arch``, ``flaky_triggers`` (triggers whose retries
    disagreed), ``runs``, ``outcomes`` (e.g. ``fail, pass``)."""
    query = """
    WITH k AS (
        SELECT release, testsrc, arch, test_key, count(*) AS runs,
               list_sort(list_distinct(list(outcome))) AS outcomes
        FROM test_runs
        WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ
        GROUP BY ALL
        HAVING count(DISTINCT outcome) > 1
    )
    SELECT testsrc, arch, count(*) AS flaky_triggers, sum(runs)::BIGINT AS runs,
           array_to_string(list_sort(list_distinct(flatten(list(outcomes)))), ', ')
               AS outcomes
    FROM k GROUP BY testsrc, arch
    ORDER BY flaky_triggers DESC, runs DESC, testsrc, arch
    LIMIT $n
    """
    return _sql(con, query, _p(start, end, n=n))


def headline(con: Connection, week: Week) -> pl.DataFrame:
    """The week's headline numbers beside the previous week's.

    Columns: ``metric``, ``this_week``, ``previous_week``, ``change`` (relative, None
    when the previous value is 0 or missing), ``better`` (``up`` | ``down``: which
    direction is good; empty when neither), ``unit``."""
    metrics = _headline_values(con, week.start, week.end)
    previous = _headline_values(con, week.previous.start, week.previous.end)
    rows = []
    for name, (value, unit, better) in metrics.items():
        before = previous[name][0]
        change = None
        if value is not None and before not in (None, 0):
            change = round((value - before) / before, 3)
        rows.append((name, value, before, change, better, unit))
    return pl.DataFrame(
        rows,
        schema={
            "metric": pl.String,
            "this_week": pl.Float64,
            "previous_week": pl.Float64,
            "change": pl.Float64,
            "better": pl.String,
            "unit": pl.String,
        },
        orient="row",
    )


def _headline_values(
    con: Connection, start: datetime, end: datetime
) -> dict[str, tuple[float | None, str, str]]:
    query = f"""
    SELECT
        (SELECT count(*) FROM uploads
         WHERE first_seen >= $start::TIMESTAMPTZ AND first_seen < $end::TIMESTAMPTZ) AS entered,
        (SELECT count(*) FROM uploads
         WHERE migrated_at >= $start::TIMESTAMPTZ AND migrated_at < $end::TIMESTAMPTZ)
            AS migrated,
        (SELECT quantile_cont(epoch(migrated_at - first_seen), 0.5) / 3600 FROM uploads
         WHERE migrated_at >= $start::TIMESTAMPTZ AND migrated_at < $end::TIMESTAMPTZ)
            AS migration_p50_h,
        (SELECT count(*) FROM uploads
         WHERE first_seen < $end::TIMESTAMPTZ
           AND (ended_at IS NULL OR ended_at >= $end::TIMESTAMPTZ)) AS open_at_end,
        (SELECT count(*) FROM test_runs
         WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ) AS runs,
        (SELECT sum(run_time_s) / 3600 FROM test_runs
         WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ)
            AS test_hours,
        (SELECT quantile_cont(queue_wait_s, 0.5) / 60 FROM test_runs
         WHERE started_at >= $start::TIMESTAMPTZ AND started_at < $end::TIMESTAMPTZ)
            AS wait_p50_min,
        (SELECT quantile_cont(queue_wait_s, 0.9) / 3600 FROM test_runs
         WHERE started_at >= $start::TIMESTAMPTZ AND started_at < $end::TIMESTAMPTZ)
            AS wait_p90_h,
        (SELECT 100 * avg((outcome IN ({_INFRA_LIST}))::INTEGER) FROM test_runs
         WHERE finished_at >= $start::TIMESTAMPTZ AND finished_at < $end::TIMESTAMPTZ)
            AS infra_pct
    """
    row = _sql(con, query, _p(start, end)).row(0, named=True)

    def num(key: str, digits: int = 1) -> float | None:
        value = row[key]
        return None if value is None else round(float(value), digits)

    return {
        "uploads entered -proposed": (num("entered", 0), "uploads", ""),
        "uploads migrated": (num("migrated", 0), "uploads", "up"),
        "median time to migrate": (num("migration_p50_h"), "hours", "down"),
        "uploads still in -proposed at week end": (num("open_at_end", 0), "uploads", "down"),
        "test runs finished": (num("runs", 0), "runs", ""),
        "test time": (num("test_hours", 0), "hours", ""),
        "median queue wait": (num("wait_p50_min"), "minutes", "down"),
        "90th percentile queue wait": (num("wait_p90_h"), "hours", "down"),
        "infrastructure failures (tmpfail + error)": (num("infra_pct", 2), "% of runs", "down"),
    }
