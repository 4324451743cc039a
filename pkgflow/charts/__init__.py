"""Charts: data queries (:mod:`pkgflow.charts.data`, DuckDB connection -> small Polars
frame) and pure builders (:mod:`pkgflow.charts.builders`, frame -> Altair chart), with
one theme (:mod:`pkgflow.charts.theme`) and offline renderers
(:func:`pkgflow.charts.setup`).

::

    from pkgflow import charts
    from pkgflow.replay import connect

    charts.setup()                      # theme + offline renderer (JupyterLab)
    con = connect("data", materialize=True)
    week, _ = charts.data.last_complete_week(con)
    charts.runs_per_day_chart(charts.data.runs_per_day(con, week.start, week.end))

Altair is imported on first use of a builder (``pkgflow.charts.data`` alone does not
need it), so commands that only query stay quick to start.
"""

from __future__ import annotations

import importlib
from typing import Any

_BUILDERS = (
    "infra_failure_chart",
    "load_heatmap",
    "migration_histogram",
    "migration_trend_chart",
    "queue_depth_chart",
    "runs_per_day_chart",
    "stage_matrix_chart",
    "upload_timeline_chart",
    "uploads_flow_chart",
    "wait_run_boxes",
    "wip_chart",
)
_RENDER = ("RENDERERS", "setup", "to_svg")

__all__ = ["data", "theme", *_BUILDERS, *_RENDER]


def __getattr__(name: str) -> Any:
    if name in _BUILDERS:
        return getattr(importlib.import_module("pkgflow.charts.builders"), name)
    if name in _RENDER:
        return getattr(importlib.import_module("pkgflow.charts.render"), name)
    if name in ("data", "theme", "builders", "render"):
        return importlib.import_module(f"pkgflow.charts.{name}")
    msg = f"module 'pkgflow.charts' has no attribute {name!r}"
    raise AttributeError(msg)
