"""The update_excuses.yaml importer: hand-made snapshot sequences and the real file."""

from __future__ import annotations

import lzma
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from pkgflow.errors import IngestError
from pkgflow.events.types import EXITCODE_OUTCOME
from pkgflow.ingest.autopkgtest_db import ImportReport, finished_event_id
from pkgflow.ingest.excuses import (
    REFERENCE_TRIGGER,
    RUNNING_STATUSES,
    STATUS_EXITCODE,
    excuses_events,
)
from tests.ingest.helpers import assert_valid
from tests.conftest import CASES, REAL_EXCUSES

SNAPSHOTS = [CASES / f"excuses_{i}.yaml" for i in (1, 2, 3)]


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def import_all(paths: list[Path], **kwargs: object) -> tuple[list[pl.DataFrame], ImportReport]:
    report = ImportReport()
    frames = list(excuses_events(paths, report=report, **kwargs))  # type: ignore[arg-type]
    return frames, report


def summary(frame: pl.DataFrame) -> set[tuple[object, ...]]:
    """(event_type, subject, version-or-arch, detail) per event: easy to compare."""
    out = set()
    for row in frame.iter_rows(named=True):
        if row["package"] is not None:
            extra = row["verdict"] or row["detail"] or (tuple(row["arches"] or ()) or None)
            out.add((row["event_type"], row["package"], row["version"], extra))
        else:
            extra = row["run_id"] or tuple(row["triggers"])
            out.add((row["event_type"], row["testsrc"], row["arch"], extra))
    return out


# --------------------------------------------------------------------------------------
# hand-made snapshots


@pytest.fixture(scope="module")
def sequence() -> tuple[list[pl.DataFrame], ImportReport]:
    # given out of order: the importer orders by generated-date
    return import_all([SNAPSHOTS[2], SNAPSHOTS[0], SNAPSHOTS[1]], release="plucky")


def test_first_snapshot_states_everything(
    sequence: tuple[list[pl.DataFrame], ImportReport],
) -> None:
    first = sequence[0][0]
    assert summary(first) == {
        ("upload.accepted", "foo", "1.0-1", None),
        ("upload.accepted", "qux", "3.0-1", None),
        ("upload.accepted", "libx", "5-1", None),
        ("build.missing", "qux", "3.0-1", ("armhf", "riscv64")),
        ("excuse.changed", "foo", "1.0-1", "REJECTED_TEMPORARILY"),
        ("excuse.changed", "qux", "3.0-1", "REJECTED_CANNOT_DETERMINE_IF_PERMANENT"),
        ("excuse.changed", "libx", "5-1", "REJECTED_BLOCKED_BY_ANOTHER_ITEM"),
        ("test.finished", "foo", "amd64", "20250310_100000_aaaaa@"),
        ("test.finished", "bar", "amd64", "20250310_090000_bbbbb@"),
        ("test.finished", "bar", "arm64", "20250310_080000_ccccc@"),
        ("test.finished", "zed", "amd64", "20231105_101010@"),
        ("test.finished", "zed", "arm64", "20250309_230000_ddddd@"),
        ("results.published", "foo", "amd64", "20250310_100000_aaaaa@"),
        ("results.published", "bar", "amd64", "20250310_090000_bbbbb@"),
        ("results.published", "bar", "arm64", "20250310_080000_ccccc@"),
        ("results.published", "zed", "amd64", "20231105_101010@"),
        ("results.published", "zed", "arm64", "20250309_230000_ddddd@"),
        ("test.requested", "foo", "arm64", ("foo/1.0-1",)),
        ("test.requested", "bar", "arm64", (REFERENCE_TRIGGER,)),
        ("test.requested", "baz", "amd64", ("foo/1.0-1",)),
        ("test.requested", "baz", "arm64", ("foo/1.0-1",)),
    }
    # one run serving two uploads: one test.finished, one results.published per trigger
    assert first.height == len(summary(first)) + 1
    rows = {
        (r["event_type"], r["package"] or r["testsrc"], r["arch"]): r
        for r in first.iter_rows(named=True)
    }
    foo = rows[("upload.accepted", "foo", None)]
    assert foo["occurred_at"] == t("2025-03-09 00:00:00")  # generated 03-10 12:00 - 1.5 days
    assert (foo["component"], foo["old_version"], foo["maintainer"]) == (
        "main",
        "0.9-1",
        "Foo Team",
    )
    qux = rows[("upload.accepted", "qux", None)]
    assert (qux["component"], qux["old_version"]) == ("universe", None)
    assert rows[("build.missing", "qux", None)]["occurred_at"] == qux["occurred_at"]
    libx = rows[("excuse.changed", "libx", None)]
    assert (libx["reasons"], libx["blocked_by"]) == (["depends"], ["foo"])
    assert libx["occurred_at"] == t("2025-03-10 12:00:00")
    assert libx["occurred_after"] == t("2025-03-08 12:00:00")  # bounded below by acceptance

    bar = rows[("test.finished", "bar", "amd64")]
    assert bar["triggers"] == ["foo/1.0-1", "libx/5-1"]
    assert (bar["exitcode"], bar["outcome"], bar["test_version"]) == (4, "fail", "2.0")
    assert bar["occurred_at"] == t("2025-03-10 09:00:00")
    assert bar["event_id"] == finished_event_id("plucky", "amd64", "bar", "20250310_090000_bbbbb@")
    published = first.filter(
        (pl.col("event_type") == "results.published") & (pl.col("run_id") == bar["run_id"])
    )
    assert sorted(published["triggers"].to_list()) == [["foo/1.0-1"], ["libx/5-1"]]
    assert set(published["status"]) == {"REGRESSION"}
    assert set(published["occurred_after"]) == {bar["occurred_at"]}

    # RUNNING-REFERENCE: the triggered run failed, the baseline is running
    reference = rows[("test.finished", "bar", "arm64")]
    assert (reference["outcome"], reference["triggers"]) == ("fail", ["foo/1.0-1"])
    assert rows[("results.published", "bar", "arm64")]["status"] == "RUNNING-REFERENCE"
    # old run-id format; OLD_PASS and NEUTRAL
    zed = rows[("test.finished", "zed", "amd64")]
    assert (zed["occurred_at"], zed["exitcode"]) == (t("2023-11-05 10:10:10"), 0)
    assert rows[("test.finished", "zed", "arm64")]["outcome"] == "neutral"
    # in flight: at the snapshot, no lower bound on the first snapshot
    requested = first.filter(pl.col("event_type") == "test.requested")
    assert set(requested["occurred_at"]) == {t("2025-03-10 12:00:00")}
    assert requested["occurred_after"].null_count() == requested.height


def test_later_snapshots_emit_transitions_with_bounds(
    sequence: tuple[list[pl.DataFrame], ImportReport],
) -> None:
    _, second, third = sequence[0]
    assert summary(second) == {
        ("excuse.changed", "foo", "1.0-1", "PASS"),
        ("build.completed", "qux", "3.0-1", ("armhf",)),
        ("upload.accepted", "nano", "8.0-1", None),
        ("excuse.changed", "nano", "8.0-1", "REJECTED_TEMPORARILY"),
        ("upload.migrated", "libx", "5-1", None),
        ("test.finished", "foo", "arm64", "20250310_140000_eeeee@"),
        ("results.published", "foo", "arm64", "20250310_140000_eeeee@"),
        ("test.finished", "baz", "amd64", "20250310_130000_fffff@"),
        ("results.published", "baz", "amd64", "20250310_130000_fffff@"),
    }
    before, now = t("2025-03-10 12:00:00"), t("2025-03-10 15:00:00")
    changes = second.filter(
        pl.col("event_type").is_in(["excuse.changed", "build.completed", "upload.migrated"])
        & (pl.col("package") != "nano")
    )
    assert set(changes["occurred_after"]) == {before}
    assert set(changes["occurred_at"]) == {now}
    baz = second.filter(pl.col("event_type") == "test.finished", pl.col("testsrc") == "baz").row(
        0, named=True
    )
    assert baz["test_version"] == "1.1"
    # a result seen after the previous snapshot: published in (max(P, finish), G]
    published = second.filter(
        pl.col("event_type") == "results.published", pl.col("testsrc") == "foo"
    )
    assert published.row(0, named=True)["occurred_after"] == t("2025-03-10 14:00:00")

    assert summary(third) == {
        ("upload.migrated", "foo", "1.0-1", None),
        # qux 3.0-1 never migrated (3.0-2's old-version is still '-')
        ("upload.superseded", "qux", "3.0-1", "3.0-2"),
        # nano 8.0-1 migrated before 8.1-1 arrived (8.1-1's old-version is 8.0-1)
        ("upload.migrated", "nano", "8.0-1", None),
        ("upload.accepted", "qux", "3.0-2", None),
        ("excuse.changed", "qux", "3.0-2", "REJECTED_TEMPORARILY"),
        ("upload.accepted", "nano", "8.1-1", None),
        ("excuse.changed", "nano", "8.1-1", "REJECTED_TEMPORARILY"),
    }
    left = third.filter(pl.col("event_type").is_in(["upload.migrated", "upload.superseded"]))
    assert set(left["occurred_after"]) == {now}
    assert set(left["occurred_at"]) == {t("2025-03-10 18:00:00")}


def test_every_frame_validates_and_ids_are_unique(
    sequence: tuple[list[pl.DataFrame], ImportReport],
) -> None:
    frames, report = sequence
    for frame in frames:
        assert_valid(frame)
        assert set(frame["source"]) == {"import:excuses"}
        assert set(frame["schema_version"]) == {2}
    everything = pl.concat(frames)
    assert everything["event_id"].is_unique().all()
    assert report.total_emitted == everything.height
    assert report.skipped == Counter(
        {
            "removal item (-src): not an upload": 1,
            "binary-only item (src/arch): not a new source upload": 1,
        }
    )
    assert report.examples["removal item (-src): not an upload"] == ["-gone"]


def test_reimport_gives_the_same_events(sequence: tuple[list[pl.DataFrame], ImportReport]) -> None:
    again, _ = import_all(SNAPSHOTS, release="plucky")
    for before, after in zip(sequence[0], again, strict=True):
        assert before.equals(after)


def test_xz_snapshot_and_release_from_log_urls(tmp_path: Path) -> None:
    packed = tmp_path / "excuses.yaml.xz"
    packed.write_bytes(lzma.compress(SNAPSHOTS[0].read_bytes()))
    calls: list[int] = []
    frames, _ = import_all([packed], progress=calls.append)
    plain, _ = import_all([SNAPSHOTS[0]], release="plucky")
    assert calls == [1]
    assert set(frames[0]["release"]) == {"plucky"}
    assert frames[0].equals(plain[0])


def test_in_flight_requests_can_be_left_out() -> None:
    frames, _ = import_all(SNAPSHOTS, release="plucky", in_flight=False)
    everything = pl.concat(frames)
    assert "test.requested" not in set(everything["event_type"])
    assert everything.height == 38 - 4


def test_release_must_be_knowable() -> None:
    with pytest.raises(IngestError, match=r"excuses_3\.yaml: cannot tell the release.*release="):
        list(excuses_events([SNAPSHOTS[2]]))
    frames, _ = import_all([SNAPSHOTS[2]], release="noble")
    assert set(frames[0]["release"]) == {"noble"}


def test_the_same_snapshot_twice_is_imported_once() -> None:
    frames, report = import_all([SNAPSHOTS[0], SNAPSHOTS[0]], release="plucky")
    assert len(frames) == 1
    assert report.skipped["snapshot already imported (same release and generated-date)"] == 1


def test_malformed_records_are_skipped_and_named() -> None:
    frames, report = import_all([CASES / "excuses_malformed.yaml"])
    assert summary(frames[0]) == {
        ("excuse.changed", "good", "1-1", "REJECTED_PERMANENTLY"),
        ("excuse.changed", "nanage", "1-1", "PASS"),
        ("test.finished", "good", "armhf", "20250311_020000_12345@"),
        ("results.published", "good", "armhf", "20250311_020000_12345@"),
    }
    assert_valid(frames[0])
    assert report.skipped == Counter(
        {
            "no usable policy_info.age.current-age: upload.accepted not emitted": 2,
            "bad run_id in log URL": 2,
            "unknown britney status WEIRD": 1,
            "PASS result without a log URL ending in /<run_id>/log.gz": 1,
            "unknown arch": 1,
            "result is not a [STATUS, log_url, ...] list": 1,
            "autopkgtest entry is not a mapping of arches": 1,
            "item without source or new-version": 1,
            "item is not a mapping": 1,
            # the safety net: an item that breaks the importer is skipped whole
            "item of an unexpected shape": 1,
        }
    )
    assert report.examples["bad run_id in log URL"] == [
        "good/1-1: good/1-1 on amd64 (notarunid)",
        "good/1-1: good/1-1 on riscv64 (20251399_010000_abcde@)",
    ]
    text = "\n".join(report.lines())
    assert "skipped 2: bad run_id in log URL" in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.yaml", None, "no such file"),
        ("broken.yaml", b"generated-date: 2025-01-01\nsources: [\n", "not valid YAML at line"),
        ("broken.yaml.xz", b"this is not xz", "cannot read"),
        ("list.yaml", b"- 1\n- 2\n", "not an update_excuses.yaml"),
        ("nodate.yaml", b"sources: []\n", "generated-date"),
    ],
)
def test_unreadable_files_raise_ingest_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IngestError, match=message) as caught:
        list(excuses_events([SNAPSHOTS[0], path], release="plucky"))
    assert str(path) in str(caught.value)


def test_status_mapping_is_consistent_with_exit_codes() -> None:
    expected = {"PASS": "pass", "OLD_PASS": "pass", "NEUTRAL": "neutral", "OLD_NEUTRAL": "neutral"}
    for status, code in STATUS_EXITCODE.items():
        assert EXITCODE_OUTCOME[code] == expected.get(status, "fail")
    assert not RUNNING_STATUSES & STATUS_EXITCODE.keys()


# --------------------------------------------------------------------------------------
# the real snapshot (../shared/data)


@pytest.fixture(scope="module")
def real() -> dict[str, object]:
    if not REAL_EXCUSES.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_EXCUSES} is missing in CI; shared/ must sit beside the checkout")
        pytest.skip(f"{REAL_EXCUSES} not found (../shared is absent outside CI)")
    report = ImportReport()
    wall, cpu = time.perf_counter(), time.process_time()
    frames = list(excuses_events([REAL_EXCUSES], report=report))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with lzma.open(REAL_EXCUSES, "rb") as handle:
        data = yaml.load(handle, Loader=yaml.CSafeLoader)
    return {"frames": frames, "report": report, "wall": wall, "cpu": cpu, "data": data}


def independent_counts(data: dict) -> dict[str, object]:
    """A straightforward reading of the YAML, sharing no code with the importer."""
    items = data["sources"]
    statuses: Counter[str] = Counter()
    runs: set[tuple[str, str, str]] = set()
    running: set[tuple[str, str, str]] = set()
    for item in items:
        trigger = item["source"] + "/" + item["new-version"]
        for key, per_arch in item["policy_info"].get("autopkgtest", {}).items():
            if key == "verdict":
                continue
            testsrc = key.split("/")[0]
            for arch, result in per_arch.items():
                status, url = result[0], result[1]
                statuses[status] += 1
                if status in ("RUNNING", "RUNNING-ALWAYSFAIL"):
                    running.add((arch, testsrc, trigger))
                    continue
                if status == "RUNNING-REFERENCE":
                    running.add((arch, testsrc, "migration-reference/0"))
                assert url.endswith("/log.gz")
                runs.add((arch, testsrc, url.split("/")[-2]))
    return {
        "items": len(items),
        "plain_items": sum(1 for i in items if i["item-name"] == i["source"]),
        "missing_builds": sum(1 for i in items if "missing-builds" in i),
        "statuses": statuses,
        "runs": runs,
        "running": running,
    }


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_snapshot_counts_agree_with_an_independent_parse(real: dict) -> None:
    expected = independent_counts(real["data"])
    events = pl.concat(real["frames"])
    kinds = Counter(events["event_type"].to_list())
    assert expected["items"] == expected["plain_items"] == 599
    assert kinds["upload.accepted"] == kinds["excuse.changed"] == expected["items"]
    assert kinds["build.missing"] == expected["missing_builds"]
    finished = events.filter(pl.col("event_type") == "test.finished")
    assert set(finished.select("arch", "testsrc", "run_id").iter_rows()) == expected["runs"]
    assert finished.height == len(expected["runs"])
    published = Counter(
        events.filter(pl.col("event_type") == "results.published")["status"].to_list()
    )
    assert published == Counter(
        {s: n for s, n in expected["statuses"].items() if s not in RUNNING_STATUSES}
    )
    requested = events.filter(pl.col("event_type") == "test.requested")
    assert {
        (a, s, tr[0]) for a, s, tr in requested.select("arch", "testsrc", "triggers").iter_rows()
    } == expected["running"]
    assert requested.height == len(expected["running"])
    assert real["report"].total_skipped == 0
    # run ids from November 2023 up to the snapshot hour
    generated = t("2025-03-14 21:47:02.526604")
    assert finished["occurred_at"].min() >= t("2023-11-01 00:00:00")
    assert finished["occurred_at"].max() <= generated
    # a run serving three uploads at once is one event carrying the three triggers
    amberol = finished.filter(pl.col("run_id") == "20250314_185758_c7672@")
    assert amberol["triggers"].to_list() == [
        [
            "gst-plugins-bad1.0/1.26.0-1ubuntu1",
            "gst-plugins-base1.0/1.26.0-1",
            "gst-plugins-good1.0/1.26.0-1ubuntu1",
        ]
    ]
    accepted = events.filter(pl.col("event_type") == "upload.accepted")
    assert accepted["occurred_at"].max() <= generated
    assert (generated - accepted["occurred_at"].min()) > timedelta(days=100)


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_snapshot_frames_validate(real: dict) -> None:
    for frame in real["frames"]:
        assert_valid(frame)
    assert pl.concat(real["frames"])["event_id"].is_unique().all()


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_snapshot_imports_within_ten_seconds(real: dict) -> None:
    # CPU time as well as wall time: other jobs on a shared machine slow the wall clock
    assert min(real["wall"], real["cpu"]) <= 10.0, (real["wall"], real["cpu"])
