"""Shared helpers: small valid events, a fresh store, the shared real data."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pkgflow.store import EventStore

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_EXCUSES = SHARED_DATA / "update_excuses-plucky-2025-03-14.yaml.xz"


def finished_event(i: int, start: datetime | None = None, **overrides: object) -> dict:
    """A valid test.finished event number ``i``, one every 7 minutes."""
    start = start or datetime(2025, 3, 1, tzinfo=UTC)
    event = {
        "event_id": f"evt-{i}",
        "event_type": "test.finished",
        "schema_version": 2,
        "occurred_at": (start + timedelta(minutes=7 * i)).isoformat(),
        "source": "test",
        "release": "plucky",
        "testsrc": f"pkg{i % 50}",
        "arch": ["amd64", "arm64", "s390x"][i % 3],
        "triggers": [f"trigger{i % 7}/1.0-{i % 3}"],
        "exitcode": [0, 2, 4, 16][i % 4],
        "duration": 60 + i % 500,
        "run_id": f"20250301_000000_{i:05x}@",
    }
    event.update(overrides)
    return event


def write_jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "store")


@pytest.fixture
def real_excuses() -> Path:
    """The real britney snapshot; in CI it must be there, elsewhere it may be absent."""
    if not REAL_EXCUSES.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL_EXCUSES} is missing in CI; shared/ must sit beside the checkout")
        pytest.skip(f"{REAL_EXCUSES} not found (../shared is absent outside CI)")
    return REAL_EXCUSES
