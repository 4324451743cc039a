"""The closed sets of the event model: event types, their fields, outcomes.

This module is the single place where these names are defined; everything else
imports them. See ``docs/events.md`` for the meaning of every field.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: The schema version pkgflow writes. Older versions are upcast on ingest
#: (see :mod:`pkgflow.events.upcast`).
CURRENT_SCHEMA_VERSION: Final = 2
OLDEST_SCHEMA_VERSION: Final = 1

EventType = Literal[
    "upload.accepted",
    "build.missing",
    "build.completed",
    "test.requested",
    "test.started",
    "test.finished",
    "test.dropped",
    "results.published",
    "excuse.changed",
    "upload.migrated",
    "upload.superseded",
    "upload.removed",
]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)

#: Web outcome of an autopkgtest run (autopkgtest-cloud's classification).
Outcome = Literal["pass", "fail", "neutral", "tmpfail", "error", "denylisted"]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)

#: autopkgtest exit code -> outcome (domain.md section 3).
EXITCODE_OUTCOME: Final[dict[int, str]] = {
    0: "pass",
    2: "pass",
    4: "fail",
    6: "fail",
    8: "neutral",
    12: "fail",
    14: "fail",
    16: "tmpfail",
    20: "error",
    99: "denylisted",
}

#: Queue contexts of autopkgtest-cloud.
QueueContext = Literal["ubuntu", "huge", "ppa", "upstream"]
QUEUE_CONTEXTS: Final[tuple[str, ...]] = get_args(QueueContext)

ARCHES: Final[tuple[str, ...]] = ("amd64", "arm64", "armhf", "i386", "ppc64el", "s390x", "riscv64")

#: Envelope fields every event has (seq and recorded_at are set by the store).
ENVELOPE_REQUIRED: Final[tuple[str, ...]] = (
    "event_type",
    "schema_version",
    "occurred_at",
    "source",
    "release",
)

_UPLOAD_KEY = ("package", "version")
_TEST_KEY = ("testsrc", "arch", "triggers")

#: Type-specific fields that must be present (non-null) per event type.
REQUIRED_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "upload.accepted": _UPLOAD_KEY,
    "build.missing": (*_UPLOAD_KEY, "arches"),
    "build.completed": (*_UPLOAD_KEY, "arches"),
    "test.requested": _TEST_KEY,
    "test.started": _TEST_KEY,
    "test.finished": (*_TEST_KEY, "exitcode"),
    "test.dropped": _TEST_KEY,
    "results.published": (*_TEST_KEY, "run_id"),
    "excuse.changed": (*_UPLOAD_KEY, "verdict"),
    "upload.migrated": _UPLOAD_KEY,
    "upload.superseded": _UPLOAD_KEY,
    "upload.removed": _UPLOAD_KEY,
}
assert set(REQUIRED_FIELDS) == set(EVENT_TYPES)

#: Test-run event types: their (release, arch, testsrc, triggers) identify a test.
TEST_EVENT_TYPES: Final = ("test.requested", "test.started", "test.finished", "test.dropped")
#: Upload lifecycle events keyed by (release, package, version).
UPLOAD_EVENT_TYPES: Final = (
    "upload.accepted",
    "build.missing",
    "build.completed",
    "excuse.changed",
    "upload.migrated",
    "upload.superseded",
    "upload.removed",
)
