"""Mapping real autopkgtest AMQP messages to events (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pkgflow.events import parse_lines
from pkgflow.serve.autopkgtest import (
    MessageError,
    map_test_completed,
    map_test_request,
    message_lines,
    parse_queue_name,
    parse_submit_time,
)


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("debci-plucky-amd64", ("ubuntu", "plucky", "amd64")),
        ("debci-huge-noble-s390x", ("huge", "noble", "s390x")),
        ("debci-ppa-questing-riscv64", ("ppa", "questing", "riscv64")),
        ("debci-upstream-plucky-armhf", ("upstream", "plucky", "armhf")),
        ("debci-plucky-amd64.mirror", ("ubuntu", "plucky", "amd64")),
        ("debci-plucky-vax", None),
        ("incoming", None),
    ],
)
def test_queue_names(queue: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_queue_name(queue) == expected


@pytest.mark.parametrize(
    "text",
    ["2025-03-14 21:47:02", "2025-03-14 21:47:02+0000", "2025-03-14 21:47:02 +0000", "2025-03-14T21:47:02"],
)
def test_submit_time_with_and_without_zone(text: str) -> None:
    assert parse_submit_time(text) == datetime(2025, 3, 14, 21, 47, 2, tzinfo=UTC)


def test_submit_time_in_another_zone_is_converted() -> None:
    assert parse_submit_time("2025-03-14 23:47:02+0200").hour == 21
    with pytest.raises(MessageError):
        parse_submit_time("yesterday")


def test_request_maps_to_a_valid_event_with_a_deterministic_id() -> None:
    body = b'sphinx\n{"triggers": ["sphinx/8.1-1", "python3.13/3.13.2-1"], "submit-time": "2025-03-14 21:00:00", "requester": "bob"}'
    one = map_test_request(body, "debci-huge-plucky-arm64")
    assert one == map_test_request(body, "debci-huge-plucky-arm64")
    assert one["queue"] == "huge" and one["requester"] == "bob"
    assert one["triggers"] == ["sphinx/8.1-1", "python3.13/3.13.2-1"]
    batch = parse_lines([json.dumps(one).encode()])
    assert batch.rejections == [] and batch.events.height == 1


def test_request_without_submit_time_uses_the_amqp_timestamp() -> None:
    body = b'glib\n{"triggers": ["glib/1"]}'
    stamp = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    one = map_test_request(body, "debci-plucky-amd64", timestamp=stamp)
    assert one["occurred_at"] == "2025-01-02T03:04:05Z"
    assert one["event_id"] == map_test_request(body, "debci-plucky-amd64")["event_id"]


def test_completed_message() -> None:
    document = {
        "architecture": "s390x", "container": "w", "duration": 12.0, "exitcode": 16,
        "package": "gzip", "testpkg_version": "gzip 1.13-1", "release": "plucky",
        "requester": "", "swift_dir": "x/plucky/s390x/g/gzip/20250314_010203@",
        "triggers": "gzip/1.13-1 zlib/1.3-1", "env": [],
    }  # fmt: skip
    one = map_test_completed(document, json.dumps(document).encode())
    assert one["run_id"] == "20250314_010203@" and one["occurred_at"] == "2025-03-14T01:02:03Z"
    assert one["triggers"] == ["gzip/1.13-1", "zlib/1.3-1"] and one["duration"] == 12
    events = parse_lines([json.dumps(one).encode()]).events
    assert events["outcome"].to_list() == ["tmpfail"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"glib", "not a test request"),
        (b"Not A Package!\n{}", "not a source package name"),
        (b"glib\n[1, 2]", "must be a JSON object"),
        (b"glib\n{bad json", "not JSON"),
        (b'{"hello": 1}', "neither a pkgflow event"),
    ],
)
def test_malformed_messages(body: bytes, reason: str) -> None:
    with pytest.raises(MessageError, match=reason):
        message_lines(body, "debci-plucky-amd64")
