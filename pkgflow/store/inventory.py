"""What a store holds: counts per event type and day, files, bytes (cheap to compute)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from pkgflow.store.store import EventStore


@dataclass
class Inventory:
    """A short summary of a store."""

    events: int = 0
    samples: int = 0
    files: int = 0
    bytes: int = 0
    first_day: date | None = None
    last_day: date | None = None
    by_type: dict[str, int] = field(default_factory=dict)
    releases: list[str] = field(default_factory=list)


def inventory(store: EventStore) -> Inventory:
    """Count what ``store`` holds (reads only the columns it needs)."""
    files = store.files("events") + store.files("queue_depth")
    result = Inventory(files=len(files), bytes=sum(p.stat().st_size for p in files))
    if not store.files("events"):
        return result
    con = duckdb.connect()
    events = store.relation(con, "events")
    rows = events.aggregate("event_type, count(*)", "event_type").order("2 DESC").fetchall()
    result.by_type = {name: count for name, count in rows}
    result.events = sum(result.by_type.values())
    [(first, last)] = events.aggregate(
        "min(occurred_at)::DATE, max(occurred_at)::DATE"
    ).fetchall()
    result.first_day, result.last_day = first, last
    result.releases = [r for (r,) in events.aggregate("release", "release").order("1").fetchall()]
    result.samples = store.count("queue_depth")
    return result
