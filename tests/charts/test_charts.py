"""Chart data (DuckDB -> small frames) and builders (frame -> Vega-Lite), checked
through ``chart.to_dict()``: marks, encodings, the aggregated values, and validity
against the Vega-Lite 6 schema (and compilation with Vega-Lite 5.8, the closest to
what JupyterLab 4 bundles)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import jsonschema
import polars as pl
import pytest

from pkgflow import charts
from pkgflow.charts import data
from pkgflow.errors import ReplayError
from pkgflow.replay import connect
from tests.notebooks.fixture import FIXTURE_WEEK, build_fixture_store

MAX_ROWS = 5000


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    store = build_fixture_store(tmp_path_factory.mktemp("charts") / "store")
    connection = connect(store, materialize=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def week(con) -> data.Week:
    found, complete = data.last_complete_week(con)
    assert complete
    return found


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft7Validator:
    path = Path(alt.__file__).parent / "vegalite" / "v6" / "schema" / "vega-lite-schema.json"
    return jsonschema.Draft7Validator(json.loads(path.read_text()))


def _all_charts(con, week: data.Week) -> dict[str, alt.TopLevelMixin]:
    s, e = week.start, week.end
    slow = data.slowest_uploads(con, s, e, n=1, include_open=False).row(0, named=True)
    return {
        "wip": charts.wip_chart(data.wip_over_time(con, s, e)),
        "queue_depth": charts.queue_depth_chart(data.queue_depth_over_time(con, s, e)),
        "boxes": charts.wait_run_boxes(data.wait_and_run_quantiles(con, s, e)),
        "runs": charts.runs_per_day_chart(data.runs_per_day(con, s, e)),
        "flow": charts.uploads_flow_chart(data.uploads_per_day(con, s, e)),
        "timeline": charts.upload_timeline_chart(
            data.upload_runs(con, slow["package"], slow["version"], slow["release"])
        ),
        "matrix": charts.stage_matrix_chart(data.stage_matrix(con, s, e)),
        "histogram": charts.migration_histogram(data.migration_times(con, s, e)),
        "trend": charts.migration_trend_chart(data.migration_trend(con, s, e)),
        "infra": charts.infra_failure_chart(data.infra_failure_rates(con, s, e)),
        "load": charts.load_heatmap(data.load_by_hour(con, s, e)),
    }


def _datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def _marks(spec: dict) -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            mark = node.get("mark")
            if mark is not None:
                found.add(mark if isinstance(mark, str) else mark["type"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def test_iso_weeks() -> None:
    week = data.iso_week("2025-W11")
    assert week.start == datetime(2025, 3, 10, tzinfo=UTC)
    assert week.end == datetime(2025, 3, 17, tzinfo=UTC)
    assert week.previous.label == "2025-W10"
    assert data.week_of(datetime(2025, 3, 16, 23, tzinfo=UTC)).label == "2025-W11"
    with pytest.raises(ReplayError, match="not an ISO week"):
        data.iso_week("2025-11")
    with pytest.raises(ReplayError, match="no ISO week 54"):
        data.iso_week("2025-W54")


def test_last_complete_week(week: data.Week) -> None:
    assert week.label == FIXTURE_WEEK


def test_every_chart_is_small_valid_and_compiles(con, week, schema) -> None:
    import vl_convert as vlc

    for name, chart in _all_charts(con, week).items():
        spec = chart.to_dict(validate=True)
        schema.validate(spec)  # the jsonschema package, beside altair's own check
        rows = sum(len(d) for d in _datasets(spec))
        assert 0 < rows <= MAX_ROWS, f"{name}: {rows} rows of data in the spec"
        svg = vlc.vegalite_to_svg(spec, vl_version="5.8")  # JupyterLab renders with VL 5
        assert svg.startswith("<svg"), name


def test_runs_per_day_aggregates_the_week(con, week) -> None:
    frame = data.runs_per_day(con, week.start, week.end)
    expected = con.sql(
        "SELECT count(*) FROM test_runs WHERE coalesce(finished_at, dropped_at) >= $s "
        "AND coalesce(finished_at, dropped_at) < $e", params={"s": week.start, "e": week.end}
    ).fetchall()[0][0]
    assert frame["runs"].sum() == expected
    spec = charts.runs_per_day_chart(frame).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["y"]["field"] == "runs"
    assert spec["encoding"]["y"]["stack"] == "zero"
    assert spec["encoding"]["color"]["field"] == "outcome"
    colors = dict(zip(spec["encoding"]["color"]["scale"]["domain"],
                      spec["encoding"]["color"]["scale"]["range"], strict=True))
    assert colors["pass"] == charts.theme.OUTCOME_COLORS["pass"]
    assert {t["field"] for t in spec["encoding"]["tooltip"]} == {"day", "outcome", "runs"}
    values = _datasets(spec)[0]
    assert sum(v["runs"] for v in values) == expected


def test_wip_counts_match_the_intervals(con, week) -> None:
    frame = data.wip_over_time(con, week.start, week.end)
    assert set(frame["stage"]) <= set(data.STAGE_ORDER)
    noon = datetime(2025, 3, 5, 12, tzinfo=UTC)
    got = frame.filter((pl.col("ts") == noon) & (pl.col("stage") == "queued"))["count"].item()
    expected = con.sql(
        "SELECT count(*) FROM stage_intervals WHERE entity_type = 'test' AND stage = 'queued' "
        "AND start_at <= $t AND coalesce(end_at, 'infinity'::TIMESTAMPTZ) > $t",
        params={"t": noon},
    ).fetchall()[0][0]
    assert got == expected
    spec = charts.wip_chart(frame).to_dict()
    assert spec["facet"]["row"]["field"] == "unit"
    assert spec["resolve"]["scale"]["y"] == "independent"
    assert _marks(spec) == {"area", "point"}


def test_quantile_boxes_are_ordered(con, week) -> None:
    frame = data.wait_and_run_quantiles(con, week.start, week.end)
    assert set(frame["metric"]) == {"queue wait", "run time"}
    for row in frame.iter_rows(named=True):
        assert row["p10"] <= row["p25"] <= row["p50"] <= row["p75"] <= row["p90"]
    spec = charts.wait_run_boxes(frame).to_dict()
    assert _marks(spec) == {"rule", "bar", "tick"}
    assert spec["facet"]["column"]["field"] == "week"


def test_upload_timeline_highlights_one_critical_run(con, week) -> None:
    slow = data.slowest_uploads(con, week.start, week.end, n=1, include_open=False)
    row = slow.row(0, named=True)
    frame = data.upload_runs(con, row["package"], row["version"], row["release"])
    critical = frame.filter("critical")
    assert critical.select("label", "arch").n_unique() == 1
    assert critical["end"].max() == frame["end"].max()
    assert set(frame["segment"]) <= {"queued", "running"}
    spec = charts.upload_timeline_chart(frame).to_dict()
    inner = spec["spec"]
    assert inner["mark"]["type"] == "bar"
    assert inner["encoding"]["x2"]["field"] == "end"
    assert inner["encoding"]["stroke"]["condition"]["test"] == "datum.critical"


def test_stage_matrix_is_upper_triangular(con, week) -> None:
    frame = data.stage_matrix(con, week.start, week.end)
    order = {m: i for i, m in enumerate(data.MILESTONE_ORDER)}
    assert frame.height > 0
    for row in frame.iter_rows(named=True):
        assert order[row["from"]] < order[row["to"]]
        assert row["p50_h"] <= row["p90_h"]
    spec = charts.stage_matrix_chart(frame).to_dict()
    assert _marks(spec) == {"rect", "text"}


def test_migration_histogram_counts_every_migration(con, week) -> None:
    frame = data.migration_times(con, week.start, week.end)
    migrated = con.sql(
        "SELECT count(*) FROM uploads WHERE migrated_at >= $s AND migrated_at < $e",
        params={"s": week.start, "e": week.end},
    ).fetchall()[0][0]
    assert frame["uploads"].sum() == migrated
    assert frame.height == len(data.MIGRATION_BINS_H)


def test_load_heatmap_is_a_full_grid(con, week) -> None:
    frame = data.load_by_hour(con, week.start, week.end)
    assert frame.height == 7 * 24
    spec = charts.load_heatmap(frame).to_dict()
    assert spec["mark"]["type"] == "rect"
    assert spec["encoding"]["y"]["sort"][0] == "Mon"


def test_headline_compares_with_the_previous_week(con, week) -> None:
    frame = data.headline(con, week)
    row = frame.filter(pl.col("metric") == "uploads migrated").row(0, named=True)
    assert row["this_week"] > 0
    if row["previous_week"]:
        expected = round((row["this_week"] - row["previous_week"]) / row["previous_week"], 3)
        assert row["change"] == expected


def test_flaky_tests_had_different_outcomes(con, week) -> None:
    frame = data.flaky_tests(con, week.start, week.end, n=50)
    for row in frame.iter_rows(named=True):
        assert "," in row["outcomes"]


def test_theme_and_renderers() -> None:
    assert charts.setup("svg") == "svg"
    assert alt.theme.active == "pkgflow"
    chart = alt.Chart(pl.DataFrame({"a": [1]})).mark_point().encode(x="a:Q")
    assert chart.to_dict()["config"]["font"] == charts.theme.FONT
    charts.setup("lab")
    bundle = alt.renderers.get()(chart.to_dict())[0]
    assert bundle["application/vnd.vegalite.v5+json"]["$schema"].endswith("v5.json")
    assert bundle["image/svg+xml"].startswith("<svg")
    with pytest.raises(ValueError, match="unknown chart renderer"):
        charts.setup("cdn")


def test_real_snapshot_degrades_without_shared_data(tmp_path: Path) -> None:
    from pkgflow.charts import snapshot

    message = snapshot.load_snapshot(tmp_path / "absent.yaml.xz")
    assert isinstance(message, str) and "does not exist" in message


@pytest.mark.shared_data
@pytest.mark.slow
def test_real_snapshot_charts(real_excuses: Path, tmp_path: Path, schema) -> None:
    from pkgflow.charts import snapshot

    snap = snapshot.load_snapshot(real_excuses, tmp_path / "store")
    assert not isinstance(snap, str)
    by_arch = snapshot.results_by_arch(snap.con)
    assert by_arch["results"].sum() > 20_000
    hourly = snapshot.finished_per_hour(snap.con)
    assert hourly["runs"].sum() > 3_000  # domain.md: ~3,500 finished runs that day
    for chart in (
        snapshot.results_by_arch_chart(by_arch),
        snapshot.blocked_ages_chart(snapshot.blocked_ages(snap.con)),
        snapshot.finished_per_hour_chart(hourly),
        snapshot.blockers_chart(snapshot.blockers(snap.con)),
    ):
        spec = chart.to_dict(validate=True)
        schema.validate(spec)
        assert sum(len(d) for d in _datasets(spec)) <= MAX_ROWS
