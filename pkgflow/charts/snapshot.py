"""A real britney snapshot (``update_excuses.yaml``) imported into a store: chart data
and charts for ``notebooks/real_excuses.ipynb``.

A snapshot shows each upload still in -proposed with its per-arch test results (exact
finish times from the run ids), its verdict and what blocks it. It has no queue
history, so the questions here are the ones one snapshot can answer.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import duckdb
import polars as pl

from pkgflow.charts import theme
from pkgflow.charts.data import Connection

ROOT = Path(__file__).resolve().parent.parent.parent
REAL_EXCUSES = ROOT.parent / "shared" / "data" / "update_excuses-plucky-2025-03-14.yaml.xz"


@dataclass
class Snapshot:
    """The snapshot imported into a store, with a connection over it."""

    path: Path
    store: Path
    con: duckdb.DuckDBPyConnection
    generated: object  # datetime of the newest event (the snapshot's generated-date)
    events: int


def load_snapshot(path: Path | str | None = None, store: Path | str | None = None) -> (
    Snapshot | str
):
    """Import the snapshot into ``store`` (default: a new temporary folder) and connect.

    Returns a message (str) instead when the file is absent, e.g. outside a checkout
    with ``../shared`` beside it."""
    from pkgflow.ingest.importers import import_excuses
    from pkgflow.replay import connect
    from pkgflow.store import EventStore

    source = Path(path) if path else REAL_EXCUSES
    if not source.exists():
        return (
            f"The real snapshot is not here: {source} does not exist. It lives in "
            "../shared/data/ beside the checkout (the project's shared data); without it "
            "this notebook has nothing to show."
        )
    root = Path(store) if store else Path(tempfile.mkdtemp(prefix="pkgflow-excuses-"))
    result = import_excuses(EventStore(root), [source])
    con = connect(root, materialize=True)
    newest = con.sql("SELECT max(occurred_at) FROM _events").fetchall()[0][0]
    return Snapshot(source, root, con, newest, result.stored.accepted + result.stored.duplicates)


def results_by_arch(con: Connection) -> pl.DataFrame:
    """britney's status of the latest result per (upload, test, arch), per arch.

    Columns: ``arch``, ``status``, ``results``."""
    return con.sql("""
        SELECT arch, coalesce(britney_status, upper(outcome), state) AS status,
               count(*) AS results
        FROM test_runs GROUP BY ALL ORDER BY arch, results DESC
    """).pl()


def largest_fanouts(con: Connection, n: int = 15) -> pl.DataFrame:
    """Uploads with the most test results (test packages x arches).

    Columns: ``package``, ``version``, ``tests``, ``passed``, ``failed``, ``running``,
    ``verdict``."""
    return con.sql(f"""
        SELECT package, version, tests_total AS tests, tests_passed AS passed,
               tests_failed AS failed, tests_running + tests_queued AS running, verdict
        FROM uploads ORDER BY tests_total DESC, package LIMIT {int(n)}
    """).pl()


def blocked_ages(con: Connection) -> pl.DataFrame:
    """How long uploads still in -proposed have been there, by verdict (days, binned).

    Columns: ``verdict``, ``age``, ``lo_days``, ``uploads``."""
    return con.sql("""
        WITH u AS (
            SELECT verdict, age_s / 86400 AS days FROM uploads WHERE ended_at IS NULL
        ), b AS (
            SELECT verdict,
                CASE WHEN days < 1 THEN 0 WHEN days < 7 THEN 1 WHEN days < 30 THEN 7
                     WHEN days < 90 THEN 30 WHEN days < 365 THEN 90 ELSE 365 END AS lo_days
            FROM u
        )
        SELECT verdict,
            CASE lo_days WHEN 0 THEN '< 1 day' WHEN 1 THEN '1-7 days' WHEN 7 THEN '1-4 weeks'
                 WHEN 30 THEN '1-3 months' WHEN 90 THEN '3-12 months' ELSE '> 1 year' END AS age,
            lo_days, count(*) AS uploads
        FROM b GROUP BY ALL ORDER BY lo_days, verdict
    """).pl()


def wait_summary(con: Connection) -> pl.DataFrame:
    """Median / p90 / max days in -proposed per verdict. Columns: ``verdict``,
    ``uploads``, ``median_days``, ``p90_days``, ``max_days``."""
    return con.sql("""
        SELECT verdict, count(*) AS uploads,
               round(median(age_s) / 86400, 1) AS median_days,
               round(quantile_cont(age_s, 0.9) / 86400, 1) AS p90_days,
               round(max(age_s) / 86400, 1) AS max_days
        FROM uploads WHERE ended_at IS NULL GROUP BY verdict ORDER BY uploads DESC
    """).pl()


def finished_per_hour(con: Connection) -> pl.DataFrame:
    """Results finished per hour and arch on the snapshot's day (UTC).

    Columns: ``hour`` (timestamp), ``arch``, ``runs``."""
    return con.sql("""
        WITH d AS (SELECT date_trunc('day', max(finished_at)) AS day FROM test_runs)
        SELECT date_trunc('hour', finished_at) AS hour, arch, count(*) AS runs
        FROM test_runs, d
        WHERE finished_at >= d.day
        GROUP BY ALL ORDER BY hour, arch
    """).pl()


def blockers(con: Connection, n: int = 15) -> pl.DataFrame:
    """What blocks what: the packages named most often in other uploads' blocked-by.

    Columns: ``blocker``, ``blocks`` (how many uploads), ``blocked`` (some of them)."""
    return con.sql(f"""
        WITH e AS (
            SELECT unnest(blocked_by) AS blocker, package FROM uploads
            WHERE ended_at IS NULL AND len(blocked_by) > 0
        )
        SELECT blocker, count(DISTINCT package) AS blocks,
               array_to_string(list_sort(list_distinct(list(package)))[1:6], ', ')
                   || CASE WHEN count(DISTINCT package) > 6 THEN ', ...' ELSE '' END AS blocked
        FROM e GROUP BY blocker ORDER BY blocks DESC, blocker LIMIT {int(n)}
    """).pl()


# -- charts -------------------------------------------------------------------------------


STATUS_COLORS = {
    "PASS": "#54a24b", "OLD_PASS": "#9bd18f", "NEUTRAL": "#bab0ac", "OLD_NEUTRAL": "#dcd6d3",
    "ALWAYSFAIL": "#f2a09e", "REGRESSION": "#c62828", "OLD_FAIL": "#e8c3c2",
    "IGNORE-FAIL": "#b279a2", "RUNNING": "#4c78a8", "RUNNING-ALWAYSFAIL": "#9ecae9",
    "RUNNING-REFERENCE": "#72b7b2",
}


def results_by_arch_chart(frame: pl.DataFrame) -> alt.Chart:
    statuses = sorted(frame["status"].unique().to_list())
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("arch:N", title=None),
            x=alt.X("results:Q", title="results", stack="normalize", axis=alt.Axis(format="%")),
            color=alt.Color("status:N", title="britney status",
                            scale=theme.scale(STATUS_COLORS, statuses)),
            tooltip=["arch:N", "status:N", alt.Tooltip("results:Q", format=",")],
        )
        .properties(width=560, height=170,
                    title=alt.TitleParams("Results per arch by britney status",
                                          subtitle="share of each arch's results"))
    )


def blocked_ages_chart(frame: pl.DataFrame) -> alt.Chart:
    ages = frame.sort("lo_days")["age"].unique(maintain_order=True).to_list()
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("age:O", title="time in -proposed", sort=ages, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("uploads:Q", title="uploads"),
            color=alt.Color("verdict:N", title="verdict"),
            tooltip=["age:O", "verdict:N", alt.Tooltip("uploads:Q", format=",")],
        )
        .properties(width=560, height=200,
                    title=alt.TitleParams("How long uploads still in -proposed have waited",
                                          subtitle="by britney's verdict at the snapshot"))
    )


def finished_per_hour_chart(frame: pl.DataFrame) -> alt.Chart:
    arches = sorted(frame["arch"].unique().to_list())
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("hour:O", title="hour (UTC)", timeUnit="utchours"),
            y=alt.Y("runs:Q", title="results finished"),
            color=alt.Color("arch:N", scale=theme.scale(theme.ARCH_COLORS, arches)),
            tooltip=[alt.Tooltip("hour:T", format="%H:00", formatType="utc"), "arch:N",
                     alt.Tooltip("runs:Q", format=",")],
        )
        .properties(width=560, height=200,
                    title=alt.TitleParams("Results finished per hour on the snapshot day",
                                          subtitle="from the run ids in the log URLs"))
    )


def blockers_chart(frame: pl.DataFrame) -> alt.Chart:
    return (
        alt.Chart(frame)
        .mark_bar(color="#e45756")
        .encode(
            y=alt.Y("blocker:N", title=None, sort="-x"),
            x=alt.X("blocks:Q", title="uploads it blocks"),
            tooltip=["blocker:N", "blocks:Q", "blocked:N"],
        )
        .properties(width=480, height=alt.Step(16),
                    title=alt.TitleParams("What blocks what",
                                          subtitle="packages named in other uploads' "
                                                   "blocked-by"))
    )
