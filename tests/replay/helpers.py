"""Small builders of events and readers of views for the replay tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from pkgflow.store import EventStore

T0 = datetime(2025, 3, 10, tzinfo=UTC)
RELEASE = "plucky"


def at(hours: float) -> datetime:
    """``T0`` plus some hours (a readable clock for hand-made histories)."""
    return T0 + timedelta(hours=hours)


class History:
    """Build events by hand: ``h.request("a", "amd64", ["p/1"], at=1.0)`` ..."""

    def __init__(self, release: str = RELEASE) -> None:
        self.release = release
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, hours: float, **fields: Any) -> dict[str, Any]:
        event = {
            "event_id": f"h{len(self.events)}",
            "event_type": event_type,
            "schema_version": 2,
            "occurred_at": at(hours),
            "source": "test",
            "release": fields.pop("release", self.release),
            **{k: v for k, v in fields.items() if v is not None},
        }
        self.events.append(event)
        return event

    # tests
    def request(self, testsrc: str, arch: str, triggers: list[str], hours: float,
                queue: str = "ubuntu", requester: str | None = None) -> None:
        self.add("test.requested", hours, testsrc=testsrc, arch=arch, triggers=triggers,
                 queue=queue, requester=requester)

    def start(self, testsrc: str, arch: str, triggers: list[str], hours: float) -> None:
        self.add("test.started", hours, testsrc=testsrc, arch=arch, triggers=triggers)

    def finish(self, testsrc: str, arch: str, triggers: list[str], hours: float,
               exitcode: int = 0, run_id: str | None = None, duration: int | None = None,
               requester: str | None = None) -> None:
        self.add("test.finished", hours, testsrc=testsrc, arch=arch, triggers=triggers,
                 exitcode=exitcode, run_id=run_id, duration=duration, requester=requester)

    def drop(self, testsrc: str, arch: str, triggers: list[str], hours: float) -> None:
        self.add("test.dropped", hours, testsrc=testsrc, arch=arch, triggers=triggers)

    def publish(self, testsrc: str, arch: str, triggers: list[str], hours: float,
                run_id: str, status: str = "PASS") -> None:
        self.add("results.published", hours, testsrc=testsrc, arch=arch, triggers=triggers,
                 run_id=run_id, status=status)

    def run(self, testsrc: str, arch: str, trigger: str, requested: float, started: float,
            finished: float, exitcode: int = 0, published: float | None = None,
            queue: str = "ubuntu", requester: str | None = None) -> None:
        """A whole run: request, start, finish (duration = finish - start), publish."""
        triggers = [trigger]
        run_id = f"{testsrc}-{arch}-{len(self.events)}"
        self.request(testsrc, arch, triggers, requested, queue=queue, requester=requester)
        self.start(testsrc, arch, triggers, started)
        self.finish(testsrc, arch, triggers, finished, exitcode=exitcode, run_id=run_id,
                    duration=round((finished - started) * 3600))
        if published is not None:
            self.publish(testsrc, arch, triggers, published, run_id)

    # uploads
    def upload(self, package: str, version: str, hours: float, **fields: Any) -> None:
        self.add("upload.accepted", hours, package=package, version=version, **fields)

    def missing(self, package: str, version: str, hours: float, arches: list[str]) -> None:
        self.add("build.missing", hours, package=package, version=version, arches=arches)

    def built(self, package: str, version: str, hours: float, arches: list[str]) -> None:
        self.add("build.completed", hours, package=package, version=version, arches=arches)

    def excuse(self, package: str, version: str, hours: float, verdict: str,
               reasons: list[str] | None = None, blocked_by: list[str] | None = None) -> None:
        self.add("excuse.changed", hours, package=package, version=version, verdict=verdict,
                 reasons=reasons, blocked_by=blocked_by)

    def migrated(self, package: str, version: str, hours: float) -> None:
        self.add("upload.migrated", hours, package=package, version=version)

    def superseded(self, package: str, version: str, hours: float, by: str) -> None:
        self.add("upload.superseded", hours, package=package, version=version, detail=by)

    def removed(self, package: str, version: str, hours: float) -> None:
        self.add("upload.removed", hours, package=package, version=version)

    def store(self, root: Any) -> EventStore:
        store = EventStore(root)
        store.append(self.events)
        return store


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The result of ``sql`` as a list of dicts."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
