"""Run the simulator straight into a store (what ``pkgflow simulate`` does)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pkgflow.store import EventStore


@dataclass
class SimulationResult:
    """Totals of one simulation written to a store."""

    accepted: int = 0
    duplicates: int = 0
    samples: int = 0
    seconds: float = 0.0


def simulate_into(
    store: EventStore,
    days: int,
    seed: int = 1,
    scale: float = 1.0,
    start: datetime | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> SimulationResult:
    """Simulate ``days`` of traffic into ``store``. Deterministic per seed, so running
    it twice stores nothing new. ``progress(days_done, events, events_per_s)``."""
    from pkgflow.simulate import simulate

    result = SimulationResult()
    started = time.perf_counter()
    first_day = None
    for batch in simulate(days=days, seed=seed, scale=scale, start=start):
        appended = store.append(batch.events)
        result.accepted += appended.accepted
        result.duplicates += appended.duplicates
        result.samples += store.append_samples(batch.samples).accepted
        if progress and batch.events.height:
            last = batch.events["occurred_at"].max()
            first_day = first_day or batch.events["occurred_at"].min()
            days_done = min(days, (last - first_day).days)  # type: ignore[operator]
            total = result.accepted + result.duplicates
            progress(days_done, total, total / (time.perf_counter() - started))
    result.seconds = time.perf_counter() - started
    return result
