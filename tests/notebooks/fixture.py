"""The small store every notebook runs against in the test suite (and that the outputs
stored in notebooks/*.ipynb were computed from: tools/refresh_notebooks.py).

Ten simulated days from Saturday 2025-03-01 at 0.3x traffic: the last complete ISO
week is 2025-W10 and the week before it is partly covered. Deterministic (seeded)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

FIXTURE_DAYS = 10
FIXTURE_SEED = 3
FIXTURE_SCALE = 0.3
FIXTURE_START = datetime(2025, 3, 1, tzinfo=UTC)
FIXTURE_WEEK = "2025-W10"
SANITIZE = Path(__file__).resolve().parent / "sanitize.cfg"


def build_fixture_store(path: Path) -> Path:
    """Simulate the fixture store into ``path`` (idempotent) and return it."""
    from pkgflow.simulate import simulate_into
    from pkgflow.store import EventStore

    simulate_into(
        EventStore(path), days=FIXTURE_DAYS, seed=FIXTURE_SEED, scale=FIXTURE_SCALE,
        start=FIXTURE_START,
    )
    return path
