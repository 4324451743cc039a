"""Chart builders: pure functions from a small frame (see :mod:`pkgflow.charts.data`)
to an Altair chart. No I/O, no connection; the frame is already aggregated.

Times are UTC instants; every time axis uses a UTC scale so that a chart reads the
same in any browser's time zone.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from pkgflow.charts import theme
from pkgflow.charts.data import INFRA_OUTCOMES, MILESTONE_ORDER, STAGE_ORDER

UTC_SCALE = alt.Scale(type="utc")
DAY_FORMAT = "%a %d %b"
TIME_FORMAT = "%a %d %b %H:%M"
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _present(frame: pl.DataFrame, column: str) -> list[str]:
    return sorted(str(v) for v in frame[column].unique().drop_nulls().to_list())


def _time(field: str, title: str | None = None, fmt: str = TIME_FORMAT) -> alt.X:
    return alt.X(f"{field}:T", title=title, scale=UTC_SCALE, axis=alt.Axis(format=fmt,
                                                                            labelAngle=0))


def _time_tip(field: str, title: str, fmt: str = TIME_FORMAT) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", title=title, format=fmt, formatType="utc")


def _title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or "")


# -- work in progress, queues ------------------------------------------------------


def wip_chart(frame: pl.DataFrame, title: str = "Work in progress by stage") -> alt.FacetChart:
    """Stacked areas: test runs queued/running and uploads per stage, over time."""
    stages = [s for s in STAGE_ORDER if s in _present(frame, "stage")]
    base = alt.Chart().encode(
        x=_time("ts", None),
        y=alt.Y("count:Q", title="in stage", stack="zero"),
        color=alt.Color("stage:N", title="stage", scale=theme.scale(theme.STAGE_COLORS, stages),
                        sort=stages),
        order=alt.Order("stage_order:Q"),
    )
    area = base.mark_area(interpolate="step-after", opacity=0.85)
    points = base.mark_point(opacity=0, size=60).encode(
        tooltip=[_time_tip("ts", "time (UTC)"), alt.Tooltip("stage:N"),
                 alt.Tooltip("count:Q", title="count", format=",")]
    )
    return (
        alt.layer(area, points)
        .transform_calculate(stage_order=f"indexof({stages!r}, datum.stage)")
        .properties(width=620, height=150)
        .facet(row=alt.Row("unit:N", title=None, sort=["test runs", "uploads"]), data=frame)
        .resolve_scale(y="independent")
        .properties(title=_title(title, "test runs are counted per run; uploads per upload"))
    )


def queue_depth_chart(frame: pl.DataFrame, title: str = "Queue depth") -> alt.FacetChart:
    """Mean queue size per bucket, one line per arch, one panel per queue context."""
    arches = _present(frame, "arch")
    bucket = int(frame["bucket_h"][0]) if frame.height else 1
    line = alt.Chart().mark_line().encode(
        x=_time("ts", None),
        y=alt.Y("mean_size:Q", title="requests waiting"),
        color=alt.Color("arch:N", title="arch", scale=theme.scale(theme.ARCH_COLORS, arches)),
        tooltip=[_time_tip("ts", "bucket start (UTC)"), "arch:N", "queue:N",
                 alt.Tooltip("mean_size:Q", title="mean size", format=",.0f"),
                 alt.Tooltip("max_size:Q", title="max size", format=",")],
    )
    return (
        alt.layer(line, line.mark_point(opacity=0, size=40))
        .properties(width=620, height=140)
        .facet(row=alt.Row("queue:N", title="queue context"), data=frame)
        .resolve_scale(y="independent")
        .properties(title=_title(title, f"mean size per {bucket} h, per arch and context"))
    )


def wait_run_boxes(
    frame: pl.DataFrame, title: str = "Queue wait and run time per arch"
) -> alt.FacetChart:
    """Boxes from pre-computed quantiles: whiskers p10-p90, box p25-p75, tick p50."""
    arches = _present(frame, "arch")
    base = alt.Chart().encode(
        x=alt.X("arch:N", title=None, sort=arches),
        tooltip=["week:N", "arch:N", "metric:N", alt.Tooltip("n:Q", format=","),
                 alt.Tooltip("p10:Q", title="p10 (min)"), alt.Tooltip("p25:Q", title="p25 (min)"),
                 alt.Tooltip("p50:Q", title="median (min)"),
                 alt.Tooltip("p75:Q", title="p75 (min)"), alt.Tooltip("p90:Q", title="p90 (min)")],
    )
    whisker = base.mark_rule(color="#666").encode(
        y=alt.Y("p10:Q", title="minutes"), y2="p90:Q"
    )
    box = base.mark_bar(size=18).encode(
        y="p25:Q", y2="p75:Q",
        color=alt.Color("arch:N", scale=theme.scale(theme.ARCH_COLORS, arches), legend=None),
    )
    median = base.mark_tick(color="black", size=18, thickness=2).encode(y="p50:Q")
    return (
        alt.layer(whisker, box, median)
        .properties(width=max(90, 34 * len(arches)), height=180)
        .facet(column=alt.Column("week:N", title=None),
               row=alt.Row("metric:N", title=None, sort=["queue wait", "run time"]), data=frame)
        .resolve_scale(y="independent")
        .properties(title=_title(title, "box: 25th-75th percentile, line: median, "
                                        "whiskers: 10th-90th"))
    )


# -- throughput ---------------------------------------------------------------------


def _day_x() -> alt.X:
    """The x axis of per-day bar charts: one band per UTC day."""
    return alt.X("day:O", title=None, timeUnit="utcyearmonthdate",
                 axis=alt.Axis(format=DAY_FORMAT, formatType="utc", labelAngle=0))


def runs_per_day_chart(frame: pl.DataFrame, title: str = "Test runs finished per day") -> alt.Chart:
    """Stacked bars: runs per day by outcome."""
    outcomes = [o for o in theme.OUTCOME_COLORS if o in _present(frame, "outcome")]
    outcomes += [o for o in _present(frame, "outcome") if o not in outcomes]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_day_x(),
            y=alt.Y("runs:Q", title="runs", stack="zero"),
            color=alt.Color("outcome:N", scale=theme.scale(theme.OUTCOME_COLORS, outcomes),
                            sort=outcomes),
            order=alt.Order("outcome_order:Q"),
            tooltip=[_time_tip("day", "day", DAY_FORMAT), "outcome:N",
                     alt.Tooltip("runs:Q", format=",")],
        )
        .transform_calculate(outcome_order=f"indexof({outcomes!r}, datum.outcome)")
        .properties(width=620, height=220, title=_title(title, "colour: outcome of the run"))
    )


def uploads_flow_chart(
    frame: pl.DataFrame, title: str = "Uploads entering and leaving -proposed"
) -> alt.Chart:
    """Grouped bars per day: entered vs migrated (and superseded / removed)."""
    flows = [f for f in theme.FLOW_COLORS if f in _present(frame, "flow")]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=_day_x(),
            xOffset=alt.XOffset("flow:N", sort=flows),
            y=alt.Y("uploads:Q", title="uploads"),
            color=alt.Color("flow:N", title=None, scale=theme.scale(theme.FLOW_COLORS, flows),
                            sort=flows),
            tooltip=[_time_tip("day", "day", DAY_FORMAT), "flow:N",
                     alt.Tooltip("uploads:Q", format=",")],
        )
        .properties(width=620, height=200, title=_title(title, "per day (UTC)"))
    )


# -- one upload -------------------------------------------------------------------------


def upload_timeline_chart(frame: pl.DataFrame, title: str = "Test runs of one upload") -> (
    alt.FacetChart
):
    """Gantt per arch: each run's queue wait (light) and run (coloured by outcome); the
    critical run (the one that ended last) is outlined in black."""
    colored = frame.with_columns(
        color=pl.when(pl.col("segment") == "queued")
        .then(pl.lit("queued"))
        .otherwise(pl.col("outcome"))
    )
    keys = [k for k in theme.OUTCOME_COLORS if k in _present(colored, "color")]
    keys += [k for k in _present(colored, "color") if k not in keys]
    total = int(frame["runs_total"][0]) if frame.height else 0
    shown = frame.select(pl.struct("label", "arch")).n_unique() if frame.height else 0
    note = f"{shown} of {total} runs" + (" (those that ended last)" if shown < total else "")
    bars = alt.Chart().mark_bar(height=9).encode(
        x=alt.X("start:T", title=None, scale=UTC_SCALE,
                axis=alt.Axis(format=TIME_FORMAT, labelAngle=0)),
        x2="end:T",
        y=alt.Y("label:N", title=None, sort=alt.EncodingSortField("start", op="min")),
        color=alt.Color("color:N", title="segment / outcome",
                        scale=theme.scale(theme.OUTCOME_COLORS, keys)),
        stroke=alt.condition("datum.critical", alt.value("black"), alt.value(None)),
        strokeWidth=alt.condition("datum.critical", alt.value(2), alt.value(0)),
        tooltip=["testsrc:N", "arch:N", "attempt:Q", "segment:N", "outcome:N",
                 _time_tip("start", "from (UTC)"), _time_tip("end", "to (UTC)"),
                 alt.Tooltip("minutes:Q", format=",.1f"), "critical:N"],
    )
    return (
        bars.properties(width=620, height=alt.Step(13))
        .facet(row=alt.Row("arch:N", title=None), data=colored)
        .resolve_scale(y="independent")
        .properties(title=_title(title, f"{note}; light: waiting in the queue; "
                                        "black outline: the run that held the upload up "
                                        "longest (critical path)"))
    )


# -- where the time goes --------------------------------------------------------------


def stage_matrix_chart(
    frame: pl.DataFrame, title: str = "Where the time goes: milestone to milestone"
) -> alt.LayerChart:
    """Heatmap of median hours from one upload milestone (row) to a later one
    (column), labelled ``p50 / p90``."""
    labelled = frame.with_columns(
        label=pl.format("{} / {}", pl.col("p50_h").round(1), pl.col("p90_h").round(1))
    )
    base = alt.Chart(labelled).encode(
        x=alt.X("to:N", title="to", sort=list(MILESTONE_ORDER[1:]),
                axis=alt.Axis(orient="top", labelAngle=-20)),
        y=alt.Y("from:N", title="from", sort=list(MILESTONE_ORDER[:-1])),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("p50_h:Q", title="median hours", scale=alt.Scale(scheme="oranges",
                                                                         type="sqrt")),
        tooltip=["from:N", "to:N", alt.Tooltip("p50_h:Q", title="median (h)"),
                 alt.Tooltip("p90_h:Q", title="90th percentile (h)"),
                 alt.Tooltip("n:Q", title="uploads", format=",")],
    )
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition("datum.p50_h > 24", alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(
        width=560, height=220,
        title=_title(title, "hours, median / 90th percentile, over uploads migrated in the "
                            "window"),
    )


def migration_histogram(
    frame: pl.DataFrame, title: str = "Time from upload to migration"
) -> alt.Chart:
    """Bars per (pre-binned) duration range."""
    bins = frame["bin"].to_list()
    return (
        alt.Chart(frame)
        .mark_bar(color="#54a24b")
        .encode(
            x=alt.X("bin:O", title="time in -proposed", sort=bins, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("uploads:Q", title="uploads migrated"),
            tooltip=[alt.Tooltip("bin:O", title="time in -proposed"),
                     alt.Tooltip("uploads:Q", format=","),
                     alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=560, height=200, title=_title(title, "uploads migrated in the window"))
    )


def migration_trend_chart(
    frame: pl.DataFrame, title: str = "Time to migrate, per day of migration"
) -> alt.LayerChart:
    """Median and 90th percentile hours per day, with the count in the tooltip."""
    base = alt.Chart(frame).encode(
        x=alt.X("day:T", title=None, timeUnit="utcyearmonthdate",
                axis=alt.Axis(format=DAY_FORMAT, labelAngle=0)),
        tooltip=[_time_tip("day", "day", DAY_FORMAT), alt.Tooltip("p50_h:Q", title="median (h)"),
                 alt.Tooltip("p90_h:Q", title="90th percentile (h)"),
                 alt.Tooltip("migrated:Q", format=",")],
    )
    band = base.mark_area(opacity=0.25, color="#54a24b").encode(
        y=alt.Y("p50_h:Q", title="hours"), y2="p90_h:Q"
    )
    median = base.mark_line(point=True, color="#2f6b2a").encode(y="p50_h:Q")
    return (band + median).properties(
        width=620, height=200, title=_title(title, "line: median; band: up to the 90th "
                                                   "percentile")
    )


def infra_failure_chart(
    frame: pl.DataFrame, title: str = "Infrastructure health: tmpfail and error rate"
) -> alt.FacetChart:
    """Daily share of runs ending in tmpfail / error, per arch."""
    arches = _present(frame, "arch")
    line = alt.Chart().mark_line(point=True).encode(
        x=alt.X("day:T", title=None, timeUnit="utcyearmonthdate",
                axis=alt.Axis(format="%d %b", labelAngle=0)),
        y=alt.Y("rate:Q", title="share of runs", axis=alt.Axis(format="%")),
        color=alt.Color("arch:N", scale=theme.scale(theme.ARCH_COLORS, arches)),
        tooltip=[_time_tip("day", "day", DAY_FORMAT), "arch:N", "outcome:N",
                 alt.Tooltip("rate:Q", format=".2%"), alt.Tooltip("failures:Q", format=","),
                 alt.Tooltip("runs:Q", format=",")],
    )
    return (
        line.properties(width=290, height=180)
        .facet(column=alt.Column("outcome:N", title=None, sort=list(INFRA_OUTCOMES)),
               data=frame)
        .properties(title=_title(title, "tmpfail: testbed failure (exit 16); error: "
                                        "unexpected failure (exit 20)"))
    )


def load_heatmap(
    frame: pl.DataFrame, what: str = "finished", title: str | None = None
) -> alt.Chart:
    """Runs requested or finished by hour of day (UTC) x day of week."""
    label = {"finished": "runs finished", "requested": "runs requested"}[what]
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="hour of day (UTC)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("day:N", title=None, sort=WEEKDAYS),
            color=alt.Color(f"{what}:Q", title=label, scale=alt.Scale(scheme="blues")),
            tooltip=["day:N", "hour:O", alt.Tooltip("requested:Q", format=","),
                     alt.Tooltip("finished:Q", format=",")],
        )
        .properties(width=560, height=170,
                    title=_title(title or f"Load: {label} by hour and weekday", "UTC"))
    )
