"""Replay: the event log as projections (SQL views over the store, Polars frames).

::

    from pkgflow.replay import connect
    con = connect("data", as_of="2025-03-14T12:00:00Z")
    con.sql("SELECT state, count(*) FROM uploads GROUP BY ALL").show()

See docs/queries.md for every view, its columns and how it treats incomplete
histories.
"""

from pkgflow.replay.connect import DEFAULT_MATERIALIZED, connect, frames, materialize, parse_instant
from pkgflow.replay.sql import PUBLIC_VIEWS, VIEWS

__all__ = [
    "DEFAULT_MATERIALIZED",
    "PUBLIC_VIEWS",
    "VIEWS",
    "connect",
    "frames",
    "materialize",
    "parse_instant",
]
