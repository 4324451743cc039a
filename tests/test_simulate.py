"""The pipeline simulator: shape, determinism, validity and emergent behaviour."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from pkgflow.events.parse import PARSED_COLUMNS, derived_event_id, parse_lines
from pkgflow.events.schema import EVENT_POLARS_SCHEMA, SAMPLE_POLARS_SCHEMA
from pkgflow.simulate import SAMPLE_COLUMNS, SimBatch, SimParams, simulate, to_json_lines
from pkgflow.simulate.frames import id_maker

START = datetime(2025, 3, 1, tzinfo=UTC)


def _collect(**kwargs) -> tuple[pl.DataFrame, pl.DataFrame, list[SimBatch]]:
    batches = list(simulate(**kwargs))
    events = pl.concat([b.events for b in batches])
    samples = pl.concat([b.samples for b in batches])
    return events, samples, batches


@pytest.fixture(scope="module")
def month() -> tuple[pl.DataFrame, pl.DataFrame, list[SimBatch]]:
    return _collect(days=30, seed=1)


@pytest.fixture(scope="module")
def events(month) -> pl.DataFrame:
    return month[0]


def _of(events: pl.DataFrame, event_type: str) -> pl.DataFrame:
    return events.filter(pl.col("event_type") == event_type)


# -- shape -----------------------------------------------------------------------------------


def test_batches_are_days_with_the_parsed_columns(month) -> None:
    events, samples, batches = month
    assert len(batches) == 30
    expected = {c: EVENT_POLARS_SCHEMA[c] for c in PARSED_COLUMNS}
    for i, batch in enumerate(batches):
        assert dict(batch.events.schema) == expected
        assert batch.samples.columns == SAMPLE_COLUMNS
        assert dict(batch.samples.schema) == {c: SAMPLE_POLARS_SCHEMA[c] for c in SAMPLE_COLUMNS}
        day = START + timedelta(days=i)
        assert batch.events["occurred_at"].min() >= day
        assert batch.events["occurred_at"].max() < day + timedelta(days=1)
    assert events["event_id"].n_unique() == events.height
    assert set(events["source"].unique()) == {"simulator"}
    assert set(events["schema_version"].unique()) == {2}
    assert set(events["release"].unique()) == {"plucky"}
    assert events["occurred_after"].null_count() == events.height
    assert 500_000 <= events.height <= 1_500_000
    assert set(events["event_type"].unique()) == {
        "upload.accepted", "build.missing", "build.completed", "test.requested",
        "test.started", "test.finished", "test.dropped", "results.published",
        "excuse.changed", "upload.migrated", "upload.superseded", "upload.removed",
    }  # fmt: skip


def test_events_are_in_time_order(events) -> None:
    assert events["occurred_at"].is_sorted()


def test_all_events_validate_and_round_trip_through_json_lines(events) -> None:
    sample = events.slice(events.height // 2, 40_000)
    parsed = parse_lines(to_json_lines(sample))
    assert parsed.rejections == []
    assert parsed.events.drop("line_number").equals(sample)


def test_event_ids_are_derived_ids() -> None:
    make = id_maker("simulator\x1fplucky\x1f7")
    for part in ("0", "1", "99999", "sample\x1f1740787200\x1famd64\x1fhuge"):
        assert make(part) == derived_event_id("simulator\x1fplucky\x1f7", part)


def test_release_and_start_are_honoured() -> None:
    start = datetime(2026, 1, 5, 12, 30, tzinfo=UTC)
    events, samples, _ = _collect(days=1, seed=2, start=start, release="questing", scale=0.3)
    assert set(events["release"].unique()) == {"questing"}
    assert events["occurred_at"].min() >= start
    assert samples["observed_at"].min() == start


# -- determinism ----------------------------------------------------------------------------------


def test_same_arguments_give_identical_frames() -> None:
    a_events, a_samples, _ = _collect(days=2, seed=5)
    b_events, b_samples, _ = _collect(days=2, seed=5)
    assert a_events.equals(b_events)
    assert a_samples.equals(b_samples)


def test_different_seeds_differ() -> None:
    a_events, _, _ = _collect(days=2, seed=5)
    b_events, _, _ = _collect(days=2, seed=6)
    assert not a_events["event_id"].is_in(b_events["event_id"].implode()).any()
    assert a_events.height != b_events.height or not a_events.drop("event_id").equals(
        b_events.drop("event_id")
    )


def test_a_shorter_window_is_a_prefix_of_a_longer_one() -> None:
    short, short_samples, _ = _collect(days=2, seed=3, scale=0.5)
    long, long_samples, _ = _collect(days=3, seed=3, scale=0.5)
    assert long.head(short.height).equals(short)
    assert long_samples.head(short_samples.height).equals(short_samples)


# -- test runs -------------------------------------------------------------------------------------


def test_runs_follow_the_documented_event_order(events) -> None:
    """Per test key: requested -> started -> finished, or requested -> dropped; a new
    request only after the previous run ended; published after its run finished.
    (One arch, to stay fast: keys never span arches.)"""
    tests = events.filter(
        (pl.col("arch") == "s390x"),
        pl.col("event_type").is_in(
            ["test.requested", "test.started", "test.finished", "test.dropped", "results.published"]
        )
    ).select(
        "event_type", "occurred_at", "testsrc", "arch",
        pl.col("triggers").list.sort().list.join(" ").alias("triggers"), "run_id", "duration",
    )  # fmt: skip
    allowed_after = {
        "test.requested": {None, "test.finished", "test.dropped"},
        "test.started": {"test.requested"},
        "test.finished": {"test.started"},
        "test.dropped": {"test.requested"},
    }
    last: dict[tuple, str] = {}
    started_at: dict[tuple, datetime] = {}
    finished_runs: set[tuple] = set()
    counts = dict.fromkeys(allowed_after, 0)
    for event_type, at, testsrc, arch, triggers, run_id, duration in tests.iter_rows():
        key = (testsrc, arch, triggers)
        if event_type == "results.published":
            assert (key, run_id) in finished_runs
            continue
        assert last.get(key) in allowed_after[event_type], (key, last.get(key), event_type)
        last[key] = event_type
        counts[event_type] += 1
        if event_type == "test.started":
            started_at[key] = at
        elif event_type == "test.finished":
            assert at - timedelta(seconds=duration) == started_at[key]  # started = finish - duration
            finished_runs.add((key, run_id))
    assert all(counts.values())


def test_the_window_ends_with_work_in_flight(events) -> None:
    tests = events.filter(pl.col("event_type").str.starts_with("test."))
    last = tests.group_by("testsrc", "arch", "triggers", maintain_order=True).agg(
        pl.col("event_type").last()
    )
    open_runs = last.filter(pl.col("event_type").is_in(["test.requested", "test.started"]))
    assert "test.started" in set(open_runs["event_type"])  # running (queued: if any are left)
    finished = _of(events, "test.finished")["run_id"]
    unpublished = finished.is_in(_of(events, "results.published")["run_id"].implode())
    assert 0 < (~unpublished).sum() < 0.1 * len(finished)
    ends = ["upload.migrated", "upload.superseded", "upload.removed"]
    ended = events.filter(pl.col("event_type").is_in(ends)).select("package", "version")
    assert _of(events, "upload.accepted").join(ended, on=["package", "version"], how="anti").height


def test_finished_runs_are_realistic(events) -> None:
    finished = _of(events, "test.finished")
    assert finished["run_id"].str.contains(r"^\d{8}_\d{6}_[0-9a-f]{5}@$").all()
    stamp = finished["occurred_at"].dt.strftime("%Y%m%d_%H%M%S")
    assert (finished["run_id"].str.slice(0, 15) == stamp).all()
    assert finished["run_id"].n_unique() == finished.height
    assert finished["test_version"].null_count() == 0
    assert finished["worker"].null_count() == 0
    assert finished["duration"].min() >= 1
    assert finished["duration"].max() <= 10_000
    codes = finished["exitcode"].value_counts().to_dict(as_series=False)
    share = dict(zip(codes["exitcode"], codes["count"], strict=True))
    total = finished.height
    assert (share[0] + share[2]) / total > 0.75
    assert {4, 6, 8, 12, 16, 20} <= set(share)
    assert all(share.get(c, 0) / total < 0.08 for c in (4, 6, 8, 12, 14, 16, 20))
    medians = finished.group_by("arch").agg(pl.col("duration").median()).rows()
    median = dict(medians)
    assert median["armhf"] > 1.5 * median["amd64"]
    assert set(median) == {"amd64", "arm64", "armhf", "ppc64el", "s390x", "i386"}
    i386 = finished.filter(pl.col("arch") == "i386").height
    assert 0 < i386 < finished.filter(pl.col("arch") == "amd64").height


def test_tmpfails_come_in_bursts_on_one_arch(events) -> None:
    tmpfails = _of(events, "test.finished").filter(pl.col("exitcode") == 16)
    per_hour = tmpfails.group_by(pl.col("occurred_at").dt.truncate("1h"), "arch").len()
    assert per_hour["len"].max() >= 15  # a burst
    assert per_hour["len"].median() <= 3  # ... against a low baseline


def test_queue_context_follows_the_trigger_size(events) -> None:
    requested = _of(events, "test.requested").filter(pl.col("requester").is_null())
    per_trigger = requested.group_by(pl.col("triggers").list.first().alias("trigger")).agg(
        n=pl.col("testsrc").n_unique(), queues=pl.col("queue").unique()
    )
    for n, queues in per_trigger.select("n", "queues").iter_rows():
        assert queues == (["huge"] if n > 20 else ["ubuntu"])


def test_retries_drops_and_manual_requests_appear(events) -> None:
    requested = _of(events, "test.requested")
    per_key = requested.group_by("testsrc", "arch", "triggers").len()
    assert per_key.filter(pl.col("len") > 1).height > 100  # britney retries, manual retries
    manual = requested.filter(pl.col("requester").is_not_null())
    assert 0 < manual.height < requested.height * 0.05
    dropped = _of(events, "test.dropped")
    assert dropped.height > 0
    assert dropped["detail"].str.contains("^superseded by ").any()
    assert dropped["detail"].str.contains("janitor").any()
    multi = requested.filter(pl.col("triggers").list.len() > 1)
    assert 0 < multi.height < requested.height


# -- queues --------------------------------------------------------------------------------------


def _waits(params: SimParams) -> tuple[float, float]:
    """(mean hours from request to start, mean queue depth). Runs still queued at the end
    count until the end; dropped runs are left out."""
    days = 4
    events, samples, _ = _collect(days=days, seed=11, params=params)
    key = ["testsrc", "arch", "triggers"]
    runs = (
        events.filter(pl.col("event_type").is_in(["test.requested", "test.started", "test.dropped"]))
        .select("event_type", "occurred_at", "testsrc", "arch", pl.col("triggers").list.join(" "))
        .with_columns(run=(pl.col("event_type") == "test.requested").cum_sum().over(key))
        .group_by(*key, "run")
        .agg(
            requested=pl.col("occurred_at").filter(pl.col("event_type") == "test.requested").first(),
            started=pl.col("occurred_at").filter(pl.col("event_type") == "test.started").first(),
            dropped=(pl.col("event_type") == "test.dropped").any(),
        )
        .filter(~pl.col("dropped"))
    )
    end = START + timedelta(days=days)
    waits = (runs["started"].fill_null(end) - runs["requested"]).dt.total_seconds() / 3600
    assert runs["requested"].null_count() == 0 and waits.min() >= 0
    return float(waits.mean()), float(samples["size"].mean())


def test_queue_waits_emerge_from_the_worker_pool() -> None:
    # no regression fates: a fixed version uploaded sooner with more workers would
    # change the load itself (feedback), and blur the comparison
    default = replace(SimParams(), regression_fate={})
    fewer = replace(default, workers={a: n // 2 for a, n in default.workers.items()})
    wait, depth = _waits(default)
    wait_fewer, depth_fewer = _waits(fewer)
    assert wait_fewer > 1.5 * wait
    assert depth_fewer > 1.5 * depth


def test_samples_every_five_minutes_per_arch_and_queue(month) -> None:
    _, samples, _ = month
    arches = {"amd64", "arm64", "armhf", "ppc64el", "s390x", "i386"}
    assert samples.height == 30 * 288 * len(arches) * 2
    assert set(samples["arch"].unique()) == arches
    assert set(samples["queue"].unique()) == {"ubuntu", "huge"}
    assert samples["sample_id"].n_unique() == samples.height
    assert samples["size"].min() == 0
    assert samples.filter(pl.col("queue") == "huge")["size"].max() > 1000  # thousands queue up
    gaps = samples.filter((pl.col("arch") == "amd64") & (pl.col("queue") == "ubuntu"))[
        "observed_at"
    ].diff()
    assert set(gaps.drop_nulls().dt.total_seconds().unique()) == {300}


# -- uploads and britney ------------------------------------------------------------------------------


def test_fan_out_is_heavy_tailed(events) -> None:
    accepted = _of(events, "upload.accepted").select(
        trigger=pl.col("package") + "/" + pl.col("version")
    )
    tests = (
        _of(events, "test.requested")
        .select(trigger=pl.col("triggers").list.first(), testsrc="testsrc")
        .unique()
        .group_by("trigger")
        .len()
    )
    fan_out = accepted.join(tests, on="trigger", how="left")["len"].fill_null(0)
    assert 0.4 <= (fan_out == 0).mean() <= 0.6  # about half trigger no test
    assert fan_out.median() <= 2
    assert 4 <= fan_out.quantile(0.9) <= 15
    assert fan_out.max() > 100  # giants


def test_finished_runs_per_day_in_the_documented_range(events) -> None:
    per_day = (
        _of(events, "test.finished").group_by(pl.col("occurred_at").dt.date()).len()["len"]
    )
    assert len(per_day) == 30
    assert 3_500 <= per_day.mean() <= 10_000


def test_uploads_live_and_end(events) -> None:
    accepted = _of(events, "upload.accepted")
    assert accepted.select("package", "version").n_unique() == accepted.height
    ends = events.filter(
        pl.col("event_type").is_in(["upload.migrated", "upload.superseded", "upload.removed"])
    )
    assert ends.select("package", "version").n_unique() == ends.height  # one end per upload
    assert ends.join(accepted, on=["package", "version"], how="anti").height == 0
    counts = ends["event_type"].value_counts().to_dict(as_series=False)
    ended = dict(zip(counts["event_type"], counts["count"], strict=True))
    assert ended["upload.migrated"] > ended["upload.superseded"] > ended["upload.removed"] > 0
    assert ended["upload.migrated"] > 0.5 * accepted.height
    superseded = _of(events, "upload.superseded").select("package", version="detail")
    assert superseded.join(accepted, on=["package", "version"], how="anti").height == 0
    # every migration comes right after a PASS verdict
    excuses = _of(events, "excuse.changed")
    last_verdict = (
        excuses.group_by("package", "version").agg(pl.col("verdict").last()).join(
            _of(events, "upload.migrated"), on=["package", "version"]
        )
    )
    assert set(last_verdict["verdict"].unique()) == {"PASS"}
    assert set(excuses["verdict"].unique()) == {
        "PASS", "REJECTED_TEMPORARILY", "REJECTED_PERMANENTLY",
        "REJECTED_BLOCKED_BY_ANOTHER_ITEM", "REJECTED_CANNOT_DETERMINE_IF_PERMANENT",
    }  # fmt: skip
    blocked = excuses.filter(pl.col("blocked_by").is_not_null())
    assert set(blocked["verdict"].unique()) == {
        "REJECTED_BLOCKED_BY_ANOTHER_ITEM", "REJECTED_PERMANENTLY"
    }  # fmt: skip
    assert (blocked["blocked_by"].list.len() == 1).all()
    assert (blocked["reasons"].list.first() == "depends").all()
    missing = excuses.filter(pl.col("verdict") == "REJECTED_CANNOT_DETERMINE_IF_PERMANENT")
    assert missing["reasons"].list.contains("missingbuild").all()
    assert (excuses.filter(pl.col("verdict") == "PASS")["reasons"].list.len() == 0).all()
    builds = events.filter(pl.col("event_type").is_in(["build.missing", "build.completed"]))
    assert (builds["arches"].list.len() >= 1).all()


def test_britney_publishes_each_finished_run_once(events) -> None:
    finished = _of(events, "test.finished")
    published = _of(events, "results.published")
    assert published["run_id"].n_unique() == published.height
    assert published.join(finished, on="run_id", how="anti").height == 0
    # all but the last britney run's worth are picked up
    assert published.height > 0.9 * finished.height
    assert set(published["status"].unique()) == {"PASS", "REGRESSION", "ALWAYSFAIL", "NEUTRAL"}
    pairs = published.select("run_id", "status").join(
        finished.select("run_id", "exitcode"), on="run_id"
    )
    passing = pairs.filter(pl.col("exitcode").is_in([0, 2]))
    assert set(passing["status"].unique()) == {"PASS"}
    assert set(pairs.filter(pl.col("exitcode") == 8)["status"].unique()) == {"NEUTRAL"}


def test_scale_multiplies_the_traffic() -> None:
    small, _, _ = _collect(days=3, seed=4, scale=0.5)
    big, _, _ = _collect(days=3, seed=4, scale=1.5)
    assert _of(big, "upload.accepted").height > 2 * _of(small, "upload.accepted").height


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="days"):
        simulate(days=-1)
    with pytest.raises(ValueError, match="scale"):
        simulate(days=1, scale=0)
