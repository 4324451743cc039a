"""pkgflow: where does the time go in Ubuntu's proposed-migration pipeline?

The public API::

    from pkgflow import EventStore, connect, frames
    store = EventStore()            # data/ in the checkout, or $PKGFLOW_STORE
    con = connect(store)            # DuckDB with the views: test_runs, uploads, in_flight, ...
    lazy = frames(store)            # the same projections as Polars LazyFrames
"""

from pkgflow.errors import IngestError, PkgflowError, ReplayError, SchemaError, StorageError
from pkgflow.events import CURRENT_SCHEMA_VERSION, EVENT_TYPES, parse_lines, parse_records
from pkgflow.replay import connect, frames
from pkgflow.store import EventStore

__version__ = "0.1.0"

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "EVENT_TYPES",
    "EventStore",
    "IngestError",
    "PkgflowError",
    "ReplayError",
    "SchemaError",
    "StorageError",
    "connect",
    "frames",
    "parse_lines",
    "parse_records",
]
