"""Error types. Every error a user can cause derives from :class:`PkgflowError`.

Categories also subclass the matching builtin, so callers can catch either.
``transient`` tells a consumer whether retrying (requeue) may help.
"""

from __future__ import annotations


class PkgflowError(Exception):
    """Root of all pkgflow errors; the CLI prints these without a traceback."""

    transient: bool = False


class SchemaError(PkgflowError, ValueError):
    """An event (or a batch) does not match the event model."""


class IngestError(PkgflowError, ValueError):
    """A source could not be read (missing file, unreadable format)."""


class StorageError(PkgflowError, OSError):
    """The event store could not be read or written."""

    transient = True


class ReplayError(PkgflowError, RuntimeError):
    """A projection or a query over the store failed."""
