"""Parsing and validation of JSON Lines, and upcasting of old versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pkgflow.errors import SchemaError
from pkgflow.events import parse_lines, parse_records, upcast
from tests.conftest import CASES, finished_event


def _line(event: dict) -> bytes:
    return json.dumps(event).encode()


def test_valid_lines_become_typed_events() -> None:
    batch = parse_lines([_line(finished_event(i)) for i in range(3)])
    assert batch.rejections == []
    assert batch.events["event_id"].to_list() == ["evt-0", "evt-1", "evt-2"]
    assert batch.events["outcome"].to_list() == ["pass", "pass", "fail"]  # from exit codes
    first = batch.events.row(0, named=True)
    assert first["occurred_at"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert first["triggers"] == ["trigger0/1.0-0"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "a JSON array is not an event"),
        (_line(finished_event(0, event_type="test.exploded")), "unknown event_type `test.exploded`"),
        (_line(finished_event(0, schema_version=9)), "`schema_version` is 9, supported: 1 to 2"),
        (_line(finished_event(0, schema_version=None)), "missing field `schema_version`"),
        (
            _line(finished_event(0, occurred_at="2025-03-14 21:47:02")),
            "`occurred_at` is not an ISO 8601 timestamp with a time zone (got `2025-03-14 21:47:02`)",
        ),
        (_line(finished_event(0, occurred_at=None)), "missing field `occurred_at`"),
        (_line(finished_event(0, exitcode="four")), "field `exitcode` must be an integer"),
        (_line(finished_event(0, exitcode=None)), "missing field `exitcode` (required for test.finished)"),
        (_line(finished_event(0, exitcode=300)), "exit codes are 0 to 255"),
        (_line(finished_event(0, testsrc=["a"])), "field `testsrc` must be text"),
        (_line(finished_event(0, triggers="glibc/2.41")), "field `triggers` must be a list of strings"),
        (_line(finished_event(0, triggers=[])), "field `triggers` is empty"),
        (_line(finished_event(0, triggers=["glibc"])), "`source/version` strings (got glibc)"),
        (_line(finished_event(0, triggers=["glibc/2.41", None])), "`source/version` strings"),
        (_line(finished_event(0, arch="amd46")), "unknown arch `amd46`"),
        (_line(finished_event(0, outcome="great")), "unknown outcome `great`"),
        (_line(finished_event(0, duration=-5)), "field `duration` is negative (-5 s)"),
        (_line(finished_event(0, duration=2**40)), "field `duration` is too large"),
        (_line(finished_event(0, duration=1e300)), "field `duration` must be an integer (got `1e+300`)"),
        (_line(finished_event(0, exitcode=2**70)), "field `exitcode` must be an integer"),
        (_line(finished_event(0, exitcode=4.5)), "field `exitcode` must be an integer (got `4.5`)"),
        (_line(finished_event(0, exitcode=True)), "field `exitcode` must be an integer (got `true`)"),
        (_line(finished_event(0, duration=[1])), "field `duration` must be an integer (got `[1]`)"),
        (_line(finished_event(0, release="")), "missing field `release`"),
        (
            _line(finished_event(0, occurred_after="2025-03-02T00:00:00Z")),
            "`occurred_after` is later than `occurred_at`",
        ),
    ],
)
def test_bad_line_is_rejected_with_its_reason_and_neighbours_kept(line: bytes, reason: str) -> None:
    lines = [_line(finished_event(1)), line, _line(finished_event(2))]
    batch = parse_lines(lines, first_line_number=10)
    assert [r.line_number for r in batch.rejections] == [11]
    assert reason in batch.rejections[0].reason
    assert batch.rejections[0].line == line.decode()
    assert batch.events["event_id"].to_list() == ["evt-1", "evt-2"]


def test_blank_lines_are_skipped_not_rejected() -> None:
    batch = parse_lines([b"", _line(finished_event(0)), b"   \n"])
    assert batch.rejections == []
    assert batch.events.height == 1


def test_timestamps_with_offsets_are_converted_to_utc() -> None:
    event = finished_event(0, occurred_at="2025-03-14T23:47:02.5+02:00")
    batch = parse_lines([_line(event)])
    assert batch.events["occurred_at"][0] == datetime(2025, 3, 14, 21, 47, 2, 500000, tzinfo=UTC)


def test_missing_event_id_is_derived_from_the_line_deterministically() -> None:
    event = finished_event(0)
    del event["event_id"]
    first = parse_lines([_line(event)]).events["event_id"][0]
    again = parse_lines([_line(event)]).events["event_id"][0]
    other = parse_lines([_line({**event, "duration": 1})]).events["event_id"][0]
    assert first == again != other


def test_v1_fixture_is_upcast_to_the_current_shape() -> None:
    lines = (CASES / "events_v1.jsonl").read_bytes().splitlines()
    batch = parse_lines(lines)
    assert batch.rejections == []
    events = batch.events
    assert events["schema_version"].unique().to_list() == [2]
    assert events["event_type"].to_list() == [
        "upload.accepted",
        "test.requested",
        "test.requested",
        "test.started",
        "test.finished",
        "results.published",
        "upload.migrated",
    ]
    unity = events.row(2, named=True)
    assert unity["testsrc"] == "unity"
    assert unity["triggers"] == ["glib2.0/2.84.0-1", "gtk+3.0/3.24.49-1"]
    assert unity["source"] == "britney"
    finished = events.row(4, named=True)
    assert (finished["exitcode"], finished["outcome"]) == (0, "pass")
    assert events.row(0, named=True)["version"] == "2.84.0-1"
    assert events["occurred_at"][3] == datetime(2025, 3, 14, 9, 5, 0, 250000, tzinfo=UTC)


def test_unknown_v1_type_names_the_field_and_the_known_types() -> None:
    with pytest.raises(SchemaError, match=r"field `type` of a v1 event is 'explode'; v1 types are"):
        upcast({"schema_version": 1, "type": "explode", "timestamp": 0})


def test_parse_records_raises_naming_the_bad_event() -> None:
    good = finished_event(0, occurred_at=datetime(2025, 3, 1, tzinfo=UTC))
    with pytest.raises(SchemaError, match=r"event 1: unknown arch `mips`"):
        parse_records([good, finished_event(1, arch="mips")])
