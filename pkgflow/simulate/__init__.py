"""The pipeline simulator: a discrete-event model of uploads, builds, britney and
autopkgtest workers that emits pkgflow events (see ``docs/simulator.md``)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pkgflow.simulate.engine import simulate
from pkgflow.simulate.frames import SAMPLE_COLUMNS, to_json_lines
from pkgflow.simulate.params import SimParams


@dataclass
class SimBatch:
    """One simulated day.

    ``events``: columns ``pkgflow.events.parse.PARSED_COLUMNS`` (no ``seq``,
    ``recorded_at``), in emission order (time order; ties keep causal order).
    ``samples``: queue depth samples, columns ``SAMPLE_COLUMNS``.
    """

    events: pl.DataFrame
    samples: pl.DataFrame


def __getattr__(name: str) -> object:
    # imported lazily: the store is not needed to simulate
    if name in ("simulate_into", "SimulationResult"):
        from pkgflow.simulate import into_store

        return getattr(into_store, name)
    raise AttributeError(name)


__all__ = ["SAMPLE_COLUMNS", "SimBatch", "SimParams", "simulate", "simulate_into", "to_json_lines"]
