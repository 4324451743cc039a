"""pkgflow: where does the time go in Ubuntu's proposed-migration pipeline?

The public API::

    from pkgflow import EventStore, parse_lines, PkgflowError
    store = EventStore()            # data/ in the checkout, or $PKGFLOW_STORE
"""

from pkgflow.errors import IngestError, PkgflowError, ReplayError, SchemaError, StorageError
from pkgflow.events import CURRENT_SCHEMA_VERSION, EVENT_TYPES, parse_lines, parse_records
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
    "parse_lines",
    "parse_records",
]
